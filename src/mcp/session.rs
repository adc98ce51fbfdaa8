//! MCP sessions: minted at `initialize`, bound to one agent, never an authentication.
//!
//! A session id is `<agent>.<version>.<nonce>.<mac>`: the agent it is bound to, the
//! protocol version negotiated, a random nonce and an HMAC-SHA256 over the rest with a
//! key every replica shares (kept in the store). Any replica can therefore accept a
//! session another replica minted, without sticky routing. Every request still carries
//! the bearer token; a session whose agent is not the token's agent is unknown (404).
//! Sessions ended with `DELETE /mcp` are remembered on the replica that ended them for a
//! day, in a bounded TTL cache (`moka`): entries expire on their own, nothing is scanned.

use std::time::Duration;

use hmac::{Hmac, Mac};
use moka::future::Cache;
use rand::TryRngCore;
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// How long a terminated session is remembered.
const TERMINATED_TTL: Duration = Duration::from_secs(24 * 3600);
/// How many terminated sessions are remembered at most (the least recently ended go
/// first; a forgotten one is still bound to its agent and its token).
const TERMINATED_MAX: u64 = 100_000;

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The agent it is bound to.
    pub agent_id: Uuid,
    /// The negotiated protocol version.
    pub version: String,
}

/// Mints and verifies session ids.
pub struct Sessions {
    mac: HmacSha256,
    terminated: Cache<String, ()>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("terminated", &self.terminated.entry_count())
            .finish()
    }
}

/// Why a session id was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Malformed, forged, ended, or bound to another agent: 404, re-initialize.
    Unknown,
}

impl Sessions {
    /// Sessions signed with `key` (shared by every replica).
    pub fn new(key: [u8; 32]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            mac: HmacSha256::new_from_slice(&key)?,
            terminated: Cache::builder()
                .max_capacity(TERMINATED_MAX)
                .time_to_live(TERMINATED_TTL)
                .build(),
        })
    }

    fn mac(&self, body: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(body.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// A new session for `agent_id` at `version`.
    pub fn mint(&self, agent_id: Uuid, version: &str) -> String {
        let mut nonce = [0u8; 16];
        // The OS RNG failing is not recoverable in a meaningful way; a zero nonce would
        // still be unique per (agent, time) only by luck, so fall back to a v4 UUID.
        if rand::rngs::OsRng.try_fill_bytes(&mut nonce).is_err() {
            nonce = *Uuid::new_v4().as_bytes();
        }
        let body = format!("{}.{}.{}", agent_id.simple(), version, hex::encode(nonce));
        format!("{body}.{}", self.mac(&body))
    }

    /// Verifies a session id presented by `agent_id`.
    pub fn verify(&self, id: &str, agent_id: Uuid) -> Result<Session, SessionError> {
        let (body, mac) = id.rsplit_once('.').ok_or(SessionError::Unknown)?;
        let expected = self.mac(body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            mac.as_bytes(),
        )) {
            return Err(SessionError::Unknown);
        }
        let mut parts = body.splitn(3, '.');
        let (Some(agent), Some(version), Some(_nonce)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SessionError::Unknown);
        };
        let agent = Uuid::parse_str(agent).map_err(|_| SessionError::Unknown)?;
        if agent != agent_id || self.terminated.contains_key(id) {
            return Err(SessionError::Unknown);
        }
        Ok(Session {
            agent_id: agent,
            version: version.to_owned(),
        })
    }

    /// Ends a session (after `verify`).
    pub async fn terminate(&self, id: &str) {
        self.terminated.insert(id.to_owned(), ()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_are_bound_signed_and_terminable() {
        let sessions = Sessions::new([7; 32]).unwrap();
        let agent = Uuid::new_v4();
        let id = sessions.mint(agent, "2025-06-18");
        assert!(
            id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "visible ASCII only"
        );
        assert_eq!(sessions.verify(&id, agent).unwrap().version, "2025-06-18");
        assert_eq!(
            sessions.verify(&id, Uuid::new_v4()),
            Err(SessionError::Unknown),
            "bound to its agent"
        );
        let forged = id.replace("2025-06-18", "2025-11-25");
        assert_eq!(sessions.verify(&forged, agent), Err(SessionError::Unknown));
        let other_replica = Sessions::new([7; 32]).unwrap();
        assert!(
            other_replica.verify(&id, agent).is_ok(),
            "any replica with the key accepts it"
        );
        assert!(Sessions::new([8; 32]).unwrap().verify(&id, agent).is_err());
        sessions.terminate(&id).await;
        assert_eq!(sessions.verify(&id, agent), Err(SessionError::Unknown));
        assert_eq!(
            sessions.verify("garbage", agent),
            Err(SessionError::Unknown)
        );
    }
}
