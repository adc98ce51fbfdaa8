//! Batchers: actors that run many callers' requests as one unit of work (group commit
//! for writes that answer each caller with its own result).
//!
//! A [`writer`](crate::writer) pool makes rows durable and answers every caller of a batch
//! alike. A batcher is for work whose callers each get their own answer (a claimed or
//! replayed key, a created card): the service's [`BatchRun`] takes the whole batch and
//! returns one result per request, in order. Each batcher owns a bounded mailbox; it takes
//! the first request, drains whatever else is queued (up to `max_batch`), lingers at most
//! `linger` for more, runs the batch, answers, and starts again. While a batch runs new
//! requests queue up, so under load batches grow by themselves: the run rate, not the
//! request rate, bounds the store's statements. With no load a request runs alone at
//! once (a zero `linger` adds no wait).
//!
//! A run that returns fewer results than requests, or panics, leaves the rest of its
//! callers with [`BatchError::Dropped`] — never a made-up answer — and a panicking
//! batcher starts again on the same mailbox.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::mailboxes::{Mailboxes, Refused};
use crate::panic::{catch, RestartPolicy, Restarts};
use crate::tasks::Tasks;

/// Runs a batch of requests; the service implements it over its store.
pub trait BatchRun<T, R>: Send + Sync + 'static {
    /// Runs every request of `batch` and returns one result per request, in order.
    fn run(&self, batch: Vec<T>) -> impl Future<Output = Vec<R>> + Send;
}

/// Why a request got no result.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// The batch failed (a panic, or a run short of results); the request's fate is
    /// unknown to the caller.
    #[error("the batch failed before answering")]
    Dropped,
    /// Every batcher's mailbox stayed full for longer than the caller's bound.
    #[error("the batchers are overloaded")]
    Overloaded,
    /// The batchers are shut down.
    #[error("the batchers are shut down")]
    Closed,
}

/// Bounds of a set of batchers.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Number of batchers running batches side by side.
    pub batchers: usize,
    /// Capacity of each batcher's mailbox.
    pub mailbox: usize,
    /// Largest batch run at once.
    pub max_batch: usize,
    /// Longest a batch waits for more requests once it has one (zero: it runs with
    /// what is queued).
    pub linger: Duration,
    /// How long a caller waits for room in a full mailbox (backpressure).
    pub mailbox_wait: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            batchers: 1,
            mailbox: 1024,
            max_batch: 64,
            linger: Duration::ZERO,
            mailbox_wait: Duration::from_secs(5),
        }
    }
}

struct Request<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
}

/// A set of batchers over one [`BatchRun`]. Cheap to share behind an `Arc`.
pub struct Batcher<T, R> {
    mailboxes: Mailboxes<Request<T, R>>,
    stop: watch::Sender<bool>,
    tasks: Tasks,
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("batchers", &self.mailboxes.len())
            .finish()
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts `config.batchers` batchers over `runner`.
    pub fn start<S: BatchRun<T, R>>(
        name: &'static str,
        runner: Arc<S>,
        config: BatchConfig,
    ) -> Self {
        let (stop, _) = watch::channel(false);
        let tasks = Tasks::new(name);
        let limits = (config.batchers, config.mailbox, config.mailbox_wait);
        let mailboxes = Mailboxes::start(limits, &tasks, |index, rx| {
            let batcher = Worker {
                name: format!("{name}-batcher-{index}"),
                runner: Arc::clone(&runner),
                config,
            };
            batcher.run(rx, stop.subscribe())
        });
        Self {
            mailboxes,
            stop,
            tasks,
        }
    }

    /// Queues `item` with the next batcher in turn and waits for its result.
    pub async fn call(&self, item: T) -> Result<R, BatchError> {
        self.call_on(None, item).await
    }

    /// Queues `item` with the batcher `route` names (modulo their number) and waits for
    /// its result: requests of one route run in order, never in two batches at once.
    pub async fn call_routed(&self, route: u64, item: T) -> Result<R, BatchError> {
        let n = self.mailboxes.len().max(1) as u64;
        self.call_on(Some((route % n) as usize), item).await
    }

    async fn call_on(&self, batcher: Option<usize>, item: T) -> Result<R, BatchError> {
        if *self.stop.borrow() {
            return Err(BatchError::Closed);
        }
        let (reply, answer) = oneshot::channel();
        let request = Request { item, reply };
        let sent = match batcher {
            Some(index) => self.mailboxes.send_from(index, request).await,
            None => self.mailboxes.send(request).await,
        };
        match sent {
            Ok(()) => answer.await.map_err(|_| BatchError::Dropped),
            Err(Refused::Overloaded) => Err(BatchError::Overloaded),
            Err(Refused::Closed) => Err(BatchError::Closed),
        }
    }

    /// Stops accepting requests, runs everything queued, and waits for the batchers.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        self.tasks.shutdown().await;
    }
}

struct Worker<S> {
    name: String,
    runner: Arc<S>,
    config: BatchConfig,
}

impl<S> Worker<S> {
    async fn run<T: Send + 'static, R: Send + 'static>(
        self,
        mut rx: mpsc::Receiver<Request<T, R>>,
        mut stop: watch::Receiver<bool>,
    ) where
        S: BatchRun<T, R>,
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

    async fn serve<T: Send + 'static, R: Send + 'static>(
        &self,
        rx: &mut mpsc::Receiver<Request<T, R>>,
        stop: &mut watch::Receiver<bool>,
    ) where
        S: BatchRun<T, R>,
    {
        let max = self.config.max_batch.max(1);
        loop {
            let first = tokio::select! {
                biased;
                request = rx.recv() => match request {
                    Some(request) => request,
                    None => return,
                },
                _ = stop.changed() => {
                    // Shutdown: run what is queued, then stop.
                    rx.close();
                    let mut rest = Vec::new();
                    while let Ok(request) = rx.try_recv() {
                        rest.push(request);
                        if rest.len() == max {
                            self.answer(std::mem::take(&mut rest)).await;
                        }
                    }
                    if !rest.is_empty() {
                        self.answer(rest).await;
                    }
                    return;
                }
            };
            let mut batch = Vec::with_capacity(max.min(64));
            batch.push(first);
            let until = Instant::now() + self.config.linger;
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) if self.config.linger.is_zero() => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        match tokio::time::timeout_at(until, rx.recv()).await {
                            Ok(Some(request)) => batch.push(request),
                            Ok(None) | Err(_) => break,
                        }
                    }
                }
            }
            self.answer(batch).await;
        }
    }

    /// Runs `batch` and answers each caller with its own result. Callers left without
    /// one (a short run, a panic) see their reply sender dropped.
    async fn answer<T, R>(&self, batch: Vec<Request<T, R>>)
    where
        S: BatchRun<T, R>,
    {
        let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) =
            batch.into_iter().map(|r| (r.item, r.reply)).unzip();
        let expected = items.len();
        let results = self.runner.run(items).await;
        if results.len() != expected {
            tracing::error!(batcher = %self.name, expected, got = results.len(), "a batch run returned the wrong number of results; the unanswered callers are told it failed");
        }
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Doubles each number; records the size of every batch; panics on 13.
    #[derive(Default)]
    struct Doubler {
        sizes: Mutex<Vec<usize>>,
    }

    impl BatchRun<u32, u32> for Doubler {
        async fn run(&self, batch: Vec<u32>) -> Vec<u32> {
            self.sizes.lock().unwrap().push(batch.len());
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(!batch.contains(&13), "unlucky");
            // A run short of results for 7: its caller must not get a made-up answer.
            batch
                .into_iter()
                .take_while(|n| *n != 7)
                .map(|n| n * 2)
                .collect()
        }
    }

    fn config(batchers: usize) -> BatchConfig {
        BatchConfig {
            batchers,
            ..BatchConfig::default()
        }
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_result_and_load_makes_batches() {
        let runner = Arc::new(Doubler::default());
        let batcher = Arc::new(Batcher::start("test", Arc::clone(&runner), config(1)));
        let calls: Vec<_> = (20..60u32)
            .map(|n| {
                let batcher = Arc::clone(&batcher);
                tokio::spawn(async move { (n, batcher.call(n).await) })
            })
            .collect();
        for call in calls {
            let (n, result) = call.await.unwrap();
            assert_eq!(result, Ok(n * 2));
        }
        let sizes = runner.sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 40);
        assert!(
            sizes.iter().any(|s| *s > 1),
            "40 concurrent callers ran one by one: {sizes:?}"
        );
        batcher.shutdown().await;
        assert_eq!(batcher.call(1).await, Err(BatchError::Closed));
    }

    #[tokio::test]
    async fn a_short_run_or_a_panic_drops_the_callers_and_the_batcher_goes_on() {
        let batcher = Batcher::start("test", Arc::new(Doubler::default()), config(1));
        assert_eq!(batcher.call(7).await, Err(BatchError::Dropped));
        assert_eq!(batcher.call(13).await, Err(BatchError::Dropped));
        assert_eq!(batcher.call(4).await, Ok(8));
        batcher.shutdown().await;
    }
}
