//! Call pools: retries, timeouts and the breaker, bounded concurrency, the budget, and
//! the tasks that run the calls.
//!
//! Long on purpose: three groups, in this order: the pool itself (retries, timeout and
//! breaker, workers, budget, panics, drop and shutdown), the per-caller breaker (with
//! `caller`, `failing`, `healthy`, `breaking`), then throttling and the sliding-minute
//! budget (with `Throttled`). They build on the `Upstream` error and `quick()` config.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::{until, DropFlag};
use crate::calls::MAX_CALLERS;
use crate::*;

#[derive(Debug, PartialEq)]
struct Upstream(bool);

impl Transient for Upstream {
    fn is_transient(&self) -> bool {
        self.0
    }
}

fn calls(config: CallConfig) -> Arc<CallPool> {
    Arc::new(CallPool::start("test-calls", config))
}

fn quick() -> CallConfig {
    CallConfig {
        workers: 2,
        timeout: Duration::from_millis(200),
        retries: 2,
        backoff: Duration::from_millis(1),
        breaker_failures: 100,
        ..CallConfig::default()
    }
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_request() {
    let pool = calls(quick());
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let result = pool
        .call(move || {
            let seen = seen.clone();
            async move {
                let mut s = seen.lock().unwrap();
                s.push("key-1");
                if s.len() < 3 {
                    Err(Upstream(true))
                } else {
                    Ok(s.len())
                }
            }
        })
        .await;
    assert_eq!(result, Ok(3));
    assert_eq!(
        *attempts.lock().unwrap(),
        ["key-1", "key-1", "key-1"],
        "every attempt re-sent the same key"
    );

    let once = Arc::new(AtomicUsize::new(0));
    let n = once.clone();
    let result: Result<(), _> = pool
        .call(move || {
            n.fetch_add(1, Ordering::SeqCst);
            async { Err(Upstream(false)) }
        })
        .await;
    assert_eq!(result, Err(CallError::Failed(Upstream(false))));
    assert_eq!(
        once.load(Ordering::SeqCst),
        1,
        "a permanent error is not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_time_out_and_open_the_breaker() {
    let pool = calls(CallConfig {
        breaker_failures: 3,
        breaker_cooldown: Duration::from_secs(5),
        retries: 0,
        ..quick()
    });
    for _ in 0..3 {
        let r: Result<(), CallError<Upstream>> = pool
            .call(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
            .await;
        assert_eq!(r, Err(CallError::Timeout));
    }
    let fast: Result<(), CallError<Upstream>> = pool.call(|| async { Ok(()) }).await;
    assert!(matches!(fast, Err(CallError::CircuitOpen(_))), "{fast:?}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let probe: Result<(), CallError<Upstream>> = pool.call(|| async { Ok(()) }).await;
    assert_eq!(
        probe,
        Ok(()),
        "after the cooldown a probe goes through and closes the breaker"
    );
    let after: Result<(), CallError<Upstream>> = pool.call(|| async { Ok(()) }).await;
    assert_eq!(after, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_by_the_workers() {
    let pool = calls(quick());
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (pool, now, peak) = (pool.clone(), now.clone(), peak.clone());
            tokio::spawn(async move {
                pool.call(move || {
                    let (now, peak) = (now.clone(), peak.clone());
                    async move {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Upstream>(())
                    }
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(()));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_request_budget_holds_calls_back() {
    let pool = calls(CallConfig {
        budget_per_minute: NonZeroU32::new(2),
        ..quick()
    });
    for _ in 0..2 {
        assert_eq!(pool.call(|| async { Ok::<_, Upstream>(()) }).await, Ok(()));
    }
    // The third call would have to wait ~30 s for budget, longer than its timeout.
    let third = pool.call(|| async { Ok::<_, Upstream>(()) }).await;
    assert!(
        matches!(third, Err(CallError::Budget(w)) if w > Duration::from_secs(20)),
        "{third:?}"
    );
}

#[tokio::test]
async fn a_panicking_call_gets_an_error_and_the_pool_keeps_serving() {
    let pool = calls(CallConfig {
        workers: 1,
        ..quick()
    });
    let (panicking, queued) = tokio::join!(
        pool.call(|| async {
            panic!("upstream client bug");
            #[allow(unreachable_code)]
            Ok::<(), Upstream>(())
        }),
        pool.call(|| async { Ok::<_, Upstream>(1) }),
    );
    assert_eq!(panicking, Err(CallError::Dropped), "an error, not a hang");
    assert_eq!(queued, Ok(1), "the call queued behind it still ran");
    for n in 0..3 {
        assert_eq!(
            pool.call(move || async move { Ok::<_, Upstream>(n) }).await,
            Ok(n),
            "the panic did not take the only slot with it"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_pool_aborts_its_running_calls() {
    let pool = calls(CallConfig {
        timeout: Duration::from_secs(3600),
        ..quick()
    });
    let started = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicBool::new(false));
    let caller = tokio::spawn({
        let (pool, started, cancelled) = (pool.clone(), started.clone(), cancelled.clone());
        async move {
            pool.call(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let flag = DropFlag(cancelled.clone());
                async move {
                    let _flag = flag;
                    std::future::pending::<Result<(), Upstream>>().await
                }
            })
            .await
        }
    });
    until(|| started.load(Ordering::SeqCst) > 0).await;
    // The caller gives up; then the last handle to the pool goes.
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    assert!(!cancelled.load(Ordering::SeqCst));
    drop(pool);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the call died with the pool instead of running on untracked"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_runs_queued_calls_then_refuses_new_ones() {
    let pool = calls(CallConfig {
        workers: 1,
        timeout: Duration::from_secs(10),
        ..quick()
    });
    let started = Arc::new(AtomicUsize::new(0));
    let slow = tokio::spawn({
        let (pool, started) = (pool.clone(), started.clone());
        async move {
            pool.call(move || {
                started.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, Upstream>("slow")
                }
            })
            .await
        }
    });
    let queued = tokio::spawn({
        let pool = pool.clone();
        async move { pool.call(|| async { Ok::<_, Upstream>("queued") }).await }
    });
    until(|| started.load(Ordering::SeqCst) > 0).await;
    pool.shutdown().await;
    assert_eq!(slow.await.unwrap(), Ok("slow"), "the running call finished");
    assert_eq!(queued.await.unwrap(), Ok("queued"), "the queued call ran");
    assert_eq!(
        pool.call(|| async { Ok::<_, Upstream>("late") }).await,
        Err(CallError::Dropped),
        "a call after shutdown is refused, not left waiting"
    );
}

fn caller(owner: Uuid) -> Caller {
    Caller {
        agent: Uuid::new_v4(),
        owner,
    }
}

async fn failing(pool: &CallPool, who: Caller) -> Result<(), CallError<Upstream>> {
    pool.call_as(who, || async { Err(Upstream(true)) }).await
}

async fn healthy(pool: &CallPool, who: Caller) -> Result<(), CallError<Upstream>> {
    pool.call_as(who, || async { Ok(()) }).await
}

fn breaking() -> CallConfig {
    CallConfig {
        breaker_failures: 5,
        breaker_cooldown: Duration::from_secs(10),
        ..quick()
    }
}

#[tokio::test]
async fn one_callers_failures_pause_only_that_caller() {
    let pool = calls(breaking());
    let (noisy, other) = (caller(Uuid::new_v4()), caller(Uuid::new_v4()));
    // Two calls of three attempts each: six failures, over the threshold of five.
    for _ in 0..2 {
        assert_eq!(
            failing(&pool, noisy).await,
            Err(CallError::Failed(Upstream(true)))
        );
    }
    assert!(matches!(
        failing(&pool, noisy).await,
        Err(CallError::CircuitOpen(_))
    ));
    assert_eq!(
        healthy(&pool, other).await,
        Ok(()),
        "another agent's calls are not paused"
    );
    assert_eq!(
        pool.tracked_callers(),
        1,
        "only the failing caller has an entry"
    );
    assert!(
        matches!(healthy(&pool, noisy).await, Err(CallError::CircuitOpen(_))),
        "the noisy caller stays paused for its cooldown"
    );
}

#[tokio::test]
async fn one_owners_two_agents_do_not_pause_another_owner() {
    let pool = calls(breaking());
    let owner = Uuid::new_v4();
    for who in [caller(owner), caller(owner)] {
        assert!(failing(&pool, who).await.is_err());
    }
    assert_eq!(healthy(&pool, caller(Uuid::new_v4())).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn an_outage_seen_by_two_owners_pauses_every_caller() {
    let pool = calls(breaking());
    for who in [caller(Uuid::new_v4()), caller(Uuid::new_v4())] {
        assert_eq!(
            failing(&pool, who).await,
            Err(CallError::Failed(Upstream(true)))
        );
    }
    let called = Arc::new(AtomicBool::new(false));
    let seen = called.clone();
    let bystander: Result<(), CallError<Upstream>> = pool
        .call_as(caller(Uuid::new_v4()), move || {
            seen.store(true, Ordering::SeqCst);
            async { Ok(()) }
        })
        .await;
    assert!(
        matches!(bystander, Err(CallError::CircuitOpen(_))),
        "{bystander:?}"
    );
    assert!(!called.load(Ordering::SeqCst), "an open breaker fails fast");
    tokio::time::sleep(Duration::from_secs(11)).await;
    let probe = caller(Uuid::new_v4());
    assert_eq!(healthy(&pool, probe).await, Ok(()), "one probe passes");
    assert_eq!(healthy(&pool, caller(Uuid::new_v4())).await, Ok(()));
}

#[tokio::test]
async fn a_glitch_does_not_complete_a_quorum() {
    let pool = calls(breaking());
    // A caller failing on its own, then another whose first attempt fails and whose
    // retry succeeds: no outage, nobody else is paused.
    assert!(failing(&pool, caller(Uuid::new_v4())).await.is_err());
    let tries = Arc::new(AtomicUsize::new(0));
    let n = tries.clone();
    let glitch: Result<(), CallError<Upstream>> = pool
        .call_as(caller(Uuid::new_v4()), move || {
            let first = n.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err(Upstream(true))
                } else {
                    Ok(())
                }
            }
        })
        .await;
    assert_eq!(glitch, Ok(()));
    assert_eq!(healthy(&pool, caller(Uuid::new_v4())).await, Ok(()));
}

#[tokio::test]
async fn the_breaker_tracks_a_bounded_number_of_callers() {
    let pool = calls(CallConfig {
        retries: 0,
        workers: 8,
        ..breaking()
    });
    for _ in 0..MAX_CALLERS + 50 {
        assert!(matches!(
            failing(&pool, caller(Uuid::new_v4())).await,
            Err(CallError::Failed(_))
        ));
    }
    assert_eq!(pool.tracked_callers(), MAX_CALLERS);
    assert_eq!(healthy(&pool, caller(Uuid::new_v4())).await, Ok(()));
}

/// An upstream that throttles: healthy but busy, asking for a wait.
#[derive(Debug, PartialEq)]
struct Throttled(Duration);

impl Transient for Throttled {
    fn is_transient(&self) -> bool {
        true
    }
    fn retry_after(&self) -> Option<Duration> {
        Some(self.0)
    }
    fn is_throttled(&self) -> bool {
        true
    }
}

#[tokio::test(start_paused = true)]
async fn an_upstream_pause_queues_calls_while_their_timeout_allows() {
    let pool = calls(quick());
    let budget = pool.budget();
    // A short pause (inside the 200 ms timeout) is waited out.
    budget.pause(Duration::from_millis(150));
    let started = tokio::time::Instant::now();
    assert_eq!(pool.call(|| async { Ok::<_, Upstream>(()) }).await, Ok(()));
    assert!(started.elapsed() >= Duration::from_millis(150));
    // A long one is reported at once, with its wait.
    budget.pause(Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    let r = pool.call(|| async { Ok::<_, Upstream>(()) }).await;
    assert!(
        matches!(r, Err(CallError::Budget(w)) if w > Duration::from_secs(29)),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(10), "no waiting");
    // Headers saying nothing remains pause the same way.
    let fresh = RequestBudget::new(None);
    fresh.observe(Some(3), Some(Duration::from_secs(60)));
    assert!(fresh.paused_until().is_none());
    fresh.observe(Some(0), Some(Duration::from_secs(60)));
    assert!(fresh.acquire(Duration::from_secs(1)).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_throttled_answer_is_retried_only_when_its_wait_fits_and_never_opens_the_breaker() {
    let pool = calls(CallConfig {
        breaker_failures: 1,
        ..quick()
    });
    let sent = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&sent);
    let r = pool
        .call(move || {
            let s = Arc::clone(&s);
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Throttled(Duration::from_secs(30)))
            }
        })
        .await;
    assert_eq!(
        r,
        Err(CallError::Failed(Throttled(Duration::from_secs(30))))
    );
    assert_eq!(
        sent.load(Ordering::SeqCst),
        1,
        "a 30 s wait does not fit a 200 ms timeout"
    );
    let s = Arc::clone(&sent);
    let r = pool
        .call(move || {
            let s = Arc::clone(&s);
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Throttled(Duration::from_millis(50)))
            }
        })
        .await;
    assert!(r.is_err());
    assert_eq!(
        sent.load(Ordering::SeqCst),
        4,
        "short waits are retried (2 retries)"
    );
    // Four throttled answers with a breaker of one failure: still closed.
    assert_eq!(pool.call(|| async { Ok::<_, Upstream>(7) }).await, Ok(7));
}

#[tokio::test(start_paused = true)]
async fn the_budget_counts_a_sliding_minute_like_plane_s_throttle() {
    let budget = RequestBudget::new(NonZeroU32::new(3));
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(budget.acquire(Duration::ZERO).await, Ok(()));
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    // A fourth in the same minute would make four: refused at once, with the wait.
    let wait = budget.acquire(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(wait, Duration::from_secs(40));
    // Queued while its deadline allows: sent when the first leaves the window.
    assert_eq!(budget.acquire(Duration::from_secs(45)).await, Ok(()));
    assert_eq!(start.elapsed(), Duration::from_secs(60));
}
