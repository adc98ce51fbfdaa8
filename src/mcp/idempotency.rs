//! Steps 1, 3 and 5 of a write: its `idempotency_key` is taken out of the arguments, the
//! key is claimed before the Tasker is called, and settled with the Tasker's answer.
//!
//! Stripe's semantics: the same key with the same arguments replays the first result;
//! with different arguments it is refused; while the first call is in flight a duplicate
//! is refused rather than made to wait. No transaction is held across the Tasker call:
//! the claim is a row with a lease, which a crashed holder's retry may take over.

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::McpError;
use super::pipeline::Call;
use super::tools::Spec;
use crate::store::{IdempotencyClaim, IdempotencyState, Settlement};

/// An in-flight claim older than this may be taken over by the same call (its holder
/// crashed).
const LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// The longest idempotency key accepted.
const MAX_KEY: usize = 200;

/// Separates a write's idempotency key from its arguments. Reads have no key.
pub fn split_key(spec: &Spec, arguments: Value) -> Result<(Value, Option<String>), McpError> {
    let mut arguments = match arguments {
        Value::Null => json!({}),
        Value::Object(map) => Value::Object(map),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            return Err(McpError::InvalidParams(
                "tool arguments must be a JSON object".into(),
            ))
        }
    };
    if !spec.write {
        return Ok((arguments, None));
    }
    let key = arguments
        .as_object_mut()
        .and_then(|m| m.remove("idempotency_key"));
    match key {
        Some(Value::String(k)) if valid_key(&k) => Ok((arguments, Some(k))),
        _ => Err(McpError::Rejected(format!(
            "{} writes, so it needs \"idempotency_key\": a fresh unique string of 1-{MAX_KEY} printable ASCII characters per intended change, reused only to retry that same call.",
            spec.name
        ))),
    }
}

/// A key is 1 to `MAX_KEY` printable ASCII characters, spaces only inside: it travels
/// to the Tasker in a header, which can carry nothing else faithfully.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key.trim() == key
        && key.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// SHA-256 of the tool name and its arguments (keys sorted, the key itself excluded).
pub fn fingerprint(name: &str, arguments: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(arguments.to_string().as_bytes());
    hasher.finalize().into()
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim<'a> {
    /// The first call with this key succeeded: its stored result, to replay.
    Replay(String),
    /// The key is ours: call the Tasker, then settle.
    Fresh(Held<'a>),
}

/// A key this call holds until it is settled.
#[derive(Debug)]
pub struct Held<'a> {
    call: Call<'a>,
    /// The claim as stored (its key, and what the settlement stores should the row be
    /// gone).
    claim: IdempotencyClaim,
}

/// Claims `key` for this call.
pub async fn claim<'a>(
    call: &Call<'a>,
    key: &'a str,
    fingerprint: [u8; 32],
) -> Result<Claim<'a>, McpError> {
    let now = chrono::Utc::now();
    let claim = IdempotencyClaim {
        agent_id: call.who.agent_id,
        key: key.to_owned(),
        fingerprint,
        now,
        expires_at: now + call.gw.config.idempotency_ttl,
        stale_before: now - LEASE,
    };
    let state = call.gw.keys.claim(claim.clone()).await.map_err(|_| {
        McpError::Unavailable(
            "the idempotency store is unavailable; retry with the same idempotency_key".into(),
        )
    })?;
    match state {
        IdempotencyState::Claimed => Ok(Claim::Fresh(Held { call: *call, claim })),
        IdempotencyState::Replay(stored) => Ok(Claim::Replay(stored)),
        IdempotencyState::InFlight => Err(McpError::Rejected(format!(
            "A call with idempotency_key {key:?} is still in progress. Retry in a few seconds with the same key to get its result."
        ))),
        IdempotencyState::Mismatch => Err(McpError::Rejected(format!(
            "idempotency_key {key:?} was already used for a different call. Use a new key for a new change; reuse a key only to retry the identical call."
        ))),
    }
}

impl Held<'_> {
    /// Stores the result, so a retry with the key replays it.
    pub async fn finish(self, output: &impl Serialize) -> Result<(), McpError> {
        let unavailable = || {
            McpError::Unavailable(
                "the change was made but its result could not be stored; retry with the same idempotency_key".into(),
            )
        };
        let stored = serde_json::to_string(output).map_err(|e| {
            tracing::error!(error = %e, "a tool result could not be encoded");
            unavailable()
        })?;
        let settlement = Settlement {
            claim: self.claim,
            response: stored,
        };
        self.call
            .gw
            .keys
            .settle(settlement)
            .await
            .map_err(|_| unavailable())
    }

    /// Frees the key: nothing to replay. A retry re-sends the same key to the Tasker,
    /// which returns its first result if it did make the change.
    pub async fn abandon(self) {
        if let Err(e) = self
            .call
            .gw
            .store
            .idempotency_abandon(self.claim.agent_id, &self.claim.key)
            .await
        {
            tracing::warn!(error = %e, "could not release an idempotency key; it frees itself after the lease");
        }
    }
}
