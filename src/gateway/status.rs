//! The live-status snapshot (`GET /api/v1/admin/status`, and the pages): per agent its
//! standing, liveness, last activity, the client it connected with, its open work session
//! and its counters; plus totals.
//!
//! It is read from the agent actors (last activity, counters, client: this replica's
//! view since each actor started) and the store (agents, tokens' last use — flushed
//! every few seconds by every replica — and open sessions), never by scanning the audit
//! table. Liveness: `stale` when the agent's open session is stale, else `active` when
//! it made a call within `GATEWAY_ACTIVE_SECS`, else `idle`.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::sessions::{SessionError, SessionView};
use super::Gateway;
use crate::store::{AgentStatus, ClientSeen};

/// The whole snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSnapshot {
    /// When it was taken.
    pub as_of: DateTime<Utc>,
    /// The thresholds it was read with.
    pub thresholds: Thresholds,
    /// Totals over `agents`.
    pub totals: Totals,
    /// Every agent (of the owner, when asked for one), newest first.
    pub agents: Vec<AgentStatusView>,
}

/// The thresholds of liveness.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// A call within this many seconds makes an agent `active`.
    pub active_secs: u64,
    /// An open session silent this many seconds is `stale`.
    pub stale_secs: u64,
}

/// Totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Agents listed.
    pub agents: u32,
    /// Usable agents (status `active`).
    pub usable: u32,
    /// Agents `active` (a call within the active window).
    pub active: u32,
    /// Agents `idle`.
    pub idle: u32,
    /// Agents `stale` (an open session past the stale interval).
    pub stale: u32,
    /// Open work sessions.
    pub open_sessions: u32,
    /// Calls seen by the running actors.
    pub calls: u64,
    /// Calls refused by policy.
    pub denials: u64,
    /// Calls refused by the rate limit.
    pub rate_limited: u64,
}

/// One agent's live status.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStatusView {
    /// The agent.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub owner_id: Uuid,
    /// `active`, `revoked` or `disabled` (its standing).
    pub status: AgentStatus,
    /// `active`, `idle` or `stale`.
    pub liveness: &'static str,
    /// Its last call (or report), when it ever made one.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The client it last initialized with.
    pub client: Option<ClientSeen>,
    /// Its open work session.
    pub session: Option<SessionView>,
    /// Counters of its actor on this replica, since the actor started.
    pub counters: Counters,
}

/// Counters of an agent's actor.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    /// Calls (admitted and refused).
    pub calls: u64,
    /// Refused by policy.
    pub denials: u64,
    /// Refused by the rate limit.
    pub rate_limited: u64,
}

impl Gateway {
    /// The live status of every agent, or of `owner`'s.
    pub async fn status(&self, owner: Option<Uuid>) -> Result<StatusSnapshot, SessionError> {
        let now = Utc::now();
        let agents = self.store.list_agents(owner).await?;
        let mut sessions: HashMap<Uuid, SessionView> = self
            .store
            .open_sessions()
            .await?
            .iter()
            .map(|s| (s.agent_id, self.view(s, now)))
            .collect();
        let mut actors: HashMap<Uuid, _> = self
            .supervisor
            .snapshots()
            .await
            .into_iter()
            .map(|s| (s.agent_id, s))
            .collect();
        let active_after = now
            - chrono::Duration::from_std(self.config.active_window)
                .unwrap_or_else(|_| chrono::Duration::seconds(120));
        let mut totals = Totals::default();
        let mut out = Vec::with_capacity(agents.len());
        for agent in agents {
            let actor = actors.remove(&agent.id);
            let session = sessions.remove(&agent.id);
            let counters = actor.as_ref().map_or_else(Counters::default, |a| Counters {
                calls: a.admitted + a.denied,
                denials: a.denied.saturating_sub(a.rate_limited),
                rate_limited: a.rate_limited,
            });
            let from_actor = actor.as_ref().and_then(|a| {
                let ms = a.last_activity.duration_since(UNIX_EPOCH).ok()?.as_millis();
                Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
            });
            let last_activity_at = [
                from_actor,
                agent.tokens.iter().filter_map(|t| t.last_used_at).max(),
                session.as_ref().and_then(|s| s.last_call_at),
            ]
            .into_iter()
            .flatten()
            .max();
            let liveness = if session.as_ref().is_some_and(|s| s.state == "stale") {
                "stale"
            } else if last_activity_at.is_some_and(|at| at >= active_after) {
                "active"
            } else {
                "idle"
            };
            totals.agents += 1;
            totals.usable += u32::from(agent.status == AgentStatus::Active);
            match liveness {
                "stale" => totals.stale += 1,
                "active" => totals.active += 1,
                _ => totals.idle += 1,
            }
            totals.open_sessions += u32::from(session.is_some());
            totals.calls += counters.calls;
            totals.denials += counters.denials;
            totals.rate_limited += counters.rate_limited;
            out.push(AgentStatusView {
                id: agent.id,
                name: agent.name,
                owner_id: agent.owner_id,
                status: agent.status,
                liveness,
                last_activity_at,
                client: agent.client,
                session,
                counters,
            });
        }
        Ok(StatusSnapshot {
            as_of: now,
            thresholds: Thresholds {
                active_secs: self.config.active_window.as_secs(),
                stale_secs: self.config.session_stale.as_secs(),
            },
            totals,
            agents: out,
        })
    }
}
