//! Work sessions (reporting mode): what an agent reported, kept on both engines.
//!
//! A session is a row of `work_sessions` with its `work_session_activities`; at most one
//! is open per agent (a partial unique index). Its state is stored (`in_progress`,
//! `awaiting`, `stopping`, then `completed`, `failed` or `stopped`); `stale` is never
//! stored: it is read as "open, and neither a report nor a call since the cut-off"
//! (`stale_before`), where a call is an audit row naming the session. What the gateway
//! observed of a session is read from the audit log, never from the agent's word.
//!
//! Longer than most files: the trait and its one implementation, one short statement or
//! transaction per method, in the trait's order (the records are in `session_types.rs`).
//!
//! The rules (who may report what, what a second start does) are the gateway's
//! (`gateway/sessions.rs`); this module only writes them, each change in one
//! transaction with its activity row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

pub use super::session_types::*;
use super::shared::{Dialect, SqlStore};
use super::*;

/// The work-session store.
#[async_trait]
pub trait WorkSessionStore: Send + Sync {
    /// The agent's open session.
    async fn open_session(&self, agent_id: Uuid) -> StoreResult<Option<WorkSessionRecord>>;
    /// Every open session (a handful per agent at most one), for the stale sweep and the
    /// live status.
    async fn open_sessions(&self) -> StoreResult<Vec<WorkSessionRecord>>;
    /// Starts a session; an open one of the same agent is ended first with `superseded`.
    /// Returns the new session and the id of the one it ended.
    async fn start_session(
        &self,
        new: &NewWorkSession,
        superseded: &SessionEnd,
        now: DateTime<Utc>,
    ) -> StoreResult<(WorkSessionRecord, Option<Uuid>)>;
    /// Records a report on the agent's open session `id`; `None` when it is not open or
    /// not the agent's.
    async fn report_session(
        &self,
        agent_id: Uuid,
        id: Uuid,
        report: &SessionReport,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WorkSessionRecord>>;
    /// Ends the open session `id` (of `agent_id` when given); `None` when it is not open.
    async fn end_session(
        &self,
        agent_id: Option<Uuid>,
        id: Uuid,
        end: &SessionEnd,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WorkSessionRecord>>;
    /// Records the comment a finished session's summary was posted as.
    async fn set_session_comment(&self, id: Uuid, comment_id: &str) -> StoreResult<()>;
    /// Asks the open session `id` to stop; `None` when it is not open. Asking again
    /// changes nothing but is recorded.
    async fn request_stop(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WorkSessionRecord>>;
    /// One session with its activities, oldest first.
    async fn get_session(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(WorkSessionRecord, Vec<ActivityRecord>)>>;
    /// One page of sessions, newest first.
    async fn list_sessions(&self, query: &SessionQuery) -> StoreResult<Vec<WorkSessionRecord>>;
    /// The audit rows of calls made in the session, oldest first, at most `limit`.
    async fn session_calls(&self, id: Uuid, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// Agents whose session changed at or after `since` (the replicas' reconcile).
    async fn sessions_changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Uuid>>;
    /// Records the client an agent initialized with.
    async fn set_agent_client(
        &self,
        agent_id: Uuid,
        name: &str,
        version: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Sets whether the agent's tracker writes are refused while a stop is pending.
    async fn set_stop_refuses_writes(&self, agent_id: Uuid, on: bool) -> StoreResult<bool>;
}

/// The columns of a session, with its last call.
const SESSION_COLUMNS: &str = "s.id, s.agent_id, s.owner_id, s.card, s.intent, s.plan, s.state, \
     s.outcome, s.summary, s.comment_id, s.stop_requested_at, s.stop_requested_by, \
     s.stop_reason, s.started_at, s.reported_at, s.ended_at, \
     (SELECT MAX(au.at) FROM audit au WHERE au.work_session_id = s.id) AS last_call_at";

/// A stored session row.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    id: Uuid,
    agent_id: Uuid,
    owner_id: Uuid,
    card: String,
    intent: String,
    plan: String,
    state: String,
    outcome: Option<String>,
    summary: Option<String>,
    comment_id: Option<String>,
    stop_requested_at: Option<DateTime<Utc>>,
    stop_requested_by: Option<String>,
    stop_reason: Option<String>,
    started_at: DateTime<Utc>,
    reported_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    last_call_at: Option<DateTime<Utc>>,
}

impl SessionRow {
    fn into_record(self) -> StoreResult<WorkSessionRecord> {
        let state = SessionState::parse(&self.state).ok_or_else(|| {
            StoreError::Corrupt(format!("work session {}: state {:?}", self.id, self.state))
        })?;
        let plan = serde_json::from_str(&self.plan)
            .map_err(|e| StoreError::Corrupt(format!("work session {}: plan: {e}", self.id)))?;
        Ok(WorkSessionRecord {
            id: self.id,
            agent_id: self.agent_id,
            owner_id: self.owner_id,
            card: self.card,
            intent: self.intent,
            plan,
            state,
            outcome: self.outcome,
            summary: self.summary,
            comment_id: self.comment_id,
            stop_requested_at: self.stop_requested_at,
            stop_requested_by: self.stop_requested_by,
            stop_reason: self.stop_reason,
            started_at: self.started_at,
            reported_at: self.reported_at,
            ended_at: self.ended_at,
            last_call_at: self.last_call_at,
        })
    }
}

fn plan_json(plan: &[PlanStep]) -> StoreResult<String> {
    serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))
}

/// An activity row to record.
struct Activity<'a> {
    session: Uuid,
    at: DateTime<Utc>,
    kind: &'a str,
    note: &'a str,
    card: Option<&'a str>,
}

/// Records `activity` and reads its session back, inside the caller's transaction.
async fn note_and_read<DB>(
    conn: &mut DB::Connection,
    activity: Activity<'_>,
) -> StoreResult<WorkSessionRecord>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> SessionRow: FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(INSERT_ACTIVITY)
        .bind(activity.session)
        .bind(activity.at)
        .bind(activity.kind)
        .bind(activity.note)
        .bind(activity.card)
        .execute(&mut *conn)
        .await?;
    let row: SessionRow = sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM work_sessions s WHERE s.id = $1"
    ))
    .bind(activity.session)
    .fetch_one(&mut *conn)
    .await?;
    row.into_record()
}

/// A value bound to a filter of [`WorkSessionStore::list_sessions`].
enum Bind {
    Id(Uuid),
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

const INSERT_ACTIVITY: &str =
    "INSERT INTO work_session_activities (session_id, at, kind, note, card) \
     VALUES ($1, $2, $3, $4, $5)";

#[async_trait]
impl<DB> WorkSessionStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> SessionRow: FromRow<'r, DB::Row>,
    for<'r> ActivityRecord: FromRow<'r, DB::Row>,
    for<'r> AuditEntry: FromRow<'r, DB::Row>,
    for<'r> (Uuid,): FromRow<'r, DB::Row>,
    for<'r> (bool,): FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    async fn open_session(&self, agent_id: Uuid) -> StoreResult<Option<WorkSessionRecord>> {
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM work_sessions s \
             WHERE s.agent_id = $1 AND s.ended_at IS NULL"
        ))
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(SessionRow::into_record).transpose()
    }

    async fn open_sessions(&self) -> StoreResult<Vec<WorkSessionRecord>> {
        let rows: Vec<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM work_sessions s WHERE s.ended_at IS NULL \
             ORDER BY s.started_at DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SessionRow::into_record).collect()
    }

    async fn start_session(
        &self,
        new: &NewWorkSession,
        superseded: &SessionEnd,
        now: DateTime<Utc>,
    ) -> StoreResult<(WorkSessionRecord, Option<Uuid>)> {
        let (_turn, mut tx) = self.begin_write().await?;
        let ended: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE work_sessions SET state = $2, outcome = $3, summary = $4, ended_at = $5, \
             changed_at = $5 WHERE agent_id = $1 AND ended_at IS NULL RETURNING id",
        )
        .bind(new.agent_id)
        .bind(superseded.state.as_str())
        .bind(superseded.outcome.as_deref())
        .bind(superseded.note.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((old,)) = ended {
            sqlx::query(INSERT_ACTIVITY)
                .bind(old)
                .bind(now)
                .bind(superseded.kind)
                .bind(superseded.note.as_str())
                .bind(None::<&str>)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO work_sessions (id, agent_id, owner_id, card, intent, plan, state, \
             started_at, reported_at, changed_at) VALUES ($1, $2, $3, $4, $5, $6, 'in_progress', $7, $7, $7)",
        )
        .bind(new.id)
        .bind(new.agent_id)
        .bind(new.owner_id)
        .bind(new.card.as_str())
        .bind(new.intent.as_str())
        .bind(plan_json(&new.plan)?)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let record = note_and_read::<DB>(
            &mut tx,
            Activity {
                session: new.id,
                at: now,
                kind: "started",
                note: new.intent.as_str(),
                card: Some(new.card.as_str()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((record, ended.map(|(id,)| id)))
    }

    async fn report_session(
        &self,
        agent_id: Uuid,
        id: Uuid,
        report: &SessionReport,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WorkSessionRecord>> {
        let (_turn, mut tx) = self.begin_write().await?;
        let plan = report.plan.as_deref().map(plan_json).transpose()?;
        // An elicitation waits for a person; any other report resumes work. A pending
        // stop stays pending whatever is reported.
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE work_sessions SET reported_at = $3, changed_at = $3, \
             state = CASE WHEN state = 'stopping' THEN 'stopping' \
                          WHEN $4 = 'elicitation' THEN 'awaiting' ELSE 'in_progress' END, \
             plan = COALESCE($5, plan), card = COALESCE($6, card) \
             WHERE id = $1 AND agent_id = $2 AND ended_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(agent_id)
        .bind(now)
        .bind(report.kind.as_str())
        .bind(plan.as_deref())
        .bind(report.card.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Ok(None);
        }
        if let Some(card) = &report.card {
            sqlx::query(INSERT_ACTIVITY)
                .bind(id)
                .bind(now)
                .bind("card_switched")
                .bind(format!("switched to {card}"))
                .bind(Some(card.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        let record = note_and_read::<DB>(
            &mut tx,
            Activity {
                session: id,
                at: now,
                kind: report.kind.as_str(),
                note: report.note.as_str(),
                card: report.card.as_deref(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn end_session(
        &self,
        agent_id: Option<Uuid>,
        id: Uuid,
        end: &SessionEnd,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WorkSessionRecord>> {
        let (_turn, mut tx) = self.begin_write().await?;
        let mut sql = String::from(
            "UPDATE work_sessions SET state = $2, outcome = $3, summary = $4, ended_at = $5, \
             changed_at = $5 WHERE id = $1 AND ended_at IS NULL",
        );
        if agent_id.is_some() {
            sql.push_str(" AND agent_id = $6");
        }
        sql.push_str(" RETURNING id");
        let mut update = sqlx::query_as::<DB, (Uuid,)>(&sql)
            .bind(id)
            .bind(end.state.as_str())
            .bind(end.outcome.as_deref())
            .bind(end.note.as_str())
            .bind(now);
        if let Some(agent_id) = agent_id {
            update = update.bind(agent_id);
        }
        let ended = update.fetch_optional(&mut *tx).await?;
        if ended.is_none() {
            return Ok(None);
        }
        let record = note_and_read::<DB>(
            &mut tx,
            Activity {
                session: id,
                at: now,
                kind: end.kind,
                note: end.note.as_str(),
                card: None::<&str>,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn set_session_comment(&self, id: Uuid, comment_id: &str) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        sqlx::query("UPDATE work_sessions SET comment_id = $2 WHERE id = $1")
            .bind(id)
            .bind(comment_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn request_stop(
        &self,
        id: Uuid,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WorkSessionRecord>> {
        let (_turn, mut tx) = self.begin_write().await?;
        let updated: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE work_sessions SET state = 'stopping', changed_at = $2, \
             stop_requested_at = COALESCE(stop_requested_at, $2), \
             stop_requested_by = COALESCE(stop_requested_by, $3), \
             stop_reason = COALESCE(stop_reason, $4) \
             WHERE id = $1 AND ended_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Ok(None);
        }
        let record = note_and_read::<DB>(
            &mut tx,
            Activity {
                session: id,
                at: now,
                kind: "stop_requested",
                note: &format!("stop requested by {by}: {reason}"),
                card: None::<&str>,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    async fn get_session(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<(WorkSessionRecord, Vec<ActivityRecord>)>> {
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM work_sessions s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let activities: Vec<ActivityRecord> = sqlx::query_as(
            "SELECT id, at, kind, note, card FROM work_session_activities \
             WHERE session_id = $1 ORDER BY id LIMIT 1000",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some((row.into_record()?, activities)))
    }

    async fn list_sessions(&self, q: &SessionQuery) -> StoreResult<Vec<WorkSessionRecord>> {
        // Only the filters given are in the statement, numbered in order and bound in the
        // same order: no engine-specific typed nulls.
        let mut sql = format!("SELECT {SESSION_COLUMNS} FROM work_sessions s WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut filter = |sql: &mut String, clause: &str, value: Bind| {
            binds.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(agent) = q.agent_id {
            filter(&mut sql, " AND s.agent_id = ?", Bind::Id(agent));
        }
        if let Some(owner) = q.owner_id {
            filter(&mut sql, " AND s.owner_id = ?", Bind::Id(owner));
        }
        if let Some(card) = &q.card {
            filter(&mut sql, " AND s.card = ?", Bind::Text(card.clone()));
        }
        match q.state {
            None => {}
            Some(StateFilter::Is(state)) => {
                filter(
                    &mut sql,
                    " AND s.state = ?",
                    Bind::Text(state.as_str().into()),
                );
            }
            Some(StateFilter::Open) => sql.push_str(" AND s.ended_at IS NULL"),
            Some(StateFilter::Stale(before)) => {
                filter(
                    &mut sql,
                    " AND s.ended_at IS NULL AND s.reported_at < ?",
                    Bind::Time(before),
                );
                filter(
                    &mut sql,
                    " AND NOT EXISTS (SELECT 1 FROM audit au WHERE au.work_session_id = s.id AND au.at >= ?)",
                    Bind::Time(before),
                );
            }
        }
        if let Some(before) = q.before {
            // UUIDv7 ids order as their start times: the cursor is the last id seen.
            filter(&mut sql, " AND s.id < ?", Bind::Id(before));
        }
        filter(
            &mut sql,
            " ORDER BY s.id DESC LIMIT ?",
            Bind::Int(i64::from(q.limit)),
        );
        let mut select = sqlx::query_as::<DB, SessionRow>(&sql);
        for bind in binds {
            select = match bind {
                Bind::Id(v) => select.bind(v),
                Bind::Text(v) => select.bind(v),
                Bind::Time(v) => select.bind(v),
                Bind::Int(v) => select.bind(v),
            };
        }
        let rows = select.fetch_all(&self.pool).await?;
        rows.into_iter().map(SessionRow::into_record).collect()
    }

    async fn session_calls(&self, id: Uuid, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        Ok(
            sqlx::query_as("SELECT * FROM audit WHERE work_session_id = $1 ORDER BY id LIMIT $2")
                .bind(id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn sessions_changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        let rows: Vec<(Uuid,)> =
            sqlx::query_as("SELECT DISTINCT agent_id FROM work_sessions WHERE changed_at >= $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn set_agent_client(
        &self,
        agent_id: Uuid,
        name: &str,
        version: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        sqlx::query(
            "UPDATE agents SET client_name = $2, client_version = $3, client_seen_at = $4 WHERE id = $1",
        )
        .bind(agent_id)
        .bind(name)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_stop_refuses_writes(&self, agent_id: Uuid, on: bool) -> StoreResult<bool> {
        let done: Option<(bool,)> = sqlx::query_as(
            "UPDATE agents SET stop_refuses_writes = $2 WHERE id = $1 RETURNING stop_refuses_writes",
        )
        .bind(agent_id)
        .bind(on)
        .fetch_optional(&self.pool)
        .await?;
        Ok(done.is_some())
    }
}
