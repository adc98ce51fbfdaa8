//! Pools of batching writer actors (group commit).
//!
//! Each writer owns a bounded mailbox. It takes the first item, drains whatever else is
//! already queued (up to `max_batch`), lingers for more, and makes the whole batch
//! durable with one call to its [`BatchSink`] — one insert per batch. Only then is each
//! caller in the batch answered. A batch with a caller waiting lingers at most
//! `max_delay`; a batch of rows nobody waits for ([`WriterPool::submit`]) lingers up to
//! `lazy_delay`, so a stream of such rows costs a few commits per second, not one per
//! millisecond. [`WriterPool::flush`] makes everything queued so far durable now. While a flush is in progress new
//! items queue up, so under load batches grow by themselves and the flush rate, not the
//! row rate, bounds the store's work.
//!
//! A failed flush is retried (`retries` times, with a short backoff) before every
//! caller of the batch gets an error; a panicking sink drops the batch's reply senders,
//! so its callers get [`WriteError::Dropped`] — never an acknowledgement — and the
//! writer starts again on the same mailbox.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::mailboxes::{Mailboxes, Refused};
use crate::panic::{catch, RestartPolicy, Restarts};
use crate::tasks::Tasks;

/// Makes a batch durable. The service implements it over its store.
pub trait BatchSink<T>: Send + Sync + 'static {
    /// Writes every row of `batch` in one transaction; `Ok` means durable.
    fn write(&self, batch: &[T]) -> impl Future<Output = Result<(), String>> + Send;
}

/// Why a row was not acknowledged as durable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The sink failed, after retries.
    #[error("the batch could not be written: {0}")]
    Failed(String),
    /// The writer failed mid-batch; the row's fate is unknown to the caller.
    #[error("the writer failed before acknowledging")]
    Dropped,
    /// Every writer mailbox stayed full for longer than the caller's bound.
    #[error("the writers are overloaded")]
    Overloaded,
    /// The pool is shut down.
    #[error("the writer pool is shut down")]
    Closed,
}

/// Bounds of a writer pool.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Number of writer actors.
    pub writers: usize,
    /// Capacity of each writer's mailbox.
    pub mailbox: usize,
    /// Largest batch written at once.
    pub max_batch: usize,
    /// Longest a batch waits for more rows once it has one a caller waits for.
    pub max_delay: Duration,
    /// Longest a batch of rows nobody waits for waits for more.
    pub lazy_delay: Duration,
    /// How long a caller waits for room in a full mailbox (backpressure).
    pub mailbox_wait: Duration,
    /// Flush attempts after the first failure.
    pub retries: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            writers: 2,
            mailbox: 4096,
            max_batch: 512,
            max_delay: Duration::from_millis(1),
            lazy_delay: Duration::from_millis(20),
            mailbox_wait: Duration::from_secs(5),
            retries: 2,
        }
    }
}

type Ack = oneshot::Sender<Result<(), WriteError>>;

/// A row, with the caller's acknowledgement when one waits; no row is a flush marker.
struct Item<T> {
    row: Option<T>,
    ack: Option<Ack>,
}

/// A pool of writer actors for rows of type `T`. Cheap to share behind an `Arc`.
pub struct WriterPool<T> {
    mailboxes: Mailboxes<Item<T>>,
    stop: watch::Sender<bool>,
    tasks: Tasks,
}

impl<T> std::fmt::Debug for WriterPool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterPool")
            .field("writers", &self.mailboxes.len())
            .finish()
    }
}

impl<T: Send + 'static> WriterPool<T> {
    /// Starts `config.writers` writers over `sink`.
    pub fn start<S: BatchSink<T>>(name: &'static str, sink: Arc<S>, config: WriterConfig) -> Self {
        let (stop, _) = watch::channel(false);
        let tasks = Tasks::new(name);
        let limits = (config.writers, config.mailbox, config.mailbox_wait);
        let mailboxes = Mailboxes::start(limits, &tasks, |index, rx| {
            let writer = Writer {
                name: format!("{name}-writer-{index}"),
                sink: Arc::clone(&sink),
                config,
            };
            writer.run(rx, stop.subscribe())
        });
        Self {
            mailboxes,
            stop,
            tasks,
        }
    }

    /// Queues `row` and waits until the batch holding it is durable.
    pub async fn write(&self, row: T) -> Result<(), WriteError> {
        let (ack, done) = oneshot::channel();
        self.enqueue(Item {
            row: Some(row),
            ack: Some(ack),
        })
        .await?;
        done.await.unwrap_or(Err(WriteError::Dropped))
    }

    /// Waits until every row queued before this call is durable (or its batch failed):
    /// a reader of the store then sees them all.
    pub async fn flush(&self) -> Result<(), WriteError> {
        let mut waits = Vec::with_capacity(self.mailboxes.len());
        for tx in self.mailboxes.all() {
            let (ack, done) = oneshot::channel();
            let marker = Item {
                row: None,
                ack: Some(ack),
            };
            match tx.send_timeout(marker, self.mailboxes.wait()).await {
                Ok(()) => waits.push(done),
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    return Err(WriteError::Overloaded)
                }
                // A writer that gave up holds nothing.
                Err(mpsc::error::SendTimeoutError::Closed(_)) => {}
            }
        }
        for done in waits {
            done.await.unwrap_or(Err(WriteError::Dropped))?;
        }
        Ok(())
    }

    /// Queues `row` without waiting for its flush; it rides the next batch. Still waits
    /// for mailbox room, so a flood is slowed rather than buffered without bound.
    pub async fn submit(&self, row: T) -> Result<(), WriteError> {
        self.enqueue(Item {
            row: Some(row),
            ack: None,
        })
        .await
    }

    async fn enqueue(&self, item: Item<T>) -> Result<(), WriteError> {
        if *self.stop.borrow() {
            return Err(WriteError::Closed);
        }
        self.mailboxes
            .send(item)
            .await
            .map_err(|refused| match refused {
                Refused::Overloaded => WriteError::Overloaded,
                Refused::Closed => WriteError::Closed,
            })
    }

    /// Stops accepting rows, flushes everything queued, and waits for the writers.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        self.tasks.shutdown().await;
    }
}

struct Writer<S> {
    name: String,
    sink: Arc<S>,
    config: WriterConfig,
}

impl<S> Writer<S> {
    async fn run<T: Send + 'static>(
        self,
        mut rx: mpsc::Receiver<Item<T>>,
        mut stop: watch::Receiver<bool>,
    ) where
        S: BatchSink<T>,
    {
        let mut restarts = Restarts::new(RestartPolicy::default());
        loop {
            match catch(self.serve(&mut rx, &mut stop)).await {
                Ok(()) => return,
                Err(panic) => {
                    if !restarts.record(&self.name, &panic) {
                        return;
                    }
                }
            }
        }
    }

    async fn serve<T: Send + 'static>(
        &self,
        rx: &mut mpsc::Receiver<Item<T>>,
        stop: &mut watch::Receiver<bool>,
    ) where
        S: BatchSink<T>,
    {
        loop {
            let first = tokio::select! {
                biased;
                item = rx.recv() => match item {
                    Some(item) => item,
                    None => return,
                },
                _ = stop.changed() => {
                    // Shutdown: take what is queued, flush it, and stop.
                    rx.close();
                    let mut rest = Vec::new();
                    while let Ok(item) = rx.try_recv() {
                        rest.push(item);
                        if rest.len() == self.config.max_batch {
                            self.flush(std::mem::take(&mut rest)).await;
                        }
                    }
                    if !rest.is_empty() {
                        self.flush(rest).await;
                    }
                    return;
                }
            };
            let batch = self.collect(first, rx).await;
            self.flush(batch).await;
        }
    }

    async fn collect<T>(&self, first: Item<T>, rx: &mut mpsc::Receiver<Item<T>>) -> Vec<Item<T>> {
        let max = self.config.max_batch.max(1);
        let mut batch = Vec::with_capacity(max.min(64));
        batch.push(first);
        let started = Instant::now();
        let mut waited_on = batch[0].ack.is_some();
        while batch.len() < max {
            match rx.try_recv() {
                Ok(item) => {
                    waited_on |= item.ack.is_some();
                    batch.push(item);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let linger = if waited_on {
                        self.config.max_delay
                    } else {
                        self.config.lazy_delay
                    };
                    match tokio::time::timeout_at(started + linger, rx.recv()).await {
                        Ok(Some(item)) => {
                            waited_on |= item.ack.is_some();
                            batch.push(item);
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        batch
    }

    async fn flush<T>(&self, batch: Vec<Item<T>>)
    where
        S: BatchSink<T>,
    {
        let mut rows = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        for item in batch {
            rows.extend(item.row);
            acks.push(item.ack);
        }
        if rows.is_empty() {
            // Flush markers only: everything before them is durable already.
            for ack in acks.into_iter().flatten() {
                let _ = ack.send(Ok(()));
            }
            return;
        }
        let mut attempt = 0;
        let outcome = loop {
            match self.sink.write(&rows).await {
                Ok(()) => break Ok(()),
                Err(error) if attempt < self.config.retries => {
                    attempt += 1;
                    tracing::warn!(writer = %self.name, %error, attempt, rows = rows.len(), "batch write failed; retrying");
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                }
                Err(error) => {
                    let unacked = acks.iter().filter(|a| a.is_none()).count();
                    tracing::error!(writer = %self.name, %error, rows = rows.len(), unacked, "batch write failed; callers are told, unacknowledged rows are lost");
                    break Err(WriteError::Failed(error));
                }
            }
        };
        for ack in acks.into_iter().flatten() {
            let _ = ack.send(outcome.clone());
        }
    }
}
