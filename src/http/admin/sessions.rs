//! `POST /api/v1/admin/users/{user_id}/sessions`: issues an owner session token (for
//! the owner API) — what the Tasker's backend calls once a user signed in.

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
use crate::store::{NewOwnerSession, Outcome};
use crate::token::{Token, TokenKind};

/// Options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// Lifetime in minutes, 1..=1440 (default 60).
    #[serde(default)]
    ttl_minutes: Option<i64>,
}

/// The issued session: the token is shown this once.
#[derive(Debug, Serialize)]
pub struct Issued {
    user_id: Uuid,
    token: String,
    expires_at: DateTime<Utc>,
}

/// Issues a session for an existing, unblocked user.
pub async fn issue(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(user_id): Path<Uuid>,
    Json(body): Json<SessionBody>,
) -> Result<(StatusCode, Json<Issued>), ApiError> {
    let ttl = body.ttl_minutes.unwrap_or(60);
    if !(1..=1440).contains(&ttl) {
        return Err(ApiError::Unprocessable {
            code: "validation_failed",
            message: "ttl_minutes must be from 1 to 1440".into(),
        });
    }
    super::signable_user(&gw, user_id).await?;
    let token = Token::mint(TokenKind::Owner).map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = Utc::now();
    let expires_at = now + Duration::minutes(ttl);
    gw.store
        .create_owner_session(&NewOwnerSession {
            id: Uuid::now_v7(),
            user_id,
            hash: token.hash().0,
            display: token.display(),
            created_at: now,
            expires_at,
        })
        .await?;
    gw.auditor
        .record(
            AuditEvent::start(&request_id, "admin.owner_session.issue")
                .owner(user_id)
                .finish(Outcome::Allowed, None),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Issued {
            user_id,
            token: token.expose().to_owned(),
            expires_at,
        }),
    ))
}
