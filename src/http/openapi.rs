//! `GET /api/v1/openapi.json`: the admin and agent REST API, described.
//!
//! The document is written by hand in `docs/openapi.json` and compiled in, so the served
//! copy and the repository copy are one file. A test (`tests/api.rs`) checks that every
//! route the router serves is described and every described route is served.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as committed.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.json");

/// Serves the document.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
