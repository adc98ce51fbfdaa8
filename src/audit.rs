//! Where audit rows are written: the only path from a request to the `audit` table.
//!
//! Rows go through a pool of batching writer actors (`gateway_actors::WriterPool`): one
//! insert per batch. [`Auditor::record`] returns only once the row's batch is durable —
//! every write and every admin action uses it, so nothing is acknowledged before its
//! audit row is on disk. [`Auditor::record_later`] lets read rows ride the next batch;
//! [`Auditor::shutdown`] flushes whatever is queued.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use gateway_actors::{BatchSink, WriteError, WriterConfig, WriterPool};
use uuid::Uuid;

use crate::store::{AuditRow, Outcome, Store};

/// Makes audit batches durable in the store.
struct StoreSink(Arc<dyn Store>);

impl BatchSink<AuditRow> for StoreSink {
    async fn write(&self, batch: &[AuditRow]) -> Result<(), String> {
        self.0.insert_audit(batch).await.map_err(|e| e.to_string())
    }
}

/// The audit log's writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Auditor {
    pool: Arc<WriterPool<AuditRow>>,
}

impl Auditor {
    /// Starts the writer pool over `store`.
    pub fn start(store: Arc<dyn Store>, config: WriterConfig) -> Self {
        Self {
            pool: Arc::new(WriterPool::start(
                "audit",
                Arc::new(StoreSink(store)),
                config,
            )),
        }
    }

    /// Writes `row` and waits until it is durable.
    pub async fn record(&self, row: AuditRow) -> Result<(), WriteError> {
        self.pool.write(row).await
    }

    /// Queues `row` for the next batch without waiting for the flush.
    pub async fn record_later(&self, row: AuditRow) -> Result<(), WriteError> {
        self.pool.submit(row).await
    }

    /// Flushes every queued row and stops the writers.
    pub async fn shutdown(&self) {
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
                request_id: request_id.to_owned(),
                agent_id: None,
                owner_id: None,
                action: action.to_owned(),
                project_id: None,
                target: None,
                outcome: Outcome::Allowed,
                reason: None,
                idempotency_key: None,
                latency_us: 0,
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
        self.row.project_id = Some(project_id.into());
        self
    }

    /// The object touched.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.row.target = Some(target.into());
        self
    }

    /// The write's idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.row.idempotency_key = Some(key.into());
        self
    }

    /// Finishes the event with its outcome and reason.
    pub fn finish(mut self, outcome: Outcome, reason: Option<String>) -> AuditRow {
        self.row.outcome = outcome;
        self.row.reason = reason;
        self.row.latency_us = i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX);
        self.row
    }
}
