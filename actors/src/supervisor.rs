//! The supervisor: a registry of agent actors, started on first sight, stopped when idle,
//! restarted after a panic, and reached by revocations at once.
//!
//! Revocation is synchronous for the caller of [`Supervisor::revoke`]: before it returns,
//! the shared revoked flag of every affected running actor is set, so the very next
//! admission is refused, and every open stream watching [`Supervisor::watch_revoked`]
//! ends. Only the affected actors are touched (no broadcast). An actor being started while a
//! revocation lands is caught by the revocation epoch: a profile loaded before the
//! revocation is loaded again.
//!
//! Starting an actor, its restart loop and the profile reloader live in
//! `supervisor/lifecycle.rs`.
//! Every task the supervisor spawns is tracked: actor tasks in one set, which
//! [`Supervisor::shutdown`] waits for; reload tasks in another, which it aborts (a reload
//! only reads). Dropping the last handle to the supervisor aborts both sets.

mod lifecycle;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::agent::{Msg, Shared};
use crate::panic::RestartPolicy;
use crate::tasks::Tasks;
use crate::{
    ActorError, Admission, AdmitRequest, AgentProfile, AgentSnapshot, ClientInfo, Revocation,
    SessionMark,
};

/// Where the supervisor learns an agent's profile. The service implements it over its
/// store; `Ok(None)` means the agent does not exist.
pub trait ProfileLoader: Send + Sync + 'static {
    /// Loads the agent's current profile.
    fn load(&self, agent_id: Uuid) -> BoxFuture<'_, Result<Option<AgentProfile>, String>>;
}

/// Bounds of the agent runtime.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorConfig {
    /// Capacity of each agent's mailbox.
    pub mailbox: usize,
    /// How long a caller waits for room in a full mailbox before giving up (backpressure).
    pub mailbox_wait: Duration,
    /// An actor idle for this long stops; it starts again on the agent's next call.
    pub idle_timeout: Duration,
    /// How often an actor may panic before it is given up on.
    pub restart: RestartPolicy,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            mailbox: 64,
            mailbox_wait: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(300),
            restart: RestartPolicy::default(),
        }
    }
}

#[derive(Debug, Clone)]
struct Handle {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    generation: u64,
}

struct Inner {
    registry: DashMap<Uuid, Handle>,
    loader: Arc<dyn ProfileLoader>,
    config: SupervisorConfig,
    generation: AtomicU64,
    epoch: AtomicU64,
    shutting_down: AtomicBool,
    /// The agent actors' tasks.
    actors: Tasks,
    /// Profile reloads running off the actors' tasks.
    reloads: Tasks,
}

/// The agent runtime's entry point. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("agents", &self.inner.registry.len())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Supervisor {
    /// Creates the runtime. Actors are started lazily, on an agent's first call.
    pub fn new(loader: Arc<dyn ProfileLoader>, config: SupervisorConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: DashMap::new(),
                loader,
                config,
                generation: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                shutting_down: AtomicBool::new(false),
                actors: Tasks::new("agent actors"),
                reloads: Tasks::new("profile reloads"),
            }),
        }
    }

    /// Asks the agent's actor whether `request` may proceed, starting the actor when the
    /// agent is first seen. `Ok(None)` means no such agent exists.
    pub async fn admit(
        &self,
        agent_id: Uuid,
        request: AdmitRequest,
    ) -> Result<Option<Admission>, ActorError> {
        let (reply, answer) = oneshot::channel();
        let mut msg = Msg::Admit(request, reply);
        // One retry covers the race with an actor that idled out after we took its handle.
        for _ in 0..2 {
            let Some(handle) = self.handle(agent_id).await? else {
                return Ok(None);
            };
            match handle
                .tx
                .send_timeout(msg, self.inner.config.mailbox_wait)
                .await
            {
                Ok(()) => return answer.await.map(Some).map_err(|_| ActorError::Dropped),
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    return Err(ActorError::Overloaded)
                }
                Err(mpsc::error::SendTimeoutError::Closed(back)) => {
                    self.forget(agent_id, handle.generation);
                    msg = back;
                }
            }
        }
        Err(ActorError::Gone)
    }

    /// A snapshot of the agent's actor, if it is running.
    pub async fn snapshot(&self, agent_id: Uuid) -> Option<AgentSnapshot> {
        let handle = self.inner.registry.get(&agent_id).map(|h| h.clone())?;
        let (reply, answer) = oneshot::channel();
        handle.tx.try_send(Msg::Snapshot(reply)).ok()?;
        answer.await.ok()
    }

    /// Snapshots of every running actor.
    pub async fn snapshots(&self) -> Vec<AgentSnapshot> {
        let ids: Vec<Uuid> = self.inner.registry.iter().map(|e| *e.key()).collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = self.snapshot(id).await {
                out.push(s);
            }
        }
        out
    }

    /// Sets the agent's open work session mark on this replica, if its actor runs (an
    /// actor started later loads it from the store). Called after the store changed.
    pub fn set_session(&self, agent_id: Uuid, session: Option<SessionMark>) {
        if let Some(handle) = self.inner.registry.get(&agent_id) {
            handle.shared.set_session(session);
        }
    }

    /// The agent's open work session mark, if its actor runs. No mailbox round trip.
    pub fn session(&self, agent_id: Uuid) -> Option<SessionMark> {
        self.inner
            .registry
            .get(&agent_id)
            .and_then(|h| h.shared.session())
    }

    /// Whether the agent's actor runs on this replica.
    pub fn is_running(&self, agent_id: Uuid) -> bool {
        self.inner.registry.contains_key(&agent_id)
    }

    /// The client the agent last initialized with, if its actor runs. No mailbox round
    /// trip.
    pub fn client(&self, agent_id: Uuid) -> Option<ClientInfo> {
        self.inner
            .registry
            .get(&agent_id)
            .and_then(|h| h.shared.client())
    }

    /// Records the client the agent initialized with, if its actor runs.
    pub fn set_client(&self, agent_id: Uuid, client: ClientInfo) {
        if let Some(handle) = self.inner.registry.get(&agent_id) {
            handle.shared.set_client(client);
        }
    }

    /// Puts a revocation in force on this replica: when this returns, every affected
    /// running actor refuses its next call. Agents without a running actor are refused
    /// by the profile their next call loads, which the caller has already changed.
    ///
    /// Only the affected actors are touched: their revoked flag (which their next
    /// admission reads and their open streams watch), or for a reload their one actor.
    /// Nothing is broadcast to every actor: with 10,000 agents connected a broadcast woke
    /// 10,000 tasks per revocation, and the streams to close waited behind them.
    pub fn revoke(&self, event: Revocation) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        match event {
            Revocation::Agent(agent_id) => {
                if let Some(handle) = self.inner.registry.get(&agent_id) {
                    handle.shared.revoke();
                }
            }
            Revocation::Owner(_) => {
                for entry in self.inner.registry.iter() {
                    let shared = &entry.value().shared;
                    if event.concerns(shared.agent_id, shared.owner_id) {
                        shared.revoke();
                    }
                }
            }
            Revocation::Reload(agent_id) => {
                let me = self
                    .inner
                    .registry
                    .get(&agent_id)
                    .map(|handle| handle.tx.downgrade());
                if let Some(me) = me {
                    lifecycle::reloader(Arc::downgrade(&self.inner))(agent_id, me);
                }
            }
        }
    }

    /// Stops the running actors of this owner's agents, so their next call starts a
    /// fresh actor from the store's current profile. Used when an owner regains
    /// standing: a revoked flag never clears itself.
    pub fn restart_owner(&self, owner_id: Uuid) {
        self.inner
            .registry
            .retain(|_, h| h.shared.owner_id != owner_id);
    }

    /// Stops the agent's actor if it is refusing calls, so the next call starts afresh
    /// from the store. Used when the store says the agent may work again.
    pub fn restart_agent_if_revoked(&self, agent_id: Uuid) {
        self.inner
            .registry
            .remove_if(&agent_id, |_, h| h.shared.is_revoked());
    }

    /// A watch on the agent's revoked flag, for open streams that must close when it
    /// flips. Starts the agent's actor if needed; `None` when no such agent exists.
    pub async fn watch_revoked(
        &self,
        agent_id: Uuid,
    ) -> Result<Option<watch::Receiver<bool>>, ActorError> {
        Ok(self
            .handle(agent_id)
            .await?
            .map(|h| h.shared.revoked.subscribe()))
    }

    /// The scopes the agent holds in any project, or `None` when it is unknown or
    /// revoked. For listing what an agent may call; admission still decides each call.
    pub async fn held_scopes(
        &self,
        agent_id: Uuid,
    ) -> Result<Option<std::collections::BTreeSet<String>>, ActorError> {
        let Some(handle) = self.handle(agent_id).await? else {
            return Ok(None);
        };
        if handle.shared.is_revoked() {
            return Ok(None);
        }
        let profile = handle.shared.profile();
        if !profile.active {
            return Ok(None);
        }
        Ok(Some(
            profile.grants.into_iter().flat_map(|g| g.scopes).collect(),
        ))
    }

    /// Number of running agent actors.
    pub fn running(&self) -> usize {
        self.inner.registry.len()
    }

    /// Whether the runtime accepts work (for readiness).
    pub fn is_alive(&self) -> bool {
        !self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Stops every actor and waits for them to finish their current message. Profile
    /// reloads still running are aborted: an actor that is stopping needs no profile.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.reloads.abort().await;
        self.inner.registry.clear();
        self.inner.actors.shutdown().await;
    }

    /// The running actor's mailbox, for tests that inject messages.
    #[cfg(test)]
    pub(crate) fn mailbox(&self, agent_id: Uuid) -> Option<mpsc::Sender<Msg>> {
        self.inner.registry.get(&agent_id).map(|h| h.tx.clone())
    }

    fn forget(&self, agent_id: Uuid, generation: u64) {
        self.inner.forget(agent_id, generation);
    }
}
