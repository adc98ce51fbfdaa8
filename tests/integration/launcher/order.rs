//! Launcher events applied once and in order: a failed apply is applied on redelivery,
//! an older event does not override a newer one, concurrent events of one user end in
//! the newest state; and the webhook refuses absurd timestamps and oversized fields.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;

use super::{deliver, deliver_signed, status_of, SECRET};
use crate::both_engines;
use crate::helpers::{Engine, TestApp};

/// An event of `kind` for `user` that occurred at `at`.
fn event_at(kind: &str, user: Uuid, at: DateTime<Utc>) -> Value {
    json!({
        "id": Uuid::new_v4().to_string(), "type": kind, "user_id": user,
        "client_id": "client-1", "display_name": "Grace",
        "occurred_at": at.to_rfc3339_opts(SecondsFormat::Micros, true),
    })
}

/// A gateway with the webhook on, and an entitled user with one active agent; with
/// `timed`, the grant carries an `occurred_at` an hour ago, else none (an old sender).
async fn setup(engine: Engine, timed: bool) -> (TestApp, Uuid, Uuid, String) {
    let app = TestApp::spawn_with(engine, &[("GATEWAY_LAUNCHER_SECRET", SECRET)]).await;
    let grace = Uuid::new_v4();
    let granted = if timed {
        event_at(
            "entitlement.granted",
            grace,
            Utc::now() - Duration::hours(1),
        )
    } else {
        super::event("entitlement.granted", grace)
    };
    let (status, body) = deliver(&app, &granted, SECRET, 0).await;
    assert_eq!((status, &body["applied"]), (200, &json!(true)), "{body}");
    let web = app.project("WEB", &[(grace, "Grace", 20)]).await;
    let (agent, token) = app.agent(grace, "worker", &[&web]).await;
    assert_eq!(app.me(&token).await, 200);
    (app, grace, agent, token)
}

async fn blocked(app: &TestApp, user: Uuid) -> bool {
    let (_, u) = app
        .admin(Method::GET, &format!("/api/v1/admin/users/{user}"), None)
        .await;
    u["blocked"].as_bool().unwrap()
}

/// Raw SQL on the app's database: makes every insert into `entitlement_changes` fail,
/// or undoes that.
async fn sabotage(app: &TestApp, engine: Engine, on: bool) {
    let sql = match (engine, on) {
        (Engine::Sqlite, true) => {
            "CREATE TRIGGER sabotage BEFORE INSERT ON entitlement_changes \
                                   BEGIN SELECT RAISE(ABORT, 'sabotaged'); END"
        }
        (Engine::Sqlite, false) => "DROP TRIGGER sabotage",
        (Engine::Postgres, true) => {
            "ALTER TABLE entitlement_changes ADD CONSTRAINT sabotage CHECK (false) NOT VALID"
        }
        (Engine::Postgres, false) => "ALTER TABLE entitlement_changes DROP CONSTRAINT sabotage",
    };
    match engine {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

async fn a_failed_apply_is_applied_on_redelivery(engine: Engine) {
    // Events as an old sender sends them (no occurred_at).
    let (app, grace, agent, token) = setup(engine, false).await;
    let block = super::event("user.blocked", grace);
    sabotage(&app, engine, true).await;
    let (status, body) = deliver(&app, &block, SECRET, 0).await;
    assert!(status >= 500, "the apply failed: {status} {body}");
    assert!(
        !blocked(&app, grace).await,
        "nothing of a failed apply stays"
    );
    assert_eq!(status_of(&app, agent).await, "active");
    sabotage(&app, engine, false).await;

    let (status, body) = deliver(&app, &block, SECRET, 0).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"], true, "the redelivery applies it: {body}");
    assert!(blocked(&app, grace).await);
    assert_eq!(status_of(&app, agent).await, "disabled");
    assert_eq!(app.me(&token).await, 401);
    let (_, again) = deliver(&app, &block, SECRET, 0).await;
    assert_eq!(
        (&again["applied"], &again["outcome"]),
        (&json!(false), &json!("duplicate"))
    );
    app.stop().await;
}
both_engines!(
    a_failed_apply_is_applied_on_redelivery_,
    a_failed_apply_is_applied_on_redelivery
);

async fn an_older_event_does_not_override_a_newer_one(engine: Engine) {
    let (app, grace, agent, token) = setup(engine, true).await;
    let now = Utc::now();
    let (status, body) = deliver(&app, &event_at("user.blocked", grace, now), SECRET, 0).await;
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("applied")),
        "{body}"
    );
    let stale = event_at("user.unblocked", grace, now - Duration::seconds(30));
    let (status, body) = deliver(&app, &stale, SECRET, 0).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["applied"], &body["outcome"]),
        (&json!(false), &json!("superseded"))
    );
    assert!(blocked(&app, grace).await, "the newer block stands");
    assert_eq!(status_of(&app, agent).await, "disabled");
    assert_eq!(app.me(&token).await, 401);
    // Recorded: a redelivery is a duplicate, and the audit log says why it did nothing.
    let (_, again) = deliver(&app, &stale, SECRET, 0).await;
    assert_eq!(again["outcome"], "duplicate");
    let (_, audit) = app
        .admin(Method::GET, "/api/v1/admin/audit?limit=1", None)
        .await;
    let reason = audit["items"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("superseded"), "{reason}");

    // The other fact is ordered on its own: an older withdrawal still applies.
    let older = event_at("entitlement.withdrawn", grace, now - Duration::seconds(10));
    let (_, body) = deliver(&app, &older, SECRET, 0).await;
    assert_eq!(body["outcome"], "applied", "{body}");
    // A newer unblock applies; the user stays without standing (withdrawn).
    let newer = event_at("user.unblocked", grace, now + Duration::seconds(1));
    let (_, body) = deliver(&app, &newer, SECRET, 0).await;
    assert_eq!(body["outcome"], "applied", "{body}");
    assert!(!blocked(&app, grace).await);
    assert_eq!(app.me(&token).await, 401);
    app.stop().await;
}
both_engines!(
    an_older_event_does_not_override_a_newer_one_,
    an_older_event_does_not_override_a_newer_one
);

async fn concurrent_events_end_in_the_newest_state(engine: Engine) {
    let (app, grace, agent, token) = setup(engine, true).await;
    let base = Utc::now() - Duration::minutes(30);
    for trial in 0..20i64 {
        // Eight events, alternating; which kind is newest changes with the trial. They
        // are sent at once, newest first, so arrival order fights occurred_at order.
        let newest_blocks = trial % 2 == 0;
        let mut events = Vec::new();
        for i in 0..8i64 {
            let blocks = (i % 2 == 1) == newest_blocks;
            let kind = if blocks {
                "user.blocked"
            } else {
                "user.unblocked"
            };
            let at = base + Duration::seconds(trial * 10) + Duration::milliseconds(i);
            events.push(event_at(kind, grace, at));
        }
        events.reverse();
        let mut sent = tokio::task::JoinSet::new();
        for e in events {
            let (base, http) = (app.base.clone(), app.http.clone());
            sent.spawn(async move {
                let ts = Utc::now().timestamp();
                deliver_signed(&http, &base, &e, SECRET, ts).await.0
            });
        }
        while let Some(done) = sent.join_next().await {
            assert_eq!(done.unwrap(), 200);
        }
        assert_eq!(blocked(&app, grace).await, newest_blocks, "trial {trial}");
        let want = if newest_blocks { "disabled" } else { "active" };
        assert_eq!(status_of(&app, agent).await, want, "trial {trial}");
        let me = if newest_blocks { 401 } else { 200 };
        assert_eq!(app.me(&token).await, me, "trial {trial}");
    }
    app.stop().await;
}
both_engines!(
    concurrent_events_end_in_the_newest_state_,
    concurrent_events_end_in_the_newest_state
);

async fn absurd_timestamps_and_oversized_fields_are_refused(engine: Engine) {
    let app = TestApp::spawn_with(engine, &[("GATEWAY_LAUNCHER_SECRET", SECRET)]).await;
    let grace = Uuid::new_v4();
    let e = event_at("entitlement.granted", grace, Utc::now());
    for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
        let (status, body) = deliver_signed(&app.http, &app.base, &e, SECRET, ts).await;
        assert_eq!(status, 401, "timestamp {ts}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let long = "x".repeat(201);
    let mut cases = Vec::new();
    for field in ["id", "client_id", "display_name"] {
        let mut bad = e.clone();
        bad[field] = json!(long);
        cases.push((field, bad));
        let mut empty = e.clone();
        empty[field] = json!("  ");
        cases.push((field, empty));
    }
    let mut future = e.clone();
    future["occurred_at"] = json!("9999-12-31T23:59:59Z");
    cases.push(("occurred_at", future));
    for (field, bad) in cases {
        let (status, body) = deliver(&app, &bad, SECRET, 0).await;
        assert_eq!(status, 422, "{field}: {body}");
        assert_eq!(body["error"]["code"], "invalid_event");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
    }
    // 200 characters are fine; nothing refused was applied.
    let (_, user) = app
        .admin(Method::GET, &format!("/api/v1/admin/users/{grace}"), None)
        .await;
    assert!(user["error"].is_object(), "{user}");
    let mut fine = e.clone();
    fine["display_name"] = json!("y".repeat(200));
    let (status, body) = deliver(&app, &fine, SECRET, 0).await;
    assert_eq!((status, &body["applied"]), (200, &json!(true)), "{body}");
    app.stop().await;
}
both_engines!(
    absurd_timestamps_and_oversized_fields_are_refused_,
    absurd_timestamps_and_oversized_fields_are_refused
);
