//! Tests of the runtime, one per failure mode. The loader and sink here are in-memory
//! stand-ins for the service's store: this crate has no store of its own.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use uuid::Uuid;

use crate::agent::Msg;
use crate::*;

struct Profiles(Mutex<Vec<AgentProfile>>, AtomicUsize);

impl ProfileLoader for Profiles {
    fn load(&self, agent_id: Uuid) -> BoxFuture<'_, Result<Option<AgentProfile>, String>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let found = self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.agent_id == agent_id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }
}

fn profile(burst: u32) -> AgentProfile {
    AgentProfile {
        agent_id: Uuid::new_v4(),
        owner_id: Uuid::new_v4(),
        name: "test-agent".into(),
        active: true,
        grants: vec![Grant {
            project_id: "p1".into(),
            scopes: BTreeSet::from(["cards:read".to_owned()]),
        }],
        rate: RateSpec {
            per_minute: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        },
    }
}

fn read(project: Option<&str>) -> AdmitRequest {
    AdmitRequest {
        scope: "cards:read".into(),
        project_id: project.map(str::to_owned),
        rate_limited: true,
    }
}

fn supervisor(profiles: Vec<AgentProfile>) -> (Supervisor, Arc<Profiles>) {
    let loader = Arc::new(Profiles(Mutex::new(profiles), AtomicUsize::new(0)));
    let sup = Supervisor::new(loader.clone(), SupervisorConfig::default());
    (sup, loader)
}

#[tokio::test]
async fn admission_checks_project_scope_and_rate() {
    let p = profile(2);
    let (sup, _) = supervisor(vec![p.clone()]);
    let id = p.agent_id;
    assert_eq!(
        sup.admit(id, read(Some("p1"))).await.unwrap(),
        Some(Admission::Allowed {
            projects: vec!["p1".into()]
        })
    );
    match sup.admit(id, read(Some("p2"))).await.unwrap() {
        Some(Admission::Denied(DenyReason::ProjectNotGranted { granted, .. })) => {
            assert_eq!(granted, vec!["p1"])
        }
        other => panic!("expected a project refusal, got {other:?}"),
    }
    let write = AdmitRequest {
        scope: "cards:write".into(),
        project_id: None,
        rate_limited: true,
    };
    assert!(matches!(
        sup.admit(id, write).await.unwrap(),
        Some(Admission::Denied(DenyReason::MissingScope { .. }))
    ));
    // Burst of 2: one used above; the refusals above did not consume any.
    assert!(matches!(
        sup.admit(id, read(None)).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));
    match sup.admit(id, read(None)).await.unwrap() {
        Some(Admission::Denied(DenyReason::RateLimited { retry_after })) => {
            assert!(retry_after > Duration::ZERO)
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    assert_eq!(
        sup.admit(Uuid::new_v4(), read(None)).await.unwrap(),
        None,
        "unknown agents are None"
    );
}

#[tokio::test]
async fn a_panicking_actor_is_restarted_with_its_bucket_and_flag_intact() {
    let p = profile(2);
    let (sup, _) = supervisor(vec![p.clone()]);
    let id = p.agent_id;
    assert!(matches!(
        sup.admit(id, read(None)).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));

    let mailbox = sup.mailbox(id).unwrap();
    mailbox.send(Msg::Crash).await.unwrap();

    // The same mailbox serves again; the bucket was not refilled by the crash.
    assert!(matches!(
        sup.admit(id, read(None)).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));
    assert!(matches!(
        sup.admit(id, read(None)).await.unwrap(),
        Some(Admission::Denied(DenyReason::RateLimited { .. }))
    ));
    let snap = sup.snapshot(id).await.unwrap();
    assert_eq!(snap.restarts, 1);
    assert_eq!(
        sup.running(),
        1,
        "the restarted actor kept its registry slot"
    );
}

#[tokio::test]
async fn a_request_in_the_hands_of_a_crashing_actor_gets_an_error_not_an_answer() {
    let p = profile(5);
    let (sup, _) = supervisor(vec![p.clone()]);
    let id = p.agent_id;
    sup.admit(id, read(None)).await.unwrap();
    let mailbox = sup.mailbox(id).unwrap();
    // Queue a crash, then a snapshot request: the snapshot is answered by the restarted
    // actor; nothing is lost except the crashing message itself.
    mailbox.send(Msg::Crash).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    mailbox.send(Msg::Snapshot(tx)).await.unwrap();
    assert_eq!(rx.await.unwrap().restarts, 1);
}

#[tokio::test]
async fn revoke_is_in_force_when_it_returns_and_reaches_watchers() {
    let a = profile(10);
    let mut b = profile(10);
    b.owner_id = a.owner_id;
    let c = profile(10);
    let (sup, _) = supervisor(vec![a.clone(), b.clone(), c.clone()]);
    for p in [&a, &b, &c] {
        sup.admit(p.agent_id, read(None)).await.unwrap();
    }
    let mut watch = sup.watch_revoked(a.agent_id).await.unwrap().unwrap();
    sup.revoke(Revocation::Owner(a.owner_id));
    assert!(
        *watch.borrow_and_update(),
        "the watch flips before revoke returns"
    );
    for p in [&a, &b] {
        assert_eq!(
            sup.admit(p.agent_id, read(None)).await.unwrap(),
            Some(Admission::Denied(DenyReason::Revoked))
        );
    }
    assert!(matches!(
        sup.admit(c.agent_id, read(None)).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));
}

#[tokio::test]
async fn idle_actors_stop_and_start_again_on_the_next_call() {
    let p = profile(10);
    let loader = Arc::new(Profiles(Mutex::new(vec![p.clone()]), AtomicUsize::new(0)));
    let sup = Supervisor::new(
        loader.clone(),
        SupervisorConfig {
            idle_timeout: Duration::from_millis(50),
            ..SupervisorConfig::default()
        },
    );
    sup.admit(p.agent_id, read(None)).await.unwrap();
    assert_eq!(sup.running(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sup.running(), 0, "the idle actor left the registry");
    assert!(matches!(
        sup.admit(p.agent_id, read(None)).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));
    assert_eq!(
        loader.1.load(Ordering::SeqCst),
        2,
        "the profile was loaded again"
    );
}

#[tokio::test]
async fn the_work_session_lives_in_the_actor() {
    let p = profile(10);
    let (sup, _) = supervisor(vec![p.clone()]);
    let first = sup
        .start_session(p.agent_id, Some("WEB-1".into()), "fixing login".into())
        .await
        .unwrap();
    let second = sup
        .start_session(p.agent_id, Some("WEB-2".into()), "tests".into())
        .await
        .unwrap();
    assert_eq!(
        second.started_at, first.started_at,
        "an update keeps the session's start"
    );
    assert_eq!(second.card.as_deref(), Some("WEB-2"));
    assert_eq!(
        sup.snapshot(p.agent_id).await.unwrap().session,
        Some(second.clone())
    );
    assert_eq!(sup.finish_session(p.agent_id).await.unwrap(), Some(second));
    assert_eq!(sup.snapshot(p.agent_id).await.unwrap().session, None);
    assert_eq!(sup.finish_session(p.agent_id).await.unwrap(), None);
}

// ---- writer pool ---------------------------------------------------------------------

#[derive(Default)]
struct Recording {
    batches: Mutex<Vec<Vec<u32>>>,
    fail: std::sync::atomic::AtomicBool,
}

impl BatchSink<u32> for Recording {
    async fn write(&self, batch: &[u32]) -> Result<(), String> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err("store down".into());
        }
        if batch.contains(&666) {
            panic!("poisoned row");
        }
        self.batches.lock().unwrap().push(batch.to_vec());
        Ok(())
    }
}

fn pool(sink: Arc<Recording>, writers: usize) -> Arc<WriterPool<u32>> {
    Arc::new(WriterPool::start(
        "test",
        sink,
        WriterConfig {
            writers,
            max_batch: 64,
            max_delay: Duration::from_millis(2),
            retries: 1,
            ..WriterConfig::default()
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_batched_and_each_is_acked_after_its_flush() {
    let sink = Arc::new(Recording::default());
    let pool = pool(sink.clone(), 2);
    let mut tasks = Vec::new();
    for i in 0..500u32 {
        let (pool, sink) = (pool.clone(), sink.clone());
        tasks.push(tokio::spawn(async move {
            pool.write(i).await.unwrap();
            // Acknowledged means flushed: the row is in a recorded batch already.
            assert!(
                sink.batches.lock().unwrap().iter().any(|b| b.contains(&i)),
                "row {i} acked before its flush"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let batches = sink.batches.lock().unwrap();
    let mut all: Vec<u32> = batches.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..500).collect::<Vec<_>>(),
        "every row written exactly once"
    );
    assert!(
        batches.len() < 500,
        "rows were batched ({} batches)",
        batches.len()
    );
    assert!(
        batches.iter().all(|b| b.len() <= 64),
        "no batch over max_batch"
    );
}

#[tokio::test]
async fn a_failing_sink_acks_nobody() {
    let sink = Arc::new(Recording::default());
    sink.fail.store(true, Ordering::SeqCst);
    let pool = pool(sink.clone(), 1);
    let results = futures::future::join_all((0..10).map(|i| pool.write(i))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(WriteError::Failed(_)))),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_panicking_sink_drops_its_batch_and_the_writer_restarts() {
    let sink = Arc::new(Recording::default());
    let pool = pool(sink.clone(), 1);
    assert_eq!(pool.write(666).await, Err(WriteError::Dropped));
    assert_eq!(pool.write(7).await, Ok(()));
    assert!(sink
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .any(|&r| r == 7));
}

#[tokio::test]
async fn shutdown_flushes_queued_rows() {
    let sink = Arc::new(Recording::default());
    let pool = pool(sink.clone(), 2);
    for i in 0..100 {
        pool.submit(i).await.unwrap();
    }
    pool.shutdown().await;
    assert_eq!(sink.batches.lock().unwrap().iter().flatten().count(), 100);
    assert_eq!(pool.submit(1).await, Err(WriteError::Closed));
}

// ---- call pool -------------------------------------------------------------------------

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
    assert_eq!(
        pool.call(|| async { Ok::<_, Upstream>(()) }).await,
        Err(CallError::Budget)
    );
}
