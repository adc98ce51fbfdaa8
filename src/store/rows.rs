//! Rows as both engines return them, and the pure rules that turn them into records.
//!
//! Nothing here touches a connection: the engines fetch, these types decode (through
//! `sqlx::FromRow`, which works for any driver) and [`assemble`] puts agents together.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Agent, AgentStatus, GrantRecord, IdempotencyState, StoreError, StoreResult, TokenInfo,
};

/// The agent columns, for `FROM agents a`. The rates are read as `BIGINT` on both engines
/// so that no value is truncated before [`rate`] judges it.
pub(super) const AGENT_COLUMNS: &str = "a.id, a.owner_id, a.name, a.status, a.status_reason, \
     CAST(a.rate_per_minute AS BIGINT) AS rate_per_minute, \
     CAST(a.rate_burst AS BIGINT) AS rate_burst, a.created_at, a.updated_at, \
     a.client_name, a.client_version, a.client_seen_at, a.stop_refuses_writes";

/// One row of `agents`, as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct AgentRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    status: String,
    status_reason: Option<String>,
    rate_per_minute: Option<i64>,
    rate_burst: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    client_name: Option<String>,
    client_version: Option<String>,
    client_seen_at: Option<DateTime<Utc>>,
    stop_refuses_writes: bool,
}

impl AgentRow {
    /// The agent without grants and tokens; a status or rate it cannot hold is
    /// [`StoreError::Corrupt`].
    fn into_agent(self) -> StoreResult<Agent> {
        let status = AgentStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!("agent {}: status {:?}", self.id, self.status))
        })?;
        Ok(Agent {
            rate_per_minute: rate(self.id, "rate_per_minute", self.rate_per_minute)?,
            rate_burst: rate(self.id, "rate_burst", self.rate_burst)?,
            id: self.id,
            owner_id: self.owner_id,
            name: self.name,
            status,
            status_reason: self.status_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
            grants: Vec::new(),
            tokens: Vec::new(),
            client: match (self.client_name, self.client_seen_at) {
                (Some(name), Some(seen_at)) => Some(super::ClientSeen {
                    name,
                    version: self.client_version.unwrap_or_default(),
                    seen_at,
                }),
                _ => None,
            },
            stop_refuses_writes: self.stop_refuses_writes,
        })
    }
}

/// A stored rate, or `None` when unset.
///
/// A rate that is zero, negative or larger than `u32` is a corrupt row, not "unset": the
/// schema's `CHECK (… > 0)` means only a hand edit or a bug can write one, and reading it
/// as unset would quietly hand the agent the gateway's default limit, which may be looser
/// than what its owner chose. Refusing to load the agent is loud and safe: it cannot work
/// until the row is fixed. (This replaces an `unsigned_abs` that turned -5 into 5.)
fn rate(agent: Uuid, column: &str, stored: Option<i64>) -> StoreResult<Option<u32>> {
    let Some(value) = stored else {
        return Ok(None);
    };
    match u32::try_from(value) {
        Ok(rate) if rate > 0 => Ok(Some(rate)),
        _ => Err(StoreError::Corrupt(format!(
            "agent {agent}: {column} {value} is not a rate (1 to {})",
            u32::MAX
        ))),
    }
}

/// One row of `grants`.
#[derive(Debug, sqlx::FromRow)]
pub struct GrantRow {
    agent_id: Uuid,
    project_id: String,
    scopes: String,
}

/// One row of `tokens`, without the hash.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenRow {
    id: Uuid,
    agent_id: Uuid,
    display: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Puts agents together with their grants and tokens, keeping every list's order.
/// Grants or tokens of an agent not in `agents` (created between the reads) are dropped.
pub(super) fn assemble(
    agents: Vec<AgentRow>,
    grants: Vec<GrantRow>,
    tokens: Vec<TokenRow>,
) -> StoreResult<Vec<Agent>> {
    let mut agents = agents
        .into_iter()
        .map(AgentRow::into_agent)
        .collect::<StoreResult<Vec<_>>>()?;
    let index: HashMap<Uuid, usize> = agents.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
    for g in grants {
        if let Some(&i) = index.get(&g.agent_id) {
            agents[i]
                .grants
                .push(GrantRecord::from_text(g.project_id, &g.scopes));
        }
    }
    for t in tokens {
        if let Some(&i) = index.get(&t.agent_id) {
            agents[i].tokens.push(TokenInfo {
                id: t.id,
                display: t.display,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
            });
        }
    }
    Ok(agents)
}

/// An idempotency key held by someone else.
#[derive(Debug, sqlx::FromRow)]
pub struct IdempotencyRow {
    fingerprint: Vec<u8>,
    state: String,
    response: Option<String>,
}

impl IdempotencyRow {
    /// Decides what the held key means for a claim with `fingerprint`.
    pub(super) fn state_for(self, fingerprint: &[u8; 32]) -> StoreResult<IdempotencyState> {
        if self.fingerprint.as_slice() != fingerprint.as_slice() {
            return Ok(IdempotencyState::Mismatch);
        }
        match (self.state.as_str(), self.response) {
            ("done", Some(response)) => Ok(IdempotencyState::Replay(response)),
            ("in_flight", _) => Ok(IdempotencyState::InFlight),
            (other, _) => Err(StoreError::Corrupt(format!("idempotency state {other:?}"))),
        }
    }
}
