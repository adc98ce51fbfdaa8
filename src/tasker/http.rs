//! The adapter contract served over HTTP (`agent-gateway tasker-serve`): the embedded
//! tracker as a reference implementation of `/api/internal/nodedc/agent/...`, so the
//! `nodedc` client and the conformance kit run against a real socket.
//!
//! Every request must carry the internal service token and name the acting agent and
//! owner; writes must carry an `Idempotency-Key`. `DELETE` on anything, and any
//! `archive` path, is refused with `forbidden_operation`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use super::nodedc::headers;
use super::*;
use crate::token::TokenHash;

/// What the contract server needs.
#[derive(Debug, Clone)]
pub struct ContractState {
    /// The implementation behind the contract.
    pub tasker: Arc<dyn Tasker>,
    /// SHA-256 of the internal service token.
    pub token: TokenHash,
}

/// The contract's routes, under its prefix.
pub fn router(state: ContractState) -> Router {
    let api = Router::new()
        .route("/projects", get(projects))
        .route("/projects/all", get(all_projects))
        .route("/projects/{project_id}/context", get(context))
        .route(
            "/projects/{project_id}/members",
            get(project_members).post(add_member),
        )
        .route("/members/{user_id}/projects", get(projects_of_member))
        .route("/cards", get(search).post(create))
        .route("/cards/{card}", get(get_card).patch(update))
        .route("/cards/{card}/state", post(move_card))
        .route("/cards/{card}/comments", post(comment))
        .route("/cards/{card}/labels", put(labels))
        .route("/cards/{card}/assignees", put(assignees))
        .route("/cards/{card}/blocks/{block}", put(block))
        .fallback(refuse)
        .method_not_allowed_fallback(refuse)
        .with_state(state);
    Router::new().nest(
        &format!("/{}", super::nodedc::PREFIX.trim_end_matches('/')),
        api,
    )
}

/// The contract's error envelope with the status its code maps to.
struct Failure(TaskerError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::ProjectNotGranted | ErrorCode::ForbiddenOperation => StatusCode::FORBIDDEN,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        };
        let retry = self.0.retry_after_ms.map(|ms| ms.div_ceil(1000));
        let mut response = (status, Json(serde_json::json!({ "error": self.0 }))).into_response();
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<TaskerError> for Failure {
    fn from(e: TaskerError) -> Self {
        Failure(e)
    }
}

type Reply<T> = Result<Json<T>, Failure>;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn decoded(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Checks the service token and reads the acting agent from the headers.
fn actor(state: &ContractState, h: &HeaderMap) -> Result<Actor, Failure> {
    let presented = crate::http::extract::bearer(h).ok_or_else(|| {
        TaskerError::new(
            ErrorCode::Unauthorized,
            "the internal service token is required",
        )
    })?;
    if !state.token.matches(&TokenHash::of(presented).0) {
        return Err(TaskerError::new(
            ErrorCode::Unauthorized,
            "the internal service token is not valid",
        )
        .into());
    }
    let id = |name: &str| {
        header(h, name)
            .and_then(|v| Uuid::parse_str(v).ok())
            .ok_or_else(|| {
                TaskerError::invalid(name, format!("header {name} must carry a UUID"), vec![])
            })
    };
    let name = |name: &str| {
        header(h, name)
            .map(decoded)
            .ok_or_else(|| TaskerError::invalid(name, format!("header {name} is required"), vec![]))
    };
    Ok(Actor {
        agent_id: id(headers::AGENT_ID)?,
        agent_name: name(headers::AGENT_NAME)?,
        owner_id: id(headers::OWNER_ID)?,
        owner_name: name(headers::OWNER_NAME)?,
        granted: header(h, headers::GRANTED)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        work_session: match header(h, headers::WORK_SESSION) {
            None => None,
            Some(v) => Some(Uuid::parse_str(v).map_err(|_| {
                TaskerError::invalid(
                    headers::WORK_SESSION,
                    format!("header {} must carry a UUID", headers::WORK_SESSION),
                    vec![],
                )
            })?),
        },
    })
}

fn key(h: &HeaderMap) -> Result<String, Failure> {
    header(h, headers::IDEMPOTENCY_KEY)
        .map(str::to_owned)
        .ok_or_else(|| {
            TaskerError::invalid(
                "Idempotency-Key",
                "every write needs an Idempotency-Key header",
                vec![],
            )
            .into()
        })
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| {
        TaskerError::invalid("body", format!("the body is not valid: {e}"), vec![]).into()
    })
}

async fn refuse(method: Method, uri: Uri) -> Failure {
    let path = uri.path();
    if method == Method::DELETE || path.split('/').any(|s| s.starts_with("archiv")) {
        return Failure(TaskerError::new(
            ErrorCode::ForbiddenOperation,
            "deleting and archiving are never allowed through this interface",
        ));
    }
    Failure(TaskerError::not_found(format!(
        "{method} {path} is not part of the contract"
    )))
}

#[derive(Deserialize)]
struct Ids {
    #[serde(default)]
    ids: String,
}

async fn projects(
    State(s): State<ContractState>,
    h: HeaderMap,
    Query(q): Query<Ids>,
) -> Reply<serde_json::Value> {
    let mut actor = actor(&s, &h)?;
    // Only the asked ids that are also granted.
    let asked: Vec<String> = q
        .ids
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .collect();
    actor.granted.retain(|g| asked.contains(g));
    let projects = s.tasker.projects(&actor).await?;
    Ok(Json(serde_json::json!({ "projects": projects })))
}

async fn all_projects(State(s): State<ContractState>, h: HeaderMap) -> Reply<serde_json::Value> {
    actor(&s, &h)?;
    let projects = s.tasker.all_projects().await?;
    Ok(Json(serde_json::json!({ "projects": projects })))
}

async fn project_members(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(project): Path<String>,
) -> Reply<serde_json::Value> {
    actor(&s, &h)?;
    let members = s.tasker.project_members(&project).await?;
    Ok(Json(serde_json::json!({ "members": members })))
}

async fn projects_of_member(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(user): Path<String>,
) -> Reply<serde_json::Value> {
    actor(&s, &h)?;
    let projects = s.tasker.projects_of_member(&user).await?;
    Ok(Json(serde_json::json!({ "projects": projects })))
}

async fn context(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(project): Path<String>,
) -> Reply<ProjectContext> {
    Ok(Json(
        s.tasker.project_context(&actor(&s, &h)?, &project).await?,
    ))
}

async fn add_member(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(project): Path<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<Member>), Failure> {
    let (a, k, m) = (actor(&s, &h)?, key(&h)?, body::<NewMember>(&b)?);
    Ok((
        StatusCode::CREATED,
        Json(s.tasker.add_member(&a, &k, &project, &m).await?),
    ))
}

async fn search(
    State(s): State<ContractState>,
    h: HeaderMap,
    q: Result<Query<CardQuery>, axum::extract::rejection::QueryRejection>,
) -> Reply<CardPage> {
    let Query(q) = q.map_err(|e| TaskerError::invalid("query", e.body_text(), vec![]))?;
    Ok(Json(s.tasker.search_cards(&actor(&s, &h)?, &q).await?))
}

async fn create(
    State(s): State<ContractState>,
    h: HeaderMap,
    b: Bytes,
) -> Result<(StatusCode, Json<CardDetail>), Failure> {
    let (a, k, input) = (actor(&s, &h)?, key(&h)?, body::<NewCard>(&b)?);
    Ok((
        StatusCode::CREATED,
        Json(s.tasker.create_card(&a, &k, &input).await?),
    ))
}

async fn get_card(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(card): Path<String>,
) -> Reply<CardDetail> {
    Ok(Json(s.tasker.get_card(&actor(&s, &h)?, &card).await?))
}

async fn update(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(card): Path<String>,
    b: Bytes,
) -> Reply<CardDetail> {
    let (a, k, patch) = (actor(&s, &h)?, key(&h)?, body::<CardPatch>(&b)?);
    Ok(Json(s.tasker.update_card(&a, &k, &card, &patch).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: String,
}

async fn move_card(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(card): Path<String>,
    b: Bytes,
) -> Reply<CardDetail> {
    let (a, k, m) = (actor(&s, &h)?, key(&h)?, body::<StateBody>(&b)?);
    Ok(Json(s.tasker.move_card(&a, &k, &card, &m.state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    body: String,
}

async fn comment(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(card): Path<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<Comment>), Failure> {
    let (a, k, c) = (actor(&s, &h)?, key(&h)?, body::<CommentBody>(&b)?);
    Ok((
        StatusCode::CREATED,
        Json(s.tasker.add_comment(&a, &k, &card, &c.body).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsBody {
    labels: Vec<String>,
}

async fn labels(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(card): Path<String>,
    b: Bytes,
) -> Reply<CardDetail> {
    let (a, k, l) = (actor(&s, &h)?, key(&h)?, body::<LabelsBody>(&b)?);
    Ok(Json(s.tasker.set_labels(&a, &k, &card, &l.labels).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssigneesBody {
    assignees: Vec<String>,
}

async fn assignees(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path(card): Path<String>,
    b: Bytes,
) -> Reply<CardDetail> {
    let (a, k, w) = (actor(&s, &h)?, key(&h)?, body::<AssigneesBody>(&b)?);
    Ok(Json(s.tasker.assign(&a, &k, &card, &w.assignees).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    content: String,
}

async fn block(
    State(s): State<ContractState>,
    h: HeaderMap,
    Path((card, name)): Path<(String, String)>,
    b: Bytes,
) -> Reply<CardDetail> {
    let (a, k, c) = (actor(&s, &h)?, key(&h)?, body::<BlockBody>(&b)?);
    Ok(Json(
        s.tasker
            .update_block(&a, &k, &card, &name, &c.content)
            .await?,
    ))
}
