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
//! * a circuit breaker per caller ([`Caller`], in `breaker.rs`): after
//!   `breaker_failures` consecutive failures *of that caller*, its calls fail fast for
//!   `breaker_cooldown`, then one probe decides whether it closes again; failures seen
//!   by several owners (or agents) at once open a shared breaker for every caller, so a
//!   Tasker that is really down still stops everyone quickly, while one agent's
//!   failing requests pause only that agent;
//! * a request budget ([`RequestBudget`], in `budget.rs`) for upstreams that throttle,
//!   such as Plane's 60 requests a minute per API key: an optional number per minute,
//!   plus the pauses the upstream itself asks for. A caller queues for its turn while
//!   its timeout allows, and otherwise gets [`CallError::Budget`] with the wait at once;
//! * an upstream's throttling answer (see [`Transient::is_throttled`]) is retried only
//!   when its `retry_after` fits in the timeout, and never counts as the upstream
//!   failing: a throttled upstream is healthy and must not open the breaker.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::tasks::{report, Tasks};

mod breaker;
mod budget;

use breaker::Breakers;
pub use breaker::{MAX_CALLERS, QUORUM_AGENTS, QUORUM_MIN_FAILURES, QUORUM_OWNERS};
pub use budget::{RequestBudget, MAX_PAUSE};

/// Who a call is made for: the breaker is kept per agent, and the shared breaker opens
/// only when failures come from several owners or agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The acting agent (the nil UUID for the gateway acting as itself).
    pub agent: Uuid,
    /// The agent's owner.
    pub owner: Uuid,
}

impl Caller {
    /// A caller with no identity: every anonymous call shares one breaker entry.
    pub const ANONYMOUS: Caller = Caller {
        agent: Uuid::nil(),
        owner: Uuid::nil(),
    };
}

/// What the pool needs to know about an upstream error.
pub trait Transient {
    /// Whether retrying the same request may succeed.
    fn is_transient(&self) -> bool;
    /// How long the upstream asked us to wait, if it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// Whether the upstream refused because it throttles (it is healthy, only busy):
    /// such an answer never counts against the breaker.
    fn is_throttled(&self) -> bool {
        false
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
    /// Consecutive failures of one caller that open its breaker.
    pub breaker_failures: u32,
    /// How long an open breaker (a caller's or the shared one) fails calls fast.
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
    /// The request budget would not allow the call within its timeout; a turn is
    /// expected after this long.
    #[error("the upstream's request budget is exhausted")]
    Budget(Duration),
    /// The queue stayed full.
    #[error("too many calls are waiting for the upstream")]
    Overloaded,
    /// The call panicked, was aborted, or the pool is shut down.
    #[error("the call failed inside the gateway")]
    Dropped,
}

/// One call with all its attempts; it answers its caller through a oneshot.
type Job = BoxFuture<'static, ()>;

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
    breaker: Arc<Breakers>,
    budget: Arc<RequestBudget>,
    /// Whether the pool takes one budget turn per attempt (else the upstream's client
    /// takes one per request it sends).
    meter_attempts: bool,
    config: CallConfig,
}

impl CallPool {
    /// Starts the pool: at most `config.workers` calls run at once; each attempt takes
    /// one turn of a budget of `config.budget_per_minute`.
    pub fn start(name: &'static str, config: CallConfig) -> Self {
        let budget = Arc::new(RequestBudget::new(config.budget_per_minute));
        Self::with_budget(name, config, budget, true)
    }

    /// Starts a pool whose upstream client meters its own requests against `budget`
    /// (one call may send several requests); the pool owns the budget but takes no turn
    /// per attempt. `config.budget_per_minute` is ignored: `budget` says it.
    pub fn start_metered(
        name: &'static str,
        config: CallConfig,
        budget: Arc<RequestBudget>,
    ) -> Self {
        Self::with_budget(name, config, budget, false)
    }

    fn with_budget(
        name: &'static str,
        config: CallConfig,
        budget: Arc<RequestBudget>,
        meter_attempts: bool,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let dispatcher = Tasks::new(name);
        dispatcher.spawn(dispatch(name, rx, config.workers.max(1), stopped));
        Self {
            tx,
            stop,
            dispatcher,
            breaker: Arc::new(Breakers::new(
                config.breaker_failures,
                config.breaker_cooldown,
            )),
            budget,
            meter_attempts,
            config,
        }
    }

    /// Runs `call` for [`Caller::ANONYMOUS`]: see [`CallPool::call_as`].
    pub async fn call<T, E, F, Fut>(&self, call: F) -> Result<T, CallError<E>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Transient + Send + 'static,
    {
        self.call_as(Caller::ANONYMOUS, call).await
    }

    /// Runs `call` for `caller` on a worker, with timeout, retries, breaker and budget.
    /// `call` is invoked once per attempt and must send the same request each time. Its
    /// failures count against `caller`'s own breaker (and towards the shared one).
    pub async fn call_as<T, E, F, Fut>(&self, caller: Caller, call: F) -> Result<T, CallError<E>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Transient + Send + 'static,
    {
        if let Some(wait) = self.breaker.check(caller) {
            return Err(CallError::CircuitOpen(wait));
        }
        let (reply, answer) = oneshot::channel();
        let (breaker, config) = (Arc::clone(&self.breaker), self.config);
        let budget = self.meter_attempts.then(|| Arc::clone(&self.budget));
        let job: Job = Box::pin(async move {
            let result = attempts(&call, caller, &breaker, budget.as_deref(), config).await;
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

    /// The upstream's request budget.
    pub fn budget(&self) -> Arc<RequestBudget> {
        Arc::clone(&self.budget)
    }

    /// How many failing callers the breaker tracks (healthy callers hold no entry).
    pub fn tracked_callers(&self) -> usize {
        self.breaker.tracked()
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
    caller: Caller,
    breaker: &Breakers,
    budget: Option<&RequestBudget>,
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
            budget
                .acquire(config.timeout)
                .await
                .map_err(CallError::Budget)?;
        }
        let wait = match tokio::time::timeout(config.timeout, call()).await {
            Ok(Ok(value)) => {
                breaker.success(caller);
                return Ok(value);
            }
            Ok(Err(error)) if !error.is_transient() => {
                // The upstream answered: it is healthy, the request was wrong.
                breaker.success(caller);
                return Err(CallError::Failed(error));
            }
            Ok(Err(error)) if error.is_throttled() => {
                // Healthy but busy: retried only if its wait fits in one timeout.
                let wait = error.retry_after();
                if attempt >= config.retries || wait.is_some_and(|w| w > config.timeout) {
                    return Err(CallError::Failed(error));
                }
                wait
            }
            Ok(Err(error)) => {
                breaker.failure(caller);
                if attempt >= config.retries {
                    return Err(CallError::Failed(error));
                }
                error.retry_after()
            }
            Err(_) => {
                breaker.failure(caller);
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
