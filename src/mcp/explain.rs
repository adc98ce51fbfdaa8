//! Step 5's error side: a Tasker error, worded for the model that reads it — what was
//! wrong and what to do next. Nothing of the Tasker's internals beyond its message.

use super::admission::describe;
use super::error::McpError;
use super::pipeline::Call;
use super::tools::Spec;
use crate::tasker::{ErrorCode, TaskerError};

/// The tool error (or gateway error) a Tasker error becomes.
pub async fn explain(call: &Call<'_>, spec: &Spec, e: TaskerError) -> McpError {
    let valid = if e.valid.is_empty() {
        String::new()
    } else {
        format!(" Valid values: {}.", e.valid.join(", "))
    };
    match e.code {
        ErrorCode::ProjectNotGranted => McpError::Denied(format!(
            "That is outside the projects where this agent may use {}. Use one of: {}. Find cards with search_cards.",
            spec.name,
            describe(call, e.valid.clone()).await
        )),
        ErrorCode::ValidationFailed => {
            McpError::Rejected(format!("{}.{valid}", e.message.trim_end_matches('.')))
        }
        ErrorCode::NotFound => {
            McpError::Rejected(format!("{} Check the key with search_cards.", e.message))
        }
        ErrorCode::Conflict => McpError::Rejected(format!(
            "{} Use a new idempotency_key for a new change.",
            e.message
        )),
        ErrorCode::ForbiddenOperation => McpError::Denied(e.message),
        ErrorCode::RateLimited | ErrorCode::Unavailable => {
            let wait = e
                .retry_after_ms
                .map(|ms| format!(" in {} s", ms.div_ceil(1000)))
                .unwrap_or_default();
            McpError::Upstream(format!(
                "The tracker is unavailable ({}). Retry{wait}{}.",
                e.message,
                if spec.write {
                    " with the same idempotency_key"
                } else {
                    ""
                }
            ))
        }
        ErrorCode::Unauthorized => {
            tracing::error!("the Tasker refused the gateway's service token");
            McpError::Unavailable(
                "the tracker refused the gateway; an operator must fix its service token".into(),
            )
        }
    }
}
