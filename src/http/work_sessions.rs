//! Work sessions over REST (reporting mode), and the live-status snapshot:
//!
//! * `GET /api/v1/admin/work-sessions` (filters: agent, owner, state, card; newest
//!   first; paginated by `before`), `GET …/{id}` (with activities, reported vs observed,
//!   and the calls), `POST …/{id}/stop` (body `{"reason": "…"}`);
//! * the same under `/api/v1/owner/work-sessions`, confined to the owner's own agents;
//! * `PUT /api/v1/{admin,owner}/agents/{id}/reporting`: whether a pending stop refuses
//!   the agent's tracker writes;
//! * `GET /api/v1/admin/status`: the snapshot the pages show.
//!
//! A stop request is audited like every mutation, before it is answered.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin::{page_limit, Admin};
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestId};
use super::principal::Owner;
use crate::audit::AuditEvent;
use crate::gateway::{Gateway, SessionDetail, SessionView, StatusSnapshot};
use crate::store::{Outcome, SessionQuery, SessionState, StateFilter};

/// The routes.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/admin/status", get(status))
        .route("/api/v1/admin/work-sessions", get(admin_list))
        .route("/api/v1/admin/work-sessions/{session_id}", get(admin_one))
        .route(
            "/api/v1/admin/work-sessions/{session_id}/stop",
            post(admin_stop),
        )
        .route(
            "/api/v1/admin/agents/{agent_id}/reporting",
            put(admin_reporting),
        )
        .route(
            "/api/v1/owner/agents/{agent_id}/reporting",
            put(owner_reporting),
        )
        .route("/api/v1/owner/work-sessions", get(owner_list))
        .route("/api/v1/owner/work-sessions/{session_id}", get(owner_one))
        .route(
            "/api/v1/owner/work-sessions/{session_id}/stop",
            post(owner_stop),
        )
}

/// Filters and cursor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    agent_id: Option<Uuid>,
    owner_id: Option<Uuid>,
    /// `open`, `stale`, or a stored state.
    state: Option<String>,
    card: Option<String>,
    before: Option<Uuid>,
    limit: Option<u32>,
}

/// A page of sessions.
#[derive(Debug, Serialize)]
pub struct SessionPage {
    items: Vec<SessionView>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    next_before: Option<Uuid>,
}

/// A stop request's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    reason: String,
}

/// An agent's reporting-mode settings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportingBody {
    /// Refuse the agent's tracker writes while a stop of its session is pending.
    stop_refuses_writes: bool,
}

async fn admin_reporting(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(agent_id): Path<Uuid>,
    Json(body): Json<ReportingBody>,
) -> Result<Json<ReportingBody>, ApiError> {
    reporting(&gw, &request_id, agent_id, None, "admin", body).await
}

async fn owner_reporting(
    Owner(user): Owner,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(agent_id): Path<Uuid>,
    Json(body): Json<ReportingBody>,
) -> Result<Json<ReportingBody>, ApiError> {
    reporting(&gw, &request_id, agent_id, Some(user.id), "owner", body).await
}

async fn reporting(
    gw: &Gateway,
    request_id: &str,
    agent_id: Uuid,
    owner: Option<Uuid>,
    by: &str,
    body: ReportingBody,
) -> Result<Json<ReportingBody>, ApiError> {
    let mut event = AuditEvent::start(request_id, &format!("{by}.agent.reporting"))
        .target(agent_id.to_string());
    if let Some(owner) = owner {
        event = event.owner(owner);
    }
    let result = gw
        .set_stop_refuses_writes(agent_id, owner, body.stop_refuses_writes)
        .await;
    let row = match &result {
        Ok(()) => event.finish(
            Outcome::Allowed,
            Some(format!(
                "stop_refuses_writes = {}",
                body.stop_refuses_writes
            )),
        ),
        Err(e) => event.finish(Outcome::Failed, Some(e.to_string())),
    };
    gw.auditor.record(row).await?;
    result?;
    Ok(Json(body))
}

/// The live status of every agent.
pub async fn status(_: Admin, State(gw): State<Gateway>) -> Result<Json<StatusSnapshot>, ApiError> {
    Ok(Json(gw.status(None).await?))
}

async fn admin_list(
    _: Admin,
    State(gw): State<Gateway>,
    Query(p): Query<ListParams>,
) -> Result<Json<SessionPage>, ApiError> {
    list(&gw, p, None).await
}

async fn owner_list(
    Owner(user): Owner,
    State(gw): State<Gateway>,
    Query(p): Query<ListParams>,
) -> Result<Json<SessionPage>, ApiError> {
    if p.owner_id.is_some_and(|o| o != user.id) {
        return Err(ApiError::Forbidden {
            code: "owner_only",
            message: "an owner sees only their own agents' sessions; leave owner_id out".into(),
        });
    }
    list(&gw, p, Some(user.id)).await
}

async fn admin_one(
    _: Admin,
    State(gw): State<Gateway>,
    Path(id): Path<Uuid>,
) -> Result<Json<SessionDetail>, ApiError> {
    Ok(Json(gw.work_session(id, None).await?))
}

async fn owner_one(
    Owner(user): Owner,
    State(gw): State<Gateway>,
    Path(id): Path<Uuid>,
) -> Result<Json<SessionDetail>, ApiError> {
    Ok(Json(gw.work_session(id, Some(user.id)).await?))
}

async fn admin_stop(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(id): Path<Uuid>,
    Json(body): Json<StopBody>,
) -> Result<Json<SessionView>, ApiError> {
    stop(&gw, &request_id, id, None, "admin", &body.reason).await
}

async fn owner_stop(
    Owner(user): Owner,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(id): Path<Uuid>,
    Json(body): Json<StopBody>,
) -> Result<Json<SessionView>, ApiError> {
    stop(&gw, &request_id, id, Some(user.id), "owner", &body.reason).await
}

async fn list(
    gw: &Gateway,
    p: ListParams,
    owner: Option<Uuid>,
) -> Result<Json<SessionPage>, ApiError> {
    let limit = page_limit(p.limit)?;
    let state = match p.state.as_deref() {
        None => None,
        Some("open") => Some(StateFilter::Open),
        Some("stale") => Some(StateFilter::Stale(gw.stale_before(chrono::Utc::now()))),
        Some(other) => Some(StateFilter::Is(SessionState::parse(other).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state {other:?} is unknown; use open, stale, in_progress, awaiting, stopping, completed, failed or stopped"
            ))
        })?)),
    };
    let items = gw
        .work_sessions(&SessionQuery {
            agent_id: p.agent_id,
            owner_id: owner.or(p.owner_id),
            state,
            card: p.card,
            before: p.before,
            limit,
        })
        .await?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|s| s.id))
        .flatten();
    Ok(Json(SessionPage { items, next_before }))
}

async fn stop(
    gw: &Gateway,
    request_id: &str,
    id: Uuid,
    owner: Option<Uuid>,
    by: &str,
    reason: &str,
) -> Result<Json<SessionView>, ApiError> {
    let mut event =
        AuditEvent::start(request_id, &format!("{by}.work_session.stop")).target(id.to_string());
    if let Some(owner) = owner {
        event = event.owner(owner);
    }
    let result = gw.request_session_stop(id, owner, by, reason).await;
    let row = match &result {
        // Not tagged with the session: it is not a call the agent made.
        Ok(session) => event
            .owner(session.owner_id)
            .finish(Outcome::Allowed, Some(reason.to_owned())),
        Err(e) => event.finish(Outcome::Failed, Some(e.to_string())),
    };
    gw.auditor.record(row).await?;
    Ok(Json(result?))
}
