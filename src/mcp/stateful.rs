//! The session revisions, 2025-11-25 and 2025-06-18: `initialize` mints a session
//! (`Mcp-Session-Id`), and every later message must carry it. Checked in this order:
//! `MCP-Protocol-Version` (400), then the session (400 when missing, 404 when unknown or
//! not this agent's). The methods themselves are `dispatch`'s.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::auth::Caller;
use super::dispatch::{self, SESSION_REVISIONS};
use super::error::{rpc, Era, McpError};
use super::jsonrpc::{self, Message};
use super::session::Session;
use super::transport::Mcp;
use crate::http::extract::one_header;

/// The session header.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// Also accepted in the `MCP-Protocol-Version` header of an established session (some
/// clients keep sending the revision they probed first).
pub const ACCEPTED_IN_HEADER: [&str; 3] =
    [SESSION_REVISIONS[0], SESSION_REVISIONS[1], "2025-03-26"];

/// A result answer: HTTP 200 with the JSON-RPC result.
pub fn result(id: &Value, value: Value) -> Response {
    rpc(StatusCode::OK, jsonrpc::result(id, value))
}

/// Serves one message of a session revision.
pub async fn handle(mcp: &Mcp, headers: &HeaderMap, message: Message, caller: &Caller) -> Response {
    let refuse = |error: McpError| mcp.respond(Era::Sessions, None, error);
    // The header is checked, not needed: the session revisions behave alike here.
    if let Err(error) = version_header(headers) {
        return refuse(error);
    }
    if let Message::Request { id, method, params } = &message {
        if method == "initialize" {
            tracing::Span::current().record("rpc", "initialize");
            dispatch::client_seen(&mcp.gw, &caller.who, params.get("clientInfo")).await;
            return initialize(mcp, caller, id, params);
        }
    }
    // Everything but initialize belongs to a live session of this agent.
    if let Err(error) = session(mcp, headers, caller) {
        return refuse(error);
    }
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // Notifications (initialized, cancelled) and responses need no answer.
        Message::Notification { .. } | Message::Response => {
            return StatusCode::ACCEPTED.into_response()
        }
    };
    tracing::Span::current().record("rpc", method.as_str());
    let answer = match method.as_str() {
        "ping" => Ok(json!({})),
        "tools/list" => dispatch::tools_list(&mcp.gw, &caller.who).await,
        "tools/call" => {
            dispatch::tools_call(&mcp.gw, &caller.who, &caller.request_id, &params).await
        }
        other => Err(McpError::MethodNotFound(other.to_owned())),
    };
    match answer {
        Ok(value) => result(&id, value),
        Err(error) => mcp.respond(Era::Sessions, Some(&id), error),
    }
}

fn initialize(mcp: &Mcp, caller: &Caller, id: &Value, params: &Value) -> Response {
    let version = negotiate(params["protocolVersion"].as_str());
    let session = mcp.sessions.mint(caller.who.agent_id, version);
    let mut response = result(
        id,
        json!({
            "protocolVersion": version,
            "capabilities": dispatch::capabilities(),
            "serverInfo": dispatch::server_info(),
            "instructions": dispatch::INSTRUCTIONS,
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

/// The version to answer `initialize` with: the client's, when served; else the newest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| SESSION_REVISIONS.iter().find(|s| **s == r))
        .copied()
        .unwrap_or(SESSION_REVISIONS[0])
}

/// The `MCP-Protocol-Version` header, when present, must name a session revision.
pub fn version_header(headers: &HeaderMap) -> Result<Option<String>, McpError> {
    let v = one_header(headers, VERSION_HEADER).map_err(McpError::Version)?;
    match v {
        None => Ok(None),
        Some(v) if ACCEPTED_IN_HEADER.contains(&v) => Ok(Some(v.to_owned())),
        Some(v) => Err(McpError::Version(format!(
            "{v:?} is not a session revision"
        ))),
    }
}

/// The session of a non-initialize request: present, genuine, and this agent's.
pub fn session(mcp: &Mcp, headers: &HeaderMap, caller: &Caller) -> Result<Session, McpError> {
    let id = one_header(headers, SESSION_HEADER)
        .map_err(|_| McpError::UnknownSession)?
        .ok_or(McpError::MissingSession)?;
    mcp.sessions
        .verify(id, caller.who.agent_id)
        .map_err(|_| McpError::UnknownSession)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_served_versions_only() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2025-11-25")), "2025-11-25");
        assert_eq!(negotiate(Some("1900-01-01")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }
}
