//! The MCP endpoint over real HTTP, spoken by a minimal JSON-RPC client written here.
//! (The independent clients — the official Python SDK and the conformance suite — run
//! from `tests/mcp_clients` and `tests/conformance`.) This file holds the client and the
//! fixtures; each sibling file one subject.

mod audit_reads;
mod cache;
mod errors;
mod revoke_first;
mod stateless;
mod streams;
mod tools;
mod transport;
mod work_sessions;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{Engine, TestApp};

pub(super) const ALL: [&str; 6] = [
    "cards:read",
    "cards:write",
    "comments:write",
    "labels:write",
    "assign:write",
    "blocks:write",
];

pub(super) struct Client<'a> {
    pub(super) app: &'a TestApp,
    pub(super) token: String,
    pub(super) session: Option<String>,
}

impl<'a> Client<'a> {
    pub(super) fn new(app: &'a TestApp, token: &str) -> Self {
        Self {
            app,
            token: token.to_owned(),
            session: None,
        }
    }

    pub(super) fn post(&self, body: &Value) -> reqwest::RequestBuilder {
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

    pub(super) async fn init(&mut self) -> Value {
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

    pub(super) async fn rpc(
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
    pub(super) async fn open_stream(&self) -> tokio::task::JoinHandle<reqwest::Result<String>> {
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
    pub(super) async fn tool(&self, name: &str, args: Value) -> Value {
        let (status, body, _) = self
            .rpc("tools/call", json!({"name": name, "arguments": args}))
            .await;
        assert_eq!(status, 200, "{name}: {body}");
        body["result"].clone()
    }
}

pub(super) fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub(super) struct World {
    pub(super) app: TestApp,
    pub(super) owner: Uuid,
    pub(super) web: String,
    pub(super) ops: String,
}

pub(super) async fn world(engine: Engine, extra: &[(&str, &str)]) -> World {
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

pub(super) async fn agent_with(
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
