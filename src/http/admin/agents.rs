//! `/api/v1/admin/agents`: create, list, inspect and revoke agents.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Admin;
use crate::audit::AuditEvent;
use crate::gateway::{CreateAgent, Gateway};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Path, Query, RequestId};
use crate::store::{Agent, Outcome};

/// One grant in a create request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    project_id: String,
    scopes: Vec<String>,
}

/// The body of an agent creation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    owner_id: Uuid,
    name: String,
    grants: Vec<GrantBody>,
    #[serde(default)]
    rate_per_minute: Option<u32>,
    #[serde(default)]
    rate_burst: Option<u32>,
}

/// A created agent: the only response that ever carries its token.
#[derive(Debug, Serialize)]
pub struct Created {
    agent_id: Uuid,
    /// Shown once. Store it in the agent's environment; the gateway keeps only a hash.
    token: String,
    agent: Agent,
}

/// Creates an agent and returns its token, once.
pub async fn create(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let event = AuditEvent::start(&request_id, "admin.agent.create").owner(body.owner_id);
    let result = gw
        .create_agent(CreateAgent {
            owner_id: body.owner_id,
            name: body.name,
            grants: body
                .grants
                .into_iter()
                .map(|g| (g.project_id, g.scopes))
                .collect(),
            rate_per_minute: body.rate_per_minute,
            rate_burst: body.rate_burst,
            members_only: false,
        })
        .await;
    let row = match &result {
        Ok(created) => event
            .target(created.agent.id.to_string())
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

/// Filters of the agent list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    owner_id: Option<Uuid>,
}

/// The agent list.
#[derive(Debug, Serialize)]
pub struct AgentList {
    agents: Vec<Agent>,
}

/// Lists agents, newest first.
pub async fn list(
    _: Admin,
    State(gw): State<Gateway>,
    Query(q): Query<ListQuery>,
) -> Result<Json<AgentList>, ApiError> {
    Ok(Json(AgentList {
        agents: gw.store.list_agents(q.owner_id).await?,
    }))
}

/// One agent.
pub async fn get(
    _: Admin,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Json<Agent>, ApiError> {
    gw.store
        .get_agent(agent_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no agent {agent_id} exists")))
}

/// The optional body of a revoke.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

/// Revokes an agent. Returns once the revocation is in force on this replica.
pub async fn revoke(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(agent_id): Path<Uuid>,
    body: Bytes,
) -> Result<Json<Agent>, ApiError> {
    let body: RevokeBody = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Unprocessable {
            code: "invalid_body",
            message: format!("the body must be empty or {{\"reason\": \"...\"}}: {e}"),
        })?
    };
    let reason = body
        .reason
        .map(|r| r.trim().chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "revoked by an admin".to_owned());
    let event = AuditEvent::start(&request_id, "admin.agent.revoke").target(agent_id.to_string());
    let result = gw
        .revoke_agent_audited(event, agent_id, &reason, Some(reason.clone()))
        .await?;
    Ok(Json(result?))
}
