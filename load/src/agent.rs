//! One simulated agent: an MCP session over `/mcp` (and optionally a `GET /mcp`
//! stream held open), then tool calls until the budget says stop. Every request is
//! timed and classified into a [`Recorder`] (`recorder.rs`).
//!
//! A little past a sitting: the handshake, the stream and the call loop are one agent's
//! life, read in the order it lives them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::answer::{classify, Answer};
use crate::recorder::Recorder;
use crate::Budget;

/// The protocol revision the harness speaks (what Codex CLI sends).
pub(crate) const PROTOCOL: &str = "2025-06-18";

/// How long one POST may take before it counts as a timeout.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the admin controller and the agent share about one agent.
#[derive(Debug)]
pub(crate) struct AgentState {
    pub(crate) index: usize,
    pub(crate) owner: usize,
    pub(crate) agent_id: String,
    pub(crate) token: String,
    /// The MCP session, once initialized.
    pub(crate) session: OnceLock<String>,
    /// A `GET /mcp` stream is open right now.
    pub(crate) stream_open: AtomicBool,
    /// When the open stream ended (EOF or error), if it did.
    pub(crate) stream_closed_at: Mutex<Option<Instant>>,
    /// Set by the controller just *before* it sends the revoke (or block) call.
    pub(crate) revoking: AtomicBool,
    /// When the revoke (or block) call returned.
    pub(crate) revoke_returned_at: OnceLock<Instant>,
}

impl AgentState {
    pub(crate) fn new(index: usize, owner: usize, agent_id: String, token: String) -> Self {
        AgentState {
            index,
            owner,
            agent_id,
            token,
            session: OnceLock::new(),
            stream_open: AtomicBool::new(false),
            stream_closed_at: Mutex::new(None),
            revoking: AtomicBool::new(false),
            revoke_returned_at: OnceLock::new(),
        }
    }

    pub(crate) fn closed_at(&self) -> Option<Instant> {
        self.stream_closed_at.lock().map(|g| *g).unwrap_or(None)
    }
}

/// The mix of tool calls, the same for every agent.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    pub(crate) writes_percent: u8,
    pub(crate) sessions_percent: u8,
    pub(crate) read_tools: Vec<String>,
    /// Seconds between two calls of one agent (open loop); `None`: back to back.
    pub(crate) interval: Option<Duration>,
    pub(crate) streams: bool,
}

/// What every agent shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) http: reqwest::Client,
    pub(crate) mcp: String,
    pub(crate) project: String,
    pub(crate) mix: Mix,
    pub(crate) budget: Arc<Budget>,
    /// At most this many agents in their handshake at once.
    pub(crate) connect: Arc<tokio::sync::Semaphore>,
    /// Flips to `Some(start of the measured phase)` when every agent is connected.
    pub(crate) go: tokio::sync::watch::Receiver<Option<Instant>>,
    /// Agents whose handshake is over (successfully or not).
    pub(crate) connected: tokio::sync::mpsc::UnboundedSender<bool>,
    /// When the run is over; stream readers stop at it.
    pub(crate) stop: tokio::sync::watch::Receiver<bool>,
}

/// A simulated agent; consumed by [`SimAgent::run`].
#[derive(Debug)]
pub(crate) struct SimAgent {
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: Arc<AgentState>,
}

/// A work session in progress: its id and how many updates were sent.
struct Reporting {
    session: String,
    updates: u32,
}

impl SimAgent {
    /// Sends one JSON-RPC message as operation `op`; records its latency (whatever
    /// the answer) and any error; returns the answer when it was not an error.
    /// `phase` is the start of the measured phase for tool calls (the per-second
    /// series), `None` for the handshake. `scheduled`, in a paced run, is when the
    /// call should have left: a late call's latency is counted from then, so that a
    /// slow answer is not hidden by the sends it delayed (coordinated omission).
    async fn send(
        &self,
        rec: &mut Recorder,
        op: &str,
        session: Option<&str>,
        body: Value,
        phase: Option<Instant>,
        scheduled: Option<Instant>,
    ) -> Option<Answer> {
        let notification = body.get("id").is_none();
        let mut req = self
            .shared
            .http
            .post(&self.shared.mcp)
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(&self.state.token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", PROTOCOL);
        }
        rec.requests += 1;
        let start = Instant::now();
        let from = scheduled.map_or(start, |at| at.min(start));
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
        let done = Instant::now();
        let elapsed = u64::try_from((done - from).as_micros()).unwrap_or(u64::MAX);
        let after_revoke = self
            .state
            .revoke_returned_at
            .get()
            .is_some_and(|t| start > *t);
        let revoking = self.state.revoking.load(Ordering::Relaxed);
        if let (Ok((401, _, _)), true) = (&result, revoking) {
            // Refused because the harness revoked it: expected, not an error, and
            // not a latency sample of the tool.
            rec.expected_refusals += 1;
            return None;
        }
        rec.latencies_us
            .entry(op.to_owned())
            .or_default()
            .push(elapsed);
        let bucket = phase.map(|p| (done.saturating_duration_since(p).as_secs()) as usize);
        if let Some(b) = bucket {
            let b = rec.bucket(b);
            b.calls += 1;
            b.latencies_us
                .push(u32::try_from(elapsed).unwrap_or(u32::MAX));
        }
        let outcome = classify(op, notification, result);
        match outcome {
            Ok(answer) => {
                if after_revoke {
                    rec.served_after_revoke += 1;
                }
                Some(answer)
            }
            Err(kind) => {
                if let Some(b) = bucket {
                    rec.bucket(b).errors += 1;
                }
                rec.error(kind);
                None
            }
        }
    }

    /// Opens the `GET /mcp` stream and spawns its reader, which notes when it ends.
    async fn open_stream(&self, rec: &mut Recorder, session: &str) {
        rec.requests += 1;
        let start = Instant::now();
        let resp = self
            .shared
            .http
            .get(&self.shared.mcp)
            .bearer_auth(&self.state.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL)
            .send()
            .await;
        let elapsed = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        rec.latencies_us
            .entry("GET /mcp (stream open)".into())
            .or_default()
            .push(elapsed);
        let mut resp = match resp {
            Ok(r) if r.status().as_u16() == 200 => r,
            Ok(r) => {
                rec.error(format!("GET /mcp: http {}", r.status().as_u16()));
                return;
            }
            Err(e) => {
                rec.error(format!(
                    "GET /mcp: {}",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "transport"
                    }
                ));
                return;
            }
        };
        rec.streams_opened += 1;
        self.state.stream_open.store(true, Ordering::SeqCst);
        let state = self.state.clone();
        let mut stop = self.shared.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    chunk = resp.chunk() => match chunk {
                        Ok(Some(_)) => continue,
                        Ok(None) | Err(_) => {
                            if let Ok(mut g) = state.stream_closed_at.lock() {
                                *g = Some(Instant::now());
                            }
                            state.stream_open.store(false, Ordering::SeqCst);
                            return;
                        }
                    },
                    _ = stop.changed() => {
                        state.stream_open.store(false, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
    }

    /// The handshake (`initialize`, `notifications/initialized`, `tools/list`) and
    /// the stream; returns the session id.
    async fn connect(&self, rec: &mut Recorder) -> Option<String> {
        let _permit = self.shared.connect.acquire().await.ok()?;
        if !self.shared.budget.take() {
            return None;
        }
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "agent-gateway-load", "version": env!("CARGO_PKG_VERSION")}}});
        let session = match self.send(rec, "initialize", None, init, None, None).await {
            Some(Answer {
                session: Some(s), ..
            }) => s,
            Some(Answer { session: None, .. }) => {
                rec.error("initialize: no mcp-session-id".into());
                return None;
            }
            None => return None,
        };
        let s = Some(session.as_str());
        if !self.shared.budget.take() {
            return None;
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.send(rec, "notifications/initialized", s, note, None, None)
            .await;
        if !self.shared.budget.take() {
            return None;
        }
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        self.send(rec, "tools/list", s, list, None, None).await;
        let _ = self.state.session.set(session.clone());
        if self.shared.mix.streams {
            self.open_stream(rec, &session).await;
        }
        Some(session)
    }

    pub(crate) async fn run(self) -> Recorder {
        let mut rec = Recorder::default();
        let session = self.connect(&mut rec).await;
        let _ = self.shared.connected.send(session.is_some());
        let Some(session) = session else {
            return rec;
        };
        // Wait for every agent to be connected.
        let mut go = self.shared.go.clone();
        let phase = loop {
            if let Some(t) = *go.borrow() {
                break t;
            }
            if go.changed().await.is_err() {
                return rec;
            }
        };
        let s = Some(session.as_str());
        let index = self.state.index;
        let mix = &self.shared.mix;

        // An exact share of writes and of session reports: add the percentage each
        // call, act on overflow. Agents start at different phases so they do not
        // write in lockstep.
        let mut acc_w = (index * 37 % 100) as u32;
        let mut acc_s = (index * 53 % 100) as u32;
        let mut reads = index;
        let mut id: u64 = 2;
        let mut card: Option<String> = None;
        let mut reporting: Option<Reporting> = None;
        let mut next = mix.interval.map(|iv| {
            // Spread the first calls over one interval.
            let n = self.shared.budget.agents.max(1) as u32;
            phase + iv.mul_f64(f64::from((index as u32) % n) / f64::from(n))
        });
        loop {
            let mut scheduled = None;
            if let (Some(iv), Some(at)) = (mix.interval, next.as_mut()) {
                // A slot after the end of the run is never waited for.
                if self.shared.budget.deadline().is_some_and(|d| *at >= d) {
                    break;
                }
                let now = Instant::now();
                if now < *at {
                    tokio::time::sleep_until((*at).into()).await;
                } else if now - *at > Duration::from_millis(10) {
                    rec.late_sends += 1;
                }
                scheduled = Some(*at);
                *at += iv;
            }
            if self.state.revoking.load(Ordering::Relaxed)
                && self.state.revoke_returned_at.get().is_some()
                && rec.expected_refusals > 0
            {
                break;
            }
            if !self.shared.budget.take() {
                break;
            }
            acc_w += u32::from(mix.writes_percent);
            acc_s += u32::from(mix.sessions_percent);
            let (tool, args) = if acc_w >= 100 {
                acc_w -= 100;
                create_card_args(&self.shared.project, index, id)
            } else if acc_s >= 100 && card.is_none() {
                // A session needs a card: make one first (counted as create_card).
                create_card_args(&self.shared.project, index, id)
            } else if acc_s >= 100 {
                acc_s -= 100;
                let key = || format!("load-{}", Uuid::new_v4());
                match &mut reporting {
                    None => (
                        "start_work_session",
                        json!({"idempotency_key": key(), "card": card,
                               "intent": format!("load agent {index} works on its card"),
                               "plan": ["read", "change", "report"]}),
                    ),
                    Some(r) if r.updates < 2 => {
                        r.updates += 1;
                        (
                            "update_work_session",
                            json!({"idempotency_key": key(), "session": r.session,
                                   "kind": "action", "note": format!("step {}", r.updates)}),
                        )
                    }
                    Some(r) => (
                        "finish_work_session",
                        json!({"idempotency_key": key(), "session": r.session,
                               "outcome": "completed", "summary": "load run: done"}),
                    ),
                }
            } else {
                reads += 1;
                let tool = if mix.read_tools.is_empty() {
                    "list_projects"
                } else {
                    mix.read_tools[reads % mix.read_tools.len()].as_str()
                };
                match tool {
                    "search_cards" => (
                        "search_cards",
                        json!({"project_id": self.shared.project, "limit": 10}),
                    ),
                    "get_project_context" => (
                        "get_project_context",
                        json!({"project_id": self.shared.project}),
                    ),
                    _ => ("list_projects", json!({})),
                }
            };
            let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                              "params": {"name": tool, "arguments": args}});
            rec.calls += 1;
            let answer = self
                .send(&mut rec, tool, s, call, Some(phase), scheduled)
                .await;
            id += 1;
            if self.state.revoking.load(Ordering::Relaxed) && rec.expected_refusals > 0 {
                break;
            }
            let structured = answer.as_ref().map(|a| &a.result["structuredContent"]);
            match tool {
                "create_card" if card.is_none() => {
                    card = structured
                        .and_then(|v| v["key"].as_str().or(v["id"].as_str()))
                        .map(str::to_owned);
                }
                "start_work_session" => {
                    reporting = structured
                        .and_then(|v| v["id"].as_str())
                        .map(|sid| Reporting {
                            session: sid.to_owned(),
                            updates: 0,
                        });
                }
                "finish_work_session" => reporting = None,
                "update_work_session" if answer.is_none() => reporting = None,
                _ => {}
            }
        }
        rec
    }
}

fn create_card_args(project: &str, index: usize, id: u64) -> (&'static str, Value) {
    (
        "create_card",
        json!({"idempotency_key": format!("load-{}", Uuid::new_v4()),
               "project_id": project,
               "name": format!("load card {index} #{id}")}),
    )
}
