//! The `plane` adapter against a fake Plane (`fake/`, each behaviour from Plane's own
//! source): the conformance kit through the contract server, every request it can make
//! (no DELETE, no archive), idempotency through `external_id` and Plane's 409, the
//! validation Plane skips, the throttle, cursor pagination, servers older than v1.1.0,
//! and the gateway end to end over MCP.
//!
//! Long on purpose: one test per Plane behaviour the adapter depends on, in the order
//! above, with the misconfigured-server messages last; they share the `config`, `adapter`,
//! `actor` and `card` helpers at the top. The fake itself lives in `fake/` and the end to
//! end run in `e2e.rs`, so only the adapter's own tests remain here.

use std::sync::Arc;
use std::time::Duration;

use agent_gateway::tasker::check::{self, CheckTarget};
use agent_gateway::tasker::http::{router, ContractState};
use agent_gateway::tasker::plane::{PlaneConfig, PlaneTasker, EXTERNAL_SOURCE, GATEWAY_ACTOR};
use agent_gateway::tasker::pool::PooledTasker;
use agent_gateway::tasker::*;
use agent_gateway::token::TokenHash;
use gateway_actors::{CallConfig, RequestBudget};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

mod e2e;
mod fake;

use fake::{Fake, KEY, SLUG};

const SERVICE_TOKEN: &str = "internal-service-token-for-tests";

fn config(fake: &Fake) -> PlaneConfig {
    PlaneConfig {
        url: fake.url.clone(),
        workspace: SLUG.into(),
        api_key: SecretString::from(KEY),
    }
}

fn adapter(fake: &Fake) -> PlaneTasker {
    PlaneTasker::new(
        &config(fake),
        Arc::new(RequestBudget::new(None)),
        Duration::from_secs(10),
    )
    .unwrap()
}

fn actor(granted: &[&str]) -> Actor {
    Actor {
        agent_id: Uuid::new_v4(),
        agent_name: "Scout".into(),
        owner_id: Uuid::new_v4(),
        owner_name: "Ada".into(),
        granted: granted.iter().map(|s| (*s).to_owned()).collect(),
        work_session: None,
    }
}

fn card(project: &str, name: &str) -> NewCard {
    NewCard {
        project_id: project.into(),
        name: name.into(),
        ..NewCard::default()
    }
}

/// The kit passes through the contract server with the Plane adapter behind it; then
/// every other port operation runs too, and Plane never saw a DELETE or an archive.
#[tokio::test]
async fn the_conformance_kit_passes_and_plane_never_sees_a_delete_or_archive() {
    let fake = Fake::start().await;
    let (project, other, member) = fake.with(|w| {
        let ana = w.add_user("Ana Petrova", 15);
        (
            w.add_project("CHK", &[(&ana, 15)]),
            w.add_project("CHO", &[]),
            ana,
        )
    });
    let plane: Arc<dyn Tasker> = Arc::new(adapter(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ContractState {
        tasker: Arc::clone(&plane),
        token: TokenHash::of(SERVICE_TOKEN),
    };
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let results = check::run(CheckTarget {
        url: url::Url::parse(&format!("http://{addr}/")).unwrap(),
        token: SecretString::from(SERVICE_TOKEN),
        project: project.clone(),
        other_project: other.clone(),
    })
    .await;
    let table = check::table(&results);
    assert!(
        results.iter().all(|r| r.outcome.is_ok()),
        "conformance failures:\n{table}"
    );
    assert_eq!(results.len(), 11);

    // The rest of the port, so the request log covers everything the adapter sends.
    let me = actor(&[&project]);
    let parent = plane
        .create_card(&me, "parent", &card(&project, "Parent"))
        .await
        .unwrap();
    let full = NewCard {
        description: Some("Why\nand how".into()),
        priority: Some("High".into()),
        state: Some("in progress".into()),
        labels: vec!["BUG".into()],
        assignees: vec!["ana petrova".into()],
        parent: Some(parent.card.key.clone()),
        start_date: Some("2025-03-01".into()),
        target_date: Some("2025-03-07".into()),
        blocks: vec![Block {
            name: "acceptance criteria".into(),
            content: "- works".into(),
        }],
        ..card(&project, "Everything")
    };
    let c = plane.create_card(&me, "full", &full).await.unwrap();
    assert_eq!(
        (c.card.state.as_str(), c.card.priority.as_str()),
        ("In Progress", "high")
    );
    assert_eq!(c.card.labels, ["bug"]);
    assert_eq!(c.card.assignees[0].user_id, member);
    assert_eq!(c.card.parent.as_deref(), Some(parent.card.key.as_str()));
    assert_eq!(c.description, "Why\nand how");
    assert_eq!(c.blocks[0].content, "- works");
    let patch = CardPatch {
        name: Some("Renamed".into()),
        description: Some("New text".into()),
        priority: Some("low".into()),
        parent: Some(String::new()),
        start_date: Some(String::new()),
        target_date: Some("2025-04-01".into()),
    };
    let u = plane
        .update_card(&me, "patch", &c.card.id, &patch)
        .await
        .unwrap();
    assert_eq!(
        (u.card.name.as_str(), u.description.as_str()),
        ("Renamed", "New text")
    );
    assert_eq!(
        (u.card.parent.clone(), u.card.start_date.clone()),
        (None, None)
    );
    assert_eq!(u.blocks.len(), 1, "a description change keeps the blocks");
    let a = plane.assign(&me, "assign", &u.card.key, &[]).await.unwrap();
    assert!(a.card.assignees.is_empty());
    let l = plane
        .set_labels(&me, "labels", &u.card.key, &[])
        .await
        .unwrap();
    assert!(l.card.labels.is_empty());
    let refused = plane
        .add_member(
            &me,
            "member",
            &project,
            &NewMember {
                user_id: member.clone(),
                role: 15,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::ForbiddenOperation);
    let mine = plane.projects_of_member(&member).await.unwrap();
    assert_eq!(
        mine.iter()
            .map(|m| (m.identifier.as_str(), m.role))
            .collect::<Vec<_>>(),
        [("CHK", 15)]
    );
    let page = plane
        .search_cards(
            &me,
            &CardQuery {
                assignee: Some(member.clone()),
                ..CardQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(page.cards.is_empty(), "nobody is assigned any more");

    let requests = fake.with(|w| w.requests.clone());
    let methods: std::collections::BTreeSet<&str> =
        requests.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH", "POST"].into_iter().collect());
    assert!(
        !requests.iter().any(|(_, p)| p.contains("archiv")),
        "{requests:?}"
    );
    assert!(requests.iter().all(|(_, p)| p.starts_with("/api/v1/")));
}

/// Plane answers a duplicate external pair with 409 and the id: a second adapter (a
/// restarted gateway, no memory of the first send) gets the first card; the same
/// adapter retrying looks the pair up first; another name under the key is a conflict.
#[tokio::test]
async fn a_repeated_create_answers_the_first_card() {
    let fake = Fake::start().await;
    let project = fake.with(|w| w.add_project("WEB", &[]));
    let me = actor(&[&project]);
    let first = adapter(&fake)
        .create_card(&me, "k1", &card(&project, "Fix login"))
        .await
        .unwrap();
    let restarted = adapter(&fake);
    let again = restarted
        .create_card(&me, "k1", &card(&project, "Fix login"))
        .await
        .unwrap();
    assert_eq!(again.card.id, first.card.id);
    let retried = restarted
        .create_card(&me, "k1", &card(&project, "Fix login"))
        .await
        .unwrap();
    assert_eq!(retried.card.id, first.card.id);
    let lookups = fake.with(|w| {
        w.requests
            .iter()
            .filter(|(m, p)| m == "GET" && p.ends_with("/work-items/"))
            .count()
    });
    assert!(lookups >= 1, "the retry looked the external id up");
    let other = restarted
        .create_card(&me, "k1", &card(&project, "Something else"))
        .await
        .unwrap_err();
    assert_eq!(other.code, ErrorCode::Conflict);
    assert_eq!(fake.with(|w| w.issues.len()), 1);
    let stored = fake.with(|w| w.issues[0].clone());
    assert_eq!(stored["external_source"], EXTERNAL_SOURCE);
    assert_eq!(stored["external_id"].as_str().unwrap().len(), 64);
    // Another agent with the same key makes its own card.
    let theirs = adapter(&fake)
        .create_card(&actor(&[&project]), "k1", &card(&project, "Fix login"))
        .await
        .unwrap();
    assert_ne!(theirs.card.id, first.card.id);
    // Comments too: the same key twice is one comment.
    let c1 = restarted
        .add_comment(&me, "c1", &first.card.key, "hello")
        .await
        .unwrap();
    let c2 = adapter(&fake)
        .add_comment(&me, "c1", &first.card.key, "hello")
        .await
        .unwrap();
    assert_eq!(c1.id, c2.id);
    assert_eq!(fake.with(|w| w.comments.len()), 1);
}

/// What Plane would silently drop, the adapter refuses with the valid values; and it
/// reports the one drop it cannot foresee (a workspace member who is a project guest).
#[tokio::test]
async fn what_plane_drops_silently_is_refused_with_the_valid_values() {
    let fake = Fake::start().await;
    let (project, guest, stranger) = fake.with(|w| {
        let ana = w.add_user("Ana", 15);
        let gus = w.add_user("Gus", 15);
        let sam = w.add_user("Sam", 15);
        (w.add_project("WEB", &[(&ana, 15), (&gus, 5)]), gus, sam)
    });
    let other = fake.with(|w| w.add_project("OPS", &[]));
    let other_label = fake.with(|w| w.labels.iter().find(|l| l.0 == other).unwrap().1.clone());
    // Plane itself: a label of another project and a non-member are dropped, 201.
    let http = reqwest::Client::new();
    let raw = http
        .post(
            fake.url
                .join(&format!(
                    "api/v1/workspaces/{SLUG}/projects/{project}/work-items/"
                ))
                .unwrap(),
        )
        .header("X-Api-Key", KEY)
        .json(&json!({"name": "raw", "labels": [other_label], "assignees": [stranger]}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 201);
    let raw: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(
        (raw["labels"].clone(), raw["assignees"].clone()),
        (json!([]), json!([]))
    );

    let plane = adapter(&fake);
    let me = actor(&[&project]);
    let bad_label = NewCard {
        labels: vec!["feature".into()],
        ..card(&project, "x")
    };
    let e = plane.create_card(&me, "l", &bad_label).await.unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref(), e.valid.clone()),
        (
            ErrorCode::ValidationFailed,
            Some("labels"),
            vec!["bug".to_owned()]
        )
    );
    let bad_who = NewCard {
        assignees: vec![stranger.clone()],
        ..card(&project, "x")
    };
    let e = plane.create_card(&me, "a", &bad_who).await.unwrap_err();
    assert_eq!(e.field.as_deref(), Some("assignees"));
    assert!(
        e.valid.iter().any(|v| v.starts_with("Ana (")),
        "{:?}",
        e.valid
    );
    let bad_state = NewCard {
        state: Some("Doing".into()),
        ..card(&project, "x")
    };
    let e = plane.create_card(&me, "s", &bad_state).await.unwrap_err();
    assert_eq!(
        e.valid,
        ["Backlog", "Todo", "In Progress", "Done", "Cancelled"]
    );
    let made = plane
        .create_card(&me, "ok", &card(&project, "ok"))
        .await
        .unwrap();
    // Gus is a workspace member (15) but a project guest (5): Plane drops him, and the
    // API shows no project roles to foresee it. The adapter says what happened.
    let e = plane
        .assign(&me, "gus", &made.card.key, std::slice::from_ref(&guest))
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("assignees"));
    assert!(e.message.contains("did not assign"), "{}", e.message);
    assert_eq!(
        fake.with(|w| w.issues.len()),
        2,
        "nothing refused was created"
    );
}

/// Plane's throttle: the remaining budget is honoured before Plane has to refuse, a
/// 429's `Retry-After` is waited out when it fits, and otherwise the agent gets a
/// retryable `rate_limited` with the wait at once.
#[tokio::test]
async fn plane_s_throttle_is_honoured_and_reported_as_retryable() {
    let fake = Fake::start().await;
    let project = fake.with(|w| {
        w.limit = 6;
        w.add_project("WEB", &[])
    });
    let budget = Arc::new(RequestBudget::new(None));
    let plane =
        PlaneTasker::new(&config(&fake), Arc::clone(&budget), Duration::from_secs(3)).unwrap();
    let pool = PooledTasker::metered(
        Arc::new(plane),
        CallConfig {
            timeout: Duration::from_secs(3),
            retries: 2,
            ..CallConfig::default()
        },
        budget,
    );
    let me = actor(&[&project]);
    // Projects (1), states, labels, members, workspace members (4): 5 of 6.
    pool.project_context(&me, &project).await.unwrap();
    // One more request spends the last; Plane says 0 remain, so nothing more is sent.
    pool.all_projects().await.unwrap();
    let started = std::time::Instant::now();
    let e = pool
        .search_cards(
            &me,
            &CardQuery {
                project_id: Some(project.clone()),
                ..CardQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.is_transient());
    assert!(e.retry_after_ms.unwrap() > 30_000, "{e:?}");
    assert!(e.message.contains("retry"), "{}", e.message);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once, not after the timeout"
    );
    let sent = fake.with(|w| w.requests.len());
    assert_eq!(sent, 6, "no request beyond Plane's budget");

    // A short 429 is waited out and retried with the same request.
    let fake = Fake::start().await;
    let project = fake.with(|w| {
        w.force_429 = Some((1, 1));
        w.add_project("WEB", &[])
    });
    let budget = Arc::new(RequestBudget::new(None));
    let plane =
        PlaneTasker::new(&config(&fake), Arc::clone(&budget), Duration::from_secs(3)).unwrap();
    let pool = PooledTasker::metered(
        Arc::new(plane),
        CallConfig {
            timeout: Duration::from_secs(3),
            ..CallConfig::default()
        },
        budget,
    );
    let projects = pool.projects(&actor(&[&project])).await.unwrap();
    assert_eq!(projects.len(), 1);
}

/// Plane's cursors (`per_page:page:is_prev`) are followed to the end; the port's cursor
/// visits every card once.
#[tokio::test]
async fn search_follows_plane_s_cursor_pagination() {
    let fake = Fake::start().await;
    let project = fake.with(|w| w.add_project("WEB", &[]));
    let plane = adapter(&fake);
    let me = actor(&[&project]);
    plane
        .create_card(&me, "seed", &card(&project, "needle 0"))
        .await
        .unwrap();
    fake.with(|w| {
        let template = w.issues[0].clone();
        for i in 1..230 {
            let mut issue = template.clone();
            issue["id"] = json!(Uuid::new_v4().to_string());
            issue["sequence_id"] = json!(i + 1);
            issue["name"] = json!(if i % 2 == 0 {
                format!("needle {i}")
            } else {
                format!("hay {i}")
            });
            issue["external_id"] = serde_json::Value::Null;
            w.issues.push(issue);
        }
    });
    let (mut seen, mut cursor) = (Vec::new(), None);
    for _ in 0..50 {
        let q = CardQuery {
            text: Some("needle".into()),
            cursor: cursor.clone(),
            limit: Some(40),
            ..CardQuery::default()
        };
        let page = plane.search_cards(&me, &q).await.unwrap();
        assert!(page.cards.len() <= 40);
        seen.extend(page.cards.into_iter().map(|c| c.name));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 115);
    assert_eq!(seen[0], "needle 228", "newest first");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 115);
    // Across projects (identifier order), every card once, none over the limit.
    let ops = fake.with(|w| w.add_project("OPS", &[]));
    let both = Actor {
        granted: vec![project.clone(), ops.clone()],
        ..me.clone()
    };
    for i in 0..3 {
        plane
            .create_card(
                &both,
                &format!("ops-{i}"),
                &card(&ops, &format!("needle ops {i}")),
            )
            .await
            .unwrap();
    }
    let (mut all, mut cursor) = (Vec::new(), None);
    for _ in 0..50 {
        let q = CardQuery {
            text: Some("needle".into()),
            cursor: cursor.clone(),
            limit: Some(100),
            ..CardQuery::default()
        };
        let page = plane.search_cards(&both, &q).await.unwrap();
        assert!(page.cards.len() <= 100);
        all.extend(page.cards.into_iter().map(|c| c.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!((count, all.len()), (118, 118));
    let cursors: Vec<String> = fake.with(|w| w.requests.iter().map(|(_, p)| p.clone()).collect());
    assert!(cursors.iter().any(|p| p.ends_with("/work-items/")));
    let bad = plane
        .search_cards(
            &me,
            &CardQuery {
                cursor: Some("100:0:0".into()),
                ..CardQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(bad.field.as_deref(), Some("cursor"));
}

/// A Plane older than v1.1.0 has no `/work-items/`: the adapter notices Django's 404
/// page once, and works under `/issues/` from then on.
#[tokio::test]
async fn a_plane_older_than_1_1_is_used_through_issues() {
    let fake = Fake::start().await;
    let project = fake.with(|w| {
        w.legacy = true;
        w.add_project("WEB", &[])
    });
    let plane = adapter(&fake);
    let session = Uuid::new_v4();
    let me = Actor {
        work_session: Some(session),
        ..actor(&[&project])
    };
    let c = plane
        .create_card(&me, "k", &card(&project, "Old server"))
        .await
        .unwrap();
    plane
        .add_comment(&me, "c", &c.card.key, "still works")
        .await
        .unwrap();
    let got = plane.get_card(&me, &c.card.key).await.unwrap();
    assert_eq!(got.comments.len(), 1);
    let paths: Vec<String> = fake.with(|w| w.requests.iter().map(|(_, p)| p.clone()).collect());
    assert_eq!(
        paths.iter().filter(|p| p.contains("/work-items/")).count(),
        1,
        "asked once: {paths:?}"
    );
    assert!(paths.iter().any(|p| p.contains("/issues/")));
    // History attributes the creation to the agent, other gateway changes to the gateway.
    plane
        .move_card(&me, "m", &c.card.key, "Done")
        .await
        .unwrap();
    let got = plane.get_card(&me, &c.card.key).await.unwrap();
    let who: Vec<(&str, &str)> = got
        .history
        .iter()
        .map(|h| (h.field.as_str(), h.actor.as_str()))
        .collect();
    assert_eq!(
        who,
        [
            ("created", "Scout (on behalf of Ada)"),
            ("comment", "Scout (on behalf of Ada)"),
            ("state", GATEWAY_ACTOR)
        ]
    );
    assert_eq!(got.history[2].new.as_deref(), Some("Done"));
    // The work session the agent was in is named in the footer and read back.
    let session = Some(session.to_string());
    assert_eq!(got.history[0].work_session, session);
    assert_eq!(got.history[1].work_session, session);
}

/// A wrong workspace slug, URL or key says which variable to fix.
#[tokio::test]
async fn a_misconfigured_plane_names_what_to_fix() {
    let fake = Fake::start().await;
    let project = fake.with(|w| w.add_project("WEB", &[]));
    let me = actor(&[&project]);
    let mut wrong = config(&fake);
    wrong.url = fake.url.join("plane/").unwrap();
    let e = PlaneTasker::new(
        &wrong,
        Arc::new(RequestBudget::new(None)),
        Duration::from_secs(5),
    )
    .unwrap()
    .projects(&me)
    .await
    .unwrap_err();
    assert!(e.message.contains("GATEWAY_PLANE_URL"), "{e:?}");
    let mut wrong = config(&fake);
    wrong.api_key = SecretString::from("plane_api_wrong");
    let e = PlaneTasker::new(
        &wrong,
        Arc::new(RequestBudget::new(None)),
        Duration::from_secs(5),
    )
    .unwrap()
    .projects(&me)
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unauthorized);
    assert!(e.message.contains("GATEWAY_PLANE_API_KEY"), "{e:?}");
    assert!(!e.message.contains("wrong"), "the key is never echoed");
}
