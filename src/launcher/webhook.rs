//! `POST /api/v1/launcher/events`: Launcher's signed events.
//!
//! Launcher signs `"{timestamp}.{body}"` with HMAC-SHA256 under the shared secret
//! (`GATEWAY_LAUNCHER_SECRET`) and sends `X-Launcher-Timestamp: <unix seconds>` and
//! `X-Launcher-Signature: sha256=<hex>`. The gateway refuses a bad signature (compared
//! in constant time), a timestamp outside a five-minute window, and an event id it has
//! already applied (a replay within the window is a no-op).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::gateway::{Gateway, GatewayError};
use crate::http::error::ApiError;
use crate::http::extract::{Json, RequestId};
use crate::store::{Outcome, UserUpsert};

/// How far a timestamp may be from now.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// One Launcher event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Unique per event; a repeated id is ignored.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The user.
    pub user_id: Uuid,
    /// The user's client (tenant).
    pub client_id: String,
    /// The user's display name (needed when the gateway has not seen the user yet).
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The events Launcher sends.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum EventKind {
    /// The `codex_agents` entitlement was granted.
    #[serde(rename = "entitlement.granted")]
    EntitlementGranted,
    /// The `codex_agents` entitlement was withdrawn.
    #[serde(rename = "entitlement.withdrawn")]
    EntitlementWithdrawn,
    /// The user was blocked.
    #[serde(rename = "user.blocked")]
    UserBlocked,
    /// The user was unblocked.
    #[serde(rename = "user.unblocked")]
    UserUnblocked,
    /// The user was annulled (deleted): their agents are revoked for good.
    #[serde(rename = "user.annulled")]
    UserAnnulled,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct Applied {
    id: String,
    /// False when the event id was already applied.
    applied: bool,
}

/// Computes the signature header value for a body (Launcher's side, and tests).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; an empty signature never matches.
    let Ok(mut mac) = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let timestamp: i64 = header("x-launcher-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ApiError::unauthorized("X-Launcher-Timestamp (unix seconds) is required"))?;
    if (Utc::now().timestamp() - timestamp).abs() > REPLAY_WINDOW_SECS {
        return Err(ApiError::unauthorized(
            "the event's timestamp is outside the replay window",
        ));
    }
    let presented = header("x-launcher-signature")
        .ok_or_else(|| ApiError::unauthorized("X-Launcher-Signature is required"))?;
    let expected = sign(secret, timestamp, body);
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        presented.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "the event's signature does not match",
        ))
    }
}

/// Receives one event.
pub async fn receive(
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Applied>), ApiError> {
    let secret = gw.config.launcher_secret.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "the Launcher webhook is not configured (GATEWAY_LAUNCHER_SECRET)".into(),
        )
    })?;
    verify(secret.expose_secret().as_bytes(), &headers, &body)?;
    let event: Event = serde_json::from_slice(&body).map_err(|e| ApiError::Unprocessable {
        code: "invalid_event",
        message: format!("the event is not valid: {e}"),
    })?;
    if !gw
        .store
        .record_launcher_event(&event.id, Utc::now())
        .await?
    {
        return Ok((
            StatusCode::OK,
            Json(Applied {
                id: event.id,
                applied: false,
            }),
        ));
    }
    let action = format!(
        "launcher.{}",
        serde_json::to_value(event.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    );
    let audit = AuditEvent::start(&request_id, &action)
        .owner(event.user_id)
        .target(event.user_id.to_string());
    let result = apply(&gw, &event).await;
    let row = match &result {
        Ok(()) => audit.finish(Outcome::Allowed, Some(format!("event {}", event.id))),
        Err(e) => audit.finish(e.outcome(), Some(e.to_string())),
    };
    gw.auditor.record(row).await?;
    result?;
    Ok((
        StatusCode::OK,
        Json(Applied {
            id: event.id,
            applied: true,
        }),
    ))
}

async fn apply(gw: &Gateway, event: &Event) -> Result<(), GatewayError> {
    let detail = Some(format!("launcher event {}", event.id));
    if event.kind == EventKind::UserAnnulled {
        gw.annul_user(event.user_id, "launcher", detail).await?;
        return Ok(());
    }
    let current = gw.store.get_user(event.user_id).await?;
    let (mut codex, mut blocked) = current
        .as_ref()
        .map_or((false, false), |u| (u.codex_agents, u.blocked));
    match event.kind {
        EventKind::EntitlementGranted => codex = true,
        EventKind::EntitlementWithdrawn => codex = false,
        EventKind::UserBlocked => blocked = true,
        EventKind::UserUnblocked => blocked = false,
        EventKind::UserAnnulled => {}
    }
    let display_name = event
        .display_name
        .clone()
        .or_else(|| current.as_ref().map(|u| u.display_name.clone()))
        .unwrap_or_else(|| event.user_id.to_string());
    gw.upsert_user(
        UserUpsert {
            id: event.user_id,
            client_id: event.client_id.clone(),
            display_name,
            codex_agents: codex,
            blocked,
        },
        "launcher",
        detail,
    )
    .await?;
    Ok(())
}
