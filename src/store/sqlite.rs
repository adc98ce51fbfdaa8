//! The SQLite engine: the embedded default.
//!
//! WAL journal, `synchronous = FULL` (a committed write survives a power cut, which the
//! audit log's "durable before acknowledged" rule needs), foreign keys on, a busy
//! timeout, and `BEGIN IMMEDIATE` for read-then-write transactions so two writers never
//! deadlock on a lock upgrade.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use uuid::Uuid;

use super::postgres::idempotency_state;
use super::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file and its directory. Does not migrate.
    pub async fn connect(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    async fn load_agents(&self, rows: Vec<sqlx::sqlite::SqliteRow>) -> StoreResult<Vec<Agent>> {
        let mut agents = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut agent = agent_from_row(row)?;
            let grants = sqlx::query(
                "SELECT project_id, scopes FROM grants WHERE agent_id = $1 ORDER BY project_id",
            )
            .bind(agent.id)
            .fetch_all(&self.pool)
            .await?;
            for g in &grants {
                agent.grants.push(GrantRecord::from_text(
                    g.try_get("project_id")?,
                    g.try_get::<&str, _>("scopes")?,
                ));
            }
            let tokens = sqlx::query(
                "SELECT id, display, created_at, last_used_at, revoked_at FROM tokens \
                 WHERE agent_id = $1 ORDER BY created_at DESC",
            )
            .bind(agent.id)
            .fetch_all(&self.pool)
            .await?;
            for t in &tokens {
                agent.tokens.push(TokenInfo {
                    id: t.try_get("id")?,
                    display: t.try_get("display")?,
                    created_at: t.try_get("created_at")?,
                    last_used_at: t.try_get("last_used_at")?,
                    revoked_at: t.try_get("revoked_at")?,
                });
            }
            agents.push(agent);
        }
        Ok(agents)
    }
}

fn agent_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Agent> {
    let status: String = row.try_get("status")?;
    Ok(Agent {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        status: AgentStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("agent status {status:?}")))?,
        status_reason: row.try_get("status_reason")?,
        rate_per_minute: row
            .try_get::<Option<i64>, _>("rate_per_minute")?
            .map(|v| v.unsigned_abs() as u32),
        rate_burst: row
            .try_get::<Option<i64>, _>("rate_burst")?
            .map(|v| v.unsigned_abs() as u32),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        grants: Vec::new(),
        tokens: Vec::new(),
    })
}

const AGENT_COLUMNS: &str =
    "id, owner_id, name, status, status_reason, rate_per_minute, rate_burst, created_at, updated_at";

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        let mut conn = self.pool.acquire().await?;
        conn.ensure_migrations_table().await?;
        let applied = conn.list_applied_migrations().await?;
        Ok(MIGRATOR
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
        let done = sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn upsert_user(
        &self,
        user: &UserUpsert,
        now: DateTime<Utc>,
    ) -> StoreResult<(Option<User>, User)> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let before: Option<User> = sqlx::query_as("SELECT * FROM users WHERE id = $1")
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
        .bind(&user.client_id)
        .bind(&user.display_name)
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

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn record_entitlement_change(&self, c: &EntitlementChange) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO entitlement_changes (at, user_id, client_id, change, source, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.at)
        .bind(c.user_id)
        .bind(&c.client_id)
        .bind(&c.change)
        .bind(&c.source)
        .bind(&c.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_agent(&self, a: &NewAgent) -> StoreResult<Agent> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO agents (id, owner_id, name, status, rate_per_minute, rate_burst, created_at, updated_at) \
             VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)",
        )
        .bind(a.id)
        .bind(a.owner_id)
        .bind(&a.name)
        .bind(a.rate_per_minute.map(i64::from))
        .bind(a.rate_burst.map(i64::from))
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for g in &a.grants {
            sqlx::query("INSERT INTO grants (agent_id, project_id, scopes) VALUES ($1, $2, $3)")
                .bind(a.id)
                .bind(&g.project_id)
                .bind(g.scopes_text())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        sqlx::query("INSERT INTO tokens (id, agent_id, hash, display, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(a.token_id)
            .bind(a.id)
            .bind(a.token_hash.as_slice())
            .bind(&a.token_display)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        tx.commit().await?;
        self.get_agent(a.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("agent vanished after insert".into()))
    }

    async fn get_agent(&self, id: Uuid) -> StoreResult<Option<Agent>> {
        let rows = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"))
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(self.load_agents(rows).await?.pop())
    }

    async fn list_agents(&self, owner: Option<Uuid>) -> StoreResult<Vec<Agent>> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE ($1 IS NULL OR owner_id = $1) ORDER BY created_at DESC, id DESC"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        self.load_agents(rows).await
    }

    async fn set_agent_status(
        &self,
        id: Uuid,
        status: AgentStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Agent>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
            sqlx::query(
                "UPDATE tokens SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if updated.rows_affected() == 0 {
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
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

    async fn insert_audit(&self, rows: &[AuditRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = QueryBuilder::new(
            "INSERT INTO audit (at, request_id, agent_id, owner_id, action, project_id, target, outcome, \
             reason, idempotency_key, latency_us) ",
        );
        insert.push_values(rows, |mut b, r| {
            b.push_bind(r.at)
                .push_bind(&r.request_id)
                .push_bind(r.agent_id)
                .push_bind(r.owner_id)
                .push_bind(&r.action)
                .push_bind(&r.project_id)
                .push_bind(&r.target)
                .push_bind(r.outcome.as_str())
                .push_bind(&r.reason)
                .push_bind(&r.idempotency_key)
                .push_bind(r.latency_us);
        });
        insert.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Ok(sqlx::query_as(
            "SELECT * FROM audit WHERE ($1 IS NULL OR agent_id = $1) \
             AND ($2 IS NULL OR at >= $2) AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(q.agent_id)
        .bind(q.since)
        .bind(q.before)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn idempotency_begin(&self, c: &IdempotencyClaim) -> StoreResult<IdempotencyState> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (agent_id, key, fingerprint, state, created_at, expires_at) \
             VALUES ($1, $2, $3, 'in_flight', $4, $5) \
             ON CONFLICT (agent_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             state = 'in_flight', response = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE idempotency_keys.expires_at < $4 \
             OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at < $6 \
                 AND idempotency_keys.fingerprint = excluded.fingerprint)",
        )
        .bind(c.agent_id)
        .bind(&c.key)
        .bind(c.fingerprint.as_slice())
        .bind(c.now)
        .bind(c.expires_at)
        .bind(c.stale_before)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(IdempotencyState::Claimed);
        }
        let row = sqlx::query("SELECT fingerprint, state, response FROM idempotency_keys WHERE agent_id = $1 AND key = $2")
            .bind(c.agent_id)
            .bind(&c.key)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        idempotency_state(
            &c.fingerprint,
            row.try_get("fingerprint")?,
            row.try_get("state")?,
            row.try_get("response")?,
        )
    }

    async fn idempotency_finish(
        &self,
        agent_id: Uuid,
        key: &str,
        response: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE idempotency_keys SET state = 'done', response = $3 WHERE agent_id = $1 AND key = $2")
            .bind(agent_id)
            .bind(key)
            .bind(response)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn idempotency_abandon(&self, agent_id: Uuid, key: &str) -> StoreResult<()> {
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
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn set_owner_agents_status(
        &self,
        owner: Uuid,
        from: &[AgentStatus],
        to: AgentStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE agents SET status = $2, status_reason = $3, updated_at = $4 \
             WHERE owner_id = $1 AND status IN (SELECT value FROM json_each($5)) RETURNING id",
        )
        .bind(owner)
        .bind(to.as_str())
        .bind(reason)
        .bind(now)
        .bind(
            serde_json::to_string(&from.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .fetch_all(&mut *tx)
        .await?;
        if to == AgentStatus::Revoked {
            for id in &ids {
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
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

    async fn launcher_event_seen(&self, id: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 FROM launcher_events WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    async fn record_launcher_event(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query("INSERT INTO launcher_events (id, received_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_owner_session(&self, s: &NewOwnerSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO owner_sessions (id, user_id, hash, display, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(s.hash.as_slice())
        .bind(&s.display)
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
