//! `POST /api/v1/launcher/events`: Launcher's signed events.
//!
//! Launcher signs `"{timestamp}.{body}"` with HMAC-SHA256 under the shared secret
//! (`GATEWAY_LAUNCHER_SECRET`) and sends `X-Launcher-Timestamp: <unix seconds>` and
//! `X-Launcher-Signature: sha256=<hex>`. The gateway refuses a bad signature (compared
//! in constant time), a timestamp outside a five-minute window, and an event id it has
//! already recorded (a replay within the window is a no-op). The event's id is recorded
//! in the transaction that applies it, so a failed apply is applied on redelivery; the
//! event's `occurred_at` orders a user's events (`gateway/standing.rs`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::gateway::{EventApplied, Gateway, LauncherChange};
use crate::http::error::ApiError;
use crate::http::extract::{Json, RequestId};
use crate::store::Outcome;

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
    /// When the change happened at Launcher (RFC 3339). Orders a user's events: one
    /// older than the last applied change of the same fact changes nothing. Absent: the
    /// time the gateway receives it (arrival order, as before this field existed).
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
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
    /// True only when this delivery changed the projection (`outcome` = `applied`).
    applied: bool,
    /// `applied`; `superseded` (recorded, but older than the change that stands); or
    /// `duplicate` (the id was recorded before: nothing done).
    outcome: &'static str,
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
    // `abs_diff` cannot overflow, whatever the header says.
    if Utc::now().timestamp().abs_diff(timestamp) > REPLAY_WINDOW_SECS.unsigned_abs() {
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

/// The most characters `id`, `client_id` and `display_name` may have (as the admin API
/// allows for a user's names).
pub const MAX_FIELD_CHARS: usize = 200;

/// Checks the text fields and the time of a parsed event; trims the names.
fn validate(mut event: Event, now: DateTime<Utc>) -> Result<Event, ApiError> {
    let invalid = |message: String| ApiError::Unprocessable {
        code: "invalid_event",
        message,
    };
    event.client_id = event.client_id.trim().to_owned();
    event.display_name = event.display_name.map(|n| n.trim().to_owned());
    let fields = [
        ("id", Some(event.id.as_str())),
        ("client_id", Some(event.client_id.as_str())),
        ("display_name", event.display_name.as_deref()),
    ];
    for (name, value) in fields {
        let (blank, chars) = value.map_or((false, 0), |v| (v.trim().is_empty(), v.chars().count()));
        if blank || chars > MAX_FIELD_CHARS {
            return Err(invalid(format!(
                "the event's {name} must be 1 to {MAX_FIELD_CHARS} characters"
            )));
        }
    }
    if let Some(at) = event.occurred_at {
        if at > now + Duration::seconds(REPLAY_WINDOW_SECS) {
            return Err(invalid(format!(
                "the event's occurred_at ({at}) is more than {REPLAY_WINDOW_SECS} s ahead of the \
                 gateway's clock; send the time the change happened, in RFC 3339"
            )));
        }
    }
    Ok(event)
}

/// The audit action of an event kind: `launcher.<type>`.
fn action(kind: EventKind) -> &'static str {
    match kind {
        EventKind::EntitlementGranted => "launcher.entitlement.granted",
        EventKind::EntitlementWithdrawn => "launcher.entitlement.withdrawn",
        EventKind::UserBlocked => "launcher.user.blocked",
        EventKind::UserUnblocked => "launcher.user.unblocked",
        EventKind::UserAnnulled => "launcher.user.annulled",
    }
}

/// Receives one event: applies it once and in order (`Gateway::apply_launcher_event`),
/// then audits it.
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
    let received_at = Utc::now();
    let event = validate(event, received_at)?;
    let change = LauncherChange {
        event_id: event.id.clone(),
        kind: event.kind,
        user_id: event.user_id,
        client_id: event.client_id,
        display_name: event.display_name,
        // Microseconds: what both engines store, so stamps compare as they were sent.
        occurred_at: event.occurred_at.unwrap_or(received_at).trunc_subsecs(6),
    };
    let audit = AuditEvent::start(&request_id, action(event.kind))
        .owner(event.user_id)
        .target(event.user_id.to_string());
    let result = gw.apply_launcher_event(&change, received_at).await;
    let (row, outcome) = match &result {
        Ok(EventApplied::Duplicate) => (None, "duplicate"),
        Ok(EventApplied::Applied) => (
            Some(audit.finish(Outcome::Allowed, Some(format!("event {}", event.id)))),
            "applied",
        ),
        Ok(EventApplied::Superseded { newer }) => (
            Some(audit.finish(
                Outcome::Allowed,
                Some(format!(
                    "event {} superseded: it occurred at {}, before the change of {newer} that stands",
                    event.id, change.occurred_at
                )),
            )),
            "superseded",
        ),
        Err(e) => (Some(audit.finish(e.outcome(), Some(e.to_string()))), "failed"),
    };
    if let Some(row) = row {
        gw.auditor.record(row).await?;
    }
    result?;
    Ok((
        StatusCode::OK,
        Json(Applied {
            id: event.id,
            applied: outcome == "applied",
            outcome,
        }),
    ))
}
