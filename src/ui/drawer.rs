//! An agent's drawer (owner) and timeline (admin): its recent calls from the audit log,
//! denials explained in words, and its work sessions (reported vs observed) with a
//! button to ask a session to stop.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use maud::{html, Markup};
use uuid::Uuid;

use super::error::UiError;
use super::layout::{shell, Header, Page};
use super::session::{AdminSession, OwnerSession, Session, Who};
use super::view::{self, field, form_pairs};
use crate::gateway::Gateway;
use crate::store::{Agent, AuditQuery};

/// How many recent calls a drawer shows.
const RECENT: u32 = 30;

async fn recent(gw: &Gateway, agent: Uuid, limit: u32) -> Result<Markup, UiError> {
    let rows = gw
        .store
        .list_audit(&AuditQuery {
            agent_id: Some(agent),
            since: None,
            before: None,
            limit,
        })
        .await?;
    Ok(view::audit_table(&rows, Utc::now(), false))
}

/// The agent's work sessions (filled in by the work-session wiring).
fn sessions(_gw: &Gateway, _agent: &Agent, _csrf: &str) -> Markup {
    html! {
        p.muted { "No work session reported yet. An agent in reporting mode starts one when it picks up a card." }
    }
}

/// `GET /ui/agents/{id}` (htmx): the owner's drawer.
pub async fn owner_drawer(
    OwnerSession(session, me): OwnerSession,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Page, UiError> {
    let agent = gw
        .store
        .get_agent(agent_id)
        .await?
        .filter(|a| a.owner_id == me.id)
        .ok_or_else(|| UiError::NotFound(format!("you have no agent {agent_id}")))?;
    let calls = recent(&gw, agent_id, RECENT).await?;
    Ok(Page(html! {
        section.glass aria-labelledby="drawer-title" {
            header.card-head {
                h3 #drawer-title { (agent.name) }
                button.ghost type="button" data-close-drawer aria-label="Close" { "×" }
            }
            p { (view::status_badge(&agent)) " · " (view::liveness_words(view::last_seen(&gw, &agent), Utc::now())) }
            h4 { "Work sessions" }
            (sessions(&gw, &agent, &session.csrf))
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
                    button.danger type="button" data-dialog-open={"revoke-" (agent.id)} aria-label={"Revoke " (agent.name)} { "Revoke" }
                    (super::owner::revoke_dialog(&agent, &format!("/ui/admin/agents/{}/revoke", agent.id), &session.csrf))
                }
            }
            dl.facts {
                dt { "Status" } dd { (view::status_badge(&agent)) }
                dt { "Liveness" } dd { (view::liveness_words(view::last_seen(&gw, &agent), Utc::now())) }
                dt { "Owner" } dd { (owner.as_ref().map_or("—", |o| o.display_name.as_str())) " (" code { (agent.owner_id) } ")" }
                dt { "Client" } dd { (super::owner::client_of(&gw, &agent)) }
                dt { "Projects" } dd { (view::grants(&agent, &view::project_names(&gw).await)) }
                dt { "Token" } dd { code { (view::token_prefix(&agent)) } }
            }
            h2 { "Work sessions" }
            (sessions(&gw, &agent, &session.csrf))
            h2 { "Timeline (newest first)" }
            (calls)
            p { a href={"/ui/admin/audit/export?format=csv&agent_id=" (agent.id)} { "Export this agent's log (CSV)" } }
        }
    };
    Ok(Page(shell(&agent.name, &header, body)))
}

/// `POST /ui/work-sessions/{id}/stop`: asks a work session to stop.
pub async fn stop_session(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    Path(session_id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, UiError> {
    let session = Session::of(&gw, &headers)
        .await?
        .ok_or(UiError::OwnerSignIn)?;
    let form = form_pairs(&body);
    session.check(&gw, &headers, field(&form, "csrf"))?;
    let _back = match session.who {
        Who::Admin => "/ui/admin",
        Who::Owner(_) => "/ui/agents",
    };
    // Wired to the work sessions once they exist (issue 15).
    Err::<Response, _>(UiError::NotFound(format!(
        "no work session {session_id} is open"
    )))
}
