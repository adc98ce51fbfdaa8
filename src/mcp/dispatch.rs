//! What both protocol eras serve alike: the server's identity and instructions, the
//! revisions spoken, `tools/list` and `tools/call`. The era modules (`stateful`,
//! `stateless`) only check their envelope and stamp the answer.

use serde_json::{json, Value};

use super::error::McpError;
use super::pipeline::{self, Call};
use super::tools;
use gateway_actors::ClientInfo;

use crate::gateway::Gateway;
use crate::identity::AgentIdentity;

/// The stateless revision.
pub const STATELESS: &str = "2026-07-28";
/// The revisions with `initialize` and sessions, newest first.
pub const SESSION_REVISIONS: [&str; 2] = ["2025-11-25", "2025-06-18"];
/// Every revision this server speaks, newest first (`server/discover` and -32022 say so).
pub const SUPPORTED: [&str; 3] = [STATELESS, SESSION_REVISIONS[0], SESSION_REVISIONS[1]];

/// Server-wide guidance every client shows its model (kept under 512 characters).
pub const INSTRUCTIONS: &str = "Work on the team's tracker. Start with list_projects and get_project_context; use the exact state, label and member names they return. Every write needs an idempotency_key: a new unique string per intended change, reused only to retry that same call. Nothing can be deleted or archived; to retire a card, move it to a completed or cancelled state. Errors say what to do instead.";

/// Who this server is (`serverInfo`).
pub fn server_info() -> Value {
    json!({"name": "nodedc-agent-gateway", "title": "NODE.DC Agent Gateway", "version": env!("CARGO_PKG_VERSION")})
}

/// The server's capabilities: tools, whose list does not change during a session.
pub fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}})
}

/// Longest client name or version kept, in characters.
const MAX_CLIENT_FIELD: usize = 100;

/// Records the client an agent connected with (`clientInfo` of `initialize`, or the
/// stateless revision's `_meta`): on its actor at once, in the store when it changed,
/// so the live status and the owner's page can say "Connected: Codex 0.x". Agent text:
/// cleaned and bounded; a store failure is logged, never the agent's problem.
pub async fn client_seen(gw: &Gateway, who: &AgentIdentity, info: Option<&Value>) {
    let Some(info) = info.filter(|i| i.is_object()) else {
        return;
    };
    let field = |key: &str| {
        let raw = info.get(key).and_then(Value::as_str).unwrap_or_default();
        crate::audit::bounded(raw.trim(), MAX_CLIENT_FIELD)
    };
    let client = ClientInfo {
        name: field("name"),
        version: field("version"),
    };
    if client.name.is_empty() {
        return;
    }
    if gw.supervisor.client(who.agent_id).as_ref() == Some(&client) {
        return;
    }
    gw.supervisor.set_client(who.agent_id, client.clone());
    if let Err(e) = gw
        .store
        .set_agent_client(
            who.agent_id,
            &client.name,
            &client.version,
            chrono::Utc::now(),
        )
        .await
    {
        tracing::warn!(error = %e, "could not record the agent's client");
    }
}

/// `tools/list`: the tools this agent may call (those whose scope it holds in some
/// project). An agent that is gone or revoked is refused; a runtime failure is an error,
/// never an empty list.
pub async fn tools_list(gw: &Gateway, who: &AgentIdentity) -> Result<Value, McpError> {
    let held = gw
        .supervisor
        .held_scopes(who.agent_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the agent runtime could not list scopes");
            McpError::Unavailable("the tool list is unavailable right now; retry shortly".into())
        })?
        .ok_or(McpError::Revoked)?;
    let listed: Vec<&Value> = tools::ALL
        .iter()
        .zip(tools::definitions())
        .filter(|(spec, _)| held.contains(spec.scope.as_str()))
        .map(|(_, definition)| definition)
        .collect();
    Ok(json!({ "tools": listed }))
}

/// `tools/call`: the tool's `CallToolResult`, or why there is none.
pub async fn tools_call(
    gw: &Gateway,
    who: &AgentIdentity,
    request_id: &str,
    params: &Value,
) -> Result<Value, McpError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::InvalidParams("tools/call needs params.name".into()))?;
    tracing::Span::current().record("tool", name);
    let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
    let call = Call {
        gw,
        who,
        request_id,
    };
    match tools::call(name, &call, arguments).await {
        Some(answer) => answer,
        None => pipeline::unknown_tool(&call, name).await,
    }
}
