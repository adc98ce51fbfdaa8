//! An agent actor's life: started on first sight, restarted after a panic, stopped when
//! idle or when every handle is gone; and the reloads it asks for, run off its task.
//!
//! Both kinds of task are spawned into the supervisor's tracked sets (`Inner::actors`,
//! `Inner::reloads`), never detached, so shutdown and a dropped supervisor reach them.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Handle, Inner, Supervisor, SupervisorConfig};
use crate::agent::{AgentActor, Exit, Msg, Reload, Shared};
use crate::panic::{catch, Restarts};
use crate::{ActorError, AgentProfile};

impl Supervisor {
    /// The running actor's handle, or a newly started one.
    pub(super) async fn handle(&self, agent_id: Uuid) -> Result<Option<Handle>, ActorError> {
        if let Some(handle) = self.inner.registry.get(&agent_id) {
            return Ok(Some(handle.clone()));
        }
        if !self.is_alive() {
            return Err(ActorError::ShuttingDown);
        }
        loop {
            let epoch = self.inner.epoch.load(Ordering::SeqCst);
            let profile = self
                .inner
                .loader
                .load(agent_id)
                .await
                .map_err(ActorError::Load)?;
            let Some(profile) = profile else {
                return Ok(None);
            };
            if self.inner.epoch.load(Ordering::SeqCst) != epoch {
                continue; // a revocation landed while we loaded: load again
            }
            let entry = self
                .inner
                .registry
                .entry(agent_id)
                .or_insert_with(|| self.start(profile));
            return Ok(Some(entry.clone()));
        }
    }

    /// Starts an actor for `profile` in the tracked actor set. Once the set is closed
    /// (shutdown) the task is dropped unstarted: the handle's mailbox is closed, so its
    /// callers get an error.
    fn start(&self, profile: AgentProfile) -> Handle {
        let (tx, rx) = mpsc::channel(self.inner.config.mailbox.max(1));
        let shared = Arc::new(Shared::new(profile));
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        let handle = Handle {
            tx: tx.clone(),
            shared: Arc::clone(&shared),
            generation,
        };
        let task = ActorTask {
            shared,
            generation,
            supervisor: Arc::downgrade(&self.inner),
            config: self.inner.config,
        };
        drop(tx);
        self.inner.actors.spawn(task.run(rx));
        handle
    }
}

impl Inner {
    /// Removes the agent's handle, unless it already belongs to a newer actor.
    pub(super) fn forget(&self, agent_id: Uuid, generation: u64) {
        self.registry
            .remove_if(&agent_id, |_, h| h.generation == generation);
    }
}

/// What an agent actor's task holds besides its mailbox.
struct ActorTask {
    shared: Arc<Shared>,
    generation: u64,
    supervisor: Weak<Inner>,
    config: SupervisorConfig,
}

impl ActorTask {
    /// Runs actors on `rx` until every handle is gone, the agent idles out, or it panics
    /// more often than the restart policy allows; then leaves the registry.
    async fn run(self, mut rx: mpsc::Receiver<Msg>) {
        let agent_id = self.shared.agent_id;
        let name = format!("agent:{agent_id}");
        let config = self.config;
        let mut restarts = Restarts::new(config.restart);
        loop {
            // After a restart the actor starts from the last profile it accepted.
            let mut actor = AgentActor::new(self.shared.profile(), Arc::clone(&self.shared));
            let run = actor.run(&mut rx, config.idle_timeout);
            match catch(run).await {
                Ok(Exit::Closed) => break,
                Ok(Exit::Idle) => {
                    // Leave the registry first, so new callers start a fresh actor,
                    // then answer whatever is already queued.
                    self.leave();
                    rx.close();
                    while let Ok(msg) = rx.try_recv() {
                        actor.handle(msg);
                    }
                    break;
                }
                Err(panic) => {
                    let again = restarts.record(&name, &panic);
                    self.shared
                        .restarts
                        .store(restarts.total(), Ordering::Relaxed);
                    if !again {
                        break;
                    }
                }
            }
        }
        self.leave();
    }

    fn leave(&self) {
        if let Some(inner) = self.supervisor.upgrade() {
            inner.forget(self.shared.agent_id, self.generation);
        }
    }
}

/// Reloads an agent's profile in a task of the supervisor's tracked reload set and posts
/// the result back through the actor's weak sender. Nothing starts once the supervisor
/// is shutting down or gone; a loader that panics is logged like one that fails.
pub(super) fn reloader(supervisor: Weak<Inner>) -> Reload {
    Arc::new(move |agent_id, me: mpsc::WeakSender<Msg>| {
        let Some(inner) = supervisor.upgrade() else {
            return;
        };
        let loader = Arc::clone(&inner.loader);
        inner.reloads.spawn(async move {
            let profile = match catch(loader.load(agent_id)).await {
                Ok(profile) => profile,
                Err(panic) => Err(format!("the loader panicked: {panic}")),
            };
            let Some(tx) = me.upgrade() else { return };
            match profile {
                Ok(profile) => {
                    let _ = tx.send(Msg::Refresh(profile.map(Box::new))).await;
                }
                Err(error) => {
                    tracing::warn!(%agent_id, %error, "reloading agent profile failed; it stays refused until the next reload");
                }
            }
        });
    })
}
