//! Extractors whose rejections are our JSON errors, never axum's text/plain, plus the
//! bearer-token and request-id readers.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;

/// `axum::Json` with a JSON error on rejection.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` with a JSON error on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with a JSON error on rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The request id set by the request-id layer (or sent by the client).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(request_id(&parts.headers)))
    }
}

/// The `x-request-id` header (set by the request-id layer when the client sent none),
/// cut to 128 visible characters: it ends up in the audit log, so a client cannot make
/// it arbitrarily large. `-` when absent.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(char::is_ascii_graphic)
                .take(128)
                .collect::<String>()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

/// One header's single, trimmed value; `Err` when repeated or not visible ASCII.
pub fn one_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("the {name} header appears more than once"));
    }
    first
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| format!("the {name} header has characters a header may not carry"))
}

/// The bearer token of the one `Authorization` header, if there is exactly one. The scheme is matched
/// case-insensitively (RFC 9110 §11.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    // None, or more than one: a repeated credential is never guessed between.
    let value = one_header(headers, header::AUTHORIZATION.as_str()).ok()??;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
