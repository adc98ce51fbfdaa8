//! The MCP edge's one error type, [`McpError`], and its one mapping to HTTP and JSON-RPC
//! per protocol era ([`Era`]).
//!
//! Every way a `/mcp` request can end without the method's result is a variant here:
//! transport refusals (origin, token, session, media type, malformed JSON-RPC), the
//! stateless revision's envelope checks, protocol errors (unknown method or tool, bad
//! params), tool errors the model reads (`isError: true`), and dependency failures. Each
//! question about a variant — its JSON-RPC code, its HTTP status in each era, its audit
//! outcome — is one exhaustive `match` with no `_` arm, so a new variant forces a
//! decision everywhere.
//!
//! The eras differ in one place only: a JSON-RPC error answering a well-formed request
//! travels with HTTP 200 in the session revisions (the error is in the body, as the
//! Python SDK and Codex expect) and with a status that mirrors it in the stateless
//! revision (400 bad params, 404 unknown method), as its conformance checks require.
//!
//! Somewhat over 400 lines because every question about a variant is one exhaustive
//! `match` with no `_` arm, on purpose: the variant lists repeat so that a new variant
//! cannot be added without deciding each of them.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::jsonrpc;
use crate::store::Outcome;

/// The protocol era a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-06-18 and 2025-11-25: `initialize`, `Mcp-Session-Id`, a GET stream.
    Sessions,
    /// 2026-07-28: no handshake, no session; each request carries its envelope.
    Stateless,
}

/// Why a `/mcp` request did not get its method's result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpError {
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
    },
    /// 401: the agent was revoked or disabled (possibly while the call was on its way).
    #[error("the token has been revoked or its agent disabled")]
    Revoked,
    /// 400: an `MCP-Protocol-Version` the session revisions do not speak (or repeated).
    #[error(
        "Bad MCP-Protocol-Version for a session-based request ({0}); this server speaks 2025-11-25 and 2025-06-18 with sessions, and 2026-07-28 without"
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
    /// 413: the body is larger than `GATEWAY_MAX_BODY_BYTES` (or could not be read).
    #[error("the request body is larger than this gateway accepts ({0}); send less")]
    TooLarge(String),
    /// 400: not one JSON-RPC message (parse error or invalid request).
    #[error("{message}")]
    Malformed {
        /// `PARSE_ERROR` or `INVALID_REQUEST`.
        code: i64,
        /// What was wrong.
        message: String,
    },
    /// 400 (-32020), stateless revision: a header disagrees with the body.
    #[error("Header mismatch: {0}")]
    HeaderMismatch(String),
    /// 400 (-32022), stateless revision: `_meta` names a revision not served.
    #[error("Unsupported protocol version")]
    UnsupportedVersion(String),
    /// -32601: no such method.
    #[error("Method not found: {0}. This server offers tools only (tools/list, tools/call).")]
    MethodNotFound(String),
    /// -32602: the params are wrong (no tool name, an unknown tool, arguments that are not
    /// an object, a missing envelope).
    #[error("{0}")]
    InvalidParams(String),
    /// 403 `insufficient_scope`: the agent lacks the tool's scope.
    #[error("{message}")]
    Scope {
        /// The scope needed.
        scope: &'static str,
        /// The explanation.
        message: String,
    },
    /// A tool error (`isError: true`), refused by policy: a project not granted, a
    /// forbidden operation.
    #[error("{0}")]
    Denied(String),
    /// A tool error (`isError: true`): the agent's rate limit refused the call.
    #[error("Rate limit reached for this agent. Retry after {retry_after_secs} s{}.", if *.write { " with the same idempotency_key" } else { "" })]
    ToolRateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
        /// Refusals in a row, this one included.
        streak: u64,
        /// Whether the call was a write.
        write: bool,
    },
    /// 429: no room for another `GET /mcp` stream (this agent's, or the replica's).
    #[error("{0}")]
    TooManyStreams(String),
    /// 429 with `Retry-After`: the agent's rate limit refused a protocol request
    /// (`initialize`, `ping`, `tools/list`, a stream, a DELETE).
    #[error("Rate limit reached for this agent. Retry after {0} s.")]
    RateLimited(u64),
    /// A tool error (`isError: true`) in what the agent sent: arguments, names, keys.
    #[error("{0}")]
    Rejected(String),
    /// A tool error (`isError: true`): the tracker is unavailable; retrying is safe.
    #[error("{0}")]
    Upstream(String),
    /// 503: the gateway cannot serve the request now; retrying is safe.
    #[error("{0}")]
    Unavailable(String),
}

/// How an error travels back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// As a `CallToolResult` with `isError: true`, for the model to read.
    ToolResult(Value),
    /// As a JSON-RPC error object with an HTTP status.
    Error {
        /// The HTTP status.
        status: StatusCode,
        /// The JSON-RPC `error` member's fields.
        code: i64,
        /// The message.
        message: String,
        /// The `data` member, if any.
        data: Option<Value>,
    },
}

impl McpError {
    /// The audit outcome: refused by policy is `denied`; everything else that went wrong
    /// (bad input, a failing dependency) is `failed`.
    pub fn outcome(&self) -> Outcome {
        match self {
            McpError::Origin(_)
            | McpError::Unauthorized { .. }
            | McpError::Revoked
            | McpError::Scope { .. }
            | McpError::Denied(_)
            | McpError::ToolRateLimited { .. }
            | McpError::RateLimited(_)
            | McpError::TooManyStreams(_) => Outcome::Denied,
            McpError::Version(_)
            | McpError::MissingSession
            | McpError::UnknownSession
            | McpError::MediaType
            | McpError::TooLarge(_)
            | McpError::Malformed { .. }
            | McpError::HeaderMismatch(_)
            | McpError::UnsupportedVersion(_)
            | McpError::MethodNotFound(_)
            | McpError::InvalidParams(_)
            | McpError::Rejected(_)
            | McpError::Upstream(_)
            | McpError::Unavailable(_) => Outcome::Failed,
        }
    }

    /// The JSON-RPC error code.
    fn code(&self) -> i64 {
        match self {
            McpError::Origin(_)
            | McpError::Version(_)
            | McpError::MediaType
            | McpError::TooLarge(_) => jsonrpc::INVALID_REQUEST,
            McpError::Unauthorized { .. } | McpError::Revoked | McpError::Scope { .. } => {
                jsonrpc::AUTH_ERROR
            }
            McpError::MissingSession | McpError::UnknownSession => jsonrpc::SESSION_ERROR,
            McpError::Malformed { code, .. } => *code,
            McpError::HeaderMismatch(_) => jsonrpc::HEADER_MISMATCH,
            McpError::UnsupportedVersion(_) => jsonrpc::UNSUPPORTED_VERSION,
            McpError::MethodNotFound(_) => jsonrpc::METHOD_NOT_FOUND,
            McpError::InvalidParams(_)
            | McpError::Denied(_)
            | McpError::ToolRateLimited { .. }
            | McpError::Rejected(_)
            | McpError::Upstream(_) => jsonrpc::INVALID_PARAMS,
            McpError::RateLimited(_) | McpError::TooManyStreams(_) => jsonrpc::RATE_LIMITED,
            McpError::Unavailable(_) => jsonrpc::INTERNAL_ERROR,
        }
    }

    /// The HTTP status of a JSON-RPC error in `era`.
    fn status(&self, era: Era) -> StatusCode {
        match self {
            McpError::Origin(_) | McpError::Scope { .. } => StatusCode::FORBIDDEN,
            McpError::Unauthorized { .. } | McpError::Revoked => StatusCode::UNAUTHORIZED,
            McpError::Version(_)
            | McpError::MissingSession
            | McpError::Malformed { .. }
            | McpError::HeaderMismatch(_)
            | McpError::UnsupportedVersion(_) => StatusCode::BAD_REQUEST,
            McpError::UnknownSession => StatusCode::NOT_FOUND,
            McpError::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            McpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            McpError::MethodNotFound(_) => match era {
                Era::Sessions => StatusCode::OK,
                Era::Stateless => StatusCode::NOT_FOUND,
            },
            McpError::InvalidParams(_)
            | McpError::Denied(_)
            | McpError::ToolRateLimited { .. }
            | McpError::Rejected(_)
            | McpError::Upstream(_) => match era {
                Era::Sessions => StatusCode::OK,
                Era::Stateless => StatusCode::BAD_REQUEST,
            },
            McpError::RateLimited(_) | McpError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            McpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// How this error travels back in `era`.
    pub fn reply(self, era: Era) -> Reply {
        let message = self.to_string();
        let data = match &self {
            McpError::Denied(_)
            | McpError::ToolRateLimited { .. }
            | McpError::Rejected(_)
            | McpError::Upstream(_) => return Reply::ToolResult(tool_error(&message)),
            McpError::Scope { scope, .. } => Some(json!({ "scope": scope })),
            McpError::UnsupportedVersion(requested) => Some(json!({
                "supported": super::dispatch::SUPPORTED,
                "requested": requested,
            })),
            McpError::MethodNotFound(method) => match era {
                Era::Sessions => None,
                Era::Stateless => Some(json!(method)),
            },
            McpError::Origin(_)
            | McpError::Unauthorized { .. }
            | McpError::Revoked
            | McpError::Version(_)
            | McpError::MissingSession
            | McpError::UnknownSession
            | McpError::MediaType
            | McpError::TooLarge(_)
            | McpError::Malformed { .. }
            | McpError::HeaderMismatch(_)
            | McpError::InvalidParams(_)
            | McpError::RateLimited(_)
            | McpError::TooManyStreams(_)
            | McpError::Unavailable(_) => None,
        };
        Reply::Error {
            status: self.status(era),
            code: self.code(),
            message,
            data,
        }
    }

    /// The one extra header an error carries, if any: the `WWW-Authenticate`
    /// challenge of an authentication error, `Retry-After` of a rate refusal.
    fn header(&self, metadata_url: &str) -> Option<(HeaderName, String)> {
        let challenge = |value: String| Some((header::WWW_AUTHENTICATE, value));
        match self {
            McpError::Unauthorized {
                presented: false, ..
            } => challenge(format!("Bearer resource_metadata=\"{metadata_url}\"")),
            McpError::Unauthorized { presented: true, .. } | McpError::Revoked => challenge(format!(
                "Bearer error=\"invalid_token\", resource_metadata=\"{metadata_url}\""
            )),
            McpError::Scope { scope, .. } => challenge(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{metadata_url}\""
            )),
            McpError::RateLimited(secs) => Some((header::RETRY_AFTER, secs.to_string())),
            McpError::Origin(_)
            | McpError::Version(_)
            | McpError::MissingSession
            | McpError::UnknownSession
            | McpError::MediaType
            | McpError::TooLarge(_)
            | McpError::Malformed { .. }
            | McpError::HeaderMismatch(_)
            | McpError::UnsupportedVersion(_)
            | McpError::MethodNotFound(_)
            | McpError::InvalidParams(_)
            | McpError::Denied(_)
            | McpError::ToolRateLimited { .. }
            | McpError::TooManyStreams(_)
            | McpError::Rejected(_)
            | McpError::Upstream(_)
            | McpError::Unavailable(_) => None,
        }
    }

    /// The whole HTTP answer in `era`, with the request's id when it is known. A tool
    /// error becomes a result through `result` (each era stamps results its own way).
    pub fn respond(
        self,
        era: Era,
        id: Option<&Value>,
        metadata_url: &str,
        result: impl FnOnce(&Value, Value) -> Response,
    ) -> Response {
        let extra = self.header(metadata_url);
        match (self.reply(era), id) {
            (Reply::ToolResult(value), Some(id)) => result(id, value),
            (Reply::ToolResult(value), None) => {
                rpc(StatusCode::OK, jsonrpc::result(&Value::Null, value))
            }
            (
                Reply::Error {
                    status,
                    code,
                    message,
                    data,
                },
                id,
            ) => {
                let mut response = rpc(status, jsonrpc::error(id, code, &message, data));
                if let Some((name, value)) = extra {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        response.headers_mut().insert(name, value);
                    }
                }
                response
            }
        }
    }
}

/// An HTTP answer with a JSON-RPC body.
pub fn rpc(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A tool error result, as MCP wants input and business errors reported.
pub fn tool_error(message: &str) -> Value {
    json!({"content": [{"type": "text", "text": message}], "isError": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eras_differ_only_for_request_errors() {
        for error in [
            McpError::MethodNotFound("x".into()),
            McpError::InvalidParams("x".into()),
        ] {
            let Reply::Error { status: legacy, .. } = error.clone().reply(Era::Sessions) else {
                panic!("an error")
            };
            let Reply::Error {
                status: stateless, ..
            } = error.reply(Era::Stateless)
            else {
                panic!("an error")
            };
            assert_eq!(legacy, StatusCode::OK);
            assert!(stateless.is_client_error());
        }
        for era in [Era::Sessions, Era::Stateless] {
            assert!(matches!(
                McpError::Denied("no".into()).reply(era),
                Reply::ToolResult(_)
            ));
            assert!(matches!(
                McpError::Unavailable("later".into()).reply(era),
                Reply::Error {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    ..
                }
            ));
        }
    }

    #[test]
    fn outcomes_follow_the_kind() {
        assert_eq!(McpError::Denied("x".into()).outcome(), Outcome::Denied);
        assert_eq!(McpError::Revoked.outcome(), Outcome::Denied);
        assert_eq!(McpError::Rejected("x".into()).outcome(), Outcome::Failed);
        assert_eq!(McpError::Unavailable("x".into()).outcome(), Outcome::Failed);
    }
}
