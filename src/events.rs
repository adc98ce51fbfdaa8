//! The live-event hub behind the built-in pages' streams (`/ui/.../stream`).
//!
//! Fed by the audit writers **after** a batch is durable (so a page never shows what
//! the log does not hold) and, on Postgres, by the other replicas through
//! [`relay`](crate::events::relay): each replica publishes a compact copy of every
//! durable row on the `agent_gateway_live` channel, so every page shows the whole
//! deployment. Everything a page shows live is an audited action — calls, denials,
//! rate-limit hits, creations, revocations, entitlement changes — so one stream is
//! enough.
//!
//! The hub also keeps small in-memory counters (`events/counters.rs`), so a
//! page's headline numbers and "last request 12 s ago" are computed without touching
//! the database.

mod counters;
pub mod relay;

use counters::Counters;
pub use counters::{Activity, Totals};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::store::{AuditRow, Outcome};

/// How many events a slow page may fall behind before it is told to reload its view.
const CAPACITY: usize = 1_024;

/// What kind of thing happened, for the feed's filter chips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An agent's write went through.
    Write,
    /// An agent read something.
    Read,
    /// Policy refused a call.
    Denial,
    /// A rate limit refused a call.
    RateLimit,
    /// An agent was revoked.
    Revocation,
    /// A user's entitlement or blocked flag changed.
    Entitlement,
    /// An agent was created.
    Creation,
    /// Anything else (failures, sign-ins, sessions).
    Other,
}

impl EventKind {
    /// The word the feed shows.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Write => "write",
            EventKind::Read => "read",
            EventKind::Denial => "denial",
            EventKind::RateLimit => "rate limit",
            EventKind::Revocation => "revocation",
            EventKind::Entitlement => "entitlement",
            EventKind::Creation => "created",
            EventKind::Other => "other",
        }
    }

    /// The CSS/filter key.
    pub fn key(self) -> &'static str {
        match self {
            EventKind::Write => "write",
            EventKind::Read => "read",
            EventKind::Denial => "denial",
            EventKind::RateLimit => "ratelimit",
            EventKind::Revocation => "revocation",
            EventKind::Entitlement => "entitlement",
            EventKind::Creation => "creation",
            EventKind::Other => "other",
        }
    }
}

/// One durable audit row, as the pages see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its kind.
    pub kind: EventKind,
    /// The audited action (`create_card`, `admin.agent.revoke`, …).
    pub action: String,
    /// The acting agent.
    pub agent_id: Option<Uuid>,
    /// The owner acting or acted upon.
    pub owner_id: Option<Uuid>,
    /// The project touched.
    pub project_id: Option<String>,
    /// The object touched (an agent id for revocations).
    pub target: Option<String>,
    /// `allowed`, `denied`, `failed`, `intent`.
    pub outcome: String,
    /// Why, in words.
    pub reason: Option<String>,
}

impl LiveEvent {
    /// The page's view of an audit row.
    pub fn of(row: &AuditRow) -> Self {
        Self {
            at: row.at,
            kind: classify(row),
            action: row.action.clone(),
            agent_id: row.agent_id,
            owner_id: row.owner_id,
            project_id: row.project_id.clone(),
            target: row.target.clone(),
            outcome: row.outcome.as_str().to_owned(),
            reason: row.reason.clone(),
        }
    }

    /// The page's view of a stored audit row (the feed's recent history).
    pub fn of_entry(e: &crate::store::AuditEntry) -> Self {
        Self {
            at: e.at,
            kind: classify_parts(
                &e.action,
                &e.outcome,
                e.reason.as_deref(),
                e.agent_id.is_some(),
            ),
            action: e.action.clone(),
            agent_id: e.agent_id,
            owner_id: e.owner_id,
            project_id: e.project_id.clone(),
            target: e.target.clone(),
            outcome: e.outcome.clone(),
            reason: e.reason.clone(),
        }
    }

    /// Whether it may change an agent's status or a user's standing (pages reload their
    /// list of agents on these).
    pub fn changes_agents(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Revocation | EventKind::Entitlement | EventKind::Creation
        ) || self.action.starts_with("launcher.")
    }

    /// The agent this event concerns: the actor, or the revoked agent.
    pub fn subject(&self) -> Option<Uuid> {
        let names_agent = matches!(self.kind, EventKind::Revocation | EventKind::Creation);
        self.agent_id.or_else(|| {
            names_agent
                .then(|| self.target.as_deref().and_then(|t| Uuid::parse_str(t).ok()))
                .flatten()
        })
    }
}

/// The feed's kind of an audit row.
pub fn classify(row: &AuditRow) -> EventKind {
    classify_parts(
        &row.action,
        row.outcome.as_str(),
        row.reason.as_deref(),
        row.agent_id.is_some(),
    )
}

/// [`classify`] from a row's parts (a stored row has its outcome as text).
pub fn classify_parts(
    action: &str,
    outcome: &str,
    reason: Option<&str>,
    by_agent: bool,
) -> EventKind {
    let reason = reason.unwrap_or("");
    if action.ends_with(".agent.revoke") {
        return EventKind::Revocation;
    }
    if action.ends_with(".agent.create") {
        return EventKind::Creation;
    }
    if action == "admin.user.upsert" || action.starts_with("launcher.") {
        return EventKind::Entitlement;
    }
    if outcome == Outcome::Denied.as_str() {
        return if reason.starts_with("Rate limit") {
            EventKind::RateLimit
        } else {
            EventKind::Denial
        };
    }
    if by_agent && outcome == Outcome::Allowed.as_str() {
        let write = crate::mcp::tools::ALL
            .iter()
            .find(|s| s.name == action)
            .map(|s| s.write);
        return match write {
            Some(true) => EventKind::Write,
            Some(false) => EventKind::Read,
            None => EventKind::Other,
        };
    }
    EventKind::Other
}

/// The hub. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    counters: Counters,
    relay: Option<relay::Outbox>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            tx,
            counters: Counters::new(),
            relay: None,
        }
    }

    /// The hub, publishing this replica's events to the others through `outbox`.
    pub fn with_relay(mut self, outbox: relay::Outbox) -> Self {
        self.relay = Some(outbox);
        self
    }

    /// Publishes durable audit rows of this replica (called by the audit writers).
    pub fn publish_rows(&self, rows: &[AuditRow]) {
        let events: Vec<LiveEvent> = rows.iter().map(LiveEvent::of).collect();
        if let Some(outbox) = &self.relay {
            outbox.send(&events);
        }
        for event in events {
            self.publish(event);
        }
    }

    /// Publishes one event (this replica's, or relayed from another).
    pub fn publish(&self, event: LiveEvent) {
        self.counters.count(&event);
        // No subscriber is not an error: no page is open.
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscription: every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.tx.subscribe()
    }

    /// What is known of an agent's activity.
    pub fn activity(&self, agent_id: Uuid) -> Option<Activity> {
        self.counters.activity(agent_id)
    }

    /// Totals as of `now`.
    pub fn totals(&self, now: DateTime<Utc>) -> Totals {
        self.counters.totals(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(action: &str, outcome: Outcome, reason: Option<&str>) -> AuditRow {
        AuditRow {
            at: Utc::now(),
            request_id: "r".into(),
            agent_id: Some(Uuid::now_v7()),
            owner_id: None,
            action: action.into(),
            project_id: None,
            target: None,
            outcome,
            reason: reason.map(str::to_owned),
            idempotency_key: None,
            latency_us: 1,
            work_session: None,
        }
    }

    #[test]
    fn rows_are_classified_for_the_feed() {
        assert_eq!(
            classify(&row("admin.agent.revoke", Outcome::Allowed, None)),
            EventKind::Revocation
        );
        assert_eq!(
            classify(&row(
                "create_card",
                Outcome::Denied,
                Some("Rate limit reached")
            )),
            EventKind::RateLimit
        );
        assert_eq!(
            classify(&row("create_card", Outcome::Denied, Some("scope"))),
            EventKind::Denial
        );
        assert_eq!(
            classify(&row("admin.user.upsert", Outcome::Allowed, None)),
            EventKind::Entitlement
        );
    }

    #[test]
    fn the_hub_counts_activity_without_a_subscriber() {
        let hub = Hub::new();
        let r = row("list_projects", Outcome::Allowed, None);
        hub.publish_rows(std::slice::from_ref(&r));
        hub.publish_rows(&[row("create_card", Outcome::Denied, Some("Rate limit"))]);
        let agent = r.agent_id.unwrap_or_default();
        assert!(hub.activity(agent).is_some());
        let totals = hub.totals(Utc::now());
        assert_eq!(totals.rate_limited_last_hour, 1);
        assert!(totals.calls_last_minute >= 1);
    }
}
