//! Phase 8, security acceptance: the checklist of the implementation plan, one test per
//! item, black box over real HTTP (the JSON-RPC client of `mcp/`, the admin API, the
//! signed Launcher webhook), on both engines where the store matters.
//!
//! Long on purpose: one test per checklist item, in the plan's order, so the file reads as
//! the checklist itself (docs/THREAT_MODEL.md links each threat to these tests).

use std::time::Duration;

use agent_gateway::launcher::webhook::sign;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp, ADMIN_TOKEN};
use crate::mcp::{agent_with, text, world, Client, World, ALL};

const WRITES: [&str; 7] = [
    "create_card",
    "update_card",
    "move_card",
    "add_comment",
    "set_labels",
    "assign_card",
    "update_structured_block",
];

/// The audit rows of `agent`, newest first (one page of up to 500).
/// Waits (up to 5 s) until `agent`'s audit rows satisfy `done`; returns them. Reads and
/// early refusals ride the next audit batch, so they appear shortly after the answer.
async fn audit_until(app: &TestApp, agent: Uuid, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = app.audit_rows(agent).await;
        if done(&rows) || tokio::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn agent_status(app: &TestApp, agent: Uuid) -> String {
    let (_, a) = app
        .admin(Method::GET, &format!("/api/v1/admin/agents/{agent}"), None)
        .await;
    a["status"].as_str().unwrap_or_default().to_owned()
}

/// Asserts that `token` is refused everywhere at once: the next tool call (also a write),
/// a new `initialize`, and the REST `me`; and that the open stream has been closed.
async fn assert_token_dead(
    w: &World,
    c: &Client<'_>,
    token: &str,
    stream: tokio::task::JoinHandle<reqwest::Result<String>>,
    why: &str,
) {
    let (status, body, headers) = c
        .rpc(
            "tools/call",
            json!({"name": "list_projects", "arguments": {}}),
        )
        .await;
    assert_eq!(status, 401, "{why}: the next call is refused: {body}");
    assert_eq!(body["error"]["code"], -32003, "{why}: {body}");
    assert!(headers.contains_key("www-authenticate"), "{why}");
    let (status, body, _) = c
        .rpc(
            "tools/call",
            json!({"name": "create_card", "arguments": {"idempotency_key": format!("after-{why}"), "project_id": w.web, "name": "after"}}),
        )
        .await;
    assert_eq!(status, 401, "{why}: a write is refused: {body}");
    let fresh = Client::new(&w.app, token);
    let resp = fresh
        .post(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{why}: a new session is refused");
    assert_eq!(w.app.me(token).await, 401, "{why}: REST refuses it too");
    tokio::time::timeout(Duration::from_secs(5), stream)
        .await
        .unwrap_or_else(|_| panic!("{why}: the open GET /mcp stream was not closed within 5 s"))
        .unwrap()
        .ok();
    // Nothing was written after the token died.
    let (_, cards) = w
        .app
        .admin(Method::GET, "/api/v1/admin/audit?limit=500", None)
        .await;
    assert!(
        !cards["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["idempotency_key"] == format!("after-{why}") && r["outcome"] == "allowed"),
        "{why}: a write was allowed after the token died"
    );
}

async fn live_client<'a>(w: &'a World, token: &str) -> Client<'a> {
    let mut c = Client::new(&w.app, token);
    c.init().await;
    let ok = c.tool("list_projects", json!({})).await;
    assert_eq!(ok["isError"], false, "{ok}");
    c
}

// 1. Token revoke is immediate.
async fn token_revoke_is_immediate(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "revokee",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let stream = c.open_stream().await;
    let (status, body) = w
        .app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // No waiting: the very next call is refused.
    assert_token_dead(&w, &c, &token, stream, "revoked").await;
    assert_eq!(agent_status(&w.app, agent).await, "revoked");
    w.app.stop().await;
}
both_engines!(token_revoke_is_immediate_, token_revoke_is_immediate);

/// The owner's standing changes through the admin API (`codex_agents`, `blocked`):
/// the agent's token, calls and open stream are dead at once, and the agent `disabled`.
/// Returns the world and the token, for what follows.
async fn owner_loses_standing(
    engine: Engine,
    entitled: bool,
    blocked: bool,
    why: &str,
) -> (World, String) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "losing-standing",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let stream = c.open_stream().await;
    let (status, body) = set_standing(&w, entitled, blocked).await;
    assert_eq!(status, 200, "{body}");
    assert_token_dead(&w, &c, &token, stream, why).await;
    assert_eq!(agent_status(&w.app, agent).await, "disabled");
    (w, token)
}

async fn set_standing(w: &World, entitled: bool, blocked: bool) -> (u16, Value) {
    w.app
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/users/{}", w.owner),
            Some(json!({"display_name": "Ada", "client_id": "client-1", "codex_agents": entitled, "blocked": blocked})),
        )
        .await
}

// 2a. A blocked owner's token stops working at once; unblocking restores it.
async fn blocked_owner_disables_the_token(engine: Engine) {
    let (w, token) = owner_loses_standing(engine, true, true, "owner blocked").await;
    // Unblocked: the disabled agent returns (the standing rule), the same token works.
    assert_eq!(set_standing(&w, true, false).await.0, 200);
    assert_eq!(w.app.me(&token).await, 200);
    w.app.stop().await;
}
both_engines!(
    blocked_owner_disables_the_token_,
    blocked_owner_disables_the_token
);

// 2b. An owner whose entitlement is withdrawn (codex_agents false) is disabled too.
async fn withdrawn_entitlement_disables_the_token(engine: Engine) {
    let (w, _) = owner_loses_standing(engine, false, false, "entitlement withdrawn").await;
    w.app.stop().await;
}
both_engines!(
    withdrawn_entitlement_disables_the_token_,
    withdrawn_entitlement_disables_the_token
);

const LAUNCHER_SECRET: &str = "launcher-webhook-secret-phase8-0123456789";

async fn launcher_event(app: &TestApp, kind: &str, user: Uuid) -> (u16, Value) {
    let event = json!({"id": Uuid::new_v4().to_string(), "type": kind, "user_id": user, "client_id": "client-1", "display_name": "Ada"});
    let body = serde_json::to_vec(&event).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let resp = app
        .http
        .post(app.url("/api/v1/launcher/events"))
        .header("content-type", "application/json")
        .header("x-launcher-timestamp", ts.to_string())
        .header(
            "x-launcher-signature",
            sign(LAUNCHER_SECRET.as_bytes(), ts, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

// 2c. An annulled owner (Launcher's signed webhook) loses every agent for good.
async fn annulled_owner_revokes_the_token(engine: Engine) {
    let w = world(engine, &[("GATEWAY_LAUNCHER_SECRET", LAUNCHER_SECRET)]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "annulled-owner",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let stream = c.open_stream().await;
    let (status, body) = launcher_event(&w.app, "user.annulled", w.owner).await;
    assert_eq!(status, 200, "{body}");
    assert_token_dead(&w, &c, &token, stream, "owner annulled").await;
    assert_eq!(agent_status(&w.app, agent).await, "revoked");
    // Final: a later grant brings nothing back.
    launcher_event(&w.app, "entitlement.granted", w.owner).await;
    launcher_event(&w.app, "user.unblocked", w.owner).await;
    assert_eq!(w.app.me(&token).await, 401);
    w.app.stop().await;
}
both_engines!(
    annulled_owner_revokes_the_token_,
    annulled_owner_revokes_the_token
);

// 3. Project scope escape is denied, by every road into another project.
async fn project_scope_escape_is_denied(engine: Engine) {
    let w = world(engine, &[]).await;
    // An OPS card made by an agent that holds OPS.
    let (_, ops_token) = agent_with(
        &w.app,
        w.owner,
        "ops-bot",
        json!([{"project_id": w.ops, "scopes": ALL}]),
        None,
    )
    .await;
    let ops = live_client(&w, &ops_token).await;
    let secret = ops
        .tool(
            "create_card",
            json!({"idempotency_key": "ops-1", "project_id": w.ops, "name": "Secret OPS plan", "description": "classified"}),
        )
        .await;
    assert_eq!(secret["isError"], false, "{secret}");
    let ops_key = secret["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let ops_id = secret["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = ops.tool("get_card", json!({"card": ops_key})).await;

    // The escaping agent holds every scope, but only on WEB.
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "web-bot",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let mine = c
        .tool(
            "create_card",
            json!({"idempotency_key": "web-1", "project_id": w.web, "name": "Mine"}),
        )
        .await;
    assert_eq!(mine["isError"], false, "{mine}");
    let web_key = mine["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let attempts: Vec<(&str, &str, Value)> = vec![
        (
            "context of another project",
            "get_project_context",
            json!({"project_id": w.ops}),
        ),
        (
            "create in another project",
            "create_card",
            json!({"idempotency_key": "e-1", "project_id": w.ops, "name": "planted"}),
        ),
        (
            "search another project",
            "search_cards",
            json!({"project_id": w.ops}),
        ),
        (
            "search another project by text",
            "search_cards",
            json!({"project_id": w.ops, "text": "Secret"}),
        ),
        ("read a card by key", "get_card", json!({"card": ops_key})),
        ("read a card by id", "get_card", json!({"card": ops_id})),
        (
            "move a card by key",
            "move_card",
            json!({"idempotency_key": "e-2", "card": ops_key, "state": "Done"}),
        ),
        (
            "move a card by id",
            "move_card",
            json!({"idempotency_key": "e-3", "card": ops_id, "state": "Done"}),
        ),
        (
            "comment by key",
            "add_comment",
            json!({"idempotency_key": "e-4", "card": ops_key, "body": "pwned"}),
        ),
        (
            "update by id",
            "update_card",
            json!({"idempotency_key": "e-5", "card": ops_id, "name": "pwned"}),
        ),
        (
            "label by key",
            "set_labels",
            json!({"idempotency_key": "e-6", "card": ops_key, "labels": []}),
        ),
        (
            "assign by key",
            "assign_card",
            json!({"idempotency_key": "e-7", "card": ops_key, "assignees": []}),
        ),
        (
            "block by key",
            "update_structured_block",
            json!({"idempotency_key": "e-8", "card": ops_key, "block": "plan", "content": "pwned"}),
        ),
        (
            "create with a parent in another project (key)",
            "create_card",
            json!({"idempotency_key": "e-9", "project_id": w.web, "name": "child", "parent": ops_key}),
        ),
        (
            "create with a parent in another project (id)",
            "create_card",
            json!({"idempotency_key": "e-10", "project_id": w.web, "name": "child", "parent": ops_id}),
        ),
        (
            "update the parent to another project's card (key)",
            "update_card",
            json!({"idempotency_key": "e-11", "card": web_key, "parent": ops_key}),
        ),
        (
            "update the parent to another project's card (id)",
            "update_card",
            json!({"idempotency_key": "e-12", "card": web_key, "parent": ops_id}),
        ),
    ];
    let mut problems = Vec::new();
    for (what, tool, args) in &attempts {
        let (status, body, _) = c
            .rpc("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        let refused = body["result"]["isError"] == true || body.get("error").is_some();
        if !(status == 200 && refused) {
            problems.push(format!(
                "{what} ({tool}): HTTP {status}, not refused: {body}"
            ));
        }
        let all = body.to_string();
        if all.contains("Secret OPS plan") || all.contains("classified") {
            problems.push(format!("{what} ({tool}) leaks the OPS card: {body}"));
        }
    }
    // Searching without a project sees only WEB.
    let all = c.tool("search_cards", json!({"text": "Secret"})).await;
    assert_eq!(all["isError"], false, "{all}");
    assert_eq!(all["structuredContent"]["cards"], json!([]), "{all}");
    let every = c.tool("search_cards", json!({"limit": 100})).await;
    for card in every["structuredContent"]["cards"].as_array().unwrap() {
        if !card["key"].as_str().unwrap().starts_with("WEB-") {
            problems.push(format!("search without a project shows {card}"));
        }
    }
    // Nothing changed on the OPS side or in WEB's card.
    let after = ops.tool("get_card", json!({"card": ops_key})).await;
    assert_eq!(
        before["structuredContent"], after["structuredContent"],
        "the OPS card was changed"
    );
    let (_, ops_cards, _) = ops
        .rpc(
            "tools/call",
            json!({"name": "search_cards", "arguments": {"project_id": w.ops, "limit": 100}}),
        )
        .await;
    assert_eq!(
        ops_cards["result"]["structuredContent"]["cards"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "a card was planted in OPS: {ops_cards}"
    );
    let web_card = c.tool("get_card", json!({"card": web_key})).await;
    assert!(
        web_card["structuredContent"].get("parent").is_none()
            || web_card["structuredContent"]["parent"].is_null(),
        "WEB's card got a parent in OPS: {web_card}"
    );
    // Every escape attempt is audited, none as allowed.
    let tried: usize = attempts.len();
    let rows = audit_until(&w.app, agent, |rows| {
        rows.iter().filter(|r| r["outcome"] != "allowed").count() >= tried
    })
    .await;
    let refused_rows = rows.iter().filter(|r| r["outcome"] != "allowed").count();
    if refused_rows < tried {
        problems.push(format!(
            "{tried} escape attempts but {refused_rows} refused audit rows: {rows:?}"
        ));
    }
    for key in (1..=12).map(|i| format!("e-{i}")) {
        if rows
            .iter()
            .any(|r| r["idempotency_key"] == key && r["outcome"] == "allowed")
        {
            problems.push(format!("escape write {key} audited as allowed"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(
    project_scope_escape_is_denied_,
    project_scope_escape_is_denied
);

// 4. The raw Tasker API is unreachable: no pass-through route, no URL-taking argument.
#[tokio::test]
async fn the_raw_tasker_api_is_unreachable() {
    let w = world(Engine::Sqlite, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "prober",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let paths = [
        "/api/internal/nodedc/agent/projects".to_owned(),
        format!("/api/internal/nodedc/agent/projects/{}/cards", w.web),
        format!("/api/internal/nodedc/agent/projects/{}/context", w.web),
        "/api/internal/nodedc/agent/cards/WEB-1".to_owned(),
        "/api/internal/nodedc/agent/cards/WEB-1/comments".to_owned(),
        "/api/internal/nodedc/agent/cards/WEB-1/archive".to_owned(),
        "/api/internal/nodedc/agent/cards/WEB-1/delete".to_owned(),
        "/api/internal/nodedc".to_owned(),
        "/api/v1/workspaces/x/projects/".to_owned(),
        "/api/v1/tasker/projects".to_owned(),
        "/api/v1/proxy?url=http://127.0.0.1:1/".to_owned(),
        "/mcp/../api/internal/nodedc/agent/projects".to_owned(),
        "/mcp/api/internal/nodedc/agent/projects".to_owned(),
    ];
    let mut problems = Vec::new();
    for path in &paths {
        for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
            for auth in [Some(token.as_str()), Some(ADMIN_TOKEN), None] {
                let mut req = w.app.http.request(method.clone(), w.app.url(path));
                if let Some(a) = auth {
                    req = req.bearer_auth(a);
                }
                if method != Method::GET {
                    req = req.json(&json!({"name": "x"}));
                }
                let status = req.send().await.unwrap().status().as_u16();
                if status != 404 {
                    problems.push(format!("{method} {path} → {status}, not 404"));
                }
            }
        }
    }
    // No tool takes a URL, a path or a host.
    let c = live_client(&w, &token).await;
    let tools = crate::raw::tools(&c).await;
    assert_eq!(tools.len(), 11);
    for tool in &tools {
        let schema = tool["inputSchema"].to_string().to_lowercase();
        for word in ["url", "uri", "href", "endpoint", "host", "\"path\""] {
            if schema.contains(word) {
                problems.push(format!("{} takes {word}: {schema}", tool["name"]));
            }
        }
    }
    // Smuggling a URL in an argument is refused as an unknown field, not followed.
    let smuggled = c
        .tool(
            "list_projects",
            json!({"url": "http://127.0.0.1:1/api/internal/nodedc/agent/projects"}),
        )
        .await;
    if smuggled["isError"] != true {
        problems.push(format!("list_projects accepted a url argument: {smuggled}"));
    }
    let as_card = c
        .tool(
            "get_card",
            json!({"card": "http://127.0.0.1:1/api/internal/nodedc/agent/cards/WEB-1"}),
        )
        .await;
    if as_card["isError"] != true {
        problems.push(format!("get_card followed a URL: {as_card}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}

// 5. Delete and archive are denied, audited as denials, and change nothing.
async fn delete_and_archive_are_denied(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "wrecker",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let created = c
        .tool(
            "create_card",
            json!({"idempotency_key": "keep-1", "project_id": w.web, "name": "Keep me"}),
        )
        .await;
    let key = created["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed: Vec<String> = crate::raw::tools(&c)
        .await
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let attempts = [
        ("delete_card", json!({"card": key})),
        ("archive_card", json!({"card": key})),
        ("delete_project", json!({"project_id": w.web})),
        ("archive_project", json!({"project_id": w.web})),
        ("remove_card", json!({"card": key})),
        (
            "destroy_card",
            json!({"card": key, "idempotency_key": "d-1"}),
        ),
        ("purge_project", json!({"project_id": w.web})),
        ("drop_cards", json!({})),
        ("delete_comment", json!({"card": key, "comment": "1"})),
    ];
    let mut problems = Vec::new();
    for (name, args) in &attempts {
        if listed.iter().any(|l| l == name) {
            problems.push(format!("tools/list offers {name}"));
        }
        let (status, body, _) = c
            .rpc("tools/call", json!({"name": name, "arguments": args}))
            .await;
        if status != 200 || body["result"]["isError"] != true {
            problems.push(format!("{name}: HTTP {status}, not a tool error: {body}"));
        } else if !text(&body["result"]).contains("never possible") {
            problems.push(format!("{name}: unexpected text {}", text(&body["result"])));
        }
    }
    let still = c.tool("get_card", json!({"card": key})).await;
    assert_eq!(still["isError"], false, "the card is gone: {still}");
    assert_eq!(still["structuredContent"]["name"], "Keep me");
    let rows = audit_until(&w.app, agent, |rows| {
        attempts
            .iter()
            .all(|(name, _)| rows.iter().any(|r| r["action"] == *name))
    })
    .await;
    for (name, _) in &attempts {
        match rows.iter().find(|r| r["action"] == *name) {
            None => problems.push(format!("{name}: no audit row")),
            Some(r) if r["outcome"] != "denied" => {
                problems.push(format!("{name}: audited {} not denied", r["outcome"]))
            }
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(
    delete_and_archive_are_denied_,
    delete_and_archive_are_denied
);

// 6. A duplicate idempotency key replays the first result; other input is refused.
async fn duplicate_idempotency_key_replays(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "retrier",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let args = json!({"idempotency_key": "same-1", "project_id": w.web, "name": "Only once", "labels": ["bug"]});
    let first = c.tool("create_card", args.clone()).await;
    assert_eq!(first["isError"], false, "{first}");
    let second = c.tool("create_card", args.clone()).await;
    assert_eq!(first, second, "the retry must replay the first result");
    // Key order does not matter: same call, same fingerprint.
    let reordered = c
        .tool(
            "create_card",
            json!({"labels": ["bug"], "name": "Only once", "project_id": w.web, "idempotency_key": "same-1"}),
        )
        .await;
    assert_eq!(first, reordered);
    // Other input with the same key is refused and writes nothing.
    let other = c
        .tool(
            "create_card",
            json!({"idempotency_key": "same-1", "project_id": w.web, "name": "Something else"}),
        )
        .await;
    assert_eq!(other["isError"], true, "{other}");
    assert!(
        text(&other).contains("already used for a different call"),
        "{}",
        text(&other)
    );
    // Another tool with the same key is another call too.
    let key = first["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = c
        .tool(
            "move_card",
            json!({"idempotency_key": "same-1", "card": key, "state": "Done"}),
        )
        .await;
    assert_eq!(moved["isError"], true, "{moved}");
    let page = c
        .tool("search_cards", json!({"project_id": w.web, "limit": 100}))
        .await;
    let cards = page["structuredContent"]["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "exactly one card was created: {page}");
    let card = c.tool("get_card", json!({"card": key})).await;
    assert_ne!(card["structuredContent"]["state"], "Done");
    // A move replays too: the second answer is the first, the card moved once.
    let m = json!({"idempotency_key": "move-1", "card": key, "state": "In Progress"});
    let m1 = c.tool("move_card", m.clone()).await;
    let m2 = c.tool("move_card", m).await;
    assert_eq!(m1["isError"], false, "{m1}");
    assert_eq!(m1, m2);
    let rows = w.app.audit_rows(agent).await;
    let replays = rows
        .iter()
        .filter(|r| r["reason"] == "replayed the first result")
        .count();
    assert_eq!(
        replays, 3,
        "two create replays and one move replay: {rows:?}"
    );
    w.app.stop().await;
}
both_engines!(
    duplicate_idempotency_key_replays_,
    duplicate_idempotency_key_replays
);

// 7. Every write has its audit row, durable when the answer arrives.
async fn every_write_is_audited(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "writer",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let c = live_client(&w, &token).await;
    let mut done: Vec<(String, &str, bool)> = Vec::new();
    let mut cards = Vec::new();
    for i in 0..3 {
        let k = format!("w-create-{i}");
        let r = c
            .tool(
                "create_card",
                json!({"idempotency_key": k, "project_id": w.web, "name": format!("card {i}")}),
            )
            .await;
        assert_eq!(r["isError"], false, "{r}");
        cards.push(r["structuredContent"]["key"].as_str().unwrap().to_owned());
        done.push((k, "create_card", true));
    }
    let card = cards[0].clone();
    let writes = [
        (
            "update_card",
            json!({"card": card, "description": "new"}),
            true,
        ),
        (
            "move_card",
            json!({"card": card, "state": "In Progress"}),
            true,
        ),
        ("add_comment", json!({"card": card, "body": "hello"}), true),
        (
            "set_labels",
            json!({"card": card, "labels": ["bug", "feature"]}),
            true,
        ),
        (
            "assign_card",
            json!({"card": card, "assignees": ["Ada"]}),
            true,
        ),
        (
            "update_structured_block",
            json!({"card": card, "block": "plan", "content": "1. do"}),
            true,
        ),
        // Failures are writes too: a state that does not exist, a card that does not.
        (
            "move_card",
            json!({"card": card, "state": "Nowhere"}),
            false,
        ),
        (
            "add_comment",
            json!({"card": "WEB-999", "body": "lost"}),
            false,
        ),
    ];
    for (i, (tool, args, ok)) in writes.iter().enumerate() {
        let k = format!("w-{tool}-{i}");
        let mut args = args.clone();
        args["idempotency_key"] = json!(k);
        let r = c.tool(tool, args).await;
        assert_eq!(r["isError"], !ok, "{tool}: {r}");
        done.push((k, tool, *ok));
    }
    // No waiting: a write's rows are durable before its answer. One outcome row per
    // write; and every write that reached the tracker named first by its intent row.
    let rows = w.app.audit_rows(agent).await;
    let write_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| WRITES.contains(&r["action"].as_str().unwrap_or_default()))
        .filter(|r| r["outcome"] != "intent")
        .collect();
    assert_eq!(
        write_rows.len(),
        done.len(),
        "{} writes, {} write audit rows: {write_rows:?}",
        done.len(),
        write_rows.len()
    );
    for row in write_rows.iter().filter(|r| r["outcome"] == "allowed") {
        assert!(
            rows.iter()
                .any(|r| r["outcome"] == "intent" && r["request_id"] == row["request_id"]),
            "no intent before {row}"
        );
    }
    for (k, tool, ok) in &done {
        let row = write_rows
            .iter()
            .find(|r| r["idempotency_key"] == *k)
            .unwrap_or_else(|| panic!("no audit row for {tool} {k}"));
        assert_eq!(row["action"], *tool);
        assert_eq!(
            row["outcome"],
            if *ok { "allowed" } else { "failed" },
            "{row}"
        );
        assert_eq!(row["agent_id"], agent.to_string());
        assert_eq!(row["owner_id"], w.owner.to_string());
    }
    w.app.stop().await;
}
both_engines!(every_write_is_audited_, every_write_is_audited);

// 8. The rate limit is enforced per agent, audited, and blocks writes too.
async fn the_rate_limit_is_enforced(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "hasty",
        json!([{"project_id": w.web, "scopes": ALL}]),
        Some((1, 5)),
    )
    .await;
    let (_, calm_token) = agent_with(
        &w.app,
        w.owner,
        "calm",
        json!([{"project_id": w.web, "scopes": ALL}]),
        Some((1, 5)),
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    // Everything counts: initialize and its notification take two of the burst of 5.
    c.init().await;
    for i in 0..3 {
        let r = c.tool("list_projects", json!({})).await;
        assert_eq!(r["isError"], false, "call {i} is within the burst: {r}");
    }
    let limited = c.tool("list_projects", json!({})).await;
    assert_eq!(limited["isError"], true, "{limited}");
    assert!(text(&limited).contains("Rate limit reached"), "{limited}");
    let write = c
        .tool(
            "create_card",
            json!({"idempotency_key": "hasty-1", "project_id": w.web, "name": "too fast"}),
        )
        .await;
    assert_eq!(write["isError"], true, "{write}");
    assert!(text(&write).contains("Rate limit reached"), "{write}");
    assert!(text(&write).contains("same idempotency_key"), "{write}");
    // Another agent of the same owner has its own bucket.
    let calm = live_client(&w, &calm_token).await;
    let page = calm
        .tool(
            "search_cards",
            json!({"project_id": w.web, "text": "too fast"}),
        )
        .await;
    assert_eq!(page["isError"], false, "{page}");
    assert_eq!(
        page["structuredContent"]["cards"],
        json!([]),
        "a limited write ran"
    );
    let rows = audit_until(&w.app, agent, |rows| {
        rows.iter().filter(|r| r["outcome"] == "denied").count() >= 2
    })
    .await;
    let denied: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "denied").collect();
    assert_eq!(denied.len(), 2, "{rows:?}");
    for r in denied {
        assert!(
            r["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("Rate limit"),
            "{r}"
        );
    }
    w.app.stop().await;
}
both_engines!(the_rate_limit_is_enforced_, the_rate_limit_is_enforced);

// 9. No secret in generated files, error messages or audit rows.
async fn no_secret_in_files_errors_or_audit(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "secretive",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let (victim, victim_token) = agent_with(
        &w.app,
        w.owner,
        "victim",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let (status, session) = w
        .app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{}/sessions", w.owner),
            Some(json!({"ttl_minutes": 30})),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let owner_token = session["token"].as_str().unwrap().to_owned();
    let mut seen: Vec<(String, String)> = Vec::new();

    // The setup pack, by admin and by owner.
    let (status, pack) = w
        .app
        .admin(Method::GET, &format!("/api/v1/agents/{agent}/setup"), None)
        .await;
    assert_eq!(status, 200, "{pack}");
    seen.push(("setup pack".into(), pack.to_string()));
    let resp = w
        .app
        .http
        .get(w.app.url(&format!("/api/v1/agents/{agent}/setup")))
        .bearer_auth(&owner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    seen.push(("setup pack (owner)".into(), resp.text().await.unwrap()));

    // Errors of every layer.
    let c = live_client(&w, &token).await;
    let tool_errors = [
        ("get_card", json!({"card": "WEB-404"})),
        ("get_card", json!({"card": 12})),
        ("get_project_context", json!({"project_id": w.ops})),
        (
            "create_card",
            json!({"project_id": w.web, "name": "no key"}),
        ),
        (
            "create_card",
            json!({"idempotency_key": " ", "project_id": w.web, "name": "blank"}),
        ),
        (
            "move_card",
            json!({"idempotency_key": "s-1", "card": "WEB-1", "state": "Nope"}),
        ),
        ("delete_card", json!({"card": "WEB-1"})),
        ("list_projects", json!({"extra": true})),
    ];
    for (tool, args) in &tool_errors {
        let (status, body, _) = c
            .rpc("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        assert_eq!(status, 200);
        assert!(
            body["result"]["isError"] == true || body.get("error").is_some(),
            "{tool}: {body}"
        );
        seen.push((format!("{tool} error"), body.to_string()));
    }
    let (_, unknown, _) = c.rpc("tools/call", json!({"name": "frobnicate"})).await;
    seen.push(("unknown tool".into(), unknown.to_string()));
    let (_, method, _) = c.rpc("resources/list", json!({})).await;
    seen.push(("unknown method".into(), method.to_string()));

    // Authentication failures: a mangled token, a revoked one, the owner token, a wrong admin token.
    // Another last character (a token already ending in `x` would stay valid: 1 in 58).
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let mangled = format!("{}{last}", &token[..token.len() - 1]);
    for (what, bearer) in [
        ("mangled agent token", mangled.as_str()),
        ("owner token on /mcp", owner_token.as_str()),
        ("admin token on /mcp", ADMIN_TOKEN),
    ] {
        let mut other = Client::new(&w.app, bearer);
        other.session = c.session.clone();
        let (status, body, headers) = other.rpc("tools/list", json!({})).await;
        assert_eq!(status, 401, "{what}: {body}");
        seen.push((what.to_string(), body.to_string()));
        seen.push((
            format!("{what} challenge"),
            format!("{:?}", headers.get("www-authenticate")),
        ));
        let resp = w
            .app
            .http
            .get(w.app.url("/api/v1/agent/me"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        seen.push((format!("{what} on me"), resp.text().await.unwrap()));
    }
    let mut vc = Client::new(&w.app, &victim_token);
    vc.init().await;
    w.app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{victim}/revoke"),
            None,
        )
        .await;
    let (status, body, _) = vc.rpc("tools/list", json!({})).await;
    assert_eq!(status, 401);
    seen.push(("revoked token".into(), body.to_string()));
    let resp = w
        .app
        .http
        .get(w.app.url("/api/v1/admin/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    seen.push(("agent token on admin".into(), resp.text().await.unwrap()));

    // The whole audit log.
    let expected_rows = tool_errors.len() + 1;
    audit_until(&w.app, agent, |rows| rows.len() > expected_rows).await;
    audit_until(&w.app, victim, |rows| !rows.is_empty()).await;
    let (_, audit) = w
        .app
        .admin(Method::GET, "/api/v1/admin/audit?limit=500", None)
        .await;
    assert!(audit["items"].as_array().unwrap().len() > expected_rows);
    seen.push(("audit log".into(), audit.to_string()));

    let secrets = [
        ("the agent token", token.clone()),
        ("the agent token's body", token["ndcag_".len()..].to_owned()),
        ("the revoked token", victim_token.clone()),
        ("the owner session token", owner_token.clone()),
        (
            "the owner token's body",
            owner_token["ndcown_".len()..].to_owned(),
        ),
        ("the admin token", ADMIN_TOKEN.to_owned()),
        ("the mangled token", mangled.clone()),
        ("an agent token prefix", "ndcag_".to_owned()),
        ("an admin token prefix", "ndcadm_".to_owned()),
        ("an owner token prefix", "ndcown_".to_owned()),
    ];
    let mut leaks = Vec::new();
    for (place, body) in &seen {
        for (what, secret) in &secrets {
            if body.contains(secret.as_str()) {
                leaks.push(format!(
                    "{what} appears in {place}: {}",
                    crate::raw::clip(body)
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    w.app.stop().await;
}
both_engines!(
    no_secret_in_files_errors_or_audit_,
    no_secret_in_files_errors_or_audit
);
