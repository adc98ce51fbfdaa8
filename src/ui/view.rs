//! Rendering shared by the pages: time in words, liveness, status badges, an audit row
//! explained, and the form-body reader.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::events::EventKind;
use crate::gateway::Gateway;
use crate::store::{Agent, AgentStatus, AuditEntry, WorkSessionRecord};

/// `12 s ago`, `3 min ago`, `2 h ago`, `4 d ago`.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3_599 => format!("{} min ago", secs / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// `HH:MM:SS` (UTC), for "as of".
pub fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S UTC").to_string()
}

/// How an agent is doing, as `GET /api/v1/admin/status` words it (`gateway/status.rs`):
/// `stale` when its open work session is stale, else `active` with a call within
/// `GATEWAY_ACTIVE_SECS`, else `idle`; and `never connected` when it never called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// A call within the active window.
    Active,
    /// Heard from, but not that recently.
    Idle,
    /// Its open work session went silent past `GATEWAY_SESSION_STALE_SECS`.
    Stale,
    /// Never called the gateway.
    Never,
}

impl Liveness {
    /// The agent's liveness at `now`, computed from memory (no store read).
    pub fn of(
        gw: &Gateway,
        agent: &Agent,
        session: Option<&WorkSessionRecord>,
        now: DateTime<Utc>,
    ) -> (Self, Option<DateTime<Utc>>) {
        let last = last_seen(gw, agent).max(session.and_then(|s| s.last_call_at));
        let active_after = now
            - chrono::Duration::from_std(gw.config.active_window)
                .unwrap_or_else(|_| chrono::Duration::seconds(120));
        let live = if session.is_some_and(|s| s.last_activity() < gw.stale_before(now)) {
            Liveness::Stale
        } else {
            match last {
                None => Liveness::Never,
                Some(at) if at >= active_after => Liveness::Active,
                Some(_) => Liveness::Idle,
            }
        };
        (live, last)
    }

    /// The word.
    pub fn word(self) -> &'static str {
        match self {
            Liveness::Active => "active",
            Liveness::Idle => "idle",
            Liveness::Stale => "stale",
            Liveness::Never => "never connected",
        }
    }
}

/// What is known of an agent's last contact: the live hub (this and, on Postgres, every
/// replica), the token's recorded last use, or its client's last `initialize`.
pub fn last_seen(gw: &Gateway, agent: &Agent) -> Option<DateTime<Utc>> {
    let hub = gw.auditor.live().activity(agent.id).map(|a| a.last_at);
    let token = agent.tokens.iter().filter_map(|t| t.last_used_at).max();
    let client = agent.client.as_ref().map(|c| c.seen_at);
    hub.max(token).max(client)
}

/// `active · last request 12 s ago`, or `never connected`. An agent that may not work
/// (revoked, disabled) shows only when it was last heard from: "active" would mislead.
pub fn liveness_words(
    gw: &Gateway,
    agent: &Agent,
    session: Option<&WorkSessionRecord>,
    now: DateTime<Utc>,
) -> Markup {
    let (live, last) = Liveness::of(gw, agent, session, now);
    let working = agent.status == AgentStatus::Active;
    let class = if working {
        live.word().replace(' ', "-")
    } else {
        "off".to_owned()
    };
    html! {
        span class={"liveness " (class)} data-liveness=(live.word()) {
            span.dot aria-hidden="true" {}
            @match (last, working) {
                (Some(at), true) => { (live.word()) " · last request " (ago(at, now)) }
                (Some(at), false) => { "last request " (ago(at, now)) }
                (None, _) => { "never connected" }
            }
        }
    }
}

/// The status badge; a disabled agent says why.
pub fn status_badge(agent: &Agent) -> Markup {
    let word = agent.status.as_str();
    html! {
        span class={"badge " (word)} title=[agent.status_reason.as_deref()] { (word) }
        @if agent.status != AgentStatus::Active {
            @if let Some(reason) = &agent.status_reason {
                span.muted.small { " — " (reason) }
            }
        }
    }
}

/// Project identifiers by id (`WEB`), as the Tasker names them.
pub type ProjectNames = std::collections::HashMap<String, String>;

/// Every project's identifier; empty when the Tasker cannot be asked (ids are shown).
pub async fn project_names(gw: &Gateway) -> ProjectNames {
    match gw.tasker.all_projects().await {
        Ok(projects) => projects.into_iter().map(|p| (p.id, p.identifier)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "project names unavailable; showing ids");
            ProjectNames::new()
        }
    }
}

/// A project's identifier, or its id.
pub fn project<'a>(names: &'a ProjectNames, id: &'a str) -> &'a str {
    names.get(id).map_or(id, String::as_str)
}

/// `WEB: cards:read, comments:write` per grant.
pub fn grants(agent: &Agent, names: &ProjectNames) -> Markup {
    html! {
        ul.grants {
            @for g in &agent.grants {
                li title=(g.project_id) { strong { (project(names, &g.project_id)) } ": " (g.scopes.join(", ")) }
            }
        }
    }
}

/// The token prefix shown for an agent (its newest token).
pub fn token_prefix(agent: &Agent) -> String {
    agent
        .tokens
        .first()
        .map(|t| t.display.clone())
        .unwrap_or_else(|| "—".into())
}

/// An audit row's outcome explained in words.
pub fn explain(entry: &AuditEntry) -> String {
    let reason = entry.reason.as_deref().unwrap_or("");
    match entry.outcome.as_str() {
        "allowed" => "done".into(),
        "intent" => "about to write (the outcome row follows)".into(),
        "denied" => {
            let why = if reason.starts_with("Rate limit") {
                "too many calls: the agent hit its rate limit"
            } else if reason.contains("not granted") {
                "the project is not granted to this agent"
            } else if reason.contains("needs scope") {
                "the agent lacks the scope this tool needs"
            } else if reason.contains("revoked") || reason.contains("disabled") {
                "the token is revoked or the agent disabled"
            } else if reason.contains("delet") || reason.contains("archiv") {
                "deleting and archiving are never allowed"
            } else {
                "refused by policy"
            };
            format!("denied — {why}")
        }
        _ => "failed — the call was admitted but could not be carried out".into(),
    }
}

/// A table of audit rows (an agent's recent calls, the audit log).
pub fn audit_table(rows: &[AuditEntry], now: DateTime<Utc>, show_agent: bool) -> Markup {
    html! {
        table.dense {
            thead { tr {
                th scope="col" { "When" }
                @if show_agent { th scope="col" { "Agent" } }
                th scope="col" { "Action" }
                th scope="col" { "Project" }
                th scope="col" { "Outcome" }
                th scope="col" { "Details" }
            } }
            tbody {
                @if rows.is_empty() { tr { td colspan="6" .muted { "No rows." } } }
                @for r in rows {
                    tr class=(r.outcome) {
                        td title=(r.at.to_rfc3339()) { (ago(r.at, now)) }
                        @if show_agent { td { @if let Some(a) = r.agent_id { a href={"/ui/admin/agents/" (a)} { code { (short(&a.to_string())) } } } @else { "—" } } }
                        td { code { (r.action) } }
                        td { (r.project_id.as_deref().unwrap_or("—")) }
                        td { span class={"badge " (r.outcome)} { (explain(r)) } }
                        td.reason { (r.reason.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The first 8 characters of an id.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The filter chip label of a feed kind.
pub fn kind_chip(kind: EventKind) -> Markup {
    html! { span class={"chip " (kind.key())} { (kind.label()) } }
}

/// An `application/x-www-form-urlencoded` body as pairs (repeated keys kept).
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `key`.
pub fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Every value of `key`.
pub fn fields<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}
