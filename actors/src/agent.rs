//! One actor per agent: it decides admission and keeps the agent's live state.
//!
//! The actor owns its mailbox receiver, its profile (grants, scopes, rate) and its
//! counters. What must survive a panic and restart lives in `Shared`, outside the task:
//! the rate-limit bucket (a crash must not refill it), the revocation flag (a crash must
//! not un-revoke), the last-activity clock, the open work session's mark and the client
//! the agent connected with.
//!
//! Admission itself — the request, the verdict and the checks in order — lives in
//! `agent/admission.rs`.
//!
//! The actor does no slow I/O: a profile reload after a missed revocation runs in a
//! separate task that posts the result back through a weak sender.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

mod admission;

pub use admission::{Admission, AdmitRequest, DenyReason};

/// One project granted to an agent, with the scopes the agent holds there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The Tasker's project id.
    pub project_id: String,
    /// Scopes such as `cards:read`, `cards:write`.
    pub scopes: BTreeSet<String>,
}

/// An agent's rate limit: a steady rate per minute and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    /// Calls per minute, sustained.
    pub per_minute: NonZeroU32,
    /// Calls allowed at once before the steady rate applies.
    pub burst: NonZeroU32,
}

impl RateSpec {
    fn limiter(self) -> DefaultDirectRateLimiter {
        RateLimiter::direct(Quota::per_minute(self.per_minute).allow_burst(self.burst))
    }
}

/// What the actor needs to know of its agent, loaded from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    /// The agent.
    pub agent_id: Uuid,
    /// Its owner (a Launcher user).
    pub owner_id: Uuid,
    /// Display name, for history and the live-status page.
    pub name: String,
    /// False when the agent is revoked or disabled, or its owner is blocked or lacks the
    /// entitlement.
    pub active: bool,
    /// Granted projects and their scopes.
    pub grants: Vec<Grant>,
    /// The agent's rate limit.
    pub rate: RateSpec,
    /// The agent's open work session, as the store holds it.
    pub session: Option<SessionMark>,
    /// Whether tracker writes are refused while a stop of the open session is pending
    /// (a per-agent setting, off by default).
    pub stop_refuses_writes: bool,
}

/// What admission needs of the agent's open work session (reporting mode). The session
/// itself (plan, activities, observed calls) lives in the store; the actor keeps this
/// mark so every call can be attributed to the session and carry a pending stop notice
/// without a round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMark {
    /// The session.
    pub id: Uuid,
    /// The card it is on, e.g. `PROJ-12`.
    pub card: String,
    /// Whether the owner or an admin asked it to stop.
    pub stop_requested: bool,
}

/// The MCP client an agent connected with, as its `initialize` named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// `clientInfo.name`, e.g. `codex-mcp-client`.
    pub name: String,
    /// `clientInfo.version`.
    pub version: String,
}

/// A point-in-time view of an agent actor, for status pages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// The agent.
    pub agent_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Its name.
    pub name: String,
    /// Whether it is refused from now on.
    pub revoked: bool,
    /// The last admitted or refused call.
    pub last_activity: SystemTime,
    /// The open work session, if any.
    pub session: Option<SessionMark>,
    /// The client it last initialized with on this replica, if any.
    pub client: Option<ClientInfo>,
    /// Calls admitted since the actor started.
    pub admitted: u64,
    /// Calls refused since the actor started (rate limit hits included).
    pub denied: u64,
    /// Calls refused by the rate limit.
    pub rate_limited: u64,
    /// How often the actor was restarted after a panic.
    pub restarts: u32,
}

/// State that outlives a panic of the actor task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) agent_id: Uuid,
    pub(crate) owner_id: Uuid,
    pub(crate) revoked: watch::Sender<bool>,
    profile: Mutex<AgentProfile>,
    limiter: Mutex<(RateSpec, Arc<DefaultDirectRateLimiter>)>,
    last_activity_ms: AtomicU64,
    pub(crate) restarts: AtomicU32,
    counters: [AtomicU64; 3],
    /// The open work session: set by the service when it changes one, and from every
    /// profile load (the store's word).
    session: Mutex<Option<SessionMark>>,
    client: Mutex<Option<ClientInfo>>,
}

impl Shared {
    pub(crate) fn new(profile: AgentProfile) -> Self {
        Self {
            agent_id: profile.agent_id,
            owner_id: profile.owner_id,
            revoked: watch::Sender::new(!profile.active),
            limiter: Mutex::new((profile.rate, Arc::new(profile.rate.limiter()))),
            last_activity_ms: AtomicU64::new(now_ms()),
            restarts: AtomicU32::new(0),
            counters: Default::default(),
            session: Mutex::new(profile.session.clone()),
            client: Mutex::new(None),
            profile: Mutex::new(profile),
        }
    }

    /// The open work session.
    pub(crate) fn session(&self) -> Option<SessionMark> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_session(&self, session: Option<SessionMark>) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }

    pub(crate) fn client(&self) -> Option<ClientInfo> {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_client(&self, client: ClientInfo) {
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = Some(client);
    }

    /// The last profile the actor accepted.
    pub(crate) fn profile(&self) -> AgentProfile {
        self.profile
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn is_revoked(&self) -> bool {
        *self.revoked.borrow()
    }

    /// Marks the agent revoked; returns whether this changed anything.
    pub(crate) fn revoke(&self) -> bool {
        !self.revoked.send_replace(true)
    }

    pub(crate) fn idle_for(&self) -> Duration {
        Duration::from_millis(
            now_ms().saturating_sub(self.last_activity_ms.load(Ordering::Relaxed)),
        )
    }

    fn limiter_for(&self, rate: RateSpec) -> Arc<DefaultDirectRateLimiter> {
        let mut slot = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.0 != rate {
            *slot = (rate, Arc::new(rate.limiter()));
        }
        Arc::clone(&slot.1)
    }

    fn touch(&self) {
        self.last_activity_ms.store(now_ms(), Ordering::Relaxed);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

const ADMITTED: usize = 0;
const DENIED: usize = 1;
const RATE_LIMITED: usize = 2;

/// Messages an agent actor understands.
#[derive(Debug)]
pub(crate) enum Msg {
    Admit(AdmitRequest, oneshot::Sender<Admission>),
    Snapshot(oneshot::Sender<AgentSnapshot>),
    /// Boxed: the profile is large, and every slot of every mailbox is as large as the
    /// largest message (10,000 agents hold 10,000 mailboxes).
    Refresh(Option<Box<AgentProfile>>),
    #[cfg(test)]
    Crash,
}

/// Loads an agent's profile off the actor's task, then posts it back.
pub(crate) type Reload = Arc<dyn Fn(Uuid, mpsc::WeakSender<Msg>) + Send + Sync>;

/// Why the actor's `run` returned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Every handle dropped.
    Closed,
    /// Idle for longer than the idle timeout.
    Idle,
}

/// The actor's own state: rebuilt from the profile after a restart.
pub(crate) struct AgentActor {
    profile: AgentProfile,
    shared: Arc<Shared>,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// Refusals by the rate limit since the last admitted call.
    rate_streak: u64,
}

impl AgentActor {
    /// The actor of `profile`. Its grants are kept sorted by project (one copy per
    /// agent: 10,000 agents hold 10,000 actors).
    pub(crate) fn new(mut profile: AgentProfile, shared: Arc<Shared>) -> Self {
        let limiter = shared.limiter_for(profile.rate);
        profile
            .grants
            .sort_by(|a, b| a.project_id.cmp(&b.project_id));
        Self {
            profile,
            shared,
            limiter,
            rate_streak: 0,
        }
    }

    /// Serves the mailbox until every handle is gone or the agent idles out.
    pub(crate) async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<Msg>,
        idle_timeout: Duration,
    ) -> Exit {
        loop {
            let idle_left = idle_timeout.saturating_sub(self.shared.idle_for());
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => return Exit::Closed,
                },
                () = tokio::time::sleep(idle_left) => {
                    if self.shared.idle_for() >= idle_timeout {
                        return Exit::Idle;
                    }
                }
            }
        }
    }

    pub(crate) fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Admit(request, reply) => {
                let verdict = self.admit(&request);
                let _ = reply.send(verdict);
            }
            Msg::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Msg::Refresh(profile) => self.refresh(profile.map(|p| *p)),
            #[cfg(test)]
            Msg::Crash => panic!("injected crash"),
        }
    }

    fn refresh(&mut self, profile: Option<AgentProfile>) {
        match profile {
            Some(profile) if profile.active && !self.shared.is_revoked() => {
                let shared = Arc::clone(&self.shared);
                *shared
                    .profile
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = profile.clone();
                shared.set_session(profile.session.clone());
                *self = AgentActor::new(profile, shared);
            }
            _ => {
                self.shared.revoke();
                self.profile.active = false;
            }
        }
    }

    fn snapshot(&self) -> AgentSnapshot {
        let idle = self.shared.idle_for();
        AgentSnapshot {
            agent_id: self.profile.agent_id,
            owner_id: self.profile.owner_id,
            name: self.profile.name.clone(),
            revoked: self.shared.is_revoked() || !self.profile.active,
            last_activity: SystemTime::now().checked_sub(idle).unwrap_or(UNIX_EPOCH),
            session: self.shared.session(),
            client: self.shared.client(),
            admitted: self.shared.counters[ADMITTED].load(Ordering::Relaxed),
            denied: self.shared.counters[DENIED].load(Ordering::Relaxed)
                + self.shared.counters[RATE_LIMITED].load(Ordering::Relaxed),
            rate_limited: self.shared.counters[RATE_LIMITED].load(Ordering::Relaxed),
            restarts: self.shared.restarts.load(Ordering::Relaxed),
        }
    }
}
