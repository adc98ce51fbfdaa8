//! Where an MCP request enters: Streamable HTTP on `/mcp`.
//!
//! POST carries one JSON-RPC message; the [`Caller`] extractor has already checked the
//! `Origin` and the bearer token. The body must be JSON and one JSON-RPC message; it is
//! then served by the era it belongs to: [`super::stateless`] (2026-07-28, no sessions)
//! or [`super::stateful`] (2025-11-25 and 2025-06-18, with sessions). Requests are
//! answered with `application/json`, notifications and responses with 202. GET (the
//! SSE stream) is [`super::stream`]. DELETE ends a session. Every error is an [`McpError`], answered by
//! its one mapping.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::admission;
use super::auth::{Caller, Refused};
use super::dispatch::STATELESS;
use super::error::{Era, McpError};
use super::jsonrpc::Message;
use super::origin::OriginPolicy;
use super::session::Sessions;
use super::stateful::{self, SESSION_HEADER, VERSION_HEADER};
use super::stateless;
use crate::gateway::Gateway;
use crate::http::extract::one_header;

/// The MCP endpoint's state: one `Arc`, so the clone axum makes for every request is
/// one reference count, not one per part (`drop_in_place<Mcp>` was ~1 % of a read).
#[derive(Debug, Clone)]
pub struct Mcp(Arc<McpParts>);

impl Mcp {
    /// The endpoint's state, from its parts (assembled by `app.rs`).
    pub fn new(parts: McpParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for Mcp {
    type Target = McpParts;

    fn deref(&self) -> &McpParts {
        &self.0
    }
}

/// What [`Mcp`] holds.
#[derive(Debug)]
pub struct McpParts {
    /// The gateway core.
    pub gw: Gateway,
    /// Session minting and verification.
    pub sessions: Arc<Sessions>,
    /// Allowed browser origins.
    pub origins: Arc<OriginPolicy>,
    /// Absolute URL of the protected-resource metadata.
    pub metadata_url: Arc<str>,
    /// Turns true when the gateway shuts down: open streams end so the drain can finish.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Refused requests of revoked agents, counted so the audit log gets a few rows per
    /// minute, not one per request.
    pub refusals: Arc<super::auth::Refusals>,
    /// Open `GET /mcp` streams, bounded per agent and in total.
    pub streams: Arc<super::stream::Streams>,
}

impl Mcp {
    /// The HTTP answer to `error` in `era`, with the request's id when known.
    pub(super) fn respond(&self, era: Era, id: Option<&Value>, error: McpError) -> Response {
        let result = match era {
            Era::Sessions => stateful::result,
            Era::Stateless => stateless::complete,
        };
        error.respond(era, id, &self.metadata_url, result)
    }
}

/// Whether the body is declared as `application/json` (parameters such as `charset`
/// allowed; `application/jsonx` and the like are not JSON).
fn is_json(headers: &HeaderMap) -> bool {
    one_header(headers, header::CONTENT_TYPE.as_str())
        .ok()
        .flatten()
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The JSON-RPC id of a body, if it has a usable one (for error answers before parsing).
fn request_id_of(body: &[u8]) -> Option<Value> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("id")
        .filter(|id| id.is_string() || id.is_number())
        .cloned()
}

/// `POST /mcp`.
pub async fn post(
    State(mcp): State<Mcp>,
    caller: Result<Caller, Refused>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        // Over GATEWAY_MAX_BODY_BYTES (or unreadable): a JSON-RPC error, never text.
        Err(rejection) => {
            tracing::info!(%rejection, "an MCP body was refused");
            let limit = format!("at most {} bytes", mcp.gw.config.max_body_bytes);
            return mcp.respond(Era::Sessions, None, McpError::TooLarge(limit));
        }
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(refused) => return refused.respond(request_id_of(&body).as_ref()),
    };
    // On the request's span (`http::router`), which already names the request id.
    tracing::Span::current().record("agent_id", tracing::field::display(caller.who.agent_id));
    serve(mcp, headers, body, caller).await
}

async fn serve(mcp: Mcp, headers: HeaderMap, body: Bytes, caller: Caller) -> Response {
    if !is_json(&headers) {
        return mcp.respond(Era::Sessions, None, McpError::MediaType);
    }
    let message = match Message::parse(&body) {
        Ok(m) => m,
        Err(invalid) => {
            return mcp.respond(
                Era::Sessions,
                None,
                McpError::Malformed {
                    code: invalid.code,
                    message: invalid.message,
                },
            )
        }
    };
    let era = if stateless::is_stateless(&headers, &message) {
        Era::Stateless
    } else {
        Era::Sessions
    };
    // Every message counts against the agent's rate; a tool call is charged when it is
    // admitted (or refused before that), in the pipeline.
    let tool_call = matches!(&message, Message::Request { method, .. } if method == "tools/call");
    if !tool_call {
        if let Err(error) = admission::charge(&mcp.gw, caller.who.agent_id, None).await {
            let id = match &message {
                Message::Request { id, .. } => Some(id),
                Message::Notification { .. } | Message::Response => None,
            };
            return mcp.respond(era, id, error);
        }
    }
    match era {
        Era::Stateless => stateless::handle(&mcp, &headers, message, &caller).await,
        Era::Sessions => stateful::handle(&mcp, &headers, message, &caller).await,
    }
}

/// 405 for a GET or DELETE of the stateless revision, which has neither.
fn stateless_method_not_allowed(headers: &HeaderMap) -> Option<Response> {
    let v = headers.get(VERSION_HEADER)?.to_str().ok()?.trim();
    (v == STATELESS).then(|| {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        response
    })
}

/// The checks a GET or DELETE of `/mcp` shares: not the stateless revision (405), the
/// caller (`Origin`, token), the version header, this agent's session, and the rate.
pub(super) async fn session_request(
    mcp: &Mcp,
    headers: &HeaderMap,
    caller: Result<Caller, Refused>,
) -> Result<Caller, Response> {
    if let Some(response) = stateless_method_not_allowed(headers) {
        return Err(response);
    }
    let caller = caller.map_err(IntoResponse::into_response)?;
    stateful::version_header(headers)
        .and_then(|_| stateful::session(mcp, headers, &caller))
        .map_err(|error| mcp.respond(Era::Sessions, None, error))?;
    admission::charge(&mcp.gw, caller.who.agent_id, None)
        .await
        .map_err(|error| mcp.respond(Era::Sessions, None, error))?;
    Ok(caller)
}

/// `DELETE /mcp`: ends the session.
pub async fn delete(
    State(mcp): State<Mcp>,
    headers: HeaderMap,
    caller: Result<Caller, Refused>,
) -> Response {
    if let Err(response) = session_request(&mcp, &headers, caller).await {
        return response;
    }
    if let Ok(Some(id)) = one_header(&headers, SESSION_HEADER) {
        mcp.sessions.terminate(id).await;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /.well-known/oauth-protected-resource` (RFC 9728). The gateway issues its own
/// static bearer tokens (no OAuth authorization server), so the document names the
/// resource, how to present a token, the scopes, and where tokens come from — and lists
/// no authorization server rather than pointing at one that does not exist.
pub async fn protected_resource(State(mcp): State<Mcp>) -> Response {
    let resource = mcp
        .gw
        .config
        .public_url
        .join("mcp")
        .map(|u| u.to_string())
        .unwrap_or_default();
    let scopes: Vec<&str> = crate::scopes::Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    axum::Json(json!({
        "resource": resource,
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
        "resource_name": "NODE.DC Agent Gateway",
        "resource_documentation": mcp.gw.config.public_url.join("api/v1/openapi.json").map(|u| u.to_string()).unwrap_or_default(),
    }))
    .into_response()
}
