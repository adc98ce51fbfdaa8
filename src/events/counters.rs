//! Small in-memory counters of what the live-event hub has seen: per agent its first
//! and last activity, and per minute the calls, denials and rate-limit hits of the last
//! hour. They start empty at process start; the pages say "since HH:MM" while the hour
//! is not yet full.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use uuid::Uuid;

use super::{EventKind, LiveEvent};

/// What the hub knows of one agent's activity since this process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Its first audited request seen here.
    pub first_at: DateTime<Utc>,
    /// Its latest audited request.
    pub last_at: DateTime<Utc>,
}

/// Totals of one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Minute {
    start: i64,
    calls: u64,
    denials: u64,
    rate_limited: u64,
}

/// Totals over a window, for the headline numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Agent calls in the last minute.
    pub calls_last_minute: u64,
    /// Policy refusals in the last hour (rate-limit hits not included).
    pub denials_last_hour: u64,
    /// Rate-limit hits in the last hour.
    pub rate_limited_last_hour: u64,
    /// When the counting started (process start), to say "since" while under an hour.
    pub counting_since: DateTime<Utc>,
}

/// The counters. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub(super) struct Counters {
    activity: Arc<DashMap<Uuid, Activity>>,
    minutes: Arc<Mutex<VecDeque<Minute>>>,
    started: DateTime<Utc>,
}

impl Counters {
    /// Empty counters, counting from now.
    pub(super) fn new() -> Self {
        Self {
            activity: Arc::default(),
            minutes: Arc::default(),
            started: Utc::now(),
        }
    }

    /// What is known of an agent's activity.
    pub(super) fn activity(&self, agent_id: Uuid) -> Option<Activity> {
        self.activity.get(&agent_id).map(|a| *a)
    }

    /// Totals as of `now`.
    pub(super) fn totals(&self, now: DateTime<Utc>) -> Totals {
        let minute = now.timestamp() / 60;
        let mut totals = Totals {
            counting_since: self.started,
            ..Totals::default()
        };
        let Ok(minutes) = self.minutes.lock() else {
            return totals;
        };
        for m in minutes.iter().filter(|m| m.start > minute - 60) {
            totals.denials_last_hour += m.denials;
            totals.rate_limited_last_hour += m.rate_limited;
        }
        // The last minute: the current one and the share of the previous one still in it.
        let second = u64::try_from(now.timestamp().rem_euclid(60)).unwrap_or(0);
        for m in minutes.iter() {
            if m.start == minute {
                totals.calls_last_minute += m.calls;
            } else if m.start == minute - 1 {
                totals.calls_last_minute += m.calls * (60 - second) / 60;
            }
        }
        totals
    }

    pub(super) fn count(&self, event: &LiveEvent) {
        let Some(agent) = event.agent_id else { return };
        // An agent's own requests: MCP tool calls (no dot) and the MCP layer's rows.
        if event.action.contains('.') && !event.action.starts_with("mcp.") {
            return;
        }
        self.activity
            .entry(agent)
            .and_modify(|a| a.last_at = a.last_at.max(event.at))
            .or_insert(Activity {
                first_at: event.at,
                last_at: event.at,
            });
        let start = event.at.timestamp() / 60;
        let Ok(mut minutes) = self.minutes.lock() else {
            return;
        };
        if minutes.back().is_none_or(|m| m.start < start) {
            minutes.push_back(Minute {
                start,
                ..Minute::default()
            });
        }
        while minutes.front().is_some_and(|m| m.start <= start - 61) {
            minutes.pop_front();
        }
        // Rows of a batch arrive nearly in order; an older one counts in its own minute.
        if let Some(m) = minutes.iter_mut().rev().find(|m| m.start <= start) {
            if event.outcome != "intent" {
                m.calls += 1;
            }
            match event.kind {
                EventKind::Denial => m.denials += 1,
                EventKind::RateLimit => m.rate_limited += 1,
                _ => {}
            }
        }
    }
}
