//! The admin API and agent authentication over real HTTP.
//!
//! Somewhat over 400 lines because `bad_requests_get_clear_json_errors` (about 200 lines)
//! is one table of malformed requests and the exact error each must get, then the
//! malformed bodies, tokens and sizes; it reads best whole, as does the lifecycle story.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp, ADMIN_TOKEN};

async fn health_and_readiness(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["migrations"], "current");
    assert!(ready_has_request_id(&app).await);
    app.stop().await;
}
both_engines!(health_and_readiness_, health_and_readiness);

async fn ready_has_request_id(app: &TestApp) -> bool {
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    resp.headers().get("x-request-id").is_some()
}

async fn the_whole_agent_lifecycle(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Ada Lovelace").await;
    let project = app.project("WEB", &[(owner, "Ada Lovelace", 20)]).await;
    let (agent_id, token) = app.agent(owner, "codex-laptop", &[&project]).await;
    assert!(token.starts_with("ndcag_"));

    // The token authenticates.
    let me: Value = app
        .http
        .get(app.url("/api/v1/agent/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["agent_id"], agent_id.to_string());
    assert_eq!(me["owner_name"], "Ada Lovelace");
    assert_eq!(me["grants"][0]["project_id"], project.as_str());

    // Listing and reading never show the token again.
    let (status, list) = app.admin(Method::GET, "/api/v1/admin/agents", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["agents"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&token));
    let (status, one) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/agents/{agent_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["status"], "active");
    assert!(!one.to_string().contains(&token));

    // Revoke: in force when the call returns.
    let (status, revoked) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent_id}/revoke"),
            Some(json!({"reason": "laptop stolen"})),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(app.me(&token).await, 401);
    // Revoking again is harmless.
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // Every admin action is in the audit log, newest first.
    let (status, audit) = app
        .admin(Method::GET, "/api/v1/admin/audit?limit=10", None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "admin.agent.revoke",
            "admin.agent.revoke",
            "admin.agent.create",
            "admin.user.upsert"
        ]
    );
    assert_eq!(audit["items"][1]["reason"], "laptop stolen");
    let (_, by_agent) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/audit?agent_id={agent_id}"),
            None,
        )
        .await;
    assert_eq!(by_agent["items"].as_array().unwrap().len(), 2);
    let (_, page) = app
        .admin(Method::GET, "/api/v1/admin/audit?limit=3", None)
        .await;
    let cursor = page["next_before"].as_i64().unwrap();
    let (_, rest) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/audit?limit=3&before={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_before"].is_null());
    app.stop().await;
}
both_engines!(the_whole_agent_lifecycle_, the_whole_agent_lifecycle);

async fn owner_standing_gates_agents(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Grace").await;
    let p = app.project("OPS", &[]).await;
    let (_, token) = app.agent(owner, "a1", &[&p]).await;
    assert_eq!(app.me(&token).await, 200);

    let put = |codex: bool, blocked: bool| json!({"display_name": "Grace", "client_id": "client-1", "codex_agents": codex, "blocked": blocked});
    let path = format!("/api/v1/admin/users/{owner}");
    // Blocked: the token stops working at once, and no new agent can be made.
    let (status, _) = app.admin(Method::PUT, &path, Some(put(true, true))).await;
    assert_eq!(status, 200);
    assert_eq!(app.me(&token).await, 401);
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(json!({"owner_id": owner, "name": "a2", "grants": [{"project_id": p, "scopes": ["cards:read"]}]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("owner_blocked"))
    );

    // Unblocked but without the entitlement: still refused.
    app.admin(Method::PUT, &path, Some(put(false, false))).await;
    assert_eq!(app.me(&token).await, 401);
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(json!({"owner_id": owner, "name": "a2", "grants": [{"project_id": p, "scopes": ["cards:read"]}]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("owner_not_entitled"))
    );

    // Entitled again: the agent that was never revoked by hand works again.
    app.admin(Method::PUT, &path, Some(put(true, false))).await;
    assert_eq!(app.me(&token).await, 200);
    app.stop().await;
}
both_engines!(owner_standing_gates_agents_, owner_standing_gates_agents);

async fn bad_requests_get_clear_json_errors(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Linus").await;
    let p = app.project("KRN", &[]).await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_owned();

    // Authentication.
    let resp = app
        .http
        .get(app.url("/api/v1/admin/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let resp = app
        .http
        .get(app.url("/api/v1/admin/agents"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "unauthorized");

    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::GET,
            "/api/v1/admin/agents/not-a-uuid".into(),
            None,
            400,
            "invalid_path",
        ),
        (
            Method::GET,
            format!("/api/v1/admin/agents/{}", Uuid::new_v4()),
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/api/v1/admin/audit?limit=0".into(),
            None,
            400,
            "bad_request",
        ),
        (
            Method::GET,
            "/api/v1/admin/audit?bogus=1".into(),
            None,
            400,
            "invalid_query",
        ),
        (
            Method::PUT,
            format!("/api/v1/admin/users/{owner}"),
            Some(
                json!({"display_name": "x", "client_id": "c", "codex_agents": true, "blocked": false, "role": "root"}),
            ),
            422,
            "invalid_body",
        ),
        (
            Method::PUT,
            format!("/api/v1/admin/users/{owner}"),
            Some(json!({"display_name": "x"})),
            422,
            "invalid_body",
        ),
        (
            Method::POST,
            "/api/v1/admin/agents".into(),
            Some(
                json!({"owner_id": owner, "name": "a", "grants": [{"project_id": p, "scopes": ["cards:delete"]}]}),
            ),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/api/v1/admin/agents".into(),
            Some(json!({"owner_id": owner, "name": "a", "grants": []})),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/api/v1/admin/agents".into(),
            Some(
                json!({"owner_id": owner, "name": "bad/name", "grants": [{"project_id": p, "scopes": ["cards:read"]}]}),
            ),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/api/v1/admin/agents".into(),
            Some(
                json!({"owner_id": Uuid::new_v4(), "name": "a", "grants": [{"project_id": p, "scopes": ["cards:read"]}]}),
            ),
            422,
            "unknown_owner",
        ),
        (
            Method::DELETE,
            "/api/v1/admin/agents".into(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/nothing-here".into(),
            None,
            404,
            "not_found",
        ),
    ];
    for (method, path, body, want_status, want_code) in cases {
        let (status, got) = app.admin(method.clone(), &path, body).await;
        assert_eq!(
            (status, code(&got).as_str()),
            (want_status, want_code),
            "{method} {path}: {got}"
        );
    }

    // Malformed JSON and a missing content type.
    let resp = app
        .http
        .post(app.url("/api/v1/admin/agents"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .http
        .post(app.url("/api/v1/admin/agents"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), "unsupported_media_type");

    // A duplicate name for the same owner is a conflict.
    app.agent(owner, "twin", &[&p]).await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(json!({"owner_id": owner, "name": "twin", "grants": [{"project_id": p, "scopes": ["cards:read"]}]})),
        )
        .await;
    assert_eq!((status, code(&body).as_str()), (409, "conflict"));
    // The conflict is answered; the schema's rule name is not.
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("already exists"));
    no_driver_text("a conflict", &body);

    // Tokens: a mistyped token, a token of another kind, no token.
    let (_, token) = app.agent(owner, "typo", &[&p]).await;
    let mut typo = token.clone().into_bytes();
    let i = typo.len() - 8;
    typo[i] = if typo[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(app.me(&String::from_utf8(typo).unwrap()).await, 401);
    assert_eq!(app.me(ADMIN_TOKEN).await, 401);
    let resp = app
        .http
        .get(app.url("/api/v1/agent/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(app.me(&token).await, 200);

    // An oversized body is refused before it is read whole.
    let resp = app
        .http
        .post(app.url("/api/v1/admin/agents"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    app.stop().await;
}
both_engines!(
    bad_requests_get_clear_json_errors_,
    bad_requests_get_clear_json_errors
);

/// Runs raw SQL on the app's database, behind the gateway's back.
async fn sabotage(app: &TestApp, engine: Engine, sql: &str) {
    match engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Asserts an answer carries none of a database's or driver's own words.
fn no_driver_text(what: &str, body: &Value) {
    let text = body.to_string().to_lowercase();
    for word in [
        "database",
        "sqlite",
        "postgres",
        "sqlx",
        "no such",
        "relation",
        "column",
        "table",
        "constraint",
        "_key",
        "syntax",
        "audit_",
        "agents_",
        "batch",
    ] {
        assert!(
            !text.contains(word),
            "{what} answers driver text ({word:?}): {body}"
        );
    }
}

/// Store failures answer stable messages; the driver's text (table, column and rule
/// names, SQL errors) stays in the log, whether the failure is readiness, an audit row
/// that cannot be written or a read that fails. (A uniqueness conflict is checked in
/// `bad_requests_get_clear_json_errors`.)
async fn store_failures_answer_without_driver_text(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Edsger").await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_owned();

    // Readiness, unauthenticated: which check failed, not why.
    sabotage(
        &app,
        engine,
        "ALTER TABLE _sqlx_migrations RENAME TO sqlx_migrations_moved; \
         CREATE TABLE _sqlx_migrations (bogus TEXT)",
    )
    .await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["migrations"], "unknown", "{body}");
    assert_eq!(body["checks"]["store"], "reachable", "{body}");
    no_driver_text("/readyz", &body["checks"]);
    sabotage(
        &app,
        engine,
        "DROP TABLE _sqlx_migrations; ALTER TABLE sqlx_migrations_moved RENAME TO _sqlx_migrations",
    )
    .await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // The audit log cannot be written: 503, naming the audit log, not the database.
    sabotage(&app, engine, "ALTER TABLE audit RENAME TO audit_moved").await;
    let (status, body) = app
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/users/{owner}"),
            Some(json!({"display_name": "Edsger", "client_id": "client-1", "codex_agents": true, "blocked": false})),
        )
        .await;
    assert_eq!(
        (status, code(&body).as_str()),
        (503, "unavailable"),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("audit log"));
    no_driver_text("an unwritable audit log", &body);
    sabotage(&app, engine, "ALTER TABLE audit_moved RENAME TO audit").await;

    // A read the database fails: 500, "internal error".
    sabotage(&app, engine, "ALTER TABLE agents RENAME TO agents_moved").await;
    let (status, body) = app.admin(Method::GET, "/api/v1/admin/agents", None).await;
    assert_eq!((status, code(&body).as_str()), (500, "internal"), "{body}");
    assert_eq!(body["error"]["message"], "internal error");
    no_driver_text("a failed read", &body);
    sabotage(&app, engine, "ALTER TABLE agents_moved RENAME TO agents").await;
    app.stop().await;
}
both_engines!(
    store_failures_answer_without_driver_text_,
    store_failures_answer_without_driver_text
);

/// A Tasker that cannot be reached is named with the setting to check; the HTTP
/// client's own error text (addresses, "tcp connect error") is logged, not answered.
#[tokio::test]
async fn an_unreachable_tasker_is_named_without_its_client_text() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("GATEWAY_TASKER", "nodedc"),
            ("GATEWAY_TASKER_URL", url.as_str()),
            ("GATEWAY_TASKER_TOKEN", "tasker-service-token-0123456789"),
            ("GATEWAY_TASKER_RETRIES", "0"),
        ],
    )
    .await;
    let (status, body) = app.admin(Method::GET, "/api/v1/admin/projects", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("GATEWAY_TASKER_URL"), "{message}");
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    for word in ["connect", "error sending", "127.0.0.1", port] {
        assert!(!message.contains(word), "{word:?} in {message}");
    }
    app.stop().await;
}

/// Per-agent rate limits are held to the range of their defaults (1 to 1,000,000), with
/// a 422 naming the field and the range; the bounds themselves are accepted.
async fn agent_rate_limits_are_bounded(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Barbara").await;
    let p = app.project("CLU", &[]).await;
    let create = |name: &str, rate: Value, burst: Value| {
        json!({"owner_id": owner, "name": name, "grants": [{"project_id": p, "scopes": ["cards:read"]}],
               "rate_per_minute": rate, "rate_burst": burst})
    };
    for (rate, burst, field) in [
        (json!(0), json!(null), "rate_per_minute"),
        (json!(1_000_001), json!(null), "rate_per_minute"),
        (json!(4_294_967_295u32), json!(10), "rate_per_minute"),
        (json!(null), json!(0), "rate_burst"),
        (json!(60), json!(1_000_001), "rate_burst"),
    ] {
        let (status, body) = app
            .admin(
                Method::POST,
                "/api/v1/admin/agents",
                Some(create("r", rate.clone(), burst.clone())),
            )
            .await;
        assert_eq!(status, 422, "{rate} {burst}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(field) && message.contains("1 to 1000000"),
            "{message}"
        );
    }
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(create("max", json!(1_000_000), json!(1_000_000))),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["agent"]["rate_per_minute"], 1_000_000);
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(create("min", json!(1), json!(1))),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;
}
both_engines!(
    agent_rate_limits_are_bounded_,
    agent_rate_limits_are_bounded
);

/// The served OpenAPI document describes exactly the routes the gateway serves.
#[tokio::test]
async fn openapi_document_matches_the_router() {
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[(
            "GATEWAY_LAUNCHER_SECRET",
            "a-launcher-secret-of-32-characters-or-more",
        )],
    )
    .await;
    let doc: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_object().unwrap();
    let served = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/api/v1/agent/me"),
        ("get", "/api/v1/openapi.json"),
        ("put", "/api/v1/admin/users/{user_id}"),
        ("get", "/api/v1/admin/users/{user_id}"),
        ("post", "/api/v1/admin/agents"),
        ("get", "/api/v1/admin/agents"),
        ("get", "/api/v1/admin/agents/{agent_id}"),
        ("post", "/api/v1/admin/agents/{agent_id}/revoke"),
        ("get", "/api/v1/admin/audit"),
        ("get", "/api/v1/admin/projects"),
        ("get", "/api/v1/admin/projects/{project_id}/members"),
        ("get", "/api/v1/admin/users"),
        ("get", "/api/v1/owner/projects"),
        ("post", "/api/v1/admin/users/{user_id}/sessions"),
        ("post", "/api/v1/admin/users/{user_id}/sign-in-link"),
        ("get", "/api/v1/owner/agents"),
        ("post", "/api/v1/owner/agents"),
        ("get", "/api/v1/owner/agents/{agent_id}"),
        ("post", "/api/v1/owner/agents/{agent_id}/revoke"),
        ("get", "/api/v1/agents/{agent_id}/setup"),
        ("post", "/api/v1/launcher/events"),
        ("get", "/api/v1/admin/status"),
        ("get", "/api/v1/admin/work-sessions"),
        ("get", "/api/v1/admin/work-sessions/{session_id}"),
        ("post", "/api/v1/admin/work-sessions/{session_id}/stop"),
        ("put", "/api/v1/admin/agents/{agent_id}/reporting"),
        ("get", "/api/v1/owner/work-sessions"),
        ("get", "/api/v1/owner/work-sessions/{session_id}"),
        ("post", "/api/v1/owner/work-sessions/{session_id}/stop"),
        ("put", "/api/v1/owner/agents/{agent_id}/reporting"),
    ];
    for (method, path) in served {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = paths
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .count()
        })
        .sum();
    assert_eq!(
        documented,
        served.len(),
        "the document describes a route the gateway does not serve"
    );
    // And each of them really answers (not 404/405) on the gateway.
    for (method, path) in served {
        let path = path
            .replace("{user_id}", &Uuid::new_v4().to_string())
            .replace("{agent_id}", &Uuid::new_v4().to_string())
            .replace("{session_id}", &Uuid::new_v4().to_string())
            .replace("{project_id}", "no-such-project");
        let resp = app
            .http
            .request(method.to_uppercase().parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&resp.status().as_u16())
                || path.contains("/agents/")
                || path.contains("/projects/")
                || path.contains("/work-sessions/"),
            "{method} {path}"
        );
    }
    app.stop().await;
}
