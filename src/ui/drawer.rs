//! An agent's drawer (owner) and timeline (admin): its recent calls from the audit log,
//! denials explained in words, and its work sessions (reported vs observed) with a
//! button to ask a session to stop.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use uuid::Uuid;

use super::error::UiError;
use super::layout::{shell, Header, Page};
use super::session::{AdminSession, OwnerSession, Session, Who};
use super::view::{self, field, form_pairs};
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::http::extract::RequestId;
use crate::store::{Agent, AuditQuery, Outcome, SessionQuery, WorkSessionRecord};

/// How many recent calls a drawer shows.
const RECENT: u32 = 30;

async fn recent(gw: &Gateway, agent: Uuid, limit: u32) -> Result<Markup, UiError> {
    let rows = gw
        .audit_log(&AuditQuery {
            agent_id: Some(agent),
            since: None,
            before: None,
            limit,
        })
        .await?;
    Ok(view::audit_table(&rows, Utc::now(), false))
}

/// The agent's open work session, if any.
async fn open_session(gw: &Gateway, agent: Uuid) -> Result<Option<WorkSessionRecord>, UiError> {
    Ok(gw
        .store
        .open_sessions()
        .await?
        .into_iter()
        .find(|s| s.agent_id == agent))
}

/// How many of an agent's sessions a drawer shows.
const SESSIONS: u32 = 5;

/// The agent's latest work sessions: state, what it reported vs what the gateway
/// observed, and a stop button for an open one.
async fn sessions(
    gw: &Gateway,
    agent: &Agent,
    owner: Option<Uuid>,
    csrf: &str,
) -> Result<Markup, UiError> {
    let list = gw
        .work_sessions(&SessionQuery {
            agent_id: Some(agent.id),
            owner_id: owner,
            limit: SESSIONS,
            ..SessionQuery::default()
        })
        .await?;
    let mut details = Vec::with_capacity(list.len());
    for s in &list {
        details.push(gw.work_session(s.id, owner).await?);
    }
    let now = Utc::now();
    Ok(html! {
        @if details.is_empty() {
            p.muted { "No work session reported yet. An agent in reporting mode starts one when it picks up a card." }
        }
        @for d in &details {
            @let s = &d.session;
            div.work-session data-session=(s.id) data-session-state=(s.state) {
                p {
                    strong { (s.card) } " · " span class={"badge " (s.state)} { (s.state.replace('_', " ")) }
                    " · started " (view::ago(s.started_at, now))
                    " · last activity " (view::ago(s.last_call_at.map_or(s.last_report_at, |c| c.max(s.last_report_at)), now))
                }
                p { (s.intent) }
                p.small { strong { "Reported vs observed: " } (d.comparison) }
                @if let Some(stop) = &s.stop {
                    p.small.muted { "Stop asked by " (stop.requested_by) " " (view::ago(stop.requested_at, now)) ": " (stop.reason) }
                } @else if s.ended_at.is_none() {
                    form.row method="post" action={"/ui/work-sessions/" (s.id) "/stop"} {
                        input type="hidden" name="csrf" value=(csrf);
                        label.visually-hidden for={"stop-reason-" (s.id)} { "Why stop this session" }
                        input id={"stop-reason-" (s.id)} name="reason" required maxlength="500" placeholder="Why stop (the agent is told)";
                        button.danger type="submit" aria-label={"Ask session on " (s.card) " to stop"} { "Ask to stop" }
                    }
                }
            }
        }
    })
}

/// `GET /ui/agents/{id}` (htmx): the owner's drawer.
pub async fn owner_drawer(
    OwnerSession(session, me): OwnerSession,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Page, UiError> {
    let agent = super::owner::my_agent(&gw, me.id, agent_id).await?;
    let calls = recent(&gw, agent_id, RECENT).await?;
    let open = open_session(&gw, agent_id).await?;
    Ok(Page(html! {
        section.glass aria-labelledby="drawer-title" {
            header.card-head {
                h3 #drawer-title { (agent.name) }
                button.ghost type="button" data-close-drawer aria-label="Close" { "×" }
            }
            p { (view::status_badge(&agent)) " · " (view::liveness_words(&gw, &agent, open.as_ref(), Utc::now())) }
            h4 { "Work sessions" }
            (sessions(&gw, &agent, Some(me.id), &session.csrf).await?)
            h4 { "Recent calls" }
            (calls)
        }
    }))
}

/// `GET /ui/admin/agents/{id}`: the agent's timeline, for the admin.
pub async fn admin_timeline(
    AdminSession(session): AdminSession,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Page, UiError> {
    let agent = gw
        .store
        .get_agent(agent_id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("no agent {agent_id} exists")))?;
    let owner = gw.store.get_user(agent.owner_id).await?;
    let calls = recent(&gw, agent_id, 200).await?;
    let open = open_session(&gw, agent_id).await?;
    let header = Header {
        who: "Gateway admin",
        csrf: &session.csrf,
        active: "admin",
        admin: true,
    };
    let body = html! {
        p { a href="/ui/admin" { "← Live status" } }
        article.card.glass {
            header.card-head {
                h1 { (agent.name) }
                @if agent.status != crate::store::AgentStatus::Revoked {
                    (super::owner::revoke_button(&agent, &format!("/ui/admin/agents/{}/revoke", agent.id)))
                    (super::owner::revoke_dialog(&session.csrf))
                }
            }
            dl.facts {
                dt { "Status" } dd { (view::status_badge(&agent)) }
                dt { "Liveness" } dd { (view::liveness_words(&gw, &agent, open.as_ref(), Utc::now())) }
                dt { "Owner" } dd { (owner.as_ref().map_or("—", |o| o.display_name.as_str())) " (" code { (agent.owner_id) } ")" }
                dt { "Client" } dd { (super::snapshot::client_of(&agent)) }
                dt { "Projects" } dd { (view::grants(&agent, &view::project_names(&gw).await)) }
                dt { "Token" } dd { code { (view::token_prefix(&agent)) } }
            }
            h2 { "Work sessions" }
            (sessions(&gw, &agent, None, &session.csrf).await?)
            h2 { "Timeline (newest first)" }
            (calls)
            p { a href={"/ui/admin/audit/export?format=csv&agent_id=" (agent.id)} { "Export this agent's log (CSV)" } }
        }
    };
    Ok(Page(shell(&agent.name, &header, body)))
}

/// `POST /ui/work-sessions/{id}/stop`: asks a work session to stop (owner: only their
/// agents' sessions), audited; back to where the button was.
pub async fn stop_session(
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Path(session_id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, UiError> {
    let session = Session::of(&gw, &headers)
        .await?
        .ok_or(UiError::OwnerSignIn)?;
    let form = form_pairs(&body);
    session.check(&gw, &headers, field(&form, "csrf"))?;
    let reason = super::owner::reason_of(&form)?;
    let (owner, by) = match &session.who {
        Who::Admin => (None, "admin"),
        Who::Owner(user) => (Some(user.id), "owner"),
    };
    let event = AuditEvent::start(&request_id, &format!("{by}.work_session.stop"))
        .target(session_id.to_string());
    let event = match owner {
        Some(o) => event.owner(o),
        None => event,
    };
    let result = gw
        .request_session_stop(session_id, owner, by, &reason)
        .await;
    let row = match &result {
        Ok(v) => event
            .agent(v.agent_id, v.owner_id)
            .finish(Outcome::Allowed, Some(reason)),
        Err(e) => event.finish(Outcome::Failed, Some(e.to_string())),
    };
    gw.auditor
        .record(row)
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let view = result?;
    let back = match owner {
        None => format!("/ui/admin/agents/{}", view.agent_id),
        Some(_) => "/ui/agents".to_owned(),
    };
    Ok(Redirect::to(&back).into_response())
}
