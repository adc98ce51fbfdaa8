//! A change of a user's standing, written in one transaction.
//!
//! [`Store::write_standing`] is the only way the gateway changes a user's standing: under
//! the user's lock (Postgres: a transaction-scoped advisory lock on the user's id, held
//! until commit, which also covers a user not created yet; SQLite: `BEGIN IMMEDIATE`,
//! one writer at a time), it reads the user, asks the caller's rule what to do, and
//! writes the user, the `entitlement_changes` rows, the agents' new statuses and — for a
//! Launcher event — the event's id, all or nothing. A failed write leaves the id
//! unrecorded, so Launcher's redelivery applies the event then.
//!
//! The rule itself (what a change does to the agents) is the gateway's
//! (`gateway/standing.rs`); this module only runs it inside the transaction.

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

use super::shared::{Dialect, OwnerMove, SqlStore, REVOKE_TOKENS};
use super::*;

/// A Launcher event being applied: its id is recorded in the same transaction as its
/// effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventReceipt {
    /// The event's id (unique per event).
    pub id: String,
    /// When the event happened (as sent, or when it was received if the sender gave no
    /// time).
    pub occurred_at: DateTime<Utc>,
    /// When the gateway received it.
    pub received_at: DateTime<Utc>,
}

/// A user as the standing rule sees it: read under the user's lock.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CurrentUser {
    /// The user.
    #[sqlx(flatten)]
    pub user: User,
    /// When the entitlement was last set; `None` for a user last changed before this
    /// was recorded.
    pub entitlement_at: Option<DateTime<Utc>>,
    /// When the blocked flag was last set; `None` as above.
    pub blocked_at: Option<DateTime<Utc>>,
}

/// Moving every agent of the user from some statuses to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMove {
    /// The statuses to move from.
    pub from: Vec<AgentStatus>,
    /// The status to move to (`Revoked` also revokes the agents' tokens).
    pub to: AgentStatus,
    /// The agents' new status reason.
    pub reason: String,
}

/// What to write for a change of standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingWrite {
    /// The user's new projection.
    pub user: UserUpsert,
    /// The new stamp of the entitlement.
    pub entitlement_at: Option<DateTime<Utc>>,
    /// The new stamp of the blocked flag.
    pub blocked_at: Option<DateTime<Utc>>,
    /// The `entitlement_changes` rows.
    pub changes: Vec<EntitlementChange>,
    /// The agent moves, in order.
    pub moves: Vec<AgentMove>,
}

/// What the standing rule decided, given the user as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandingPlan {
    /// Nothing to write (annulling a user never seen). An event is recorded as applied.
    Nothing,
    /// The event is older than the user's last change of the fact it sets: it is
    /// recorded as superseded and changes nothing.
    Superseded {
        /// The stamp of the newer change that stands.
        newer: DateTime<Utc>,
    },
    /// Write the user, the change rows, and move the agents.
    Write(StandingWrite),
}

/// The standing rule, run inside the transaction with the user as it is (or `None`).
pub type StandingRule<'a> = dyn Fn(Option<&CurrentUser>) -> StandingPlan + Send + Sync + 'a;

/// What [`Store::write_standing`] did.
// Returned once per change and matched at once: boxing `Done` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandingWritten {
    /// The event's id was already recorded: nothing was done.
    Duplicate,
    /// The plan was written and committed.
    Done {
        /// The user before.
        before: Option<User>,
        /// The user after (`None`: still unknown).
        after: Option<User>,
        /// What was written.
        plan: StandingPlan,
    },
}

/// Inserts one `entitlement_changes` row.
pub(super) async fn insert_change<'e, DB, E>(exec: E, c: &EntitlementChange) -> StoreResult<()>
where
    DB: Dialect,
    E: Executor<'e, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(
        "INSERT INTO entitlement_changes (at, user_id, client_id, change, source, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(c.at)
    .bind(c.user_id)
    .bind(c.client_id.as_str())
    .bind(c.change.as_str())
    .bind(c.source.as_str())
    .bind(c.detail.as_deref())
    .execute(exec)
    .await?;
    Ok(())
}

/// Moves the owner's agents inside the caller's transaction, revoking their tokens when
/// they are revoked; returns their ids.
pub(super) async fn move_agents<DB>(
    conn: &mut DB::Connection,
    m: OwnerMove<'_>,
) -> StoreResult<Vec<Uuid>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    let ids = DB::move_owner_agents(&mut *conn, m).await?;
    if m.to == AgentStatus::Revoked {
        for id in &ids {
            sqlx::query(REVOKE_TOKENS)
                .bind(*id)
                .bind(m.now)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(ids)
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> CurrentUser: FromRow<'r, <DB as Database>::Row>,
    for<'r> User: FromRow<'r, <DB as Database>::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
{
    /// [`Store::write_standing`]: one transaction under the user's lock.
    pub(super) async fn write_standing_tx(
        &self,
        user_id: Uuid,
        event: Option<&EventReceipt>,
        rule: &StandingRule<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<StandingWritten> {
        let (_turn, mut tx) = self.begin_write().await?;
        DB::lock_user(&mut *tx, user_id).await?;
        let current: Option<CurrentUser> = sqlx::query_as("SELECT * FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let plan = rule(current.as_ref());
        if let Some(e) = event {
            let outcome = match &plan {
                StandingPlan::Superseded { .. } => "superseded",
                StandingPlan::Nothing | StandingPlan::Write(_) => "applied",
            };
            let recorded = sqlx::query(
                "INSERT INTO launcher_events (id, received_at, occurred_at, outcome) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.id.as_str())
            .bind(e.received_at)
            .bind(e.occurred_at)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&recorded) == 0 {
                // Dropping the transaction rolls it back: nothing was written.
                return Ok(StandingWritten::Duplicate);
            }
        }
        let before = current.map(|c| c.user);
        let after = match &plan {
            StandingPlan::Nothing | StandingPlan::Superseded { .. } => before.clone(),
            StandingPlan::Write(w) => Some(Self::write_user(&mut tx, w, now).await?),
        };
        tx.commit().await?;
        Ok(StandingWritten::Done {
            before,
            after,
            plan,
        })
    }

    /// Writes the user, the change rows and the agent moves of `w`.
    async fn write_user(
        conn: &mut DB::Connection,
        w: &StandingWrite,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let u = &w.user;
        let user: User = sqlx::query_as(
            "INSERT INTO users (id, client_id, display_name, blocked, codex_agents, created_at, \
             updated_at, entitlement_at, blocked_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET client_id = $2, display_name = $3, blocked = $4, \
             codex_agents = $5, updated_at = $6, entitlement_at = $7, blocked_at = $8 RETURNING *",
        )
        .bind(u.id)
        .bind(u.client_id.as_str())
        .bind(u.display_name.as_str())
        .bind(u.blocked)
        .bind(u.codex_agents)
        .bind(now)
        .bind(w.entitlement_at)
        .bind(w.blocked_at)
        .fetch_one(&mut *conn)
        .await?;
        for c in &w.changes {
            insert_change(&mut *conn, c).await?;
        }
        for m in &w.moves {
            let change = OwnerMove {
                owner: u.id,
                from: &m.from,
                to: m.to,
                reason: &m.reason,
                now,
            };
            move_agents::<DB>(&mut *conn, change).await?;
        }
        Ok(user)
    }
}
