//! Where requests enter: the axum router, its layers (request id, body limit, timeout,
//! tracing, panic catcher) and the JSON fallbacks.
//!
//! * [`health`] — `/healthz`, `/readyz`;
//! * [`admin`] — the admin REST API;
//! * [`agent`] — `/api/v1/agent/me`;
//! * [`openapi`] — the served OpenAPI document;
//! * [`owner`] — the owner self-service API; [`principal`] — admin or owner;
//! * [`setup`] — the instruction pack for pairing an agent;
//! * [`work_sessions`] — work sessions (reporting mode) and the live-status snapshot;
//! * [`error`] — the one mapping from errors to HTTP;
//! * [`extract`] — extractors that reject with JSON.

pub mod admin;
pub mod agent;
pub mod error;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod owner;
pub mod principal;
pub mod setup;
pub mod work_sessions;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::gateway::Gateway;
use error::ApiError;

/// Builds the whole HTTP surface.
pub fn router(gateway: Gateway, mcp: crate::mcp::Mcp) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let max_body = gateway.config.max_body_bytes;
    let timeout: Duration = gateway.config.request_timeout;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/agent/me", get(agent::me))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/agents/{agent_id}/setup", get(setup::setup))
        .route(
            "/api/v1/launcher/events",
            axum::routing::post(crate::launcher::webhook::receive),
        )
        .merge(admin::routes())
        .merge(owner::routes())
        .merge(crate::ui::routes(mcp.closing.clone()))
        .merge(work_sessions::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(gateway)
        .merge(crate::mcp::router(mcp))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = extract::request_id(request.headers());
                // One span per request; an MCP call records its agent, JSON-RPC method and
                // tool on it (`mcp::transport`, `mcp::dispatch`).
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %id,
                    agent_id = tracing::field::Empty,
                    rpc = tracing::field::Empty,
                    tool = tracing::field::Empty,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn not_found() -> Response {
    ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into()).into_response()
}

async fn method_not_allowed() -> Response {
    let body = axum::Json(serde_json::json!({
        "error": {"code": "method_not_allowed", "message": "this endpoint does not accept that method"}
    }));
    (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}
