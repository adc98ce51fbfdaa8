//! Admin actions during the run, and how fast they take effect.
//!
//! For each revoked agent (and each agent of a blocked owner) the controller notes
//! when the admin call was sent (`t0`) and when it returned (`t1`), then measures:
//!
//! * **this replica**: one `ping` sent with the agent's token right after `t1`; it
//!   must be refused (`401`). Its answer time minus `t1` is `this_replica_ms`.
//! * **another replica** (`--replica-url`, same database): a poller pings the other
//!   replica back to back from just before `t0`; the first `401` *answered*, minus
//!   `t1`, is `other_replica_ms` (negative when it was in force before the call
//!   returned; an upper bound, since the refusal was in force when that ping left).
//! * **stream closed**: when the agent's open `GET /mcp` stream ended, minus `t1`
//!   (`stream_closed_ms`, negative when closed before the call returned) and minus
//!   `t0` (`stream_closed_from_sent_ms`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::agent::{AgentState, PROTOCOL};
use crate::report::{stats_ms, MsStats};

/// How long a propagation is waited for before it counts as missed.
const PATIENCE: Duration = Duration::from_secs(5);

/// At most this many of a blocked owner's agents are probed (all are watched for
/// their streams).
const BLOCK_SAMPLE: usize = 16;

/// One agent made unusable by an admin action.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationEvent {
    /// `revoke` or `block owner`.
    pub kind: String,
    /// The agent's index in the run.
    pub agent: usize,
    /// HTTP status of the admin call.
    pub status: u16,
    /// Latency of the admin call, ms.
    pub call_ms: f64,
    /// Was the first request sent after the call returned refused, on this replica?
    /// `None`: not probed (a blocked owner's agent outside the sample).
    pub this_replica_refused: Option<bool>,
    /// Call returned → that probe answered `401`, ms.
    pub this_replica_ms: Option<f64>,
    /// Call returned → first `401` answered by the other replica, ms (signed).
    pub other_replica_ms: Option<f64>,
    /// Call returned → the agent's open stream ended, ms (signed).
    pub stream_closed_ms: Option<f64>,
    /// Call sent → the agent's open stream ended, ms.
    pub stream_closed_from_sent_ms: Option<f64>,
    /// The agent had a stream open when the call was sent.
    pub had_stream: bool,
    /// The agent was polled on the other replica (its warm-up ping was served).
    pub polled_other: bool,
}

/// The events and their percentiles.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RevocationReport {
    pub events: Vec<RevocationEvent>,
    /// Admin call latency (revokes and the block), ms.
    pub call: MsStats,
    /// Probes sent after the call returned, and how many were refused.
    pub this_replica_probed: u64,
    pub this_replica_refused: u64,
    pub this_replica: MsStats,
    /// Agents polled on the other replica, and how many were refused within 5 s.
    pub other_replica_polled: u64,
    pub other_replica_refused: u64,
    pub other_replica: MsStats,
    /// Agents with a stream open at the call, and how many streams ended within 5 s.
    pub streams_watched: u64,
    pub streams_closed: u64,
    pub stream_closed: MsStats,
    pub stream_closed_from_sent: MsStats,
    /// Requests sent after a revoke returned that were still served (must be 0).
    pub served_after_revoke: u64,
    /// What went wrong in the controller itself (a warm-up ping refused, …).
    pub notes: Vec<String>,
}

impl RevocationReport {
    pub(crate) fn summarise(&mut self) {
        let e = &self.events;
        let pick = |f: &dyn Fn(&RevocationEvent) -> Option<f64>| -> Vec<f64> {
            e.iter().filter_map(f).collect()
        };
        let mut calls: Vec<f64> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for ev in e {
            // One block is one call, shared by its agents.
            if ev.kind == "revoke" || seen.insert(ev.kind.clone()) {
                calls.push(ev.call_ms);
            }
        }
        self.call = stats_ms(calls);
        self.this_replica_probed = e
            .iter()
            .filter(|x| x.this_replica_refused.is_some())
            .count() as u64;
        self.this_replica_refused = e
            .iter()
            .filter(|x| x.this_replica_refused == Some(true))
            .count() as u64;
        self.this_replica = stats_ms(pick(&|x| x.this_replica_ms));
        self.other_replica_polled = e.iter().filter(|x| x.polled_other).count() as u64;
        self.other_replica_refused =
            e.iter().filter(|x| x.other_replica_ms.is_some()).count() as u64;
        self.other_replica = stats_ms(pick(&|x| x.other_replica_ms));
        self.streams_watched = e.iter().filter(|x| x.had_stream).count() as u64;
        self.streams_closed = e.iter().filter(|x| x.stream_closed_ms.is_some()).count() as u64;
        self.stream_closed = stats_ms(pick(&|x| x.stream_closed_ms));
        self.stream_closed_from_sent = stats_ms(pick(&|x| x.stream_closed_from_sent_ms));
    }
}

/// What the controller acts on.
#[derive(Debug)]
pub(crate) struct Controller {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) replica: Option<String>,
    pub(crate) admin_token: String,
    pub(crate) agents: Vec<Arc<AgentState>>,
    pub(crate) owners: Vec<Uuid>,
    pub(crate) revoke_count: usize,
    pub(crate) block_owner: bool,
}

fn signed_ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64() * 1000.0
    } else {
        -((from - to).as_secs_f64() * 1000.0)
    }
}

/// A `ping` with the agent's token and session; the HTTP status, `0` on transport
/// failure.
async fn ping(http: &reqwest::Client, base: &str, agent: &AgentState) -> u16 {
    let mut req = http
        .post(format!("{base}/mcp"))
        .timeout(Duration::from_secs(5))
        .bearer_auth(&agent.token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": "probe", "method": "ping"}));
    if let Some(s) = agent.session.get() {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", PROTOCOL);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

/// Pings the other replica back to back until it refuses (or [`PATIENCE`] after
/// `armed`); returns the instant of the first `401` answered. Sends one warm-up
/// ping first and reports through `ready` whether it was served.
async fn poll_replica(
    http: reqwest::Client,
    base: String,
    agent: Arc<AgentState>,
    ready: tokio::sync::oneshot::Sender<u16>,
) -> Option<Instant> {
    let warm = ping(&http, &base, &agent).await;
    let _ = ready.send(warm);
    if warm != 200 {
        return None;
    }
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if ping(&http, &base, &agent).await == 401 {
            return Some(Instant::now());
        }
        // Paced, not back to back: an owner block polls 16 agents at once, and replica B
        // shares its core with replica A, whose revocation is being measured (at a 1 ms
        // pause the 16 pollers still kept that core busy).
        tokio::time::sleep(POLL_PAUSE).await;
    }
    None
}

/// The pause between two pings of one poller on the other replica: the resolution of
/// "refused on another replica" is one ping round trip plus this.
const POLL_PAUSE: Duration = Duration::from_millis(5);

/// Waits up to [`PATIENCE`] for the agent's stream to end; its end instant.
async fn stream_end(agent: &AgentState) -> Option<Instant> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(t) = agent.closed_at() {
            return Some(t);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl Controller {
    async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> u16 {
        match crate::admin::admin(
            &self.http,
            &self.base,
            &self.admin_token,
            method,
            path,
            Some(body),
        )
        .await
        {
            Ok((status, _)) => status,
            Err(_) => 0,
        }
    }

    /// Runs the admin actions; the events measured.
    pub(crate) async fn run(self) -> RevocationReport {
        let mut report = RevocationReport::default();
        let blocked_owner =
            (self.block_owner && self.owners.len() >= 2).then(|| self.owners.len() - 1);
        if self.block_owner && blocked_owner.is_none() {
            report
                .notes
                .push("--block-owner needs --owners 2 or more; no owner blocked".into());
        }
        // Revoke evenly spaced agents, never the blocked owner's, only connected ones.
        let candidates: Vec<&Arc<AgentState>> = self
            .agents
            .iter()
            .filter(|a| Some(a.owner) != blocked_owner && a.session.get().is_some())
            .collect();
        let n = self.revoke_count.min(candidates.len());
        if n < self.revoke_count {
            report.notes.push(format!(
                "only {n} connected agents could be revoked (asked for {})",
                self.revoke_count
            ));
        }
        for k in 0..n {
            let agent = candidates[k * candidates.len() / n].clone();
            let ev = self
                .one(
                    "revoke",
                    std::slice::from_ref(&agent),
                    reqwest::Method::POST,
                    format!("/api/v1/admin/agents/{}/revoke", agent.agent_id),
                    json!({"reason": "load harness: revocation propagation"}),
                    &mut report.notes,
                )
                .await;
            report.events.extend(ev);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(o) = blocked_owner {
            let theirs: Vec<Arc<AgentState>> = self
                .agents
                .iter()
                .filter(|a| a.owner == o && a.session.get().is_some())
                .cloned()
                .collect();
            let ev = self
                .one(
                    "block owner",
                    &theirs,
                    reqwest::Method::PUT,
                    format!("/api/v1/admin/users/{}", self.owners[o]),
                    json!({"display_name": format!("load owner {o} (blocked)"),
                           "client_id": "agent-gateway-load", "codex_agents": true, "blocked": true}),
                    &mut report.notes,
                )
                .await;
            report.events.extend(ev);
        }
        report
    }

    /// One admin call making `agents` unusable; one event per agent.
    async fn one(
        &self,
        kind: &str,
        agents: &[Arc<AgentState>],
        method: reqwest::Method,
        path: String,
        body: serde_json::Value,
        notes: &mut Vec<String>,
    ) -> Vec<RevocationEvent> {
        let sample: Vec<&Arc<AgentState>> = agents.iter().take(BLOCK_SAMPLE).collect();
        // Pollers on the other replica, warmed up before the call.
        let mut pollers = Vec::new();
        let mut polled = std::collections::HashSet::new();
        if let Some(replica) = &self.replica {
            for a in &sample {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let h = tokio::spawn(poll_replica(
                    self.http.clone(),
                    replica.clone(),
                    (*a).clone(),
                    tx,
                ));
                let warm = rx.await.unwrap_or(0);
                if warm != 200 {
                    notes.push(format!(
                        "agent {}: warm-up ping on the other replica answered {warm}; not polled",
                        a.index
                    ));
                } else {
                    polled.insert(a.index);
                }
                pollers.push((a.index, h));
            }
        }
        let had_stream: Vec<bool> = agents
            .iter()
            .map(|a| a.stream_open.load(Ordering::SeqCst))
            .collect();
        for a in agents {
            a.revoking.store(true, Ordering::SeqCst);
        }
        let t0 = Instant::now();
        let status = self.admin_call(method, &path, body).await;
        let t1 = Instant::now();
        for a in agents {
            let _ = a.revoke_returned_at.set(t1);
        }
        if status != 200 && status != 201 {
            notes.push(format!("{kind} {path}: http {status}"));
        }
        // This replica: the first request after the return, per sampled agent.
        let mut here = std::collections::HashMap::new();
        for a in &sample {
            let s = ping(&self.http, &self.base, a).await;
            here.insert(a.index, (s == 401, signed_ms(t1, Instant::now())));
        }
        let mut there = std::collections::HashMap::new();
        for (i, h) in pollers {
            if let Ok(Some(t)) = h.await {
                there.insert(i, signed_ms(t1, t));
            }
        }
        let mut events = Vec::with_capacity(agents.len());
        for (a, had) in agents.iter().zip(had_stream) {
            let closed = if had { stream_end(a).await } else { None };
            let probe = here.get(&a.index);
            events.push(RevocationEvent {
                kind: kind.to_owned(),
                agent: a.index,
                status,
                call_ms: signed_ms(t0, t1),
                this_replica_refused: probe.map(|p| p.0),
                this_replica_ms: probe.filter(|p| p.0).map(|p| p.1),
                other_replica_ms: there.get(&a.index).copied(),
                stream_closed_ms: closed.map(|t| signed_ms(t1, t)),
                stream_closed_from_sent_ms: closed.map(|t| signed_ms(t0, t)),
                had_stream: had,
                polled_other: polled.contains(&a.index),
            });
        }
        events
    }
}
