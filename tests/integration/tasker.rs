//! The Tasker port: the embedded tracker on both engines, the nodedc client against the
//! contract served over a real socket, the conformance kit, and the binaries.
//!
//! Longer than most test files on purpose: one `contract_story` walks every operation of
//! the contract and is run against both the embedded tracker and the nodedc client, so
//! the two are held to exactly the same story; splitting it would split that guarantee.
//! The rest (a deliberately broken adapter the kit must catch, the two binaries) is
//! short and uses the same helpers. `tasker/breaker.rs` holds the breaker's black-box
//! tests (one agent cannot pause the others), `tasker/paths.rs` the nodedc client's ids.

use std::sync::Arc;

use agent_gateway::tasker::check::{self, CheckTarget};
use agent_gateway::tasker::http::{router, ContractState};
use agent_gateway::tasker::nodedc::NodedcTasker;
use agent_gateway::tasker::*;
use agent_gateway::token::TokenHash;
use secrecy::SecretString;
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp};

mod breaker;
mod paths;
mod refs;
mod together;

const SERVICE_TOKEN: &str = "internal-service-token-for-tests";

fn actor(granted: &[&str]) -> Actor {
    Actor {
        agent_id: Uuid::new_v4(),
        agent_name: "Codex Laptop".into(),
        owner_id: Uuid::new_v4(),
        owner_name: "Ada".into(),
        granted: granted.iter().map(|s| (*s).to_owned()).collect(),
        work_session: None,
    }
}

/// Serves the app's embedded tracker over the contract on a loopback port.
async fn serve_contract(app: &TestApp) -> url::Url {
    let tasker: Arc<dyn Tasker> = Arc::new(app.embedded.clone().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ContractState {
        tasker,
        token: TokenHash::of(SERVICE_TOKEN),
    };
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    url::Url::parse(&format!("http://{addr}/")).unwrap()
}

/// The behaviour every adapter must show, run against any `Tasker`.
async fn contract_story(t: &dyn Tasker, project: &str, other: &str, member: Uuid) {
    let me = actor(&[project]);
    let ctx = t.project_context(&me, project).await.unwrap();
    assert_eq!(ctx.states.iter().filter(|s| s.is_default).count(), 1);
    assert_eq!(ctx.members.len(), 1);

    // Create with every field; names are validated, never dropped.
    let input = NewCard {
        project_id: project.into(),
        name: "Fix login".into(),
        description: Some("It breaks".into()),
        priority: Some("high".into()),
        state: Some("in progress".into()),
        labels: vec!["bug".into()],
        assignees: vec!["Bea".into()],
        start_date: Some("2026-12-01".into()),
        blocks: vec![Block {
            name: "acceptance criteria".into(),
            content: "- logs in".into(),
        }],
        ..NewCard::default()
    };
    let card = t.create_card(&me, "k-create", &input).await.unwrap();
    assert!(card.card.key.ends_with("-1"), "{}", card.card.key);
    assert_eq!(card.card.state, "In Progress");
    assert_eq!(card.card.labels, ["bug"]);
    assert_eq!(card.card.assignees[0].user_id, member.to_string());
    assert_eq!(card.blocks[0].name, "acceptance criteria");
    assert_eq!(card.history[0].actor, "Codex Laptop (on behalf of Ada)");

    // Idempotency: same key, same input → the same card; other input → conflict.
    let again = t.create_card(&me, "k-create", &input).await.unwrap();
    assert_eq!(again.card.id, card.card.id);
    let other_input = NewCard {
        name: "Something else".into(),
        ..input.clone()
    };
    assert_eq!(
        t.create_card(&me, "k-create", &other_input)
            .await
            .unwrap_err()
            .code,
        ErrorCode::Conflict
    );

    // Validation lists the valid values.
    let key = card.card.key.clone();
    let e = t
        .move_card(&me, "k-bad-state", &key, "Shipped")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::ValidationFailed, Some("state"))
    );
    assert!(e.valid.contains(&"Done".to_owned()), "{:?}", e.valid);
    let e = t
        .set_labels(&me, "k-bad-label", &key, &["urgent-ish".into()])
        .await
        .unwrap_err();
    assert_eq!(e.valid, ["bug", "feature"]);
    let e = t
        .assign(&me, "k-bad-who", &key, &["Mallory".into()])
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert!(e.valid[0].starts_with("Bea ("));
    let e = t
        .update_card(
            &me,
            "k-bad-date",
            &key,
            &CardPatch {
                target_date: Some("next week".into()),
                ..CardPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("target_date"));

    // Writes change the card and land in its history with the agent's identity.
    t.move_card(&me, "k-move", &key, "Done").await.unwrap();
    t.set_labels(&me, "k-labels", &key, &["feature".into(), "BUG".into()])
        .await
        .unwrap();
    t.assign(&me, "k-assign", &key, &[]).await.unwrap();
    t.update_block(&me, "k-block", &key, "plan", "1. fix")
        .await
        .unwrap();
    let comment = t.add_comment(&me, "k-comment", &key, "done").await.unwrap();
    assert_eq!(
        t.add_comment(&me, "k-comment", &key, "done")
            .await
            .unwrap()
            .id,
        comment.id
    );
    let patched = t
        .update_card(
            &me,
            "k-patch",
            &key,
            &CardPatch {
                name: Some("Fix login for real".into()),
                priority: Some("urgent".into()),
                ..CardPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.card.name, "Fix login for real");
    let full = t.get_card(&me, &key.to_lowercase()).await.unwrap();
    assert_eq!(full.card.state, "Done");
    assert_eq!(full.card.labels, ["bug", "feature"]);
    assert!(full.card.assignees.is_empty());
    assert_eq!(full.comments.len(), 1);
    assert_eq!(full.comments[0].actor, "Codex Laptop (on behalf of Ada)");
    let fields: Vec<&str> = full.history.iter().map(|h| h.field.as_str()).collect();
    for f in [
        "created",
        "state",
        "labels",
        "assignees",
        "block:plan",
        "comment",
        "name",
        "priority",
    ] {
        assert!(fields.contains(&f), "history lacks {f}: {fields:?}");
    }
    let child = t
        .create_card(
            &me,
            "k-child",
            &NewCard {
                project_id: project.into(),
                name: "child".into(),
                parent: Some(key.clone()),
                ..NewCard::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(child.card.parent.as_deref(), Some(key.as_str()));

    // Confinement: the other project by id, in search, on create, and by card key.
    assert_eq!(
        t.project_context(&me, other).await.unwrap_err().code,
        ErrorCode::ProjectNotGranted
    );
    let there = Actor {
        granted: vec![other.into()],
        work_session: None,
        ..me.clone()
    };
    let foreign = t
        .create_card(
            &there,
            "k-foreign",
            &NewCard {
                project_id: other.into(),
                name: "theirs".into(),
                ..NewCard::default()
            },
        )
        .await
        .unwrap();
    let e = t.get_card(&me, &foreign.card.key).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ProjectNotGranted);
    assert_eq!(e.valid, [project]);
    let q = CardQuery {
        project_id: Some(other.into()),
        ..CardQuery::default()
    };
    assert_eq!(
        t.search_cards(&me, &q).await.unwrap_err().code,
        ErrorCode::ProjectNotGranted
    );
    let all = t.search_cards(&me, &CardQuery::default()).await.unwrap();
    assert!(
        all.cards.iter().all(|c| c.project_id == project),
        "search leaks another project"
    );
    assert_eq!(t.projects(&me).await.unwrap().len(), 1);
    assert_eq!(
        t.get_card(&me, "NOPE-999").await.unwrap_err().code,
        ErrorCode::NotFound
    );

    // Search filters and complete pagination.
    for i in 0..5 {
        t.create_card(
            &me,
            &format!("k-page-{i}"),
            &NewCard {
                project_id: project.into(),
                name: format!("page card {i}"),
                ..NewCard::default()
            },
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = t
            .search_cards(
                &me,
                &CardQuery {
                    text: Some("PAGE card".into()),
                    limit: Some(2),
                    cursor: cursor.clone(),
                    ..CardQuery::default()
                },
            )
            .await
            .unwrap();
        seen.extend(page.cards.iter().map(|c| c.name.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "page card 4",
            "page card 3",
            "page card 2",
            "page card 1",
            "page card 0"
        ]
    );
    // A page of several cards, each with its own labels and assignees, says of each card
    // exactly what reading that card alone says.
    t.create_card(
        &me,
        "k-labelled",
        &NewCard {
            project_id: project.into(),
            name: "labelled card".into(),
            labels: vec!["feature".into(), "bug".into()],
            assignees: vec!["Bea".into()],
            ..NewCard::default()
        },
    )
    .await
    .unwrap();
    let page = t
        .search_cards(
            &me,
            &CardQuery {
                project_id: Some(project.into()),
                limit: Some(100),
                ..CardQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(page.cards.len() >= 7, "{page:?}");
    let labelled = page
        .cards
        .iter()
        .find(|c| c.name == "labelled card")
        .unwrap();
    assert_eq!(labelled.labels, ["bug", "feature"]);
    assert_eq!(labelled.assignees.len(), 1);
    for card in &page.cards {
        assert_eq!(&t.get_card(&me, &card.key).await.unwrap().card, card);
    }
    let done = t
        .search_cards(
            &me,
            &CardQuery {
                project_id: Some(project.into()),
                state: Some("done".into()),
                ..CardQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(done.cards.len(), 1);
    let e = t
        .search_cards(
            &me,
            &CardQuery {
                project_id: Some(project.into()),
                label: Some("nope".into()),
                ..CardQuery::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.valid, ["bug", "feature"]);

    // Adding an existing workspace member.
    let e = t
        .add_member(
            &me,
            "k-member",
            project,
            &NewMember {
                user_id: Uuid::new_v4().to_string(),
                role: 15,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

async fn embedded_tracker_keeps_the_contract(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bea = app.owner("Bea").await;
    let project = app.project("WEB", &[(bea, "Bea", 15)]).await;
    let other = app.project("OPS", &[]).await;
    let embedded = app.embedded.clone().unwrap();
    contract_story(&embedded, &project, &other, bea).await;
    let member = embedded
        .add_member(
            &actor(&[&other]),
            "k-add",
            &other,
            &NewMember {
                user_id: bea.to_string(),
                role: 15,
            },
        )
        .await
        .unwrap();
    assert_eq!(member.display_name, "Bea");
    app.stop().await;
}
both_engines!(
    embedded_tracker_keeps_the_contract_,
    embedded_tracker_keeps_the_contract
);

async fn nodedc_client_over_the_contract(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let bea = app.owner("Bea").await;
    let project = app.project("WEB", &[(bea, "Bea", 15)]).await;
    let other = app.project("OPS", &[]).await;
    let url = serve_contract(&app).await;
    let client = NodedcTasker::new(
        &url,
        SecretString::from(SERVICE_TOKEN),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    contract_story(&client, &project, &other, bea).await;

    let wrong = NodedcTasker::new(
        &url,
        SecretString::from("wrong-token-wrong-token"),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        wrong.projects(&actor(&[&project])).await.unwrap_err().code,
        ErrorCode::Unauthorized
    );

    let results = check::run(CheckTarget {
        url,
        token: SecretString::from(SERVICE_TOKEN),
        project,
        other_project: other,
    })
    .await;
    let table = check::table(&results);
    assert!(
        results.iter().all(|r| r.outcome.is_ok()),
        "conformance failures:\n{table}"
    );
    assert_eq!(results.len(), 11);
    app.stop().await;
}
both_engines!(
    nodedc_client_over_the_contract_,
    nodedc_client_over_the_contract
);

/// The kit must fail against an implementation that breaks the contract: here, one that
/// grants everything it is asked about (no confinement).
#[tokio::test]
async fn the_conformance_kit_catches_a_broken_adapter() {
    #[derive(Debug)]
    struct Leaky(Arc<dyn Tasker>);
    #[async_trait::async_trait]
    impl Tasker for Leaky {
        async fn projects(&self, a: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
            self.0.projects(a).await
        }
        async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
            self.0.all_projects().await
        }
        async fn project_members(&self, p: &str) -> TaskerResult<Vec<Member>> {
            self.0.project_members(p).await
        }
        async fn projects_of_member(&self, u: &str) -> TaskerResult<Vec<Membership>> {
            self.0.projects_of_member(u).await
        }
        async fn project_context(&self, a: &Actor, p: &str) -> TaskerResult<ProjectContext> {
            let all = Actor {
                granted: vec![p.to_owned()],
                work_session: None,
                ..a.clone()
            };
            self.0.project_context(&all, p).await
        }
        async fn search_cards(&self, a: &Actor, q: &CardQuery) -> TaskerResult<CardPage> {
            self.0.search_cards(a, q).await
        }
        async fn get_card(&self, a: &Actor, c: &str) -> TaskerResult<CardDetail> {
            self.0.get_card(a, c).await
        }
        async fn create_card(&self, a: &Actor, k: &str, i: &NewCard) -> TaskerResult<CardDetail> {
            self.0.create_card(a, k, i).await
        }
        async fn update_card(
            &self,
            a: &Actor,
            k: &str,
            c: &str,
            p: &CardPatch,
        ) -> TaskerResult<CardDetail> {
            self.0.update_card(a, k, c, p).await
        }
        async fn move_card(
            &self,
            a: &Actor,
            k: &str,
            c: &str,
            s: &str,
        ) -> TaskerResult<CardDetail> {
            self.0.move_card(a, k, c, s).await
        }
        async fn add_comment(&self, a: &Actor, k: &str, c: &str, b: &str) -> TaskerResult<Comment> {
            self.0.add_comment(a, k, c, b).await
        }
        async fn set_labels(
            &self,
            a: &Actor,
            k: &str,
            c: &str,
            l: &[String],
        ) -> TaskerResult<CardDetail> {
            self.0.set_labels(a, k, c, l).await
        }
        async fn assign(
            &self,
            a: &Actor,
            k: &str,
            c: &str,
            w: &[String],
        ) -> TaskerResult<CardDetail> {
            self.0.assign(a, k, c, w).await
        }
        async fn update_block(
            &self,
            a: &Actor,
            k: &str,
            c: &str,
            b: &str,
            x: &str,
        ) -> TaskerResult<CardDetail> {
            self.0.update_block(a, k, c, b, x).await
        }
        async fn add_member(
            &self,
            a: &Actor,
            k: &str,
            p: &str,
            m: &NewMember,
        ) -> TaskerResult<Member> {
            self.0.add_member(a, k, p, m).await
        }
    }
    let app = TestApp::spawn(Engine::Sqlite).await;
    let project = app.project("WEB", &[]).await;
    let other = app.project("OPS", &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ContractState {
        tasker: Arc::new(Leaky(Arc::new(app.embedded.clone().unwrap()))),
        token: TokenHash::of(SERVICE_TOKEN),
    };
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let results = check::run(CheckTarget {
        url: url::Url::parse(&format!("http://{addr}/")).unwrap(),
        token: SecretString::from(SERVICE_TOKEN),
        project,
        other_project: other,
    })
    .await;
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.outcome.is_err())
        .map(|r| r.name)
        .collect();
    assert_eq!(failed, ["ungranted project refused"]);
    app.stop().await;
}

/// The two binaries, as the Tasker team would run them: exit 0 on a conforming adapter.
#[tokio::test]
async fn tasker_check_binary_against_tasker_serve_binary() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new(env!("CARGO_BIN_EXE_agent-gateway"))
        .args([
            "tasker-serve",
            "--seed-check-projects",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .env("GATEWAY_TASKER_TOKEN", SERVICE_TOKEN)
        .env(
            "GATEWAY_DATABASE_URL",
            format!("sqlite://{}/t.db", dir.path().display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ids: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let served = lines.next().unwrap().unwrap();
    assert!(served.contains("/api/internal/nodedc/agent/"), "{served}");
    let check = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_agent-gateway"))
            .args([
                "tasker-check",
                "--url",
                &format!("http://127.0.0.1:{port}"),
                "--token-env",
                "CHECK_TOKEN",
                "--project",
                ids["project"].as_str().unwrap(),
                "--other-project",
                ids["other_project"].as_str().unwrap(),
            ])
            .env("CHECK_TOKEN", token)
            .output()
            .unwrap()
    };
    let good = check(SERVICE_TOKEN);
    let table = String::from_utf8_lossy(&good.stdout).to_string();
    let bad = check("not-the-service-token");
    let bad_table = String::from_utf8_lossy(&bad.stdout).to_string();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        bad_table.contains("FAIL  granted project listed"),
        "{bad_table}"
    );
    assert!(good.status.success(), "{table}");
    assert!(table.contains("11 checks, 11 passed, 0 failed"), "{table}");
    assert!(!bad.status.success(), "a failing kit must exit non-zero");
}
