//! Revocations across replicas. A change of an agent's standing is applied here first
//! (token cache, then the actor runtime), then published with Postgres `NOTIFY`; every
//! other replica's listener applies it within milliseconds. A periodic reconcile reads
//! what changed in the store since its last pass, so anything missed (a dropped
//! connection, a replica that was restarting) is applied anyway; a listener reconnect
//! triggers a reconcile at once. On SQLite there is one process: publishing is a no-op.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gateway_actors::{Revocation, Supervisor};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::DatabaseUrl;
use crate::identity::Authenticator;
use crate::store::Store;

/// The NOTIFY channel.
pub const CHANNEL: &str = "agent_gateway_revocations";

/// A change of standing that every replica must apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Change {
    /// One agent revoked (by an admin or its owner).
    AgentRevoked(Uuid),
    /// Every agent of this owner disabled or revoked (entitlement withdrawn, blocked,
    /// annulled).
    OwnerDisabled(Uuid),
    /// This owner regained standing: agents that were only disabled work again.
    OwnerRestored(Uuid),
    /// This agent's work session changed (started, ended, asked to stop): its actor
    /// re-reads the open session's mark from the store.
    SessionChanged(Uuid),
    /// This agent's settings changed: its actor re-reads its profile.
    AgentChanged(Uuid),
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    replica: Uuid,
    change: Change,
}

/// Applies changes here and publishes them to the other replicas.
#[derive(Debug, Clone)]
pub struct Fanout {
    replica: Uuid,
    auth: Authenticator,
    supervisor: Supervisor,
    store: Arc<dyn Store>,
    pg: Option<PgPool>,
}

impl Fanout {
    /// A fan-out for this replica; on Postgres it opens a small pool for `NOTIFY`.
    pub async fn new(
        database: &DatabaseUrl,
        auth: Authenticator,
        supervisor: Supervisor,
        store: Arc<dyn Store>,
    ) -> Result<Self, sqlx::Error> {
        let pg = match database.expose_postgres() {
            Some(url) => Some(PgPoolOptions::new().max_connections(2).connect(url).await?),
            None => None,
        };
        Ok(Self {
            replica: Uuid::new_v4(),
            auth,
            supervisor,
            store,
            pg,
        })
    }

    /// Applies `change` on this replica: when this returns it is in force here.
    pub fn apply_local(&self, change: Change) {
        match change {
            Change::AgentRevoked(id) => {
                self.auth.forget_agent(id);
                self.supervisor.revoke(Revocation::Agent(id));
            }
            Change::OwnerDisabled(id) => {
                self.auth.forget_owner(id);
                self.supervisor.revoke(Revocation::Owner(id));
            }
            Change::OwnerRestored(id) => {
                self.auth.forget_owner(id);
                self.supervisor.restart_owner(id);
            }
            Change::SessionChanged(id) => self.reload_session(id),
            Change::AgentChanged(id) => self.supervisor.revoke(Revocation::Reload(id)),
        }
    }

    /// Puts a tightening `change` (an agent revoked, an owner disabled) in force here
    /// *before* the store is written, so refusals and closed streams do not wait for the
    /// commit. The caller then either applies the committed change with [`Fanout::apply`]
    /// or, when the store did not change anything (it failed, or the rule found nothing
    /// to tighten), calls [`Fanout::reread`] so that this replica follows the store again.
    pub fn tighten_first(&self, change: Change) {
        debug_assert!(matches!(
            change,
            Change::AgentRevoked(_) | Change::OwnerDisabled(_)
        ));
        self.apply_local(change);
    }

    /// Undoes a [`Fanout::tighten_first`] that the store did not confirm: the affected
    /// tokens are forgotten and the refusing actors stopped, so the next call reads the
    /// agent's standing from the store as it is.
    pub fn reread(&self, change: Change) {
        match change {
            Change::AgentRevoked(id) => {
                self.auth.forget_agent(id);
                self.supervisor.restart_agent_if_revoked(id);
            }
            Change::OwnerDisabled(id) => self.apply_local(Change::OwnerRestored(id)),
            Change::OwnerRestored(_) | Change::SessionChanged(_) | Change::AgentChanged(_) => {}
        }
    }

    /// Re-reads the agent's open work session and hands its mark to the agent's actor
    /// (off the caller's task: the store is asked).
    fn reload_session(&self, agent_id: Uuid) {
        if self.supervisor.is_running(agent_id) {
            let store = Arc::clone(&self.store);
            let supervisor = self.supervisor.clone();
            tokio::spawn(async move {
                match store.open_session(agent_id).await {
                    Ok(open) => supervisor.set_session(agent_id, open.map(|s| s.mark())),
                    Err(e) => {
                        tracing::warn!(error = %e, %agent_id, "could not re-read a work session; the reconcile retries")
                    }
                }
            });
        }
    }

    /// Applies `change` here, then tells the other replicas. A failed publish is logged;
    /// the reconcile delivers the change anyway.
    pub async fn apply(&self, change: Change) {
        self.apply_local(change);
        self.publish(change).await;
    }

    /// Tells the other replicas of `change`, already in force here. A failed publish is
    /// logged; the reconcile delivers the change anyway.
    pub async fn publish(&self, change: Change) {
        let Some(pg) = &self.pg else { return };
        let payload = match serde_json::to_string(&Envelope {
            replica: self.replica,
            change,
        }) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a revocation");
                return;
            }
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(pg)
            .await
        {
            tracing::warn!(error = %e, ?change, "could not publish a revocation; the reconcile will deliver it");
        }
    }

    /// Starts the listener (Postgres only) and the periodic reconcile.
    pub fn spawn(&self, store: Arc<dyn Store>, every: Duration) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        let (kick, mut kicked) = tokio::sync::mpsc::channel::<()>(1);
        if let Some(pg) = self.pg.clone() {
            let me = self.clone();
            tasks.push(tokio::spawn(async move { me.listen(pg, kick).await }));
        }
        let me = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut since = Utc::now();
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {},
                    Some(()) = kicked.recv() => {},
                }
                match me.reconcile(store.as_ref(), since).await {
                    Ok(next) => since = next,
                    Err(e) => tracing::warn!(error = %e, "reconcile failed; retrying next period"),
                }
            }
        }));
        tasks
    }

    async fn listen(&self, pg: PgPool, kick: tokio::sync::mpsc::Sender<()>) {
        loop {
            let mut listener = match PgListener::connect_with(&pg).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "revocation listener cannot connect; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Anything published while we were not listening: reconcile now.
            let _ = kick.try_send(());
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) => match serde_json::from_str::<Envelope>(note.payload()) {
                        Ok(env) if env.replica != self.replica => self.apply_local(env.change),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "unreadable revocation notification"),
                    },
                    Ok(None) => {
                        tracing::warn!("revocation listener lost its connection; reconciling");
                        let _ = kick.try_send(());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "revocation listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    /// Applies every standing change since `since` (with a margin for clock skew between
    /// replicas); returns the next `since`.
    pub async fn reconcile(
        &self,
        store: &dyn Store,
        since: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, crate::store::StoreError> {
        let started = Utc::now();
        let margin = chrono::Duration::seconds(5);
        for s in store.standing_since(since - margin).await? {
            if s.usable {
                self.auth.forget_agent(s.agent_id);
                self.supervisor.restart_agent_if_revoked(s.agent_id);
            } else {
                self.auth.forget_agent(s.agent_id);
                self.supervisor.revoke(Revocation::Agent(s.agent_id));
            }
        }
        for agent_id in store.sessions_changed_since(since - margin).await? {
            self.reload_session(agent_id);
        }
        Ok(started)
    }
}
