//! The store: one interface ([`Store`]), two engines.
//!
//! * [`postgres`] — production and multi-replica deployments;
//! * [`sqlite`] — the embedded default, so one command runs the whole gateway.
//!
//! Both are one [`SqlStore`] (`shared.rs`) over their sqlx driver: every statement that
//! reads the same on both engines is written once there, with the rows it decodes and the
//! rules applied to them in `rows.rs`. An engine's own file holds only what differs.
//!
//! Handlers hold an `Arc<dyn Store>`: the engine is picked once, by the URL's scheme, and
//! nothing above this module knows which one it got. The same test suite
//! (`tests/integration/store.rs`) runs against both. Migrations live in `migrations/<engine>/` and are
//! applied by `agent-gateway migrate` (or at `serve` start), never inside a constructor,
//! so `/readyz` can tell whether they are current.

mod background;
pub mod postgres;
mod rows;
mod session_types;
mod sessions;
mod shared;
pub mod sqlite;
mod standing;
mod types;
mod ui;
mod users;
mod write_gate;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::DatabaseUrl;
pub use sessions::{
    ActivityRecord, NewWorkSession, PlanStep, SessionEnd, SessionQuery, SessionReport,
    SessionState, StateFilter, WorkSessionRecord, WorkSessionStore,
};
pub use shared::SqlStore;

/// The options every pool of the store and the embedded tracker starts from: at most
/// `connections`, 5 s to wait for one, no ping before each use (it doubled the round
/// trips of every statement, docs/DECISIONS.md: a dead connection fails its statement,
/// is dropped, and the caller's retry gets a fresh one), and [`outside_transaction`] on
/// release and on acquire.
pub(crate) fn pool_options<DB: sqlx::Database>(connections: u32) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .test_before_acquire(false)
        .after_release(outside_transaction)
        .before_acquire(outside_transaction)
}

/// A pool's `after_release` and `before_acquire` check: a connection still inside a
/// transaction is closed rather than kept. A call cancelled mid-transaction (its client
/// gone, a timeout) leaves its rollback to the driver; on SQLite that rollback fails
/// while a cancelled statement is still active, and the connection stays in the
/// transaction for good. Kept idle in the pool it holds the file's write lock, so the
/// next writer in its turn (`WriteGate`) waits out the busy timeout and fails ("database
/// is locked"); reused, every `BEGIN` on it fails ("non-zero transaction depth"). Closing
/// it on release ends its transaction at once; the check on acquire stays for a
/// connection that slipped past (released while its rollback was still queued).
pub(crate) fn outside_transaction<C: sqlx::Connection>(
    conn: &mut C,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    let usable = !conn.is_in_transaction();
    if !usable {
        tracing::info!(
            "a pooled connection is still inside a cancelled call's transaction; closing it"
        );
    }
    Box::pin(std::future::ready(Ok(usable)))
}
pub use standing::{
    AgentMove, CurrentUser, EventReceipt, StandingPlan, StandingRule, StandingWrite,
    StandingWritten,
};
pub use types::*;
pub use ui::{NewSignInLink, NewUiSession, UiPrincipal, UiSessionKind, UiStore};
pub use users::{UserQuery, UserSummary};
pub use write_gate::{WriteGate, WriteTurn};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or foreign-key rule was broken; the message names the rule.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store could not be reached or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be understood (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Maps a unique or foreign-key violation to [`StoreError::Conflict`].
    pub(crate) fn from_sqlx(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db)
                if db.is_unique_violation() || db.is_foreign_key_violation() =>
            {
                StoreError::Conflict(db.constraint().unwrap_or("a uniqueness rule").to_owned())
            }
            _ => StoreError::Database(error),
        }
    }
}

/// Result alias for the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the gateway keeps. Every method is one short transaction at most. Work
/// sessions (reporting mode) are their own trait, [`WorkSessionStore`] (`sessions.rs`).
#[async_trait]
pub trait Store: WorkSessionStore + UiStore + Send + Sync + std::fmt::Debug + 'static {
    /// `postgres` or `sqlite`.
    fn engine(&self) -> &'static str;
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Number of migrations known to this build but not applied.
    async fn pending_migrations(&self) -> StoreResult<usize>;
    /// A round trip to the store.
    async fn ping(&self) -> StoreResult<()>;

    /// A gateway setting (such as the admin token's hash).
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores a setting unless one exists; returns whether it was stored.
    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<bool>;

    /// Inserts or updates a user; returns the previous and the new state.
    async fn upsert_user(
        &self,
        user: &UserUpsert,
        now: DateTime<Utc>,
    ) -> StoreResult<(Option<User>, User)>;
    /// One user.
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// One page of users, ordered by id descending, with their agents counted by status.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<UserSummary>>;
    /// Number of users (an empty store gets the demo seed).
    async fn count_users(&self) -> StoreResult<i64>;
    /// Records an entitlement change.
    async fn record_entitlement_change(&self, change: &EntitlementChange) -> StoreResult<()>;

    /// Creates an agent with its grants and its first token, atomically.
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<Agent>;
    /// One agent with its grants and token metadata.
    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>>;
    /// Agents, newest first, optionally of one owner.
    async fn list_agents(&self, owner: Option<Uuid>) -> StoreResult<Vec<Agent>>;
    /// Sets an agent's status (revoking also revokes its tokens). Returns the agent, or
    /// `None` when it does not exist.
    async fn set_agent_status(
        &self,
        id: Uuid,
        status: AgentStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Agent>>;

    /// The token's agent and owner state, by the token's hash.
    async fn authenticate(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthRecord>>;
    /// Marks tokens as used (batched by the caller; a best-effort statistic).
    async fn touch_tokens(&self, used: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()>;
    /// What the agent actor needs: status, owner state, grants and rate.
    async fn agent_profile(&self, id: Uuid) -> StoreResult<Option<ProfileRecord>>;

    /// Appends audit rows in one insert, all or none, returning once `durability` says.
    async fn insert_audit(&self, rows: &[AuditRow], durability: Durability) -> StoreResult<()>;
    /// Audit rows, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;

    /// Claims idempotency keys for calls, or reports what holds each: one state per
    /// claim, in order. Fresh keys are claimed in one statement where the engine allows
    /// (many calls' claims at once); the same key twice in `claims` is claimed by the
    /// first and found in flight by the second.
    async fn idempotency_begin(
        &self,
        claims: &[IdempotencyClaim],
    ) -> StoreResult<Vec<IdempotencyState>>;
    /// Stores finished calls' responses under their keys.
    async fn idempotency_finish(&self, settled: &[Settlement]) -> StoreResult<()>;
    /// Releases a key whose call failed before doing anything, so a retry may run.
    async fn idempotency_abandon(&self, agent_id: Uuid, key: &str) -> StoreResult<()>;
    /// Deletes expired keys; returns how many.
    async fn purge_idempotency(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Moves every agent of `owner` whose status is in `from` to `to`; returns their ids.
    async fn set_owner_agents_status(
        &self,
        owner: Uuid,
        from: &[AgentStatus],
        to: AgentStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>>;
    /// Agents whose own or whose owner's state changed at or after `since`, with whether
    /// they may work now. Feeds the periodic reconcile across replicas.
    async fn standing_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Standing>>;
    /// Changes a user's standing in one transaction, under the user's lock: reads the
    /// user, runs `rule`, writes what it decided and, for a Launcher event, records the
    /// event's id — all or nothing. `Duplicate` (nothing done) when the id was recorded
    /// before. See `standing.rs`.
    async fn write_standing(
        &self,
        user_id: Uuid,
        event: Option<&EventReceipt>,
        rule: &StandingRule<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<StandingWritten>;

    /// Stores a new owner session (its token's hash).
    async fn create_owner_session(&self, session: &NewOwnerSession) -> StoreResult<()>;
    /// The owner of a live (unexpired, unrevoked) session, by the token's hash.
    async fn owner_by_session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
}

/// Connects to the configured engine. Does not migrate.
pub async fn connect(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(sqlite::SqliteStore::connect(path).await?),
        DatabaseUrl::Postgres(_) => {
            let raw = url.expose_postgres().unwrap_or_default();
            Arc::new(postgres::PgStore::connect(raw).await?)
        }
    })
}
