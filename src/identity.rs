//! Who is calling: a bearer token → an agent identity, with a short-lived cache.
//!
//! The token's format and checksum are checked first (no lookup for a mistyped token),
//! then its SHA-256 is looked up — in a moka cache, or in the store on a miss — and the
//! stored hash compared again in constant time. Revocations invalidate the cache before
//! they return, so no cache ever still admits a revoked token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use moka::future::Cache;
use uuid::Uuid;

use crate::store::{AuthRecord, Store, StoreError};
use crate::token::{verify_format, TokenError, TokenKind};

/// An authenticated agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    /// The agent.
    pub agent_id: Uuid,
    /// Its name.
    pub agent_name: String,
    /// Its owner.
    pub owner_id: Uuid,
    /// The owner's display name.
    pub owner_name: String,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("no bearer token was presented")]
    Missing,
    /// The token is malformed, unknown, or fails its checksum.
    #[error("the token is not valid: {0}")]
    Invalid(&'static str),
    /// The token is known but its agent may not work (revoked, disabled, owner blocked).
    #[error("the token has been revoked or its agent disabled")]
    Revoked {
        /// The agent the token belongs to (for the audit row, never for the caller).
        agent_id: Uuid,
        /// Its owner.
        owner_id: Uuid,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        AuthError::Invalid(match e {
            TokenError::Prefix => "wrong prefix",
            TokenError::Malformed => "malformed",
            TokenError::Checksum => "checksum mismatch",
            TokenError::Random => "malformed",
        })
    }
}

/// Turns agent bearer tokens into identities.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    cache: Cache<[u8; 32], Arc<AuthRecord>>,
    used: Arc<DashMap<Uuid, DateTime<Utc>>>,
    /// Bumped by every forget: a lookup that raced a revocation is not cached.
    epoch: Arc<AtomicU64>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cached", &self.cache.entry_count())
            .finish()
    }
}

impl Authenticator {
    /// A cache of up to `capacity` tokens, each kept at most `ttl`.
    pub fn new(store: Arc<dyn Store>, capacity: u64, ttl: Duration) -> Self {
        Self {
            store,
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            used: Arc::new(DashMap::new()),
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Authenticates an agent token.
    pub async fn agent(&self, presented: Option<&str>) -> Result<AgentIdentity, AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?;
        let hash = verify_format(TokenKind::Agent, presented)?;
        let record = match self.cache.get(&hash.0).await {
            Some(record) => record,
            None => {
                let epoch = self.epoch.load(Ordering::SeqCst);
                let record = self
                    .store
                    .authenticate(&hash.0)
                    .await?
                    .ok_or(AuthError::Invalid("unknown token"))?;
                let record = Arc::new(record);
                if self.epoch.load(Ordering::SeqCst) == epoch {
                    self.cache.insert(hash.0, Arc::clone(&record)).await;
                }
                record
            }
        };
        if !hash.matches(&record.token_hash) {
            return Err(AuthError::Invalid("unknown token"));
        }
        if !record.usable() {
            return Err(AuthError::Revoked {
                agent_id: record.agent_id,
                owner_id: record.owner_id,
            });
        }
        self.used.insert(record.token_id, Utc::now());
        Ok(AgentIdentity {
            agent_id: record.agent_id,
            agent_name: record.agent_name.clone(),
            owner_id: record.owner_id,
            owner_name: record.owner_name.clone(),
        })
    }

    /// Forgets every cached token of this agent. Takes effect for the next lookup.
    pub fn forget_agent(&self, agent_id: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        // Only fails when invalidation closures are not enabled, which `new` does.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, r| r.agent_id == agent_id);
    }

    /// Forgets every cached token of this owner's agents.
    pub fn forget_owner(&self, owner_id: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = self
            .cache
            .invalidate_entries_if(move |_, r| r.owner_id == owner_id);
    }

    /// Writes the batched "last used" times to the store.
    pub async fn flush_usage(&self) -> Result<(), StoreError> {
        let used: Vec<(Uuid, DateTime<Utc>)> =
            self.used.iter().map(|e| (*e.key(), *e.value())).collect();
        if used.is_empty() {
            return Ok(());
        }
        for (id, at) in &used {
            self.used.remove_if(id, |_, v| v == at);
        }
        self.store.touch_tokens(&used).await
    }
}
