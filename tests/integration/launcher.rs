//! Launcher: the signed webhook and its effects, the exact standing rule, and the access
//! check client (against a stand-in Launcher served over HTTP, as Launcher is an
//! external system).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agent_gateway::launcher::webhook::sign;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp};

mod order;

const SECRET: &str = "launcher-webhook-secret-0123456789abcdef";

async fn deliver(app: &TestApp, event: &Value, secret: &str, skew: i64) -> (u16, Value) {
    let ts = chrono::Utc::now().timestamp() + skew;
    deliver_signed(&app.http, &app.base, event, secret, ts).await
}

/// Posts `event` to the gateway at `base`, signed with `secret` and the timestamp header
/// `ts`, whatever it is.
async fn deliver_signed(
    http: &reqwest::Client,
    base: &str,
    event: &Value,
    secret: &str,
    ts: i64,
) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let resp = http
        .post(format!("{base}/api/v1/launcher/events"))
        .header("content-type", "application/json")
        .header("x-launcher-timestamp", ts.to_string())
        .header("x-launcher-signature", sign(secret.as_bytes(), ts, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn event(kind: &str, user: Uuid) -> Value {
    json!({"id": Uuid::new_v4().to_string(), "type": kind, "user_id": user, "client_id": "client-1", "display_name": "Grace"})
}

async fn status_of(app: &TestApp, agent: Uuid) -> String {
    let (_, a) = app
        .admin(Method::GET, &format!("/api/v1/admin/agents/{agent}"), None)
        .await;
    a["status"].as_str().unwrap().to_owned()
}

async fn webhook_events_follow_the_standing_rule(engine: Engine) {
    let app = TestApp::spawn_with(engine, &[("GATEWAY_LAUNCHER_SECRET", SECRET)]).await;
    let grace = Uuid::new_v4();
    // Unknown so far: granting creates the projection.
    let (status, body) = deliver(&app, &event("entitlement.granted", grace), SECRET, 0).await;
    assert_eq!((status, &body["applied"]), (200, &json!(true)), "{body}");
    let web = app.project("WEB", &[(grace, "Grace", 20)]).await;
    let (kept, kept_token) = app.agent(grace, "kept", &[&web]).await;
    let (by_hand, by_hand_token) = app.agent(grace, "by-hand", &[&web]).await;
    assert_eq!(app.me(&kept_token).await, 200);
    app.admin(
        Method::POST,
        &format!("/api/v1/admin/agents/{by_hand}/revoke"),
        None,
    )
    .await;

    // Refusals: bad signature, stale timestamp, replay of an applied id.
    let e = event("entitlement.withdrawn", grace);
    assert_eq!(
        deliver(&app, &e, "not-the-secret-not-the-secret-not-the-secret", 0)
            .await
            .0,
        401
    );
    assert_eq!(deliver(&app, &e, SECRET, -3600).await.0, 401);
    let resp = app
        .http
        .post(app.url("/api/v1/launcher/events"))
        .json(&e)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "unsigned");
    assert_eq!(
        app.me(&kept_token).await,
        200,
        "nothing refused applied anything"
    );

    // Withdrawn: every agent disabled at once, through the revoke path.
    let (status, body) = deliver(&app, &e, SECRET, 0).await;
    assert_eq!((status, &body["applied"]), (200, &json!(true)));
    assert_eq!(app.me(&kept_token).await, 401);
    assert_eq!(status_of(&app, kept).await, "disabled");
    let (_, again) = deliver(&app, &e, SECRET, 0).await;
    assert_eq!(again["applied"], false, "a replayed id is a no-op");

    // Granted again: what was disabled returns; what was revoked by hand does not.
    deliver(&app, &event("entitlement.granted", grace), SECRET, 0).await;
    assert_eq!(status_of(&app, kept).await, "active");
    assert_eq!(app.me(&kept_token).await, 200);
    assert_eq!(status_of(&app, by_hand).await, "revoked");
    assert_eq!(app.me(&by_hand_token).await, 401);

    // Blocked, unblocked.
    deliver(&app, &event("user.blocked", grace), SECRET, 0).await;
    assert_eq!(app.me(&kept_token).await, 401);
    deliver(&app, &event("user.unblocked", grace), SECRET, 0).await;
    assert_eq!(app.me(&kept_token).await, 200);

    // Annulled: revoked for good; a later grant does not bring anything back.
    deliver(&app, &event("user.annulled", grace), SECRET, 0).await;
    assert_eq!(app.me(&kept_token).await, 401);
    assert_eq!(status_of(&app, kept).await, "revoked");
    deliver(&app, &event("entitlement.granted", grace), SECRET, 0).await;
    deliver(&app, &event("user.unblocked", grace), SECRET, 0).await;
    assert_eq!(status_of(&app, kept).await, "revoked");
    assert_eq!(app.me(&kept_token).await, 401);

    // Bad events are clear 4xx errors; every applied event is audited.
    let (status, body) = deliver(
        &app,
        &json!({"id": "x", "type": "user.exploded", "user_id": grace, "client_id": "c"}),
        SECRET,
        0,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_event"))
    );
    let (_, audit) = app
        .admin(Method::GET, "/api/v1/admin/audit?limit=100", None)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "launcher.entitlement.granted",
        "launcher.entitlement.withdrawn",
        "launcher.user.blocked",
        "launcher.user.unblocked",
        "launcher.user.annulled",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    app.stop().await;
}
both_engines!(
    webhook_events_follow_the_standing_rule_,
    webhook_events_follow_the_standing_rule
);

#[tokio::test]
async fn the_webhook_is_off_without_a_secret() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let (status, _) = deliver(
        &app,
        &event("entitlement.granted", Uuid::new_v4()),
        SECRET,
        0,
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// A stand-in for Launcher's access check: allows the users in `allowed`, counts calls.
async fn fake_launcher(allowed: Vec<Uuid>, calls: Arc<AtomicUsize>) -> String {
    use axum::extract::Query;
    use axum::routing::get;
    #[derive(serde::Deserialize)]
    struct Q {
        user_id: Uuid,
        module: String,
    }
    let app = axum::Router::new().route(
        "/api/v1/access/check",
        get(move |headers: axum::http::HeaderMap, Query(q): Query<Q>| {
            let (allowed, calls) = (allowed.clone(), calls.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                assert_eq!(headers["authorization"], "Bearer launcher-service-token");
                axum::Json(
                    json!({"allowed": q.module == "codex_agents" && allowed.contains(&q.user_id)}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

#[tokio::test]
async fn agent_creation_asks_launchers_access_check() {
    let calls = Arc::new(AtomicUsize::new(0));
    let yes = Uuid::new_v4();
    let url = fake_launcher(vec![yes], calls.clone()).await;
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("GATEWAY_LAUNCHER_URL", url.as_str()),
            ("GATEWAY_LAUNCHER_TOKEN", "launcher-service-token"),
        ],
    )
    .await;
    let no = Uuid::new_v4();
    for (id, name) in [(yes, "Yes"), (no, "No")] {
        app.admin(
            Method::PUT,
            &format!("/api/v1/admin/users/{id}"),
            Some(json!({"display_name": name, "client_id": "c", "codex_agents": true, "blocked": false})),
        )
        .await;
    }
    let web = app.project("WEB", &[]).await;
    let create = |owner: Uuid, name: &str| json!({"owner_id": owner, "name": name, "grants": [{"project_id": web, "scopes": ["cards:read"]}]});
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(create(yes, "a1")),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .admin(Method::POST, "/api/v1/admin/agents", Some(create(no, "a2")))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("owner_not_entitled"))
    );
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(create(yes, "a3")),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the answer for a user is cached"
    );
    app.stop().await;
}

/// The newest audit row's action and outcome.
async fn last_audit(app: &TestApp) -> (String, String) {
    let (_, audit) = app
        .admin(Method::GET, "/api/v1/admin/audit?limit=1", None)
        .await;
    let row = &audit["items"][0];
    (
        row["action"].as_str().unwrap().to_owned(),
        row["outcome"].as_str().unwrap().to_owned(),
    )
}

/// When Launcher cannot be asked, the error names Launcher (not the Tasker) and the
/// audit log records a failure, not a denial; a policy refusal is still a denial.
#[tokio::test]
async fn an_unreachable_launcher_is_named_and_audited_as_failed() {
    // A port that refuses connections: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("GATEWAY_LAUNCHER_URL", url.as_str()),
            ("GATEWAY_LAUNCHER_TOKEN", "launcher-service-token"),
        ],
    )
    .await;
    let owner = app.owner("Ada").await;
    let web = app.project("WEB", &[]).await;
    let create = json!({"owner_id": owner, "name": "a1", "grants": [{"project_id": web, "scopes": ["cards:read"]}]});
    let (status, body) = app
        .admin(Method::POST, "/api/v1/admin/agents", Some(create.clone()))
        .await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Launcher"), "{message}");
    assert!(!message.contains("Tasker"), "{message}");
    assert_eq!(
        last_audit(&app).await,
        ("admin.agent.create".to_owned(), "failed".to_owned())
    );

    // Blocked: refused by policy before Launcher is asked.
    app.admin(
        Method::PUT,
        &format!("/api/v1/admin/users/{owner}"),
        Some(json!({"display_name": "Ada", "client_id": "client-1", "codex_agents": true, "blocked": true})),
    )
    .await;
    let (status, _) = app
        .admin(Method::POST, "/api/v1/admin/agents", Some(create))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        last_audit(&app).await,
        ("admin.agent.create".to_owned(), "denied".to_owned())
    );
    app.stop().await;
}
