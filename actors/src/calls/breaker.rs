//! The circuit breaker of a call pool, kept per caller so that one caller's failures
//! pause only that caller.
//!
//! * **Per caller.** Each caller (an agent, see [`Caller`]) has its own count of
//!   consecutive failed attempts. `threshold` of them open *its* breaker for `cooldown`;
//!   then one of its calls probes. Its next healthy answer removes its entry, so callers
//!   that are doing fine hold no entry at all.
//! * **Shared.** A Tasker that is really down fails everyone. The shared breaker opens
//!   for every caller as soon as callers from [`QUORUM_OWNERS`] different owners, or
//!   [`QUORUM_AGENTS`] different agents, have each failed at least
//!   [`QUORUM_MIN_FAILURES`] attempts in a row since the upstream last answered anyone.
//!   A caller needs a failed retry to count, so one agent alone (or one owner's pair of
//!   agents) cannot pause the others, and another caller's single glitch does not
//!   complete a quorum.
//! * **Healthy answer.** A success or a non-transient error (the upstream answered; the
//!   request was wrong) closes the caller's breaker and the shared one, and starts a new
//!   epoch: failure streaks begun before it no longer count towards the quorum.
//! * **Bounded.** At most [`MAX_CALLERS`] failing callers are tracked. When the map is
//!   full, entries that are neither open nor recent are pruned; if it is still full, the
//!   new caller is not tracked on its own (the shared breaker still covers it).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::Caller;

/// Failing callers tracked at most.
pub const MAX_CALLERS: usize = 4096;
/// Distinct owners whose agents must be failing for the shared breaker to open.
pub const QUORUM_OWNERS: usize = 2;
/// Distinct agents that must be failing for the shared breaker to open.
pub const QUORUM_AGENTS: usize = 3;
/// Consecutive failed attempts (a call and its retry) before a caller counts as failing.
pub const QUORUM_MIN_FAILURES: u32 = 2;

#[derive(Debug)]
struct Entry {
    owner: Uuid,
    failures: u32,
    /// The epoch its streak began in.
    epoch: u64,
    last: Instant,
    open_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    callers: HashMap<Uuid, Entry>,
    shared_until: Option<Instant>,
    /// Bumped by every healthy answer.
    epoch: u64,
}

/// The breakers of one pool.
#[derive(Debug)]
pub(super) struct Breakers {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breakers {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Some(wait)` while the caller's own breaker or the shared one is open. After a
    /// cooldown, one call passes as the probe and the others wait another cooldown.
    pub(super) fn check(&self, caller: Caller) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(entry) = state.callers.get_mut(&caller.agent) {
            match entry.open_until {
                Some(until) if now < until => return Some(until - now),
                Some(_) => entry.open_until = Some(now + self.cooldown),
                None => {}
            }
        }
        match state.shared_until {
            Some(until) if now < until => Some(until - now),
            Some(_) => {
                state.shared_until = Some(now + self.cooldown);
                None
            }
            None => None,
        }
    }

    /// The upstream answered `caller`: it is up.
    pub(super) fn success(&self, caller: Caller) {
        let mut state = self.lock();
        state.callers.remove(&caller.agent);
        state.shared_until = None;
        state.epoch = state.epoch.wrapping_add(1);
    }

    /// An attempt of `caller` failed (transient error or timeout).
    pub(super) fn failure(&self, caller: Caller) {
        let now = Instant::now();
        let mut state = self.lock();
        let epoch = state.epoch;
        if !state.callers.contains_key(&caller.agent) && state.callers.len() >= MAX_CALLERS {
            let cooldown = self.cooldown;
            state
                .callers
                .retain(|_, e| e.open_until.is_some_and(|u| now < u) || now < e.last + cooldown);
        }
        if state.callers.contains_key(&caller.agent) || state.callers.len() < MAX_CALLERS {
            let entry = state.callers.entry(caller.agent).or_insert(Entry {
                owner: caller.owner,
                failures: 0,
                epoch,
                last: now,
                open_until: None,
            });
            // A streak that went quiet for a cooldown (and is not open) starts again.
            if entry.open_until.is_none() && entry.last + self.cooldown < now {
                entry.failures = 0;
                entry.epoch = epoch;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last = now;
            if entry.failures >= self.threshold {
                entry.open_until = Some(now + self.cooldown);
            }
        } else {
            tracing::warn!(
                tracked = MAX_CALLERS,
                "too many failing callers to track each; only the shared breaker covers this one"
            );
        }
        if quorum(&state) {
            state.shared_until = Some(now + self.cooldown);
        }
    }

    /// Callers with an entry (failing, or paused on their own).
    pub(super) fn tracked(&self) -> usize {
        self.lock().callers.len()
    }
}

/// Whether enough different callers are failing in this epoch to call the upstream down.
fn quorum(state: &State) -> bool {
    let mut agents = 0usize;
    let mut owners: Vec<Uuid> = Vec::with_capacity(QUORUM_OWNERS);
    for entry in state.callers.values() {
        if entry.epoch != state.epoch || entry.failures < QUORUM_MIN_FAILURES {
            continue;
        }
        agents += 1;
        if !owners.contains(&entry.owner) {
            owners.push(entry.owner);
        }
        if agents >= QUORUM_AGENTS || owners.len() >= QUORUM_OWNERS {
            return true;
        }
    }
    false
}
