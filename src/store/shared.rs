//! What both engines share: one [`Store`] implementation, generic over the sqlx driver.
//!
//! [`SqlStore<DB>`] runs every statement whose text and logic are the same on Postgres
//! and SQLite. What truly differs is asked of the engine through [`Dialect`]: a handful
//! of SQL strings (casts, `FOR UPDATE`), how a write transaction begins, and the three
//! batched writes where one engine has arrays and the other has not. `postgres.rs` and
//! `sqlite.rs` hold only those.
//!
//! The `where` clause of the `Store` impl below lists what the code needs of a driver
//! (executors, the bound and decoded types); both drivers provide all of it, and the
//! compiler checks so where `PgStore` and `SqliteStore` are used.
//!
//! It is longer than the engine files because it is the whole store: one short method per
//! `Store` method, in the trait's order, each one statement or transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use uuid::Uuid;

use super::rows::{assemble, AgentRow, GrantRow, IdempotencyRow, TokenRow, AGENT_COLUMNS};
use super::standing::{insert_change, move_agents};
use super::*;

/// A [`Store`] over one sqlx driver; see [`PgStore`](super::postgres::PgStore) and
/// [`SqliteStore`](super::sqlite::SqliteStore).
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
    /// Where audit rows are appended: on SQLite a pool of its own, one connection, whose
    /// page cache stays warm from one batch to the next (a connection's cache is dropped
    /// whenever another connection wrote to the file); on Postgres the same pool.
    pub(super) appender: Pool<DB>,
    /// SQLite: one writer at a time, in line (`write_gate.rs`); none on Postgres.
    pub(super) gate: WriteGate,
}

impl<DB: Database> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("pool", &self.pool)
            .field("appender", &self.appender)
            .field("gate", &self.gate)
            .finish()
    }
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            appender: self.appender.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl<DB: Dialect> SqlStore<DB> {
    /// A write transaction in this file's turn (SQLite, `write_gate.rs`). Bind both:
    /// the turn passes to the next writer when it drops, after the transaction.
    pub(super) async fn begin_write(
        &self,
    ) -> StoreResult<(WriteTurn, sqlx::Transaction<'static, DB>)> {
        let turn = self.gate.turn().await;
        Ok((turn, self.pool.begin_with(DB::BEGIN_WRITE).await?))
    }
}

/// Moving every agent of an owner from some statuses to another.
#[derive(Debug, Clone, Copy)]
pub struct OwnerMove<'a> {
    /// The owner.
    pub owner: Uuid,
    /// The statuses to move from.
    pub from: &'a [AgentStatus],
    /// The status to move to.
    pub to: AgentStatus,
    /// Why.
    pub reason: &'a str,
    /// Now.
    pub now: DateTime<Utc>,
}

/// What differs between the engines. Implemented for `sqlx::Postgres` and `sqlx::Sqlite`.
#[async_trait]
pub trait Dialect: Database {
    /// `postgres` or `sqlite`.
    const ENGINE: &'static str;
    /// Begins a transaction that reads, then writes.
    const BEGIN_WRITE: &'static str;
    /// Reads a user (`$1`), locking the row where the engine locks rows.
    const LOCK_USER: &'static str;
    /// `agents a` of one owner (`$1`), or all when `$1` is null.
    const OWNER_FILTER: &'static str;
    /// `users u` of one client (`$1`), or all when `$1` is null, with an id below `$2`
    /// when it is not null.
    const USER_FILTER: &'static str;
    /// Audit rows by agent (`$1`), since (`$2`), before id (`$3`), newest first, limit `$4`.
    const LIST_AUDIT: &'static str;
    /// Claims one idempotency key ([`claim_key_from`]), in a transaction that then reads
    /// the holder if the claim did not take.
    const CLAIM_KEY: &'static str;

    /// The engine's migrations.
    fn migrator() -> &'static Migrator;
    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
    /// Sets `last_used_at` of many tokens, never moving it back.
    async fn touch_tokens(pool: &Pool<Self>, used: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()>;
    /// Appends audit rows atomically, all or none, whatever their number (`rows` is not
    /// empty).
    async fn insert_audit(
        pool: &Pool<Self>,
        rows: &[AuditRow],
        durability: Durability,
    ) -> StoreResult<()>;
    /// Claims the distinct keys `claims` in as few statements as the engine allows;
    /// returns those it claimed (fresh, expired, or stale with the same call). Neither a
    /// claim nor a settlement needs a disk flush of its own: the call's next step writes
    /// an audit row (its intent, its outcome) whose commit waits for the flush, which
    /// makes every earlier commit durable too. Postgres commits these two without
    /// waiting (`synchronous_commit` off for that statement), so a keyed write waits for
    /// two flushes fewer.
    async fn claim_keys(
        pool: &Pool<Self>,
        claims: &[&IdempotencyClaim],
    ) -> StoreResult<HashSet<(Uuid, String)>>;
    /// Stores finished calls' responses under their keys (`settled` is not empty).
    async fn settle_keys(pool: &Pool<Self>, settled: &[Settlement]) -> StoreResult<()>;
    /// Serialises changes of one user's standing until the caller's transaction ends
    /// (Postgres: an advisory lock on the user's id; SQLite: nothing, `BEGIN IMMEDIATE`
    /// already admits one writer at a time).
    async fn lock_user(conn: &mut Self::Connection, user: Uuid) -> StoreResult<()>;
    /// Moves the owner's agents, inside the caller's transaction; returns their ids.
    async fn move_owner_agents(
        conn: &mut Self::Connection,
        change: OwnerMove<'_>,
    ) -> StoreResult<Vec<Uuid>>;
}

/// The statement that claims an idempotency key, reading its values from `$from` (a
/// one-row subquery, see [`Dialect::CLAIM_KEY`]): a fresh key, an expired one, or one
/// whose holder crashed (in flight past its lease, same call) becomes `in_flight` for
/// this call. (`WHERE true` tells SQLite's parser that `ON CONFLICT` is not a join's.)
macro_rules! claim_key_from {
    ($from:literal) => {
        concat!(
            "INSERT INTO idempotency_keys (agent_id, key, fingerprint, state, created_at, expires_at) \
             SELECT $1, $2, $3, 'in_flight', $4, $5 FROM ", $from, " WHERE true \
             ON CONFLICT (agent_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             state = 'in_flight', response = NULL, created_at = excluded.created_at, \
             expires_at = excluded.expires_at \
             WHERE idempotency_keys.expires_at < $4 \
             OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at < $6 \
                 AND idempotency_keys.fingerprint = excluded.fingerprint)"
        )
    };
}
pub(super) use claim_key_from;

/// [`Dialect::CLAIM_KEY`] bound to one claim's values (`$1` to `$6`, in its order).
macro_rules! claim_key {
    ($dialect:ty, $claim:expr) => {{
        let c: &IdempotencyClaim = $claim;
        sqlx::query(<$dialect as Dialect>::CLAIM_KEY)
            .bind(c.agent_id)
            .bind(c.key.as_str())
            .bind(c.fingerprint.as_slice())
            .bind(c.now)
            .bind(c.expires_at)
            .bind(c.stale_before)
    }};
}
pub(super) use claim_key;

/// Revokes an agent's live tokens.
pub(super) const REVOKE_TOKENS: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL";

/// Which agents a read loads.
enum Agents {
    /// One, by id.
    One(Uuid),
    /// All, or one owner's.
    Of(Option<Uuid>),
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> GrantRow: FromRow<'r, DB::Row>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
{
    /// Agents with grants and tokens in three queries, whatever their number.
    async fn load_agents(&self, which: Agents) -> StoreResult<Vec<Agent>> {
        let (filter, key) = match which {
            Agents::One(id) => ("a.id = $1", Some(id)),
            Agents::Of(owner) => (DB::OWNER_FILTER, owner),
        };
        let agents: Vec<AgentRow> = sqlx::query_as(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents a WHERE {filter} \
             ORDER BY a.created_at DESC, a.id DESC"
        ))
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        if agents.is_empty() {
            return Ok(Vec::new());
        }
        let grants: Vec<GrantRow> = sqlx::query_as(&format!(
            "SELECT g.agent_id, g.project_id, g.scopes FROM grants g \
             JOIN agents a ON a.id = g.agent_id WHERE {filter} ORDER BY g.project_id"
        ))
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        let tokens: Vec<TokenRow> = sqlx::query_as(&format!(
            "SELECT t.id, t.agent_id, t.display, t.created_at, t.last_used_at, t.revoked_at \
             FROM tokens t JOIN agents a ON a.id = t.agent_id WHERE {filter} \
             ORDER BY t.created_at DESC"
        ))
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        assemble(agents, grants, tokens)
    }
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> IdempotencyRow: FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    /// Claims a key the group statement did not: one already held (a replay, a
    /// mismatch, a call in flight), expired or stale, or claimed twice at once. The claim
    /// and the read of the holder run in one transaction.
    async fn claim_held(&self, c: &IdempotencyClaim) -> StoreResult<IdempotencyState> {
        loop {
            let (_turn, mut tx) = self.begin_write().await?;
            let claimed = claim_key!(DB, c).execute(&mut *tx).await?;
            if DB::rows_affected(&claimed) == 1 {
                tx.commit().await?;
                return Ok(IdempotencyState::Claimed);
            }
            let held: Option<IdempotencyRow> = sqlx::query_as(
                "SELECT fingerprint, state, response FROM idempotency_keys \
                 WHERE agent_id = $1 AND key = $2",
            )
            .bind(c.agent_id)
            .bind(c.key.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            // None: the holder abandoned the key between our two statements (possible
            // where the engine does not lock the row); it is free again, so claim anew.
            if let Some(held) = held {
                return held.state_for(&c.fingerprint);
            }
        }
    }
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    Self: WorkSessionStore,
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'r> AgentRow: FromRow<'r, DB::Row>,
    for<'r> GrantRow: FromRow<'r, DB::Row>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
    for<'r> IdempotencyRow: FromRow<'r, DB::Row>,
    for<'r> User: FromRow<'r, DB::Row>,
    for<'r> UserSummary: FromRow<'r, DB::Row>,
    for<'r> CurrentUser: FromRow<'r, DB::Row>,
    for<'r> AuthRecord: FromRow<'r, DB::Row>,
    for<'r> AuditEntry: FromRow<'r, DB::Row>,
    for<'r> Standing: FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
{
    fn engine(&self) -> &'static str {
        DB::ENGINE
    }

    async fn migrate(&self) -> StoreResult<()> {
        DB::migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        let mut conn = self.pool.acquire().await?;
        conn.ensure_migrations_table().await?;
        let applied = conn.list_applied_migrations().await?;
        Ok(DB::migrator()
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .count())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<bool> {
        let _turn = self.gate.turn().await;
        let done = sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn upsert_user(
        &self,
        user: &UserUpsert,
        now: DateTime<Utc>,
    ) -> StoreResult<(Option<User>, User)> {
        let (_turn, mut tx) = self.begin_write().await?;
        let before: Option<User> = sqlx::query_as(DB::LOCK_USER)
            .bind(user.id)
            .fetch_optional(&mut *tx)
            .await?;
        let after: User = sqlx::query_as(
            "INSERT INTO users (id, client_id, display_name, blocked, codex_agents, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (id) DO UPDATE SET client_id = $2, display_name = $3, blocked = $4, \
             codex_agents = $5, updated_at = $6 RETURNING *",
        )
        .bind(user.id)
        .bind(user.client_id.as_str())
        .bind(user.display_name.as_str())
        .bind(user.blocked)
        .bind(user.codex_agents)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((before, after))
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<UserSummary>> {
        Ok(
            sqlx::query_as(&super::users::list_users_sql(DB::USER_FILTER))
                .bind(q.client_id.as_deref())
                .bind(q.before)
                .bind(i64::from(q.limit))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn record_entitlement_change(&self, c: &EntitlementChange) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        insert_change(&self.pool, c).await
    }

    async fn create_agent(&self, a: &NewAgent) -> StoreResult<Agent> {
        let (turn, mut tx) = self.begin_write().await?;
        // Rates are bound as 64-bit: SQLite stores them as they are, Postgres refuses
        // one above its INTEGER column rather than wrapping it.
        sqlx::query(
            "INSERT INTO agents (id, owner_id, name, status, rate_per_minute, rate_burst, created_at, updated_at) \
             VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)",
        )
        .bind(a.id)
        .bind(a.owner_id)
        .bind(a.name.as_str())
        .bind(a.rate_per_minute.map(i64::from))
        .bind(a.rate_burst.map(i64::from))
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for g in &a.grants {
            sqlx::query("INSERT INTO grants (agent_id, project_id, scopes) VALUES ($1, $2, $3)")
                .bind(a.id)
                .bind(g.project_id.as_str())
                .bind(g.scopes_text().as_str())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        sqlx::query("INSERT INTO tokens (id, agent_id, hash, display, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(a.token_id)
            .bind(a.id)
            .bind(a.token_hash.as_slice())
            .bind(a.token_display.as_str())
            .bind(a.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        tx.commit().await?;
        drop(turn);
        self.get_agent(a.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("agent vanished after insert".into()))
    }

    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>> {
        Ok(self.load_agents(Agents::One(id)).await?.pop())
    }

    async fn list_agents(&self, owner: Option<Uuid>) -> StoreResult<Vec<Agent>> {
        self.load_agents(Agents::Of(owner)).await
    }

    async fn set_agent_status(
        &self,
        id: Uuid,
        status: AgentStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Agent>> {
        let (turn, mut tx) = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE agents SET status = $2, status_reason = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if status == AgentStatus::Revoked {
            sqlx::query(REVOKE_TOKENS)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        drop(turn);
        if DB::rows_affected(&updated) == 0 {
            return Ok(None);
        }
        self.get_agent(id).await
    }

    async fn authenticate(&self, hash: &[u8; 32]) -> StoreResult<Option<AuthRecord>> {
        Ok(sqlx::query_as(
            "SELECT t.id AS token_id, t.hash AS token_hash, t.revoked_at IS NOT NULL AS token_revoked, \
             a.id AS agent_id, a.name AS agent_name, a.status AS agent_status, a.owner_id, \
             u.display_name AS owner_name, u.blocked AS owner_blocked, u.codex_agents AS owner_entitled \
             FROM tokens t JOIN agents a ON a.id = t.agent_id JOIN users u ON u.id = a.owner_id \
             WHERE t.hash = $1",
        )
        .bind(hash.as_slice())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn touch_tokens(&self, used: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        DB::touch_tokens(&self.pool, used).await
    }

    async fn agent_profile(&self, id: Uuid) -> StoreResult<Option<ProfileRecord>> {
        let Some(agent) = self.get_agent(id).await? else {
            return Ok(None);
        };
        let owner = self
            .get_user(agent.owner_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("agent {id} has no owner")))?;
        Ok(Some(ProfileRecord { agent, owner }))
    }

    async fn insert_audit(&self, rows: &[AuditRow], durability: Durability) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let _turn = self.gate.turn().await;
        DB::insert_audit(&self.appender, rows, durability).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Ok(sqlx::query_as(DB::LIST_AUDIT)
            .bind(q.agent_id)
            .bind(q.since)
            .bind(q.before)
            .bind(i64::from(q.limit))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn idempotency_begin(
        &self,
        claims: &[IdempotencyClaim],
    ) -> StoreResult<Vec<IdempotencyState>> {
        // The common case, fresh keys, is one statement for all the distinct keys
        // (`Dialect::claim_keys`). A key already held, or the same key twice here, is
        // looked at alone afterwards.
        let mut seen = HashSet::new();
        let distinct: Vec<&IdempotencyClaim> = claims
            .iter()
            .filter(|c| seen.insert((c.agent_id, c.key.as_str())))
            .collect();
        let turn = self.gate.turn().await;
        let mut claimed = DB::claim_keys(&self.pool, &distinct).await?;
        drop(turn);
        let mut states = Vec::with_capacity(claims.len());
        for c in claims {
            if claimed.remove(&(c.agent_id, c.key.clone())) {
                states.push(IdempotencyState::Claimed);
            } else {
                states.push(self.claim_held(c).await?);
            }
        }
        Ok(states)
    }

    async fn idempotency_finish(&self, settled: &[Settlement]) -> StoreResult<()> {
        if settled.is_empty() {
            return Ok(());
        }
        let _turn = self.gate.turn().await;
        DB::settle_keys(&self.pool, settled).await
    }

    async fn idempotency_abandon(&self, agent_id: Uuid, key: &str) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE agent_id = $1 AND key = $2 AND state = 'in_flight'",
        )
        .bind(agent_id)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn purge_idempotency(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let _turn = self.gate.turn().await;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn set_owner_agents_status(
        &self,
        owner: Uuid,
        from: &[AgentStatus],
        to: AgentStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>> {
        let (_turn, mut tx) = self.begin_write().await?;
        let change = OwnerMove {
            owner,
            from,
            to,
            reason,
            now,
        };
        let ids = move_agents::<DB>(&mut tx, change).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn standing_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Standing>> {
        Ok(sqlx::query_as(
            "SELECT a.id AS agent_id, a.owner_id, \
             (a.status = 'active' AND NOT u.blocked AND u.codex_agents) AS usable \
             FROM agents a JOIN users u ON u.id = a.owner_id \
             WHERE a.updated_at >= $1 OR u.updated_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn write_standing(
        &self,
        user_id: Uuid,
        event: Option<&EventReceipt>,
        rule: &StandingRule<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<StandingWritten> {
        self.write_standing_tx(user_id, event, rule, now).await
    }

    async fn create_owner_session(&self, s: &NewOwnerSession) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        sqlx::query(
            "INSERT INTO owner_sessions (id, user_id, hash, display, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(s.hash.as_slice())
        .bind(s.display.as_str())
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn owner_by_session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        Ok(sqlx::query_as(
            "SELECT u.* FROM owner_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
        )
        .bind(hash.as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
