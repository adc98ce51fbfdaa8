//! `GET /api/v1/agent/me`: an agent checks its token and sees what it was granted.
//! Useful when pairing Codex; authenticated exactly as `/mcp` is.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use uuid::Uuid;

use crate::gateway::Gateway;
use crate::http::error::ApiError;
use crate::http::extract::{bearer, Json};
use crate::store::GrantRecord;

/// Who the token belongs to.
#[derive(Debug, Serialize)]
pub struct Me {
    agent_id: Uuid,
    agent_name: String,
    owner_id: Uuid,
    owner_name: String,
    grants: Vec<GrantRecord>,
}

/// Answers with the calling agent's identity and grants.
pub async fn me(State(gw): State<Gateway>, headers: HeaderMap) -> Result<Json<Me>, ApiError> {
    let id = gw.auth.agent(bearer(&headers)).await?;
    let agent = gw
        .store
        .get_agent(id.agent_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token's agent no longer exists"))?;
    Ok(Json(Me {
        agent_id: id.agent_id,
        agent_name: id.agent_name,
        owner_id: id.owner_id,
        owner_name: id.owner_name,
        grants: agent.grants,
    }))
}
