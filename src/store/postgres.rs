//! The Postgres engine: production and multi-replica deployments.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use uuid::Uuid;

use super::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Oldest Postgres the migrations are written for.
const MIN_SERVER_VERSION: i64 = 130_000;

/// A Postgres-backed [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects, checking the server version. Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let version: i64 =
            sqlx::query_scalar("SELECT current_setting('server_version_num')::bigint")
                .fetch_one(&pool)
                .await?;
        if version < MIN_SERVER_VERSION {
            return Err(StoreError::Corrupt(format!(
                "Postgres {version} is too old; 13 or newer is required"
            )));
        }
        Ok(Self { pool })
    }

    /// The pool, for Postgres-only features (LISTEN/NOTIFY).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn load_agents(&self, rows: Vec<sqlx::postgres::PgRow>) -> StoreResult<Vec<Agent>> {
        let ids: Vec<Uuid> = rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let grants = sqlx::query("SELECT agent_id, project_id, scopes FROM grants WHERE agent_id = ANY($1) ORDER BY project_id")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let tokens = sqlx::query(
            "SELECT id, agent_id, display, created_at, last_used_at, revoked_at FROM tokens \
             WHERE agent_id = ANY($1) ORDER BY created_at DESC",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("id")?;
                let mut agent = agent_from_row(row)?;
                for g in grants
                    .iter()
                    .filter(|g| g.try_get::<Uuid, _>("agent_id").ok() == Some(id))
                {
                    agent.grants.push(GrantRecord::from_text(
                        g.try_get("project_id")?,
                        g.try_get::<&str, _>("scopes")?,
                    ));
                }
                for t in tokens
                    .iter()
                    .filter(|t| t.try_get::<Uuid, _>("agent_id").ok() == Some(id))
                {
                    agent.tokens.push(TokenInfo {
                        id: t.try_get("id")?,
                        display: t.try_get("display")?,
                        created_at: t.try_get("created_at")?,
                        last_used_at: t.try_get("last_used_at")?,
                        revoked_at: t.try_get("revoked_at")?,
                    });
                }
                Ok(agent)
            })
            .collect()
    }
}

fn agent_from_row(row: &sqlx::postgres::PgRow) -> StoreResult<Agent> {
    let status: String = row.try_get("status")?;
    Ok(Agent {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        status: AgentStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("agent status {status:?}")))?,
        status_reason: row.try_get("status_reason")?,
        rate_per_minute: row
            .try_get::<Option<i32>, _>("rate_per_minute")?
            .map(|v| v.unsigned_abs()),
        rate_burst: row
            .try_get::<Option<i32>, _>("rate_burst")?
            .map(|v| v.unsigned_abs()),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        grants: Vec::new(),
        tokens: Vec::new(),
    })
}

const AGENT_COLUMNS: &str =
    "id, owner_id, name, status, status_reason, rate_per_minute, rate_burst, created_at, updated_at";

#[async_trait]
impl Store for PgStore {
    fn engine(&self) -> &'static str {
        "postgres"
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
        let mut tx = self.pool.begin().await?;
        let before: Option<User> = sqlx::query_as("SELECT * FROM users WHERE id = $1 FOR UPDATE")
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO agents (id, owner_id, name, status, rate_per_minute, rate_burst, created_at, updated_at) \
             VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)",
        )
        .bind(a.id)
        .bind(a.owner_id)
        .bind(&a.name)
        .bind(a.rate_per_minute.map(|v| v as i32))
        .bind(a.rate_burst.map(|v| v as i32))
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
            "SELECT {AGENT_COLUMNS} FROM agents WHERE ($1::uuid IS NULL OR owner_id = $1) ORDER BY created_at DESC, id DESC"
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
        let mut tx = self.pool.begin().await?;
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
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = used.iter().copied().unzip();
        sqlx::query(
            "UPDATE tokens SET last_used_at = u.at FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, at) \
             WHERE tokens.id = u.id AND (tokens.last_used_at IS NULL OR tokens.last_used_at < u.at)",
        )
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await?;
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
        let mut at = Vec::with_capacity(rows.len());
        let mut request_id = Vec::with_capacity(rows.len());
        let mut agent_id = Vec::with_capacity(rows.len());
        let mut owner_id = Vec::with_capacity(rows.len());
        let mut action = Vec::with_capacity(rows.len());
        let mut project_id = Vec::with_capacity(rows.len());
        let mut target = Vec::with_capacity(rows.len());
        let mut outcome = Vec::with_capacity(rows.len());
        let mut reason = Vec::with_capacity(rows.len());
        let mut key = Vec::with_capacity(rows.len());
        let mut latency = Vec::with_capacity(rows.len());
        for r in rows {
            at.push(r.at);
            request_id.push(r.request_id.as_str());
            agent_id.push(r.agent_id);
            owner_id.push(r.owner_id);
            action.push(r.action.as_str());
            project_id.push(r.project_id.as_deref());
            target.push(r.target.as_deref());
            outcome.push(r.outcome.as_str());
            reason.push(r.reason.as_deref());
            key.push(r.idempotency_key.as_deref());
            latency.push(r.latency_us);
        }
        sqlx::query(
            "INSERT INTO audit (at, request_id, agent_id, owner_id, action, project_id, target, outcome, \
             reason, idempotency_key, latency_us) \
             SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[])",
        )
        .bind(at)
        .bind(request_id)
        .bind(agent_id)
        .bind(owner_id)
        .bind(action)
        .bind(project_id)
        .bind(target)
        .bind(outcome)
        .bind(reason)
        .bind(key)
        .bind(latency)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        Ok(sqlx::query_as(
            "SELECT * FROM audit WHERE ($1::uuid IS NULL OR agent_id = $1) \
             AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::bigint IS NULL OR id < $3) \
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
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (agent_id, key, fingerprint, state, created_at, expires_at) \
             VALUES ($1, $2, $3, 'in_flight', $4, $5) \
             ON CONFLICT (agent_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             state = 'in_flight', response = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at \
             WHERE idempotency_keys.expires_at < $4 \
             OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at < $6 \
                 AND idempotency_keys.fingerprint = EXCLUDED.fingerprint)",
        )
        .bind(c.agent_id)
        .bind(&c.key)
        .bind(c.fingerprint.as_slice())
        .bind(c.now)
        .bind(c.expires_at)
        .bind(c.stale_before)
        .execute(&self.pool)
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(IdempotencyState::Claimed);
        }
        let row = sqlx::query("SELECT fingerprint, state, response FROM idempotency_keys WHERE agent_id = $1 AND key = $2")
            .bind(c.agent_id)
            .bind(&c.key)
            .fetch_optional(&self.pool)
            .await?;
        // The holder abandoned the key between our two statements: it is free again.
        let Some(row) = row else {
            return Box::pin(self.idempotency_begin(c)).await;
        };
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
        let mut tx = self.pool.begin().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE agents SET status = $2, status_reason = $3, updated_at = $4 \
             WHERE owner_id = $1 AND status = ANY($5) RETURNING id",
        )
        .bind(owner)
        .bind(to.as_str())
        .bind(reason)
        .bind(now)
        .bind(from.iter().map(|s| s.as_str()).collect::<Vec<_>>())
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

/// Decides what a key held by someone else means for this claim. Shared by both engines.
pub(crate) fn idempotency_state(
    fingerprint: &[u8; 32],
    stored: Vec<u8>,
    state: String,
    response: Option<String>,
) -> StoreResult<IdempotencyState> {
    if stored.as_slice() != fingerprint.as_slice() {
        return Ok(IdempotencyState::Mismatch);
    }
    match (state.as_str(), response) {
        ("done", Some(response)) => Ok(IdempotencyState::Replay(response)),
        ("in_flight", _) => Ok(IdempotencyState::InFlight),
        (other, _) => Err(StoreError::Corrupt(format!("idempotency state {other:?}"))),
    }
}
