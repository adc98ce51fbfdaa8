//! A raw client for `/mcp`, shared by the Phase 8 proof, the bad-input catalogue and the
//! fuzzer: it posts bytes exactly as given (no JSON serialisation on the way), keeps the
//! answer's status and text, and judges whether the answer is a well-formed refusal.
//! Also: tool arguments generated from a tool's `inputSchema`.

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use crate::helpers::TestApp;
use crate::mcp::Client;

/// One answer of the gateway, kept whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) text: String,
    pub(crate) json: Option<Value>,
}

impl Reply {
    /// A JSON-RPC error object (`{"error": {"code": <int>, "message": <string>}}`).
    pub(crate) fn rpc_error(&self) -> Option<&Value> {
        let error = self.json.as_ref()?.get("error")?;
        (error["code"].is_i64() && error["message"].is_string()).then_some(error)
    }

    /// A tool error: `{"result": {"isError": true, "content": [...]}}`.
    pub(crate) fn is_tool_error(&self) -> bool {
        self.json
            .as_ref()
            .is_some_and(|j| j["result"]["isError"] == true && j["result"]["content"].is_array())
    }

    /// A refusal in one of the two legitimate forms.
    pub(crate) fn is_refusal(&self) -> bool {
        self.rpc_error().is_some() || self.is_tool_error()
    }

    /// Never a 5xx, always a JSON body that refuses (a JSON-RPC error or a tool error).
    /// Returns a description of what is wrong, or `None`.
    pub(crate) fn refusal_problem(&self) -> Option<String> {
        if self.status == 0 {
            return Some(self.text.clone());
        }
        if self.status >= 500 {
            return Some(format!("HTTP {} ({:?})", self.status, clip(&self.text)));
        }
        if self.json.is_none() {
            return Some(format!(
                "HTTP {} with a body that is not JSON: {:?}",
                self.status,
                clip(&self.text)
            ));
        }
        if !self.is_refusal() {
            return Some(format!(
                "HTTP {} without a JSON-RPC error or a tool error: {}",
                self.status,
                clip(&self.text)
            ));
        }
        None
    }
}

/// The first 300 characters of a body, for messages.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A POST to `/mcp` with exactly these bytes.
pub(crate) struct Post<'a> {
    app: &'a TestApp,
    token: Option<String>,
    session: Option<String>,
    content_type: Option<&'a str>,
    headers: Vec<(HeaderName, HeaderValue)>,
    replace: Vec<(HeaderName, HeaderValue)>,
    fresh: bool,
}

impl<'a> Post<'a> {
    /// As `client`: its token and session, `application/json`.
    pub(crate) fn from(client: &Client<'a>) -> Self {
        Self {
            app: client.app,
            token: Some(client.token.clone()),
            session: client.session.clone(),
            content_type: Some("application/json"),
            headers: Vec::new(),
            replace: Vec::new(),
            fresh: false,
        }
    }

    pub(crate) fn content_type(mut self, ct: Option<&'a str>) -> Self {
        self.content_type = ct;
        self
    }

    pub(crate) fn session(mut self, session: Option<String>) -> Self {
        self.session = session;
        self
    }

    pub(crate) fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// An extra header, appended (so a name may occur twice).
    pub(crate) fn header(mut self, name: &str, value: HeaderValue) -> Self {
        self.headers
            .push((HeaderName::from_bytes(name.as_bytes()).unwrap(), value));
        self
    }

    /// A header that replaces the default of the same name.
    pub(crate) fn set(mut self, name: &str, value: HeaderValue) -> Self {
        self.replace
            .push((HeaderName::from_bytes(name.as_bytes()).unwrap(), value));
        self
    }

    /// Sends on a new connection, not one from the shared pool (a refused request may
    /// have its connection closed by the server).
    pub(crate) fn fresh_connection(mut self) -> Self {
        self.fresh = true;
        self
    }

    /// Sends; a transport failure (no HTTP answer at all) is status 0.
    pub(crate) async fn send(self, body: impl Into<Vec<u8>>) -> Reply {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(t) = &self.token {
            headers.append(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        if let Some(ct) = self.content_type {
            headers.insert("content-type", HeaderValue::from_str(ct).unwrap());
        }
        if let Some(s) = &self.session {
            headers.insert("mcp-session-id", HeaderValue::from_str(s).unwrap());
            headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static("2025-06-18"),
            );
        }
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        for (name, value) in self.replace {
            headers.insert(name, value);
        }
        let http = if self.fresh {
            reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        } else {
            self.app.http.clone()
        };
        let resp = match http
            .post(self.app.url("/mcp"))
            .headers(headers)
            .body(body.into())
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => {
                return Reply {
                    status: 0,
                    text: format!("no HTTP answer: {e:?}"),
                    json: None,
                }
            }
        };
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            json: serde_json::from_slice(&bytes).ok(),
            text,
        }
    }
}

/// Asserts that the gateway still serves `client` normally: `ping` and `tools/list`.
pub(crate) async fn still_serves(client: &Client<'_>, after: &str) {
    let (status, ping, _) = client.rpc("ping", json!({})).await;
    assert_eq!(
        (status.as_u16(), &ping["result"]),
        (200, &json!({})),
        "ping after {after}: {ping}"
    );
    let (status, list, _) = client.rpc("tools/list", json!({})).await;
    assert_eq!(status, 200, "tools/list after {after}: {list}");
    assert!(
        !list["result"]["tools"].as_array().unwrap().is_empty(),
        "tools/list after {after}: {list}"
    );
}

/// The tools `client` sees (name and full definition).
pub(crate) async fn tools(client: &Client<'_>) -> Vec<Value> {
    let (status, list, _) = client.rpc("tools/list", json!({})).await;
    assert_eq!(status, 200, "{list}");
    list["result"]["tools"].as_array().unwrap().clone()
}

/// What valid arguments refer to.
pub(crate) struct Fixture<'a> {
    pub(crate) project_id: &'a str,
    pub(crate) card: &'a str,
}

/// A valid value for the property `name` of schema `prop`.
fn valid_value(name: &str, prop: &Value, fx: &Fixture<'_>, key: &str) -> Value {
    match name {
        "idempotency_key" => json!(key),
        "project_id" => json!(fx.project_id),
        "card" => json!(fx.card),
        "state" => json!("Todo"),
        "priority" => json!("low"),
        "labels" => json!(["bug"]),
        "label" => json!("bug"),
        "assignees" => json!([]),
        "parent" => json!(""),
        "start_date" => json!("2026-01-01"),
        "target_date" => json!("2026-02-01"),
        "block" => json!("plan"),
        "blocks" => json!([{"name": "plan", "content": "step one"}]),
        "limit" => json!(5),
        "cursor" => Value::Null, // left out: a made-up cursor is invalid input
        "assignee" => Value::Null,
        _ => match prop["type"].as_str() {
            Some("integer") | Some("number") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!(format!("valid {name}")),
        },
    }
}

/// Valid arguments for `tool`: every property it declares (except a cursor and an
/// assignee filter), with plausible values on the fixture.
pub(crate) fn valid_args(tool: &Value, fx: &Fixture<'_>, key: &str) -> Map<String, Value> {
    let mut args = Map::new();
    if let Some(props) = tool["inputSchema"]["properties"].as_object() {
        for (name, prop) in props {
            let v = valid_value(name, prop, fx, key);
            if !v.is_null() {
                args.insert(name.clone(), v);
            }
        }
    }
    // update_card clears its parent with "" (valid); create_card has none to clear.
    if tool["name"] == "create_card" {
        args.remove("parent");
    }
    args
}

/// Every place a string can go in `args` (per `tool`'s schema): the property name and a
/// function that puts `s` there.
pub(crate) fn string_slots(tool: &Value) -> Vec<(String, StringSlot)> {
    let mut slots = Vec::new();
    if let Some(props) = tool["inputSchema"]["properties"].as_object() {
        for (name, prop) in props {
            match prop["type"].as_str() {
                Some("string") => slots.push((name.clone(), StringSlot::Field(name.clone()))),
                Some("array") if prop["items"]["type"] == "string" => {
                    slots.push((format!("{name}[0]"), StringSlot::Item(name.clone())))
                }
                Some("array") if prop["items"]["type"] == "object" => {
                    for inner in prop["items"]["properties"]
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default()
                    {
                        slots.push((
                            format!("{name}[0].{inner}"),
                            StringSlot::Nested(name.clone(), inner),
                        ))
                    }
                }
                _ => {}
            }
        }
    }
    slots
}

/// Where a string goes.
#[derive(Debug, Clone)]
pub(crate) enum StringSlot {
    Field(String),
    Item(String),
    Nested(String, String),
}

impl StringSlot {
    pub(crate) fn put(&self, args: &mut Map<String, Value>, s: &str) {
        match self {
            StringSlot::Field(f) => {
                args.insert(f.clone(), json!(s));
            }
            StringSlot::Item(f) => {
                args.insert(f.clone(), json!([s]));
            }
            StringSlot::Nested(f, inner) => {
                let mut item = json!({"name": "plan", "content": "x"});
                item[inner] = json!(s);
                args.insert(f.clone(), json!([item]));
            }
        }
    }
}

/// A `tools/call` body.
pub(crate) fn call(id: u64, name: &str, args: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}}),
    )
    .unwrap()
}
