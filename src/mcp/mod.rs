//! The MCP endpoint: Streamable HTTP on `/mcp`, for Codex CLI and any MCP client.
//!
//! * [`transport`] — where an MCP request enters: origin, token, version, session,
//!   JSON-RPC dispatch; the RFC 9728 metadata document;
//! * [`modern`] — the stateless revision 2026-07-28 on the same endpoint;
//! * [`call`] — a tool call in a straight line: admission by the agent's actor,
//!   idempotency, the Tasker call, the audit row;
//! * [`tools`] — one file per tool;
//! * [`session`] — signed sessions bound to one agent;
//! * [`origin`] — the `Origin` allow-list;
//! * [`jsonrpc`] — JSON-RPC messages and error codes.
//!
//! The JSON-RPC layer is our own rather than the `rmcp` SDK's server: every request must
//! be authenticated by its own bearer token, admitted by the agent's actor and audited
//! before any protocol handling, and the hot path must stay within a small factor of a
//! bare axum handler. See `docs/DECISIONS.md`.

pub mod call;
pub mod jsonrpc;
pub mod modern;
pub mod origin;
pub mod session;
pub mod tools;
pub mod transport;

use axum::routing::get;
use axum::Router;

pub use transport::Mcp;

/// The MCP routes.
pub fn router(state: Mcp) -> Router {
    Router::new()
        .route(
            "/mcp",
            get(transport::get)
                .post(transport::post)
                .delete(transport::delete),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(transport::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(transport::protected_resource),
        )
        .with_state(state)
}
