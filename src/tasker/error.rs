//! The adapter contract's errors: the stable codes and the error envelope
//! (`{"error": {...}}` on the wire), shared by every adapter and the reference server.

use serde::{Deserialize, Serialize};

/// The contract's stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No such project, card or member.
    NotFound,
    /// The project is not granted to the agent.
    ProjectNotGranted,
    /// An input is invalid; `valid` lists what would be accepted.
    ValidationFailed,
    /// Delete, archive, or anything else the contract never allows.
    ForbiddenOperation,
    /// The idempotency key was used with other input, or the state changed underneath.
    Conflict,
    /// The Tasker throttles; retry after `retry_after_ms`.
    RateLimited,
    /// The Tasker cannot answer now; retry later.
    Unavailable,
    /// The internal service token is missing or wrong.
    Unauthorized,
}

impl ErrorCode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::ProjectNotGranted => "project_not_granted",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::ForbiddenOperation => "forbidden_operation",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unauthorized => "unauthorized",
        }
    }
}

/// An error of the contract: a stable code, a message written for the agent that will
/// read it, and — where it helps — the values that would have been valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct TaskerError {
    /// Stable code.
    pub code: ErrorCode,
    /// What was wrong and what to do instead.
    pub message: String,
    /// The offending input field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Valid values for that field (state names, label names, members, granted projects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valid: Vec<String>,
    /// For `rate_limited`: when a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl TaskerError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            valid: Vec::new(),
            retry_after_ms: None,
        }
    }

    /// `validation_failed` on `field`, listing the valid values.
    pub fn invalid(field: &str, message: impl Into<String>, valid: Vec<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            valid,
            ..Self::new(ErrorCode::ValidationFailed, message)
        }
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `project_not_granted`, listing the granted projects.
    pub fn not_granted(project: &str, granted: &[String]) -> Self {
        Self {
            valid: granted.to_vec(),
            ..Self::new(
                ErrorCode::ProjectNotGranted,
                format!("project {project} is not granted to this agent; use one of the granted projects"),
            )
        }
    }

    /// `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// Whether retrying the same call (same idempotency key) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self.code, ErrorCode::Unavailable | ErrorCode::RateLimited)
    }
}

/// Result alias of the port.
pub type TaskerResult<T> = Result<T, TaskerError>;
