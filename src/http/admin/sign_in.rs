//! `POST /api/v1/admin/users/{user_id}/sign-in-link`: a one-time, short-lived link that
//! signs the user in to the owner page (`/ui/agents`) — what the Tasker's backend calls
//! instead of handing a token to a script. See `ui::session`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Admin;
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Path, RequestId};
use crate::store::Outcome;
use crate::ui::sign_in::LinkError;

/// Options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// Lifetime in seconds, 30..=3600 (default 300).
    #[serde(default)]
    ttl_seconds: Option<i64>,
}

/// The link: usable once, until `expires_at`.
#[derive(Debug, Serialize)]
pub struct Link {
    user_id: Uuid,
    url: String,
    expires_at: DateTime<Utc>,
}

/// Issues a sign-in link for an existing, unblocked user. The body may be empty.
pub async fn issue(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(user_id): Path<Uuid>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Link>), ApiError> {
    let body: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Unprocessable {
            code: "invalid_body",
            message: format!("the body must be empty or {{\"ttl_seconds\": 30..3600}}: {e}"),
        })?
    };
    let ttl = body.ttl_seconds.unwrap_or(300);
    if !(30..=3600).contains(&ttl) {
        return Err(ApiError::Unprocessable {
            code: "validation_failed",
            message: "ttl_seconds must be from 30 to 3600".into(),
        });
    }
    super::signable_user(&gw, user_id).await?;
    let (url, expires_at) = crate::ui::sign_in::issue_link(&gw, user_id, Duration::seconds(ttl))
        .await
        .map_err(|e| match e {
            LinkError::Store(e) => ApiError::from(e),
            LinkError::Internal(detail) => ApiError::Internal(detail),
        })?;
    gw.auditor
        .record(
            AuditEvent::start(&request_id, "admin.sign_in_link.issue")
                .owner(user_id)
                .finish(Outcome::Allowed, None),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Link {
            user_id,
            url,
            expires_at,
        }),
    ))
}
