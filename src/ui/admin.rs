//! `/ui/admin`: the live-status page. Headline numbers (each with its "as of" time and
//! the stream's Live / Reconnecting state), the agent table (liveness in words, owner,
//! client, projects, session; click through to the timeline), the live event feed with
//! filter chips, pause and "N new events", and the entitlement toggles.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use uuid::Uuid;

use super::error::UiError;
use super::layout::{shell, Header, Page};
use super::session::AdminSession;
use super::snapshot::{client_of, session_words, Snapshot};
use super::view::{self, field, form_pairs, Liveness};
use crate::audit::AuditEvent;
use crate::events::{EventKind, LiveEvent};
use crate::gateway::Gateway;
use crate::store::AgentStatus;

/// How many recent audit rows the feed opens with.
const RECENT_EVENTS: u32 = 40;

/// The headline numbers.
pub fn headline(gw: &Gateway, snap: &Snapshot) -> Markup {
    let now = Utc::now();
    let agents = &snap.agents;
    let mut counts = [0usize; 3];
    for a in agents.iter().filter(|a| a.status == AgentStatus::Active) {
        match Liveness::of(gw, a, snap.session_of(a.id), now).0 {
            Liveness::Active => counts[0] += 1,
            Liveness::Idle => counts[1] += 1,
            Liveness::Stale => counts[2] += 1,
            Liveness::Never => {}
        }
    }
    let totals = gw.auditor.live().totals(now);
    let partial = (now - totals.counting_since).num_minutes() < 60;
    let as_of = view::clock(now);
    let stale_sessions = snap
        .open
        .iter()
        .filter(|s| s.last_activity() < gw.stale_before(now))
        .count();
    let active_label = format!("active (last {})", span(gw.config.active_window));
    let stale_label = format!("stale (session silent > {})", span(gw.config.session_stale));
    let sessions_label = format!("open work sessions ({stale_sessions} stale)");
    let tiles: [(&str, String, &str); 7] = [
        ("active", counts[0].to_string(), &active_label),
        ("idle", counts[1].to_string(), "idle"),
        ("stale", counts[2].to_string(), &stale_label),
        ("sessions", snap.open.len().to_string(), &sessions_label),
        ("calls", totals.calls_last_minute.to_string(), "calls / min"),
        (
            "denials",
            totals.denials_last_hour.to_string(),
            "denials (last hour)",
        ),
        (
            "ratelimited",
            totals.rate_limited_last_hour.to_string(),
            "rate-limit hits (last hour)",
        ),
    ];
    html! {
        div.tiles role="list" {
            @for (key, value, label) in &tiles {
                div.tile role="listitem" data-tile=(key) {
                    span.value { (value) }
                    span.label { (label) }
                    span.asof { "as of " (as_of) }
                }
            }
        }
        @if partial {
            p.muted.small { "Per-hour counts since this gateway started at " (view::clock(totals.counting_since)) "." }
        }
    }
}

/// `2 min`, `90 s`.
fn span(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The agent table.
pub fn table(gw: &Gateway, snap: &Snapshot) -> Markup {
    let now = Utc::now();
    let (agents, owners, names) = (&snap.agents, &snap.owners, &snap.names);
    html! {
        table.dense #agent-table aria-label="Agents" {
            thead { tr {
                th scope="col" { "Agent" } th scope="col" { "Status" } th scope="col" { "Liveness" }
                th scope="col" { "Owner" } th scope="col" { "Client" } th scope="col" { "Projects" }
                th scope="col" { "Work session" }
            } }
            tbody {
                @if agents.is_empty() { tr { td colspan="7" .muted { "No agents yet." } } }
                @for a in agents {
                    tr data-agent=(a.id) data-status=(a.status.as_str()) {
                        td { a href={"/ui/admin/agents/" (a.id)} { strong { (a.name) } } }
                        td { (view::status_badge(a)) }
                        td { (view::liveness_words(gw, a, snap.session_of(a.id), now)) }
                        td { (owners.get(&a.owner_id).map_or("—", String::as_str)) }
                        td { (client_of(a)) }
                        td { (a.grants.iter().map(|g| view::project(names, &g.project_id)).collect::<Vec<_>>().join(", ")) }
                        td { (session_words(gw, snap.session_of(a.id), now)) }
                    }
                }
            }
        }
    }
}

/// Everything the board re-renders on an event or a tick.
pub fn board(gw: &Gateway, snap: &Snapshot) -> Markup {
    html! {
        (headline(gw, snap))
        (table(gw, snap))
    }
}

/// One feed line.
pub fn feed_item(event: &LiveEvent, snap: &Snapshot) -> Markup {
    let owners = &snap.owners;
    html! {
        li.event data-kind=(event.kind.key()) {
            time datetime=(event.at.to_rfc3339()) { (view::clock(event.at)) }
            " " (view::kind_chip(event.kind)) " "
            code { (event.action) }
            @if let Some(agent) = event.subject() {
                " · " a href={"/ui/admin/agents/" (agent)} { "agent " (view::short(&agent.to_string())) }
            }
            @if let Some(owner) = event.owner_id.and_then(|o| owners.get(&o)) { " · " (owner) }
            @if let Some(p) = &event.project_id { " · " (view::project(&snap.names, p)) }
            @if event.outcome != "allowed" { " · " span class={"badge " (event.outcome)} { (event.outcome) } }
            @if let Some(reason) = &event.reason { span.reason { " — " (reason) } }
        }
    }
}

/// `GET /ui/admin`.
pub async fn page(
    AdminSession(session): AdminSession,
    State(gw): State<Gateway>,
) -> Result<Page, UiError> {
    let snap = Snapshot::load(&gw, None).await?;
    let users = super::entitlements::users(&gw, None).await?;
    // The feed opens with the recent history, then the stream adds to it.
    let recent = gw
        .audit_log(&crate::store::AuditQuery {
            agent_id: None,
            since: None,
            before: None,
            limit: RECENT_EVENTS,
        })
        .await?;
    let header = Header {
        who: "Gateway admin",
        csrf: &session.csrf,
        active: "admin",
        admin: true,
    };
    let kinds = [
        EventKind::Write,
        EventKind::Denial,
        EventKind::RateLimit,
        EventKind::Revocation,
        EventKind::Entitlement,
        EventKind::Creation,
        EventKind::Read,
        EventKind::Other,
    ];
    let body = html! {
        div hx-ext="sse" sse-connect="/ui/admin/stream" {
            header.page-head {
                h1 { "Live status" }
                span.live data-live-indicator role="status" aria-live="polite" { "Connecting…" }
            }
            section.card.glass aria-label="Agents and numbers" {
                div #board sse-swap="board" { (board(&gw, &snap)) }
            }
            section.card.glass aria-labelledby="feed-title" {
                header.card-head {
                    h2 #feed-title { "Live events" }
                    div.chips role="group" aria-label="Show event kinds" {
                        @for k in kinds {
                            button type="button" class={"chip " (k.key())} data-filter=(k.key())
                                aria-pressed=(if k == EventKind::Read || k == EventKind::Other { "false" } else { "true" }) { (k.label()) }
                        }
                    }
                    button.ghost type="button" data-feed-pause aria-pressed="false" { "Pause" }
                }
                button.newer type="button" data-feed-newer hidden { span data-count { "0" } " new events" }
                ol.feed #feed sse-swap="feed" aria-live="off" data-hide="read other" {
                    @for e in &recent { (feed_item(&LiveEvent::of_entry(e), &snap)) }
                }
            }
            (super::entitlements::section(&users))
        }
    };
    Ok(Page(shell("Live status", &header, body)))
}

/// `POST /ui/admin/agents/{id}/revoke`.
pub async fn revoke(
    AdminSession(session): AdminSession,
    State(gw): State<Gateway>,
    crate::http::extract::RequestId(request_id): crate::http::extract::RequestId,
    Path(agent_id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = form_pairs(&body);
    session.check(&gw, &headers, field(&form, "csrf"))?;
    let reason = super::owner::reason_of(&form)?;
    let event = AuditEvent::start(&request_id, "admin.agent.revoke").target(agent_id.to_string());
    gw.revoke_agent_audited(event, agent_id, &reason, Some(reason.clone()))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))??;
    Ok(Redirect::to(&format!("/ui/admin/agents/{agent_id}")).into_response())
}
