//! The MCP endpoint over real HTTP, spoken by a minimal JSON-RPC client written here.
//! (The independent clients — the official Python SDK and the conformance suite — run
//! from `tests/mcp_clients` and `tests/conformance`.)

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp};

const ALL: [&str; 6] = [
    "cards:read",
    "cards:write",
    "comments:write",
    "labels:write",
    "assign:write",
    "blocks:write",
];

struct Client<'a> {
    app: &'a TestApp,
    token: String,
    session: Option<String>,
}

impl<'a> Client<'a> {
    fn new(app: &'a TestApp, token: &str) -> Self {
        Self {
            app,
            token: token.to_owned(),
            session: None,
        }
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .app
            .http
            .post(self.app.url("/mcp"))
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = &self.session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        req
    }

    async fn init(&mut self) -> Value {
        let resp = self
            .post(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        self.session = Some(
            resp.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let body: Value = resp.json().await.unwrap();
        let note = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(note.status(), 202);
        assert!(note.text().await.unwrap().is_empty());
        body
    }

    async fn rpc(
        &self,
        method: &str,
        params: Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let resp = self
            .post(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
            .send()
            .await
            .unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    /// Opens the session's SSE stream (GET /mcp) and reads it to its end in the
    /// background; the handle finishes when the server closes the stream.
    async fn open_stream(&self) -> tokio::task::JoinHandle<reqwest::Result<String>> {
        let stream = self
            .app
            .http
            .get(self.app.url("/mcp"))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", self.session.clone().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        assert!(stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        tokio::spawn(async move { stream.text().await })
    }

    /// A tool call answered with a result (success or tool error).
    async fn tool(&self, name: &str, args: Value) -> Value {
        let (status, body, _) = self
            .rpc("tools/call", json!({"name": name, "arguments": args}))
            .await;
        assert_eq!(status, 200, "{name}: {body}");
        body["result"].clone()
    }
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

struct World {
    app: TestApp,
    owner: Uuid,
    web: String,
    ops: String,
}

async fn world(engine: Engine, extra: &[(&str, &str)]) -> World {
    let app = TestApp::spawn_with(engine, extra).await;
    let owner = app.owner("Ada").await;
    let web = app.project("WEB", &[(owner, "Ada", 20)]).await;
    let ops = app.project("OPS", &[]).await;
    World {
        app,
        owner,
        web,
        ops,
    }
}

async fn agent_with(
    app: &TestApp,
    owner: Uuid,
    name: &str,
    grants: Value,
    rate: Option<(u32, u32)>,
) -> (Uuid, String) {
    let mut body = json!({"owner_id": owner, "name": name, "grants": grants});
    if let Some((per_minute, burst)) = rate {
        body["rate_per_minute"] = json!(per_minute);
        body["rate_burst"] = json!(burst);
    }
    let (status, created) = app
        .admin(Method::POST, "/api/v1/admin/agents", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    (
        created["agent_id"].as_str().unwrap().parse().unwrap(),
        created["token"].as_str().unwrap().to_owned(),
    )
}

async fn the_tools_end_to_end(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "full",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    let init = c.init().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        init["result"]["capabilities"]["tools"]["listChanged"],
        false
    );

    // tools/list: all eleven, small, annotations true.
    let (_, list, _) = c.rpc("tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 11);
    assert!(serde_json::to_string(&list["result"]).unwrap().len() < 16 * 1024);
    for t in tools {
        assert_eq!(t["annotations"]["destructiveHint"], false);
        assert_eq!(t["inputSchema"]["type"], "object");
        assert_eq!(t["outputSchema"]["type"], "object");
        // Function-calling clients (Codex) want a type on every argument.
        for (arg, schema) in t["inputSchema"]["properties"].as_object().unwrap() {
            assert!(
                schema["type"].is_string(),
                "{}.{arg} has no type",
                t["name"]
            );
        }
        let write = t["inputSchema"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("idempotency_key"));
        assert_eq!(t["annotations"]["readOnlyHint"], !write, "{}", t["name"]);
    }

    let listed = c.tool("list_projects", json!({})).await;
    assert_eq!(
        listed["structuredContent"]["projects"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "OPS is not listed"
    );
    let ctx = c
        .tool("get_project_context", json!({"project_id": w.web}))
        .await;
    assert!(text(&ctx).contains("Todo"));

    // A write, replayed, mismatched, and without a key.
    let args = json!({"idempotency_key": "k-1", "project_id": w.web, "name": "Ship it", "labels": ["bug"]});
    let created = c.tool("create_card", args.clone()).await;
    assert_eq!(created["isError"], false, "{created}");
    let key = created["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = c.tool("create_card", args).await;
    assert_eq!(
        again["structuredContent"], created["structuredContent"],
        "the first result, replayed"
    );
    let other = c
        .tool(
            "create_card",
            json!({"idempotency_key": "k-1", "project_id": w.web, "name": "Other"}),
        )
        .await;
    assert_eq!(other["isError"], true);
    assert!(text(&other).contains("new key"), "{}", text(&other));
    let keyless = c
        .tool("move_card", json!({"card": key, "state": "Done"}))
        .await;
    assert!(text(&keyless).contains("idempotency_key"));
    let found = c.tool("search_cards", json!({"text": "Ship it"})).await;
    assert_eq!(
        found["structuredContent"]["cards"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no second write"
    );

    // Every write tool, and errors that say what to do.
    let bad_state = c
        .tool(
            "move_card",
            json!({"idempotency_key": "k-2", "card": key, "state": "Shipped"}),
        )
        .await;
    assert!(
        text(&bad_state).contains("Valid values: Backlog, Todo, In Progress, Done, Cancelled"),
        "{}",
        text(&bad_state)
    );
    for (tool, args) in [
        (
            "move_card",
            json!({"idempotency_key": "k-3", "card": key, "state": "In Progress"}),
        ),
        (
            "update_card",
            json!({"idempotency_key": "k-4", "card": key, "priority": "high"}),
        ),
        (
            "add_comment",
            json!({"idempotency_key": "k-5", "card": key, "body": "started"}),
        ),
        (
            "set_labels",
            json!({"idempotency_key": "k-6", "card": key, "labels": ["feature"]}),
        ),
        (
            "assign_card",
            json!({"idempotency_key": "k-7", "card": key, "assignees": ["Ada"]}),
        ),
        (
            "update_structured_block",
            json!({"idempotency_key": "k-8", "card": key, "block": "plan", "content": "1. ship"}),
        ),
    ] {
        let r = c.tool(tool, args).await;
        assert_eq!(r["isError"], false, "{tool}: {r}");
    }
    let card = c.tool("get_card", json!({"card": key})).await;
    let s = &card["structuredContent"];
    assert_eq!(
        (s["state"].as_str(), s["priority"].as_str()),
        (Some("In Progress"), Some("high"))
    );
    assert_eq!(s["labels"], json!(["feature"]));
    assert_eq!(s["blocks"][0]["content"], "1. ship");
    assert_eq!(s["comments"][0]["actor"], "full (on behalf of Ada)");

    // Confinement and refusals.
    let ungranted = c
        .tool(
            "create_card",
            json!({"idempotency_key": "k-9", "project_id": w.ops, "name": "x"}),
        )
        .await;
    assert_eq!(ungranted["isError"], true);
    assert!(
        text(&ungranted).contains(&w.web) && text(&ungranted).contains("WEB"),
        "{}",
        text(&ungranted)
    );
    let ctx = c
        .tool("get_project_context", json!({"project_id": w.ops}))
        .await;
    assert_eq!(ctx["isError"], true);
    let delete = c.tool("delete_card", json!({"card": key})).await;
    assert!(text(&delete).contains("never possible"));
    let (_, unknown, _) = c
        .rpc("tools/call", json!({"name": "frobnicate", "arguments": {}}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602);
    let (_, missing, _) = c.rpc("resources/list", json!({})).await;
    assert_eq!(missing["error"]["code"], -32601);
    let (_, ping, _) = c.rpc("ping", json!({})).await;
    assert_eq!(ping["result"], json!({}));

    // Every call is in the audit log; writes durably before their answer.
    w.app.gateway.auditor.shutdown().await;
    let (_, audit) = w
        .app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/audit?agent_id={agent_id}&limit=200"),
            None,
        )
        .await;
    let rows = audit["items"].as_array().unwrap();
    let find = |action: &str, outcome: &str| {
        rows.iter()
            .any(|r| r["action"] == action && r["outcome"] == outcome)
    };
    assert!(
        find("create_card", "allowed")
            && find("create_card", "denied")
            && find("create_card", "failed")
    );
    assert!(
        find("list_projects", "allowed")
            && find("delete_card", "denied")
            && find("get_project_context", "denied")
    );
    assert!(rows
        .iter()
        .any(|r| r["reason"] == "replayed the first result" && r["idempotency_key"] == "k-1"));
    w.app.stop().await;
}
both_engines!(the_tools_end_to_end_, the_tools_end_to_end);

async fn scopes_and_rate_limits(engine: Engine) {
    let w = world(engine, &[]).await;
    let (_, reader) = agent_with(
        &w.app,
        w.owner,
        "reader",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &reader);
    c.init().await;
    let (_, list, _) = c.rpc("tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "list_projects",
            "get_project_context",
            "search_cards",
            "get_card"
        ]
    );
    let (status, body, headers) = c
        .rpc("tools/call", json!({"name": "create_card", "arguments": {"idempotency_key": "k", "project_id": w.web, "name": "x"}}))
        .await;
    assert_eq!(status, 403);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"cards:write\""),
        "{challenge}"
    );
    assert_eq!(body["id"], 7);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cards:write"));

    let (_, limited) = agent_with(
        &w.app,
        w.owner,
        "limited",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        Some((1, 2)),
    )
    .await;
    let mut c = Client::new(&w.app, &limited);
    c.init().await;
    assert_eq!(c.tool("list_projects", json!({})).await["isError"], false);
    assert_eq!(c.tool("list_projects", json!({})).await["isError"], false);
    let limited_call = c.tool("list_projects", json!({})).await;
    assert_eq!(limited_call["isError"], true);
    assert!(
        text(&limited_call).contains("Rate limit reached")
            && text(&limited_call).contains("Retry after")
    );
    w.app.stop().await;
}
both_engines!(scopes_and_rate_limits_, scopes_and_rate_limits);

/// The transport's rules, checked once (they do not depend on the engine).
#[tokio::test]
async fn transport_rules() {
    let w = world(
        Engine::Sqlite,
        &[("GATEWAY_ALLOWED_ORIGINS", "https://tasker.example.com")],
    )
    .await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "t",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let (_, other_token) = agent_with(
        &w.app,
        w.owner,
        "t2",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let http = &w.app.http;
    let url = w.app.url("/mcp");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});

    // No token: 401 pointing at the RFC 9728 metadata, which is served.
    let resp = http.post(&url).json(&init).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer resource_metadata=\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("/.well-known/oauth-protected-resource"),
        "{challenge}"
    );
    let prm: Value = http
        .get(w.app.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(prm["resource"].as_str().unwrap().ends_with("/mcp"));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let resp = http
        .post(&url)
        .bearer_auth("ndcag_garbage")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // Origin: absent is fine, listed is fine, anything else is 403.
    for (origin, status) in [
        (None, 200),
        (Some("https://tasker.example.com"), 200),
        (Some("http://evil.example.com"), 403),
        (Some("null"), 403),
    ] {
        let mut req = http.post(&url).bearer_auth(&token).json(&init);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        assert_eq!(req.send().await.unwrap().status(), status, "{origin:?}");
    }

    // Version negotiation and the session it mints.
    let resp = http
        .post(&url)
        .bearer_auth(&token)
        .json(&init)
        .send()
        .await
        .unwrap();
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let send = |token: &str, session: Option<&str>, version: Option<&str>, body: &Value| {
        let mut req = http.post(&url).bearer_auth(token).json(body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(v) = version {
            req = req.header("mcp-protocol-version", v);
        }
        req.send()
    };
    assert_eq!(
        send(&token, Some(&session), None, &ping)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(&token, Some(&session), Some("2025-11-25"), &ping)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(&token, Some(&session), Some("2026-07-28"), &ping)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        send(&token, Some(&session), Some("banana"), &ping)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        send(&token, None, None, &ping).await.unwrap().status(),
        400,
        "a session is required"
    );
    assert_eq!(
        send(&token, Some("forged.session"), None, &ping)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        send(&other_token, Some(&session), None, &ping)
            .await
            .unwrap()
            .status(),
        404,
        "a session is bound to its agent"
    );

    // Malformed messages.
    let raw = |body: &'static str, ct: &'static str| {
        http.post(&url)
            .bearer_auth(&token)
            .header("content-type", ct)
            .header("mcp-session-id", session.clone())
            .body(body)
            .send()
    };
    assert_eq!(
        raw("[{}]", "application/json").await.unwrap().status(),
        400,
        "no batches"
    );
    assert_eq!(
        raw("{nope", "application/json").await.unwrap().status(),
        400
    );
    assert_eq!(
        raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, "text/plain")
            .await
            .unwrap()
            .status(),
        415
    );
    assert_eq!(
        raw(
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            "application/json"
        )
        .await
        .unwrap()
        .status(),
        202
    );

    // The body limit holds on /mcp too.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let resp = http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    // DELETE ends the session.
    let resp = http
        .delete(&url)
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        send(&token, Some(&session), None, &ping)
            .await
            .unwrap()
            .status(),
        404
    );
    w.app.stop().await;
}

async fn revocation_closes_streams_and_refuses_the_next_call(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "r",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    assert_eq!(c.tool("list_projects", json!({})).await["isError"], false);
    let body = c.open_stream().await;
    let (status, _) = w
        .app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // The open stream ends (the body completes) without waiting for the client.
    tokio::time::timeout(std::time::Duration::from_secs(10), body)
        .await
        .expect("the stream was closed")
        .unwrap()
        .ok();
    let (status, _, _) = c
        .rpc(
            "tools/call",
            json!({"name": "list_projects", "arguments": {}}),
        )
        .await;
    assert_eq!(status, 401, "the next call after revoke fails");
    w.app.stop().await;
}
both_engines!(
    revocation_closes_streams_and_refuses_the_next_call_,
    revocation_closes_streams_and_refuses_the_next_call
);

/// An open stream outlives its agent actor idling out, and still closes on revocation.
#[tokio::test]
async fn a_stream_outlives_an_idle_actor_and_still_closes_on_revoke() {
    let w = world(Engine::Sqlite, &[("GATEWAY_AGENT_IDLE_SECS", "1")]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "idle",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let body = c.open_stream().await;
    // Let the actor idle out (idle timeout 1 s) a few times over.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(
        !body.is_finished(),
        "the stream must stay open while the agent is in good standing"
    );
    w.app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent_id}/revoke"),
            None,
        )
        .await;
    tokio::time::timeout(std::time::Duration::from_secs(10), body)
        .await
        .expect("closed on revoke")
        .unwrap()
        .ok();
    w.app.stop().await;
}

/// Shutting down does not wait for clients to close their streams.
#[tokio::test]
async fn shutdown_ends_open_streams() {
    let w = world(Engine::Sqlite, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "s",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let body = c.open_stream().await;
    tokio::time::timeout(std::time::Duration::from_secs(20), w.app.stop())
        .await
        .expect("the drain finished with a stream open");
    tokio::time::timeout(std::time::Duration::from_secs(5), body)
        .await
        .expect("the stream ended")
        .unwrap()
        .ok();
}

/// The stateless revision 2026-07-28 on the same endpoint: no handshake, no session,
/// each request names its revision and repeats its method in headers.
#[tokio::test]
async fn the_stateless_revision() {
    let w = world(Engine::Sqlite, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "m",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let post = |method: &str, params: Value, headers: &[(&str, &str)]| {
        let mut req = w
            .app
            .http
            .post(w.app.url("/mcp"))
            .bearer_auth(&token)
            .json(&json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let modern = [("mcp-protocol-version", "2026-07-28")];

    let resp = post(
        "server/discover",
        json!({"_meta": meta}),
        &[modern[0], ("mcp-method", "server/discover")],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("mcp-session-id").is_none(),
        "no sessions"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["supportedVersions"][0], "2026-07-28");
    assert_eq!(
        body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "nodedc-agent-gateway"
    );

    let resp = post(
        "tools/list",
        json!({"_meta": meta}),
        &[modern[0], ("mcp-method", "tools/list")],
    )
    .await
    .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 11);
    assert_eq!(body["result"]["cacheScope"], "private");

    let call = json!({"name": "list_projects", "arguments": {}, "_meta": meta});
    let resp = post(
        "tools/call",
        call.clone(),
        &[
            modern[0],
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?bGlzdF9wcm9qZWN0cw==?="),
        ],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["result"]["structuredContent"]["projects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The checks, in order: envelope, headers, revision, method.
    type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>, u16, i64);
    let cases: Vec<Case> = vec![
        (
            "tools/list",
            json!({}),
            vec![modern[0], ("mcp-method", "tools/list")],
            400,
            -32602,
        ),
        (
            "tools/list",
            json!({"_meta": meta}),
            vec![modern[0], ("mcp-method", "tools/call")],
            400,
            -32020,
        ),
        (
            "tools/call",
            call.clone(),
            vec![
                modern[0],
                ("mcp-method", "tools/call"),
                ("mcp-name", "get_card"),
            ],
            400,
            -32020,
        ),
        (
            "tools/call",
            call.clone(),
            vec![modern[0], ("mcp-method", "tools/call")],
            400,
            -32020,
        ),
        (
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}),
            vec![
                ("mcp-protocol-version", "2099-01-01"),
                ("mcp-method", "tools/list"),
            ],
            400,
            -32022,
        ),
        (
            "ping",
            json!({"_meta": meta}),
            vec![modern[0], ("mcp-method", "ping")],
            404,
            -32601,
        ),
        (
            "initialize",
            json!({"_meta": meta}),
            vec![modern[0], ("mcp-method", "initialize")],
            404,
            -32601,
        ),
    ];
    for (method, params, headers, status, code) in cases {
        let resp = post(method, params, &headers).await.unwrap();
        assert_eq!(resp.status(), status, "{method} {headers:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            (body["id"].as_i64(), body["error"]["code"].as_i64()),
            (Some(9), Some(code)),
            "{method}: {body}"
        );
    }
    let get = w
        .app
        .http
        .get(w.app.url("/mcp"))
        .bearer_auth(&token)
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    w.app.stop().await;
}
