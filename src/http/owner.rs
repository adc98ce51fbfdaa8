//! The owner self-service API (`/api/v1/owner/...`): what the Tasker's "Codex agents"
//! feature card calls for a signed-in user. An owner lists, creates and revokes only
//! their own agents, and grants only projects they are a member of.
//!
//! Authentication: an `ndcown_` session token, issued by
//! `POST /api/v1/admin/users/{user_id}/sessions` (the Tasker's backend calls it after the
//! user signed in through Launcher; on the embedded default an admin does).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{Json, Path, RequestId};
use super::principal::Owner;
use crate::audit::AuditEvent;
use crate::gateway::{CreateAgent, Gateway};
use crate::store::{Agent, Outcome};
use crate::tasker::{role_name, Membership};

/// The owner routes.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route("/api/v1/owner/agents", get(list).post(create))
        .route("/api/v1/owner/projects", get(projects))
        .route("/api/v1/owner/agents/{agent_id}", get(one))
        .route("/api/v1/owner/agents/{agent_id}/revoke", post(revoke))
}

/// One grant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    project_id: String,
    scopes: Vec<String>,
}

/// A new agent of the calling owner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    grants: Vec<GrantBody>,
}

/// A created agent and its token, shown this once.
#[derive(Debug, Serialize)]
pub struct Created {
    agent_id: Uuid,
    token: String,
    agent: Agent,
}

/// The caller's agents.
#[derive(Debug, Serialize)]
pub struct Agents {
    agents: Vec<Agent>,
}

async fn list(Owner(me): Owner, State(gw): State<Gateway>) -> Result<Json<Agents>, ApiError> {
    Ok(Json(Agents {
        agents: gw.store.list_agents(Some(me.id)).await?,
    }))
}

/// A project the caller is a member of, with the caller's role in it.
#[derive(Debug, Serialize)]
pub struct OwnProject {
    id: String,
    identifier: String,
    name: String,
    /// 20, 15 or 5.
    role: i64,
    /// `admin`, `member` or `guest`; `null` for a number Plane does not define.
    role_name: Option<&'static str>,
}

/// The projects the caller may grant.
#[derive(Debug, Serialize)]
pub struct Projects {
    projects: Vec<OwnProject>,
}

/// The projects the caller is a member of (the contract's `GET members/{user_id}/projects`):
/// exactly those the caller's agents may be granted.
async fn projects(Owner(me): Owner, State(gw): State<Gateway>) -> Result<Json<Projects>, ApiError> {
    let projects = gw.tasker.projects_of_member(&me.id.to_string()).await?;
    Ok(Json(Projects {
        projects: projects
            .into_iter()
            .map(|p: Membership| OwnProject {
                role_name: role_name(p.role),
                id: p.id,
                identifier: p.identifier,
                name: p.name,
                role: p.role,
            })
            .collect(),
    }))
}

async fn mine(gw: &Gateway, me: Uuid, agent_id: Uuid) -> Result<Agent, ApiError> {
    gw.owned_agent(me, agent_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("you have no agent {agent_id}")))
}

async fn one(
    Owner(me): Owner,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(mine(&gw, me.id, agent_id).await?))
}

async fn create(
    Owner(me): Owner,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let event = AuditEvent::start(&request_id, "owner.agent.create").owner(me.id);
    let result = gw
        .create_agent(CreateAgent {
            owner_id: me.id,
            name: body.name,
            grants: body
                .grants
                .into_iter()
                .map(|g| (g.project_id, g.scopes))
                .collect(),
            rate_per_minute: None,
            rate_burst: None,
            members_only: true,
        })
        .await;
    let row = match &result {
        Ok(c) => event
            .target(c.agent.id.to_string())
            .finish(Outcome::Allowed, None),
        Err(e) => event.finish(e.outcome(), Some(e.to_string())),
    };
    gw.auditor.record(row).await?;
    let created = result?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            agent_id: created.agent.id,
            token: created.token.expose().to_owned(),
            agent: created.agent,
        }),
    ))
}

async fn revoke(
    Owner(me): Owner,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(agent_id): Path<Uuid>,
) -> Result<Json<Agent>, ApiError> {
    mine(&gw, me.id, agent_id).await?;
    let event = AuditEvent::start(&request_id, "owner.agent.revoke").agent(agent_id, me.id);
    let result = gw
        .revoke_agent_audited(event, agent_id, "revoked by its owner", None)
        .await?;
    Ok(Json(result?))
}
