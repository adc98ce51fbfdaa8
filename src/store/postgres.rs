//! The Postgres engine: production and multi-replica deployments.
//!
//! Only what Postgres does differently is here: connecting (with the server-version
//! check), typed parameters where a null is bound, row and advisory locks, and arrays (`UNNEST`, `ANY`)
//! for the batched writes. Everything else is [`SqlStore`]'s (`shared.rs`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgQueryResult};
use sqlx::Postgres;
use uuid::Uuid;

use super::shared::{claim_key_from, Dialect, OwnerMove, SqlStore};
use super::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Oldest Postgres the migrations are written for.
const MIN_SERVER_VERSION: i64 = 130_000;

/// The first key of the advisory locks that serialise one user's standing changes
/// ("NDCS").
const STANDING_LOCK_CLASS: i32 = 0x4e44_4353;

/// A Postgres-backed [`Store`].
pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects, checking the server version. Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = super::pool_options::<Postgres>(16)
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
        Ok(Self {
            appender: pool.clone(),
            pool,
            gate: WriteGate::none(),
        })
    }

    /// The pool, for Postgres-only features (LISTEN/NOTIFY).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Dialect for Postgres {
    const ENGINE: &'static str = "postgres";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_USER: &'static str = "SELECT * FROM users WHERE id = $1 FOR UPDATE";
    const OWNER_FILTER: &'static str = "($1::uuid IS NULL OR a.owner_id = $1)";
    const USER_FILTER: &'static str =
        "($1::text IS NULL OR u.client_id = $1) AND ($2::uuid IS NULL OR u.id < $2)";
    const LIST_AUDIT: &'static str =
        "SELECT * FROM audit WHERE ($1::uuid IS NULL OR agent_id = $1) \
         AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::bigint IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4";
    const CLAIM_KEY: &'static str =
        claim_key_from!("(SELECT set_config('synchronous_commit', 'off', true)) AS lazily");

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn touch_tokens(pool: &PgPool, used: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()> {
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = used.iter().copied().unzip();
        sqlx::query(
            "UPDATE tokens SET last_used_at = u.at FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, at) \
             WHERE tokens.id = u.id AND (tokens.last_used_at IS NULL OR tokens.last_used_at < u.at)",
        )
        .bind(ids)
        .bind(times)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// One statement whatever the batch size: each column is bound as one array and
    /// `UNNEST`ed, so a batch takes 11 parameters, never near Postgres' 65,535.
    /// `Committed` adds a `synchronous_commit` off for this statement's transaction only.
    async fn insert_audit(
        pool: &PgPool,
        rows: &[AuditRow],
        durability: Durability,
    ) -> StoreResult<()> {
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
        let mut session = Vec::with_capacity(rows.len());
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
            session.push(r.work_session);
        }
        /// The insert, reading its rows from `$from` (the `UNNEST` named `u`).
        macro_rules! insert_from {
            ($from:literal) => {
                concat!(
                    "INSERT INTO audit (at, request_id, agent_id, owner_id, action, project_id, target, outcome, \
                     reason, idempotency_key, latency_us, work_session_id) \
                     SELECT u.* FROM UNNEST($1::timestamptz[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], \
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::uuid[]) AS u",
                    $from
                )
            };
        }
        let statement = match durability {
            Durability::Flushed => insert_from!(""),
            Durability::Committed => {
                insert_from!(", (SELECT set_config('synchronous_commit', 'off', true)) AS lazily")
            }
        };
        sqlx::query(statement)
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
            .bind(session)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// One statement for the whole group, each column bound as one array and
    /// `UNNEST`ed. A held key is left alone (the caller looks at it). The lease is the
    /// group's oldest: a stale claim is taken over a few milliseconds later at worst.
    async fn claim_keys(
        pool: &PgPool,
        claims: &[&IdempotencyClaim],
    ) -> StoreResult<HashSet<(Uuid, String)>> {
        let Some(stale_before) = claims.iter().map(|c| c.stale_before).min() else {
            return Ok(HashSet::new());
        };
        let agents: Vec<Uuid> = claims.iter().map(|c| c.agent_id).collect();
        let keys: Vec<&str> = claims.iter().map(|c| c.key.as_str()).collect();
        let fingerprints: Vec<&[u8]> = claims.iter().map(|c| c.fingerprint.as_slice()).collect();
        let nows: Vec<DateTime<Utc>> = claims.iter().map(|c| c.now).collect();
        let expiries: Vec<DateTime<Utc>> = claims.iter().map(|c| c.expires_at).collect();
        let claimed: Vec<(Uuid, String)> = sqlx::query_as(
            "INSERT INTO idempotency_keys (agent_id, key, fingerprint, state, created_at, expires_at) \
             SELECT u.agent_id, u.key, u.fingerprint, 'in_flight', u.created_at, u.expires_at \
             FROM UNNEST($1::uuid[], $2::text[], $3::bytea[], $4::timestamptz[], $5::timestamptz[]) \
               AS u(agent_id, key, fingerprint, created_at, expires_at), \
             (SELECT set_config('synchronous_commit', 'off', true)) AS lazily \
             ON CONFLICT (agent_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             state = 'in_flight', response = NULL, created_at = excluded.created_at, \
             expires_at = excluded.expires_at \
             WHERE idempotency_keys.expires_at < excluded.created_at \
             OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at < $6 \
                 AND idempotency_keys.fingerprint = excluded.fingerprint) \
             RETURNING agent_id, key",
        )
        .bind(agents)
        .bind(keys)
        .bind(fingerprints)
        .bind(nows)
        .bind(expiries)
        .bind(stale_before)
        .fetch_all(pool)
        .await?;
        Ok(claimed.into_iter().collect())
    }

    /// One statement for the whole group, committed without waiting for the disk (the
    /// outcome's audit row, next, waits for it). An upsert rather than an `UPDATE … FROM`:
    /// conflict arbitration always goes through the primary key, whereas a join plan
    /// prepared while the table was small scanned it whole on every settlement as it
    /// grew (0.67 ms a statement in a fresh database). A key whose row is gone is
    /// stored as its claim had it, done.
    async fn settle_keys(pool: &PgPool, settled: &[Settlement]) -> StoreResult<()> {
        // One row per key: an upsert may not touch a row twice (the last one wins, as
        // two updates in turn would).
        let mut last: HashMap<(Uuid, &str), &Settlement> = HashMap::new();
        for s in settled {
            last.insert((s.claim.agent_id, s.claim.key.as_str()), s);
        }
        let settled: Vec<&Settlement> = last.into_values().collect();
        let agents: Vec<Uuid> = settled.iter().map(|s| s.claim.agent_id).collect();
        let keys: Vec<&str> = settled.iter().map(|s| s.claim.key.as_str()).collect();
        let fingerprints: Vec<&[u8]> = settled
            .iter()
            .map(|s| s.claim.fingerprint.as_slice())
            .collect();
        let responses: Vec<&str> = settled.iter().map(|s| s.response.as_str()).collect();
        let claimed: Vec<DateTime<Utc>> = settled.iter().map(|s| s.claim.now).collect();
        let expiries: Vec<DateTime<Utc>> = settled.iter().map(|s| s.claim.expires_at).collect();
        sqlx::query(
            "INSERT INTO idempotency_keys (agent_id, key, fingerprint, state, response, created_at, expires_at) \
             SELECT u.agent_id, u.key, u.fingerprint, 'done', u.response, u.created_at, u.expires_at \
             FROM UNNEST($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::timestamptz[], $6::timestamptz[]) \
               AS u(agent_id, key, fingerprint, response, created_at, expires_at), \
             (SELECT set_config('synchronous_commit', 'off', true)) AS lazily \
             ON CONFLICT (agent_id, key) DO UPDATE SET state = 'done', response = excluded.response",
        )
        .bind(agents)
        .bind(keys)
        .bind(fingerprints)
        .bind(responses)
        .bind(claimed)
        .bind(expiries)
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn lock_user(conn: &mut PgConnection, user: Uuid) -> StoreResult<()> {
        // The two-key form: its key space is apart from the one-key locks (sqlx's
        // migrator takes one of those). A collision of two users' keys only serialises them.
        let bits = user.as_u128();
        let folded = (bits as u64 ^ (bits >> 64) as u64) as u32;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(STANDING_LOCK_CLASS)
            .bind(i32::from_ne_bytes(folded.to_ne_bytes()))
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn move_owner_agents(
        conn: &mut PgConnection,
        m: OwnerMove<'_>,
    ) -> StoreResult<Vec<Uuid>> {
        Ok(sqlx::query_scalar(
            "UPDATE agents SET status = $2, status_reason = $3, updated_at = $4 \
             WHERE owner_id = $1 AND status = ANY($5) RETURNING id",
        )
        .bind(m.owner)
        .bind(m.to.as_str())
        .bind(m.reason)
        .bind(m.now)
        .bind(m.from.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        .fetch_all(conn)
        .await?)
    }
}
