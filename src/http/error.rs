//! The HTTP layer's error type, mapped once to a status and a JSON body
//! `{"error": {"code": ..., "message": ...}}`. Internal causes are logged, never sent.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::gateway::{GatewayError, SessionError};
use crate::identity::AuthError;
use crate::store::StoreError;
use crate::tasker::{ErrorCode, TaskerError};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, unknown field, bad id).
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// 401: no valid credentials. Carries the `WWW-Authenticate` challenge.
    #[error("{message}")]
    Unauthorized {
        /// What was wrong.
        message: String,
        /// The challenge.
        challenge: String,
    },
    /// 403: authenticated, but not allowed.
    #[error("{message}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// 413: the body is over `GATEWAY_MAX_BODY_BYTES`.
    #[error("the request body is too large")]
    TooLarge,
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed but invalid.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// What was wrong and what would be right.
        message: String,
    },
    /// 503: a dependency is unavailable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure. The cause is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "bad_request",
            message: message.into(),
        }
    }

    /// A 401 for the admin or owner API.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
            challenge: "Bearer realm=\"agent-gateway\"".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code),
            ApiError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, *code),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, *code),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let body = json!({"error": {"code": code, "message": self.to_string()}});
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::Unauthorized { challenge, .. } = &self {
            if let Ok(value) = HeaderValue::from_str(challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Unprocessable {
                code: "invalid_body",
                message: e.body_text(),
            },
            JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest {
                code: "unsupported_media_type",
                message: "send the body as JSON with Content-Type: application/json".into(),
            },
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            other => ApiError::BadRequest {
                code: "invalid_json",
                message: other.body_text(),
            },
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest {
            code: "invalid_path",
            message: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest {
            code: "invalid_query",
            message: rejection.body_text(),
        }
    }
}

impl From<gateway_actors::WriteError> for ApiError {
    /// The audit row of an admin or owner action could not be made durable. Why (which
    /// may be the database's own text) goes to the log only.
    fn from(e: gateway_actors::WriteError) -> Self {
        tracing::error!(cause = %e, "an audit row could not be written");
        ApiError::Unavailable(AUDIT_UNAVAILABLE.into())
    }
}

/// The answer when an action's audit row could not be written.
pub const AUDIT_UNAVAILABLE: &str = "the audit log is unavailable, so the action is not \
     acknowledged; retry shortly, and if it persists the gateway's log names the cause";

/// The answer to a uniqueness conflict: the rule's name is the schema's, not the client's.
pub const CONFLICT: &str = "already exists: a record with the same unique value (such as an \
     agent of the same owner with the same name) is stored; change that value and retry";

impl From<StoreError> for ApiError {
    /// Store failures answer without the driver's text: it is logged (inside the
    /// request's span, which carries its request id), the client gets a stable message.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(rule) => {
                tracing::info!(%rule, "a uniqueness rule refused a write");
                ApiError::Conflict(CONFLICT.into())
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                ApiError::Unavailable("the store is busy; retry shortly".into())
            }
            other @ (StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Corrupt(_)) => {
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid(_) | AuthError::Revoked { .. } => {
                ApiError::unauthorized(e.to_string())
            }
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<TaskerError> for ApiError {
    /// A Tasker failure worded for an API client: a 503 whose advice follows the code.
    /// The Tasker's own message (which may carry a remote service's or a database's
    /// text) is logged, not sent.
    fn from(e: TaskerError) -> Self {
        tasker_unavailable(&e)
    }
}

/// See `From<TaskerError> for ApiError`.
fn tasker_unavailable(e: &TaskerError) -> ApiError {
    tracing::warn!(code = e.code.as_str(), cause = %e.message, "a Tasker call of the REST API failed");
    let message = match e.code {
        ErrorCode::Unavailable => {
            "the Tasker could not be reached; retry shortly, and if it persists check that the \
             Tasker is up and GATEWAY_TASKER_URL points at it"
        }
        ErrorCode::RateLimited => "the Tasker is throttling the gateway; retry shortly",
        ErrorCode::Unauthorized => {
            "the Tasker refused the gateway's service token; check GATEWAY_TASKER_TOKEN"
        }
        ErrorCode::NotFound
        | ErrorCode::ProjectNotGranted
        | ErrorCode::ValidationFailed
        | ErrorCode::ForbiddenOperation
        | ErrorCode::Conflict => {
            "the Tasker refused the gateway's request; retry shortly, and if it persists the \
             gateway's log names the Tasker's answer"
        }
    };
    ApiError::Unavailable(message.into())
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let message = e.to_string();
        match e {
            SessionError::Unknown(_)
            | SessionError::NotYours(_)
            | SessionError::UnknownAgent(_) => ApiError::NotFound(message),
            SessionError::Ended { .. } | SessionError::StopPending(_) => {
                ApiError::Conflict(message)
            }
            SessionError::Invalid(_) => ApiError::Unprocessable {
                code: "validation_failed",
                message,
            },
            SessionError::Tasker(e) => tasker_unavailable(&e),
            SessionError::Store(e) => e.into(),
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let message = e.to_string();
        match e {
            GatewayError::UnknownOwner(_) => ApiError::Unprocessable {
                code: "unknown_owner",
                message,
            },
            GatewayError::NotEntitled(_) => ApiError::Forbidden {
                code: "owner_not_entitled",
                message,
            },
            GatewayError::OwnerBlocked(_) => ApiError::Forbidden {
                code: "owner_blocked",
                message,
            },
            GatewayError::Invalid(_) => ApiError::Unprocessable {
                code: "validation_failed",
                message,
            },
            GatewayError::Conflict(detail) => {
                tracing::info!(%detail, "a uniqueness rule refused a write");
                ApiError::Conflict(CONFLICT.into())
            }
            GatewayError::UnknownProjects { .. } => ApiError::Unprocessable {
                code: "unknown_project",
                message,
            },
            GatewayError::Tasker(e) => tasker_unavailable(&e),
            GatewayError::Launcher(e) => {
                tracing::warn!(cause = %e, "Launcher's access check failed");
                ApiError::Unavailable(
                    "Launcher's access check could not be asked, so the owner's entitlement is \
                     unknown; retry shortly, and if it persists check that Launcher is up and \
                     GATEWAY_LAUNCHER_URL points at it"
                        .into(),
                )
            }
            GatewayError::NotMember(_) => ApiError::Forbidden {
                code: "not_a_member",
                message,
            },
            GatewayError::UnknownAgent(_) => ApiError::NotFound(message),
            GatewayError::Token(e) => ApiError::Internal(e.to_string()),
            GatewayError::Store(e) => e.into(),
        }
    }
}
