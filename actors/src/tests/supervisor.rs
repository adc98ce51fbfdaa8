//! The supervisor and its agent actors: admission, restarts, revocation, idle stop, the
//! work session, and the tasks it spawns.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use uuid::Uuid;

use super::{until, DropFlag};
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
        session: None,
        stop_refuses_writes: false,
    }
}

fn read(project: Option<&str>) -> AdmitRequest {
    AdmitRequest {
        scope: Some("cards:read".into()),
        project_id: project.map(str::to_owned),
        rate_limited: true,
        tracker_write: false,
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
            projects: vec!["p1".into()],
            session: None,
        })
    );
    match sup.admit(id, read(Some("p2"))).await.unwrap() {
        Some(Admission::Denied(DenyReason::ProjectNotGranted { granted, .. })) => {
            assert_eq!(granted, vec!["p1"])
        }
        other => panic!("expected a project refusal, got {other:?}"),
    }
    let write = AdmitRequest {
        scope: Some("cards:write".into()),
        project_id: None,
        rate_limited: true,
        tracker_write: true,
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
        Some(Admission::Denied(DenyReason::RateLimited {
            retry_after,
            streak,
        })) => {
            assert_eq!(streak, 1, "the first refusal of a streak");
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
async fn the_session_mark_rides_admission_and_a_pending_stop_refuses_writes_when_asked() {
    let mut p = profile(10);
    p.grants[0].scopes.insert("cards:write".into());
    let (sup, loader) = supervisor(vec![p.clone()]);
    let write = || AdmitRequest {
        scope: Some("cards:write".into()),
        project_id: Some("p1".into()),
        rate_limited: true,
        tracker_write: true,
    };
    // The actor starts with the store's word: no session.
    assert!(matches!(
        sup.admit(p.agent_id, read(None)).await.unwrap(),
        Some(Admission::Allowed { session: None, .. })
    ));
    let mut mark = SessionMark {
        id: Uuid::new_v4(),
        card: "P-1".into(),
        stop_requested: false,
    };
    sup.set_session(p.agent_id, Some(mark.clone()));
    assert_eq!(sup.session(p.agent_id), Some(mark.clone()));
    match sup.admit(p.agent_id, write()).await.unwrap() {
        Some(Admission::Allowed { session, .. }) => assert_eq!(session, Some(mark.clone())),
        other => panic!("expected admission with the session, got {other:?}"),
    }
    // A pending stop alone changes nothing: the setting is off.
    mark.stop_requested = true;
    sup.set_session(p.agent_id, Some(mark.clone()));
    assert!(matches!(
        sup.admit(p.agent_id, write()).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));
    // With the setting on (a reload from the store), writes are refused, reads are not.
    p.stop_refuses_writes = true;
    p.session = Some(mark.clone());
    *loader.0.lock().unwrap() = vec![p.clone()];
    sup.revoke(Revocation::Reload(p.agent_id));
    let mut refused = false;
    for _ in 0..200 {
        if let Some(Admission::Denied(DenyReason::StopRequested { session })) =
            sup.admit(p.agent_id, write()).await.unwrap()
        {
            assert_eq!(session, mark);
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "a write is refused while the stop is pending");
    assert!(matches!(
        sup.admit(p.agent_id, read(None)).await.unwrap(),
        Some(Admission::Allowed { .. })
    ));
    // The session finished: writes go through again.
    sup.set_session(p.agent_id, None);
    assert!(matches!(
        sup.admit(p.agent_id, write()).await.unwrap(),
        Some(Admission::Allowed { session: None, .. })
    ));
    assert_eq!(sup.snapshot(p.agent_id).await.unwrap().session, None);
}

/// Answers the first load; every later load (a reload) hangs until cancelled.
struct StuckReload {
    profile: AgentProfile,
    loads: AtomicUsize,
    cancelled: Arc<AtomicBool>,
}

impl ProfileLoader for StuckReload {
    fn load(&self, _: Uuid) -> BoxFuture<'_, Result<Option<AgentProfile>, String>> {
        if self.loads.fetch_add(1, Ordering::SeqCst) == 0 {
            let profile = self.profile.clone();
            return Box::pin(async move { Ok(Some(profile)) });
        }
        let flag = DropFlag(self.cancelled.clone());
        Box::pin(async move {
            let _flag = flag;
            std::future::pending().await
        })
    }
}

/// A supervisor whose agent's actor is waiting for a reload that never answers.
async fn reload_in_flight() -> (Supervisor, Arc<StuckReload>) {
    let loader = Arc::new(StuckReload {
        profile: profile(10),
        loads: AtomicUsize::new(0),
        cancelled: Arc::new(AtomicBool::new(false)),
    });
    let sup = Supervisor::new(loader.clone(), SupervisorConfig::default());
    let id = loader.profile.agent_id;
    sup.admit(id, read(None)).await.unwrap();
    sup.revoke(Revocation::Reload(id));
    until(|| loader.loads.load(Ordering::SeqCst) == 2).await;
    assert!(!loader.cancelled.load(Ordering::SeqCst));
    (sup, loader)
}

#[tokio::test(start_paused = true)]
async fn shutdown_aborts_a_reload_in_flight() {
    let (sup, loader) = reload_in_flight().await;
    sup.shutdown().await;
    assert!(
        loader.cancelled.load(Ordering::SeqCst),
        "the reload ended with the supervisor instead of running on untracked"
    );
    assert_eq!(sup.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_supervisor_aborts_a_reload_in_flight() {
    let (sup, loader) = reload_in_flight().await;
    drop(sup);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(
        loader.cancelled.load(Ordering::SeqCst),
        "the reload died with the supervisor"
    );
}
