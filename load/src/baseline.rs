//! The ceiling: a bare axum server answering every `POST /mcp` with the very bytes
//! the gateway answered to an authenticated `tools/call list_projects` (captured by
//! [`crate::capture`]). It checks nothing and parses nothing: a body without `"id"`
//! (a notification) gets `202`, anything else `200` with the captured bytes and an
//! `Mcp-Session-Id`, so the harness can drive it with the same request pattern as
//! the gateway (`--baseline`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

fn router(answer: Bytes) -> Router {
    Router::new().route(
        "/mcp",
        post(move |body: Bytes| {
            let answer = answer.clone();
            async move {
                if !contains(&body, b"\"id\"") {
                    return StatusCode::ACCEPTED.into_response();
                }
                let mut r = Response::new(axum::body::Body::from(answer));
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                h.insert("mcp-session-id", HeaderValue::from_static("baseline"));
                r
            }
        }),
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Binds `bind` and serves until the process ends; returns the bound address
/// through `bound` once listening.
pub async fn serve(
    bind: SocketAddr,
    answer: Vec<u8>,
    bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    bound(listener.local_addr()?);
    axum::serve(listener, router(Bytes::from(answer))).await
}

/// Serves on a free loopback port in a background task (for tests); its base URL.
pub async fn spawn(answer: Vec<u8>) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(Bytes::from(answer));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_id_key() {
        assert!(super::contains(br#"{"jsonrpc":"2.0","id":3}"#, b"\"id\""));
        assert!(!super::contains(
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            b"\"id\""
        ));
    }
}
