//! Where audit rows are written: the only path from a request to the `audit` table.
//!
//! Rows go through a pool of batching writer actors (`gateway_actors::WriterPool`): one
//! insert per batch. [`Auditor::record`] returns only once the row's batch is durable —
//! every write and every admin action uses it, so nothing is acknowledged before its
//! audit row is on disk — except a write's intent where the Tasker's own commit, in the
//! same database, flushes it ([`Auditor::record_committed`]). [`Auditor::record_later`] lets read rows ride the next batch
//! (which lingers up to `GATEWAY_AUDIT_READ_DELAY_MS` for more); [`Auditor::flush`] makes
//! them durable before the log is read; [`Auditor::shutdown`] flushes whatever is queued.
//!
//! Every text field is [`bounded`] when the row is built: no control characters, a
//! bounded length. A batch the store refuses anyway is retried row by row, so one row
//! never costs another its place.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use gateway_actors::{BatchSink, WriteError, WriterConfig, WriterPool};
use uuid::Uuid;

use crate::store::{AuditRow, Durability, Outcome, Store};

/// Makes audit batches durable in the store (or only committed, for the intents pool),
/// then tells the live-event hub.
struct StoreSink(Arc<dyn Store>, crate::events::Hub, Durability);

impl BatchSink<AuditRow> for StoreSink {
    /// One insert for the batch. If the store refuses it, each row is tried alone, so one
    /// row the store cannot take never costs the others their place; a row refused alone
    /// is stored with its text fields replaced by a printable escape. Only a store that
    /// refuses that too fails the batch (then every caller is told, none is acked).
    async fn write(&self, batch: &[AuditRow]) -> Result<(), String> {
        let written = self.durable(batch).await;
        if written.is_ok() {
            // Only durable rows reach the pages.
            self.1.publish_rows(batch);
        }
        written
    }
}

impl StoreSink {
    /// [`BatchSink::write`] without the live-event hook.
    async fn durable(&self, batch: &[AuditRow]) -> Result<(), String> {
        let Err(batch_error) = self.0.insert_audit(batch, self.2).await else {
            return Ok(());
        };
        if batch.len() == 1 {
            return self.alone(&batch[0], &batch_error.to_string()).await;
        }
        tracing::warn!(error = %batch_error, rows = batch.len(), "audit batch refused; writing its rows one by one");
        for row in batch {
            if let Err(e) = self.0.insert_audit(std::slice::from_ref(row), self.2).await {
                self.alone(row, &e.to_string()).await?;
            }
        }
        Ok(())
    }

    /// Stores a row the store refused, escaped; `Err` if even that is refused.
    async fn alone(&self, row: &AuditRow, error: &str) -> Result<(), String> {
        tracing::error!(%error, action = %row.action.escape_default(), "an audit row was refused; storing it escaped");
        let escaped = AuditRow {
            request_id: escape(&row.request_id),
            action: escape(&row.action),
            project_id: row.project_id.as_deref().map(escape),
            target: row.target.as_deref().map(escape),
            reason: row.reason.as_deref().map(escape),
            idempotency_key: row.idempotency_key.as_deref().map(escape),
            ..row.clone()
        };
        self.0
            .insert_audit(std::slice::from_ref(&escaped), self.2)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Printable ASCII only (`\u{…}` escapes for the rest), bounded.
fn escape(text: &str) -> String {
    bounded(&text.escape_default().to_string(), MAX_REASON)
}

/// Whether the `nth` of a run of like refusals (a rate-limit streak, a revoked token
/// knocking) gets its own audit row: the 1st, 2nd, 4th, 8th… do, each saying its number,
/// so a flood leaves a logarithmic trace rather than a row per request.
pub fn sampled(nth: u64) -> bool {
    nth.is_power_of_two()
}

/// The longest name, id or key stored in an audit row, in bytes.
const MAX_FIELD: usize = 256;
/// The longest reason stored in an audit row, in bytes.
const MAX_REASON: usize = 2_048;

/// `text` as the audit log stores it: control characters (NUL among them, which
/// Postgres text cannot hold) replaced by U+FFFD, and cut to `max` bytes with a marker
/// saying how much was cut. What an agent sends can therefore neither poison a batch nor
/// flood the table.
pub fn bounded(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if clean.len() <= max {
        return clean;
    }
    let mut end = max;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &clean[..end], clean.len() - end)
}

/// The audit log's writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Auditor {
    pool: Arc<WriterPool<AuditRow>>,
    /// Rows whose durability a later flushed commit provides ([`Auditor::record_committed`]).
    committed: Arc<WriterPool<AuditRow>>,
    live: crate::events::Hub,
}

impl Auditor {
    /// Starts the writer pool over `store`.
    pub fn start(store: Arc<dyn Store>, config: WriterConfig) -> Self {
        Self::start_live(store, config, crate::events::Hub::new())
    }

    /// Starts the writer pool over `store`; durable rows are published on `live`.
    pub fn start_live(
        store: Arc<dyn Store>,
        config: WriterConfig,
        live: crate::events::Hub,
    ) -> Self {
        Self {
            pool: Arc::new(WriterPool::start(
                "audit",
                Arc::new(StoreSink(
                    Arc::clone(&store),
                    live.clone(),
                    Durability::Flushed,
                )),
                config,
            )),
            committed: Arc::new(WriterPool::start(
                "audit-committed",
                Arc::new(StoreSink(store, live.clone(), Durability::Committed)),
                config,
            )),
            live,
        }
    }

    /// The live-event hub the durable rows are published on (the pages' streams).
    pub fn live(&self) -> &crate::events::Hub {
        &self.live
    }

    /// Writes `row` and waits until it is durable.
    pub async fn record(&self, row: AuditRow) -> Result<(), WriteError> {
        self.pool.write(row).await
    }

    /// Writes `row` and waits until it is committed, not until it is on disk: for a
    /// write's intent when the Tasker commits its change in the same database after it
    /// (the embedded tracker on Postgres), whose flush makes the intent durable first.
    pub async fn record_committed(&self, row: AuditRow) -> Result<(), WriteError> {
        self.committed.write(row).await
    }

    /// Queues `row` for the next batch without waiting for the flush.
    pub async fn record_later(&self, row: AuditRow) -> Result<(), WriteError> {
        self.pool.submit(row).await
    }

    /// Makes every row queued so far durable, so that a reader of the audit log sees
    /// every call answered before it asked (read rows otherwise linger for their batch).
    pub async fn flush(&self) {
        if let Err(e) = self.committed.flush().await {
            tracing::warn!(error = %e, "committed audit rows could not be flushed before a read of the log");
        }
        if let Err(e) = self.pool.flush().await {
            tracing::warn!(error = %e, "queued audit rows could not be flushed before a read of the log");
        }
    }

    /// Flushes every queued row and stops the writers.
    pub async fn shutdown(&self) {
        self.committed.shutdown().await;
        self.pool.shutdown().await;
    }
}

/// Builds an audit row as an action unfolds: who, what, where, and how long it took.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    started: Instant,
    row: AuditRow,
}

impl AuditEvent {
    /// Starts an event for `action` in request `request_id`.
    pub fn start(request_id: &str, action: &str) -> Self {
        Self {
            started: Instant::now(),
            row: AuditRow {
                at: Utc::now(),
                request_id: bounded(request_id, MAX_FIELD),
                agent_id: None,
                owner_id: None,
                action: bounded(action, MAX_FIELD),
                project_id: None,
                target: None,
                outcome: Outcome::Allowed,
                reason: None,
                idempotency_key: None,
                latency_us: 0,
                work_session: None,
            },
        }
    }

    /// The acting agent and its owner.
    pub fn agent(mut self, agent_id: Uuid, owner_id: Uuid) -> Self {
        self.row.agent_id = Some(agent_id);
        self.row.owner_id = Some(owner_id);
        self
    }

    /// The owner acted upon or acting (owner and admin actions).
    pub fn owner(mut self, owner_id: Uuid) -> Self {
        self.row.owner_id = Some(owner_id);
        self
    }

    /// The project touched.
    pub fn project(mut self, project_id: impl Into<String>) -> Self {
        self.row.project_id = Some(bounded(&project_id.into(), MAX_FIELD));
        self
    }

    /// The object touched.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.row.target = Some(bounded(&target.into(), MAX_FIELD));
        self
    }

    /// The write's idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.row.idempotency_key = Some(bounded(&key.into(), MAX_FIELD));
        self
    }

    /// The agent's open work session, which the call belongs to (reporting mode).
    pub fn work_session(mut self, session: Option<Uuid>) -> Self {
        self.row.work_session = session;
        self
    }

    /// Finishes the event with its outcome and reason.
    pub fn finish(mut self, outcome: Outcome, reason: Option<String>) -> AuditRow {
        self.row.outcome = outcome;
        self.row.reason = reason.map(|r| bounded(&r, MAX_REASON));
        self.row.latency_us = i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX);
        self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_is_clean_and_bounded() {
        assert_eq!(bounded("move_card", 256), "move_card");
        assert_eq!(bounded("a\0b\nc", 256), "a\u{FFFD}b\u{FFFD}c");
        let long = "é".repeat(2_000);
        let cut = bounded(&long, 2_048);
        assert!(cut.len() < 2_048 + 32, "{}", cut.len());
        assert!(cut.ends_with("bytes cut]"));
        assert_eq!(escape("x\0y"), "x\\u{0}y");
    }
}
