//! One simulated agent: an MCP session over `/mcp`, then tool calls until the budget
//! says stop. Every request is timed and classified into a [`Recorder`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::Budget;

/// The protocol revision the harness speaks (what Codex CLI sends).
const PROTOCOL: &str = "2025-06-18";

/// Latencies (µs) per operation and error counts per kind, for one agent or merged.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) latencies_us: BTreeMap<String, Vec<u64>>,
    pub(crate) errors: BTreeMap<String, u64>,
    pub(crate) requests: u64,
}

impl Recorder {
    pub(crate) fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: Recorder) {
        for (op, mut l) in other.latencies_us {
            self.latencies_us.entry(op).or_default().append(&mut l);
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.requests += other.requests;
    }
}

/// A simulated agent; consumed by [`SimAgent::run`].
#[derive(Debug)]
pub(crate) struct SimAgent {
    pub(crate) http: reqwest::Client,
    pub(crate) mcp: String,
    pub(crate) token: String,
    pub(crate) project: String,
    pub(crate) writes_percent: u8,
    pub(crate) budget: Arc<Budget>,
    pub(crate) index: usize,
}

/// What a request came back with, when it came back as expected.
struct Answer {
    session: Option<String>,
}

impl SimAgent {
    /// Sends one JSON-RPC message as operation `op`; records its latency (whatever
    /// the answer) and any error; returns the answer when it was not an error.
    async fn send(
        &self,
        rec: &mut Recorder,
        op: &str,
        session: Option<&str>,
        body: Value,
    ) -> Option<Answer> {
        let notification = body.get("id").is_none();
        let mut req = self
            .http
            .post(&self.mcp)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", PROTOCOL);
        }
        rec.requests += 1;
        let start = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let session = resp
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = resp.text().await?;
            Ok::<_, reqwest::Error>((status, session, text))
        }
        .await;
        let elapsed = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        rec.latencies_us
            .entry(op.to_owned())
            .or_default()
            .push(elapsed);
        let (status, session, text) = match result {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "transport"
                };
                rec.error(format!("{op}: {kind}"));
                return None;
            }
        };
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = parsed["error"]["code"].as_i64();
        let expected = if notification { 202 } else { 200 };
        if status != expected {
            rec.error(match code {
                Some(c) => format!("{op}: http {status} (jsonrpc {c})"),
                None => format!("{op}: http {status}"),
            });
            return None;
        }
        if notification {
            return Some(Answer { session });
        }
        if let Some(c) = code {
            rec.error(format!("{op}: jsonrpc {c}"));
            return None;
        }
        if parsed["result"]["isError"] == json!(true) {
            let message = parsed["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default();
            let head: String = message
                .split(['.', ':'])
                .next()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            rec.error(format!("{op}: tool error ({head})"));
            return None;
        }
        if parsed.get("result").is_none() {
            rec.error(format!("{op}: no result"));
            return None;
        }
        Some(Answer { session })
    }

    /// The session handshake, `tools/list`, then the read/write mix until the budget
    /// runs out.
    pub(crate) async fn run(self) -> Recorder {
        let mut rec = Recorder::default();
        if !self.budget.take() {
            return rec;
        }
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "agent-gateway-load", "version": env!("CARGO_PKG_VERSION")}}});
        let session = match self.send(&mut rec, "initialize", None, init).await {
            Some(Answer { session: Some(s) }) => s,
            Some(Answer { session: None }) => {
                rec.error("initialize: no mcp-session-id".into());
                return rec;
            }
            None => return rec,
        };
        let s = Some(session.as_str());
        if !self.budget.take() {
            return rec;
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.send(&mut rec, "notifications/initialized", s, note)
            .await;
        if !self.budget.take() {
            return rec;
        }
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        self.send(&mut rec, "tools/list", s, list).await;

        // An exact share of writes: add the percentage each call, write on overflow.
        // Agents start at different phases so they do not write in lockstep.
        let mut acc = (self.index * 37 % 100) as u32;
        let mut reads = self.index;
        let mut id: u64 = 2;
        while self.budget.take() {
            acc += u32::from(self.writes_percent);
            let (tool, args) = if acc >= 100 {
                acc -= 100;
                (
                    "create_card",
                    json!({"idempotency_key": format!("load-{}", Uuid::new_v4()),
                           "project_id": self.project,
                           "name": format!("load card {} #{id}", self.index)}),
                )
            } else {
                reads += 1;
                if reads % 2 == 0 {
                    ("list_projects", json!({}))
                } else {
                    (
                        "search_cards",
                        json!({"project_id": self.project, "limit": 10}),
                    )
                }
            };
            let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                              "params": {"name": tool, "arguments": args}});
            self.send(&mut rec, tool, s, call).await;
            id += 1;
        }
        rec
    }
}
