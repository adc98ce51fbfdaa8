//! The SQLite engine: the embedded default.
//!
//! WAL journal, `synchronous = FULL` (a committed write survives a power cut, which the
//! audit log's "durable before acknowledged" rule needs), foreign keys on, a busy
//! timeout, and `BEGIN IMMEDIATE` for read-then-write transactions so two writers never
//! deadlock on a lock upgrade.
//!
//! Only what SQLite does differently is here: connecting, untyped null parameters, and
//! the batched writes without arrays (audit rows chunked under the bind-parameter
//! limit). Everything else is [`SqlStore`]'s (`shared.rs`).

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::shared::{claim_key, claim_key_from, Dialect, OwnerMove, SqlStore};
use super::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Columns bound per audit row.
const AUDIT_COLUMNS: usize = 12;

/// The most audit rows per `INSERT` statement: well under SQLite's limit of 32,766
/// bound parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER` since 3.32), which a
/// single statement of a full `GATEWAY_AUDIT_MAX_BATCH` (up to 10,000 rows × 12
/// columns) would exceed. A power of two: see [`power_of_two_chunks`].
const AUDIT_ROWS_PER_INSERT: usize = 512;

const _: () = assert!(AUDIT_ROWS_PER_INSERT * AUDIT_COLUMNS <= 32_766);
const _: () = assert!(AUDIT_ROWS_PER_INSERT.is_power_of_two());

/// `rows` cut into runs whose lengths are powers of two, largest first (13 rows: 8, 4,
/// 1). A batch of any size is then a few statements of at most ten shapes, each
/// prepared once per connection and kept in its statement cache. One statement per
/// batch size re-parsed a statement of up to 12,000 parameters on most batches (2–3 %
/// of the read path's CPU) and pushed other statements out of the cache.
fn power_of_two_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let len = rows.len().min(AUDIT_ROWS_PER_INSERT);
        let take = 1 << len.ilog2();
        let (chunk, rest) = rows.split_at(take);
        rows = rest;
        Some(chunk)
    })
}

/// The name of the audit appender's SQLite worker thread (at most 15 bytes: Linux keeps
/// no more of a thread's name).
const APPENDER_THREAD: &str = "sqlite-appender";

/// A SQLite-backed [`Store`].
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
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
        let pool = super::pool_options::<Sqlite>(8)
            .connect_with(options.clone())
            .await?;
        let appender = super::pool_options::<Sqlite>(1)
            .after_connect(|_, _| {
                Box::pin(async {
                    super::background::lower_priority(APPENDER_THREAD);
                    Ok(())
                })
            })
            .connect_with(options.thread_name(|_| APPENDER_THREAD.to_owned()))
            .await?;
        Ok(Self {
            pool,
            appender,
            gate: WriteGate::for_file(path),
        })
    }
}

#[async_trait]
impl Dialect for Sqlite {
    const ENGINE: &'static str = "sqlite";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_USER: &'static str = "SELECT * FROM users WHERE id = $1";
    const OWNER_FILTER: &'static str = "($1 IS NULL OR a.owner_id = $1)";
    const USER_FILTER: &'static str =
        "($1 IS NULL OR u.client_id = $1) AND ($2 IS NULL OR u.id < $2)";
    const LIST_AUDIT: &'static str = "SELECT * FROM audit WHERE ($1 IS NULL OR agent_id = $1) \
         AND ($2 IS NULL OR at >= $2) AND ($3 IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4";
    const CLAIM_KEY: &'static str = claim_key_from!("(SELECT 1) AS one_row");

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn touch_tokens(pool: &SqlitePool, used: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()> {
        let mut tx = pool.begin_with(Self::BEGIN_WRITE).await?;
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

    /// One claim statement each, in one transaction: one commit for the group.
    async fn claim_keys(
        pool: &SqlitePool,
        claims: &[&IdempotencyClaim],
    ) -> StoreResult<HashSet<(Uuid, String)>> {
        let mut claimed = HashSet::new();
        let mut tx = pool.begin_with(Self::BEGIN_WRITE).await?;
        for c in claims {
            let done = claim_key!(Self, c).execute(&mut *tx).await?;
            if done.rows_affected() == 1 {
                claimed.insert((c.agent_id, c.key.clone()));
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// One upsert each, in one transaction: one commit for the group. A key whose row
    /// is gone is stored as its claim had it, done (as on Postgres).
    async fn settle_keys(pool: &SqlitePool, settled: &[Settlement]) -> StoreResult<()> {
        let mut tx = pool.begin_with(Self::BEGIN_WRITE).await?;
        for s in settled {
            sqlx::query(
                "INSERT INTO idempotency_keys (agent_id, key, fingerprint, state, response, created_at, expires_at) \
                 VALUES ($1, $2, $3, 'done', $4, $5, $6) \
                 ON CONFLICT (agent_id, key) DO UPDATE SET state = 'done', response = excluded.response",
            )
            .bind(s.claim.agent_id)
            .bind(s.claim.key.as_str())
            .bind(s.claim.fingerprint.as_slice())
            .bind(s.response.as_str())
            .bind(s.claim.now)
            .bind(s.claim.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One transaction of multi-row `INSERT`s of [`AUDIT_ROWS_PER_INSERT`] rows each, so
    /// any batch stays under SQLite's bind-parameter limit and is still all-or-nothing.
    /// Always flushed: SQLite's durability is the connection's, not the commit's.
    async fn insert_audit(
        pool: &SqlitePool,
        rows: &[AuditRow],
        _durability: Durability,
    ) -> StoreResult<()> {
        let mut tx = pool.begin_with(Self::BEGIN_WRITE).await?;
        for chunk in power_of_two_chunks(rows) {
            let mut insert = QueryBuilder::new(
                "INSERT INTO audit (at, request_id, agent_id, owner_id, action, project_id, target, outcome, \
                 reason, idempotency_key, latency_us, work_session_id) ",
            );
            insert.push_values(chunk, |mut b, r| {
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
                    .push_bind(r.latency_us)
                    .push_bind(r.work_session);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn lock_user(_conn: &mut SqliteConnection, _user: Uuid) -> StoreResult<()> {
        // `BEGIN IMMEDIATE` already holds the database's one write lock.
        Ok(())
    }

    async fn move_owner_agents(
        conn: &mut SqliteConnection,
        m: OwnerMove<'_>,
    ) -> StoreResult<Vec<Uuid>> {
        let from = serde_json::to_string(&m.from.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .map_err(|e| StoreError::Corrupt(format!("agent statuses: {e}")))?;
        Ok(sqlx::query_scalar(
            "UPDATE agents SET status = $2, status_reason = $3, updated_at = $4 \
             WHERE owner_id = $1 AND status IN (SELECT value FROM json_each($5)) RETURNING id",
        )
        .bind(m.owner)
        .bind(m.to.as_str())
        .bind(m.reason)
        .bind(m.now)
        .bind(from)
        .fetch_all(conn)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_batches_go_in_runs_of_powers_of_two() {
        let lens = |n: usize| {
            let rows = vec![0u8; n];
            power_of_two_chunks(&rows)
                .map(<[u8]>::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(lens(0), Vec::<usize>::new());
        assert_eq!(lens(1), [1]);
        assert_eq!(lens(13), [8, 4, 1]);
        assert_eq!(lens(512), [512]);
        assert_eq!(lens(1_300), [512, 512, 256, 16, 4]);
        for n in 0..2_000 {
            let got = lens(n);
            assert_eq!(got.iter().sum::<usize>(), n, "every row of {n}, once");
            assert!(got
                .iter()
                .all(|l| l.is_power_of_two() && *l <= AUDIT_ROWS_PER_INSERT));
        }
    }
}
