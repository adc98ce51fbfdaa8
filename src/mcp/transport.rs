//! Where an MCP request enters: Streamable HTTP on `/mcp`. The session-based revisions
//! 2025-11-25 and 2025-06-18 are served here; a message of the stateless revision
//! 2026-07-28 is handed to [`super::modern`] once it is authenticated and parsed.
//!
//! POST carries one JSON-RPC message; requests are answered with `application/json`,
//! notifications and responses with 202. GET opens an SSE stream that carries nothing
//! but keep-alives today and is closed the moment the agent is revoked. DELETE ends a
//! session. Every request is checked in this order: `Origin` (403), bearer token (401,
//! pointing at the RFC 9728 metadata), `MCP-Protocol-Version` (400), session (400 when
//! missing, 404 when unknown or not this agent's).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde_json::{json, Value};
use tracing::Instrument;

use super::call::{call_tool, tool_error, Failure};
use super::jsonrpc::{self, Message};
use super::origin::OriginPolicy;
use super::session::{negotiate, Session, Sessions, ACCEPTED_IN_HEADER};
use super::tools::Tool;
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::http::extract::{bearer, request_id};
use crate::identity::{AgentIdentity, AuthError};
use crate::store::Outcome;

/// The MCP endpoint's state.
#[derive(Debug, Clone)]
pub struct Mcp {
    /// The gateway core.
    pub gw: Gateway,
    /// Session minting and verification.
    pub sessions: Arc<Sessions>,
    /// Allowed browser origins.
    pub origins: Arc<OriginPolicy>,
    /// Absolute URL of the protected-resource metadata.
    pub metadata_url: String,
    /// Turns true when the gateway shuts down: open streams end so the drain can finish.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// Why a request was turned away before any JSON-RPC handling: the transport layer's
/// errors, mapped once to HTTP in `IntoResponse`.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 403: a present `Origin` that is not allowed.
    #[error("{0}")]
    Origin(String),
    /// 401: no token, or not a valid one; points at the RFC 9728 metadata.
    #[error("{message}")]
    Unauthorized {
        /// Whether a token was presented (then `error="invalid_token"`).
        presented: bool,
        /// Why.
        message: String,
        /// The metadata URL for `WWW-Authenticate`.
        metadata: String,
    },
    /// 400: an `MCP-Protocol-Version` this server does not speak.
    #[error(
        "Unsupported MCP-Protocol-Version {0:?} for a session-based request; this server speaks 2025-11-25 and 2025-06-18 with sessions, and 2026-07-28 without"
    )]
    Version(String),
    /// 400: no `Mcp-Session-Id` on a request that needs one.
    #[error("Mcp-Session-Id is required; send initialize first")]
    MissingSession,
    /// 404: a session that is unknown, ended, or not this agent's.
    #[error("session not found; send initialize to start a new one")]
    UnknownSession,
    /// 415: the body is not declared as JSON.
    #[error("send the JSON-RPC message with Content-Type: application/json")]
    MediaType,
    /// 400: not one JSON-RPC message.
    #[error("{message}")]
    Invalid {
        /// JSON-RPC code.
        code: i64,
        /// What was wrong.
        message: String,
    },
    /// 503: a dependency failed; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.respond(None)
    }
}

impl Refusal {
    /// The HTTP answer; with the request's id when it is known, so the client can match
    /// the error to its request.
    pub fn respond(self, id: Option<&Value>) -> Response {
        let message = self.to_string();
        let (status, code) = match &self {
            Refusal::Origin(_) => (StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST),
            Refusal::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, jsonrpc::AUTH_ERROR),
            Refusal::Version(_) => (StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST),
            Refusal::MissingSession => (StatusCode::BAD_REQUEST, jsonrpc::SESSION_ERROR),
            Refusal::UnknownSession => (StatusCode::NOT_FOUND, jsonrpc::SESSION_ERROR),
            Refusal::MediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, jsonrpc::INVALID_REQUEST),
            Refusal::Invalid { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Refusal::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, jsonrpc::INTERNAL_ERROR),
        };
        let mut response = rpc(status, jsonrpc::error(id, code, &message, None));
        if let Refusal::Unauthorized {
            presented,
            metadata,
            ..
        } = &self
        {
            let challenge = if *presented {
                format!("Bearer error=\"invalid_token\", resource_metadata=\"{metadata}\"")
            } else {
                format!("Bearer resource_metadata=\"{metadata}\"")
            };
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        response
    }
}

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// An HTTP answer with a JSON-RPC body.
pub(super) fn rpc(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

impl Mcp {
    /// 401 with the RFC 9728 pointer (and `invalid_token` when a token was presented).
    pub(super) fn unauthorized(&self, presented: bool, message: &str) -> Refusal {
        Refusal::Unauthorized {
            presented,
            message: message.to_owned(),
            metadata: self.metadata_url.clone(),
        }
    }

    /// 403 `insufficient_scope`, with the request's id.
    pub(super) fn insufficient_scope(&self, id: &Value, scope: &str, message: &str) -> Response {
        let challenge = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{}\"",
            self.metadata_url
        );
        let mut response = rpc(
            StatusCode::FORBIDDEN,
            jsonrpc::error(
                Some(id),
                jsonrpc::AUTH_ERROR,
                message,
                Some(json!({"scope": scope})),
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }

    /// Origin, then the bearer token.
    async fn gate(&self, headers: &HeaderMap, request_id: &str) -> Result<AgentIdentity, Refusal> {
        if let Err(refused) = self.origins.check(headers) {
            tracing::warn!(%refused, "MCP request from a disallowed origin");
            return Err(Refusal::Origin(refused.to_string()));
        }
        let presented = bearer(headers);
        match self.gw.auth.agent(presented).await {
            Ok(who) => Ok(who),
            Err(AuthError::Store(e)) => {
                tracing::error!(error = %e, "authentication lookup failed");
                Err(Refusal::Unavailable(
                    "the gateway cannot check tokens right now; retry shortly".into(),
                ))
            }
            Err(e) => {
                if matches!(e, AuthError::Revoked) {
                    let row = AuditEvent::start(request_id, "mcp.auth")
                        .finish(Outcome::Denied, Some(e.to_string()));
                    let _ = self.gw.auditor.record_later(row).await;
                }
                Err(self.unauthorized(presented.is_some(), &e.to_string()))
            }
        }
    }

    /// The session of a non-initialize request.
    fn session(&self, headers: &HeaderMap, who: &AgentIdentity) -> Result<Session, Refusal> {
        let id = headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(Refusal::MissingSession)?;
        self.sessions
            .verify(id, who.agent_id)
            .map_err(|_| Refusal::UnknownSession)
    }
}

fn version_header(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(raw) = headers.get(VERSION_HEADER) else {
        return Ok(None);
    };
    let v = raw.to_str().unwrap_or_default().trim();
    if ACCEPTED_IN_HEADER.contains(&v) {
        Ok(Some(v.to_owned()))
    } else {
        Err(Refusal::Version(v.to_owned()))
    }
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
pub async fn post(State(mcp): State<Mcp>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = request_id(&headers);
    let who = match mcp.gate(&headers, &request_id).await {
        Ok(who) => who,
        Err(refusal) => return refusal.respond(request_id_of(&body).as_ref()),
    };
    let span = tracing::info_span!("mcp", agent_id = %who.agent_id, request_id = %request_id, method = tracing::field::Empty, tool = tracing::field::Empty);
    handle_post(mcp, headers, body, who, request_id)
        .instrument(span)
        .await
}

async fn handle_post(
    mcp: Mcp,
    headers: HeaderMap,
    body: Bytes,
    who: AgentIdentity,
    request_id: String,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return rpc(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            jsonrpc::error(
                None,
                jsonrpc::INVALID_REQUEST,
                "send the JSON-RPC message with Content-Type: application/json",
                None,
            ),
        );
    }
    let message = match Message::parse(&body) {
        Ok(m) => m,
        Err(invalid) => {
            return Refusal::Invalid {
                code: invalid.code,
                message: invalid.message,
            }
            .into_response()
        }
    };
    if super::modern::is_modern(&headers, &message) {
        return super::modern::handle(&mcp, &headers, message, &who, &request_id).await;
    }
    // The legacy revisions behave alike here: the header is checked, not needed.
    if let Err(refusal) = version_header(&headers) {
        return refusal.into_response();
    }
    if let Message::Request { id, method, params } = &message {
        if method == "initialize" {
            tracing::Span::current().record("method", "initialize");
            return initialize(&mcp, &who, id, params);
        }
    }
    // Everything but initialize belongs to a live session of this agent.
    if let Err(refusal) = mcp.session(&headers, &who) {
        return refusal.into_response();
    }
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // Notifications (initialized, cancelled) and responses need no answer.
        Message::Notification { .. } | Message::Response => {
            return StatusCode::ACCEPTED.into_response()
        }
    };
    tracing::Span::current().record("method", method.as_str());
    match method.as_str() {
        "ping" => rpc(StatusCode::OK, jsonrpc::result(&id, json!({}))),
        "tools/list" => rpc(StatusCode::OK, jsonrpc::result(&id, tools_list(&mcp.gw, &who).await)),
        "tools/call" => tools_call(&mcp, &who, &request_id, &id, params).await,
        other => rpc(
            StatusCode::OK,
            jsonrpc::error(
                Some(&id),
                jsonrpc::METHOD_NOT_FOUND,
                &format!("Method not found: {other}. This server offers tools only (tools/list, tools/call)."),
                None,
            ),
        ),
    }
}

fn initialize(mcp: &Mcp, who: &AgentIdentity, id: &Value, params: &Value) -> Response {
    let version = negotiate(params["protocolVersion"].as_str());
    let session = mcp.sessions.mint(who.agent_id, version);
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "nodedc-agent-gateway", "title": "NODE.DC Agent Gateway", "version": env!("CARGO_PKG_VERSION")},
        "instructions": INSTRUCTIONS,
    });
    let mut response = rpc(StatusCode::OK, jsonrpc::result(id, result));
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

/// Server-wide guidance every client shows its model (kept under 512 characters).
pub const INSTRUCTIONS: &str = "Work on the team's tracker. Start with list_projects and get_project_context; use the exact state, label and member names they return. Every write needs an idempotency_key: a new unique string per intended change, reused only to retry that same call. Nothing can be deleted or archived; to retire a card, move it to a completed or cancelled state. Errors say what to do instead.";

/// The tools this agent may call: those whose scope it holds in some project.
pub(super) async fn tools_list(gw: &Gateway, who: &AgentIdentity) -> Value {
    let held = gw
        .supervisor
        .held_scopes(who.agent_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let tools: Vec<&Value> = Tool::ALL
        .iter()
        .filter(|t| held.contains(t.spec().scope.as_str()))
        .map(|t| t.definition())
        .collect();
    json!({ "tools": tools })
}

async fn tools_call(
    mcp: &Mcp,
    who: &AgentIdentity,
    request_id: &str,
    id: &Value,
    params: Value,
) -> Response {
    let Some(name) = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return rpc(
            StatusCode::OK,
            jsonrpc::error(
                Some(id),
                jsonrpc::INVALID_PARAMS,
                "tools/call needs params.name",
                None,
            ),
        );
    };
    tracing::Span::current().record("tool", name.as_str());
    let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
    match call_tool(&mcp.gw, who, request_id, &name, arguments).await {
        Ok(result) => rpc(StatusCode::OK, jsonrpc::result(id, result)),
        Err(Failure::Tool { message, .. }) => {
            rpc(StatusCode::OK, jsonrpc::result(id, tool_error(&message)))
        }
        Err(Failure::Scope { scope, message }) => mcp.insufficient_scope(id, scope, &message),
        Err(Failure::Revoked) => mcp
            .unauthorized(true, "the token has been revoked or its agent disabled")
            .respond(Some(id)),
        Err(Failure::Rpc { code, message }) => rpc(
            StatusCode::OK,
            jsonrpc::error(Some(id), code, &message, None),
        ),
        Err(Failure::Unavailable(message)) => rpc(
            StatusCode::SERVICE_UNAVAILABLE,
            jsonrpc::error(Some(id), jsonrpc::INTERNAL_ERROR, &message, None),
        ),
    }
}

/// `GET /mcp`: an SSE stream for server-to-client messages. The gateway sends none yet
/// (its tool list does not change during a session), so the stream carries keep-alives
/// until the client leaves — or until the agent is revoked, which closes it at once.
pub async fn get(State(mcp): State<Mcp>, headers: HeaderMap) -> Response {
    if let Some(response) = modern_method_not_allowed(&headers) {
        return response;
    }
    let request_id = request_id(&headers);
    let who = match mcp.gate(&headers, &request_id).await {
        Ok(who) => who,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = version_header(&headers).and_then(|_| mcp.session(&headers, &who)) {
        return refusal.into_response();
    }
    let revoked = match mcp.gw.supervisor.watch_revoked(who.agent_id).await {
        Ok(Some(revoked)) => revoked,
        Ok(None) => {
            return mcp
                .unauthorized(true, "the agent is not available")
                .into_response()
        }
        Err(e) => {
            return Refusal::Unavailable(format!("the agent runtime is unavailable ({e})"))
                .into_response()
        }
    };
    if *revoked.borrow() {
        return mcp
            .unauthorized(true, "the token has been revoked or its agent disabled")
            .into_response();
    }
    let supervisor = mcp.gw.supervisor.clone();
    let agent_id = who.agent_id;
    let closing = mcp.closing.clone();
    let stream = stream::unfold(Some(revoked), move |state| {
        let supervisor = supervisor.clone();
        let mut closing = closing.clone();
        async move {
            let mut revoked = state?;
            loop {
                let changed = tokio::select! {
                    changed = revoked.wait_for(|r| *r) => changed.map(|_| ()),
                    _ = closing.wait_for(|c| *c) => return None,
                };
                match changed {
                    // Revoked: end the stream now.
                    Ok(_) => return None::<(Result<Event, Infallible>, _)>,
                    // The actor idled out while the stream stayed open: watch its
                    // successor (started afresh from the store, so a revocation that
                    // landed meanwhile is seen).
                    Err(_) => match supervisor.watch_revoked(agent_id).await {
                        Ok(Some(next)) if !*next.borrow() => revoked = next,
                        _ => return None,
                    },
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// 405 for a GET or DELETE of the stateless revision, which has neither.
fn modern_method_not_allowed(headers: &HeaderMap) -> Option<Response> {
    let v = headers.get(VERSION_HEADER)?.to_str().ok()?.trim();
    (v == super::modern::MODERN).then(|| {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        response
    })
}

/// `DELETE /mcp`: ends the session.
pub async fn delete(State(mcp): State<Mcp>, headers: HeaderMap) -> Response {
    if let Some(response) = modern_method_not_allowed(&headers) {
        return response;
    }
    let request_id = request_id(&headers);
    let who = match mcp.gate(&headers, &request_id).await {
        Ok(who) => who,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = mcp.session(&headers, &who) {
        return refusal.into_response();
    }
    if let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
        mcp.sessions.terminate(id);
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
