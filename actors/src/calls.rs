//! A pool of call actors for a slow, sometimes failing upstream (the Tasker).
//!
//! Callers hand a call to the pool's bounded queue; a dispatcher runs each as a task of
//! one `JoinSet`, never more than `workers` at once, so the upstream never sees more than
//! `workers` calls and a slow upstream never blocks an agent's actor or the supervisor.
//! A panicking call is logged and its caller gets an error; shutdown waits for the
//! calls, and dropping the pool aborts them. Each call gets:
//!
//! * a timeout per attempt;
//! * retries of transient failures (the caller's closure re-sends the *same* request —
//!   for writes, with the same idempotency key), with exponential backoff or the
//!   upstream's own `retry_after`;
//! * a circuit breaker: after `breaker_failures` consecutive failures, calls fail fast
//!   for `breaker_cooldown`, then one probe decides whether it closes again;
//! * an optional request budget (calls per minute) for upstreams that throttle, such as
//!   Plane's 60 requests a minute per API key.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::tasks::{report, Tasks};

/// What the pool needs to know about an upstream error.
pub trait Transient {
    /// Whether retrying the same request may succeed.
    fn is_transient(&self) -> bool;
    /// How long the upstream asked us to wait, if it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Bounds of a call pool.
#[derive(Debug, Clone, Copy)]
pub struct CallConfig {
    /// Calls in flight at most.
    pub workers: usize,
    /// Calls waiting at most.
    pub queue: usize,
    /// How long a caller waits for room in the queue.
    pub queue_wait: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts after the first, for transient failures and timeouts.
    pub retries: u32,
    /// First backoff; doubled per attempt.
    pub backoff: Duration,
    /// Consecutive failures that open the breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails calls fast.
    pub breaker_cooldown: Duration,
    /// Upstream calls per minute, when the upstream throttles.
    pub budget_per_minute: Option<NonZeroU32>,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            queue: 1024,
            queue_wait: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(100),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(10),
            budget_per_minute: None,
        }
    }
}

/// Why a call did not return the upstream's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError<E> {
    /// The upstream answered with an error (after retries, if transient).
    #[error("{0}")]
    Failed(E),
    /// Every attempt timed out.
    #[error("the upstream did not answer in time")]
    Timeout,
    /// The breaker is open; retry after this long.
    #[error("the upstream is failing; calls are paused")]
    CircuitOpen(Duration),
    /// The request budget would not allow the call within its timeout.
    #[error("the upstream's request budget is exhausted")]
    Budget,
    /// The queue stayed full.
    #[error("too many calls are waiting for the upstream")]
    Overloaded,
    /// The call panicked, was aborted, or the pool is shut down.
    #[error("the call failed inside the gateway")]
    Dropped,
}

/// One call with all its attempts; it answers its caller through a oneshot.
type Job = BoxFuture<'static, ()>;

#[derive(Debug)]
struct Breaker {
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    /// `Some(wait)` while open. After the cooldown one caller passes as the probe.
    fn check(&self) -> Option<Duration> {
        let mut open = self
            .open_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *open {
            Some(until) if Instant::now() < until => Some(until - Instant::now()),
            Some(_) => {
                // Half-open: let this call probe; hold the others for another cooldown.
                *open = Some(Instant::now() + self.cooldown);
                None
            }
            None => None,
        }
    }

    fn success(&self) {
        self.failures.store(0, Ordering::SeqCst);
        *self
            .open_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn failure(&self) {
        if self.failures.fetch_add(1, Ordering::SeqCst) + 1 >= self.threshold {
            *self
                .open_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + self.cooldown);
        }
    }
}

/// A pool of call workers in front of one upstream. Cheap to share behind an `Arc`.
///
/// One dispatcher task takes calls off the queue and runs each as its own task in a
/// [`JoinSet`], never more than `workers` at once. A call that panics is reaped and
/// logged by the dispatcher, its slot goes to the next call, and its caller gets
/// [`CallError::Dropped`]. [`CallPool::shutdown`] runs what is queued and waits;
/// dropping the pool aborts the dispatcher and every call it runs.
#[derive(Debug)]
pub struct CallPool {
    tx: mpsc::Sender<Job>,
    stop: watch::Sender<bool>,
    dispatcher: Tasks,
    breaker: Arc<Breaker>,
    budget: Option<Arc<DefaultDirectRateLimiter>>,
    config: CallConfig,
}

impl CallPool {
    /// Starts the pool: at most `config.workers` calls run at once.
    pub fn start(name: &'static str, config: CallConfig) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let dispatcher = Tasks::new(name);
        dispatcher.spawn(dispatch(name, rx, config.workers.max(1), stopped));
        Self {
            tx,
            stop,
            dispatcher,
            breaker: Arc::new(Breaker {
                failures: AtomicU32::new(0),
                open_until: Mutex::new(None),
                threshold: config.breaker_failures.max(1),
                cooldown: config.breaker_cooldown,
            }),
            budget: config
                .budget_per_minute
                .map(|n| Arc::new(RateLimiter::direct(Quota::per_minute(n)))),
            config,
        }
    }

    /// Runs `call` on a worker, with timeout, retries, breaker and budget. `call` is
    /// invoked once per attempt and must send the same request each time.
    pub async fn call<T, E, F, Fut>(&self, call: F) -> Result<T, CallError<E>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Transient + Send + 'static,
    {
        if let Some(wait) = self.breaker.check() {
            return Err(CallError::CircuitOpen(wait));
        }
        let (reply, answer) = oneshot::channel();
        let (breaker, budget, config) =
            (Arc::clone(&self.breaker), self.budget.clone(), self.config);
        let job: Job = Box::pin(async move {
            let result = attempts(&call, &breaker, budget.as_deref(), config).await;
            let _ = reply.send(result);
        });
        self.tx
            .send_timeout(job, self.config.queue_wait)
            .await
            .map_err(|e| match e {
                mpsc::error::SendTimeoutError::Timeout(_) => CallError::Overloaded,
                mpsc::error::SendTimeoutError::Closed(_) => CallError::Dropped,
            })?;
        // A panicking or aborted call drops `reply`: its caller gets an error, never a hang.
        answer.await.unwrap_or(Err(CallError::Dropped))
    }

    /// Stops taking calls (new ones get [`CallError::Dropped`]), runs the calls already
    /// queued, and waits until every call has finished. Each call is bounded by its
    /// timeouts, so this ends.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        self.dispatcher.shutdown().await;
    }
}

/// The dispatcher: runs queued calls as tasks of one `JoinSet`, at most `workers` at a
/// time, and reaps them so a panic is logged and frees its slot. Once told to stop it
/// closes the queue, runs what was queued, and ends when nothing is left.
async fn dispatch(
    name: &'static str,
    mut queue: mpsc::Receiver<Job>,
    workers: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut running = JoinSet::new();
    let (mut queued, mut stopping) = (true, false);
    loop {
        tokio::select! {
            // Reap first, so a freed slot is seen before the next call is taken.
            biased;
            Some(done) = running.join_next() => {
                if let Err(error) = done {
                    report(name, error);
                }
            }
            // An error means the pool is gone: stop as well.
            _ = stop.changed(), if !stopping => {
                stopping = true;
                queue.close();
            }
            job = queue.recv(), if queued && running.len() < workers => match job {
                Some(job) => {
                    running.spawn(job);
                }
                None => queued = false,
            },
            else => return,
        }
    }
}

async fn attempts<T, E, F, Fut>(
    call: &F,
    breaker: &Breaker,
    budget: Option<&DefaultDirectRateLimiter>,
    config: CallConfig,
) -> Result<T, CallError<E>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Transient,
{
    let mut attempt = 0u32;
    loop {
        if let Some(budget) = budget {
            if tokio::time::timeout(config.timeout, budget.until_ready())
                .await
                .is_err()
            {
                return Err(CallError::Budget);
            }
        }
        let wait = match tokio::time::timeout(config.timeout, call()).await {
            Ok(Ok(value)) => {
                breaker.success();
                return Ok(value);
            }
            Ok(Err(error)) if !error.is_transient() => {
                // The upstream answered: it is healthy, the request was wrong.
                breaker.success();
                return Err(CallError::Failed(error));
            }
            Ok(Err(error)) => {
                breaker.failure();
                if attempt >= config.retries {
                    return Err(CallError::Failed(error));
                }
                error.retry_after()
            }
            Err(_) => {
                breaker.failure();
                if attempt >= config.retries {
                    return Err(CallError::Timeout);
                }
                None
            }
        };
        let backoff = config.backoff.saturating_mul(1 << attempt.min(10));
        tokio::time::sleep(wait.unwrap_or(backoff).min(config.timeout)).await;
        attempt += 1;
    }
}
