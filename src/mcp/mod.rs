//! The MCP endpoint: Streamable HTTP on `/mcp`, for Codex CLI and any MCP client.
//!
//! Follow a request in this order:
//!
//! * [`transport`] — where an MCP request enters (POST, DELETE); [`stream`] — the GET
//!   stream and its bounds;
//! * [`auth`] — the [`auth::Caller`] extractor: `Origin`, then the bearer token;
//! * [`stateful`] / [`stateless`] — the two protocol eras: 2025-11-25 and 2025-06-18 with
//!   sessions, 2026-07-28 without; each checks its envelope;
//! * [`dispatch`] — what both eras serve alike: `tools/list`, `tools/call`, the
//!   instructions and the server's identity;
//! * [`pipeline`] — a tool call top to bottom: parse ([`limits`]) → [`admission`] (the agent's actor)
//!   → claim ([`idempotency`]) → Tasker (its pool) → settle ([`explain`] for errors) →
//!   audit → answer;
//! * [`tools`] — one file per tool;
//! * [`error`] — the one error type of this edge and its mapping per era;
//! * [`session`] — signed sessions bound to one agent; [`origin`] — the allow-list;
//!   [`jsonrpc`] — messages and codes.
//!
//! The JSON-RPC layer is our own rather than the `rmcp` SDK's server: every request must
//! be authenticated by its own bearer token, admitted by the agent's actor and audited
//! before any protocol handling, and the hot path must stay within a small factor of a
//! bare axum handler. See `docs/DECISIONS.md`.

pub mod admission;
pub mod auth;
pub mod dispatch;
pub mod error;
pub mod explain;
pub mod idempotency;
pub mod jsonrpc;
pub mod limits;
pub mod notice;
pub mod origin;
pub mod pipeline;
pub mod session;
pub mod stateful;
pub mod stateless;
pub mod stream;
pub mod tools;
pub mod transport;

use axum::routing::get;
use axum::Router;

pub use dispatch::INSTRUCTIONS;
pub use transport::{Mcp, McpParts};

/// The MCP routes.
pub fn router(state: Mcp) -> Router {
    Router::new()
        .route(
            "/mcp",
            get(stream::get)
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
