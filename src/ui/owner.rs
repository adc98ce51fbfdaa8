//! `/ui/agents`: the owner's "Workspace settings → Features → Codex agents" card.
//! Without the entitlement there is no card, only a line saying why and who can grant
//! it (and, if the owner has agents, that they are disabled). With it: the agents, the
//! create form, the token shown once with its pairing panel, revoke with a reason.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{html, Markup};
use uuid::Uuid;

use super::error::UiError;
use super::layout::{shell, Header, Page};
use super::session::OwnerSession;
use super::snapshot::{client_of, session_words, Snapshot};
use super::view::{self, field, fields, form_pairs};
use crate::audit::AuditEvent;
use crate::gateway::{CreateAgent, Gateway};
use crate::scopes::Scope;
use crate::store::{Agent, AgentStatus, Outcome, User};

/// The scope presets of the create form: name, label, scopes.
pub const PRESETS: &[(&str, &str, &[&str])] = &[
    ("report", "Report only", &["cards:read", "sessions:write"]),
    ("read", "Read", &["cards:read"]),
    (
        "comment",
        "Read + comment",
        &["cards:read", "comments:write"],
    ),
    (
        "contributor",
        "Contributor",
        &[
            "cards:read",
            "cards:write",
            "comments:write",
            "labels:write",
            "assign:write",
            "blocks:write",
            "sessions:write",
        ],
    ),
];

/// Whether the owner may use Codex agents now (the projection Launcher keeps current).
pub fn entitled(user: &User) -> bool {
    user.codex_agents && !user.blocked
}

/// The owner's agents, as the card lists them (also pushed by the page's stream).
pub fn agents_list(gw: &Gateway, snap: &Snapshot) -> Markup {
    let now = Utc::now();
    let agents = &snap.agents;
    html! {
        @if agents.is_empty() {
            p.muted { "No agents yet. Create one below, then pair Codex with it." }
        } @else {
            table.dense aria-label="Your agents" {
                thead { tr {
                    th scope="col" { "Agent" } th scope="col" { "Status" }
                    th scope="col" { "Projects and scopes" } th scope="col" { "Token" }
                    th scope="col" { "Client" } th scope="col" { "Last activity" }
                    th scope="col" { "Work session" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for a in agents {
                        tr data-agent=(a.id) data-status=(a.status.as_str()) {
                            td { strong { (a.name) } }
                            td { (view::status_badge(a)) }
                            td { (view::grants(a, &snap.names)) }
                            td { code { (view::token_prefix(a)) } }
                            td { (client_of(a)) }
                            td { (view::liveness_words(gw, a, snap.session_of(a.id), now)) }
                            td { (session_words(gw, snap.session_of(a.id), now)) }
                            td.actions {
                                button.ghost type="button" hx-get={"/ui/agents/" (a.id)} hx-target="#drawer"
                                    aria-label={"Details of " (a.name)} { "Details" }
                                button.ghost type="button" hx-get={"/ui/agents/" (a.id) "/setup"} hx-target="#drawer"
                                    aria-label={"Pairing instructions for " (a.name)} { "Setup" }
                                @if a.status != AgentStatus::Revoked {
                                    (revoke_button(a, &format!("/ui/agents/{}/revoke", a.id)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A revoke button: opens the page's one [`revoke_dialog`] for this agent.
pub fn revoke_button(agent: &Agent, action: &str) -> Markup {
    html! {
        button.danger type="button" data-revoke=(action) data-agent=(agent.id) data-name=(agent.name)
            aria-label={"Revoke " (agent.name)} { "Revoke" }
    }
}

/// The page's confirmation dialog of a revoke (outside any live-updated region, so an
/// update never closes it under the reader): a reason is required.
pub fn revoke_dialog(csrf: &str) -> Markup {
    html! {
        dialog.glass #revoke-dialog aria-labelledby="revoke-title" {
            form method="post" action="" {
                h2 #revoke-title { "Revoke " span data-revoke-name { "this agent" } "?" }
                p { "Its token stops working at once and open streams close. This cannot be undone: create a new agent to reconnect." }
                input type="hidden" name="csrf" value=(csrf);
                label for="revoke-reason" { "Reason (kept in the audit log)" }
                input #revoke-reason name="reason" required maxlength="500" placeholder="e.g. laptop lost";
                div.row {
                    button.ghost type="button" data-dialog-close { "Cancel" }
                    button.danger type="submit" { "Revoke" }
                }
            }
        }
    }
}

fn create_form(projects: &[crate::tasker::Membership], csrf: &str) -> Markup {
    html! {
        details.create open[projects.is_empty()] {
            summary { "New agent" }
            form hx-post="/ui/agents" hx-target="#created" hx-swap="innerHTML" {
                input type="hidden" name="csrf" value=(csrf);
                div.field {
                    label for="agent-name" { "Name" }
                    input #agent-name name="name" required maxlength="64" pattern="[A-Za-z0-9 ._\\-]+" placeholder="laptop-codex";
                }
                fieldset {
                    legend { "Projects (those you are a member of)" }
                    @if projects.is_empty() { p.muted { "You are not a member of any project yet." } }
                    @for p in projects {
                        label.check { input type="checkbox" name="project" value=(p.id); " " (p.identifier) " — " (p.name) }
                    }
                }
                fieldset {
                    legend { "Scopes" }
                    @for (i, (key, label, scopes)) in PRESETS.iter().enumerate() {
                        label.check title=(scopes.join(", ")) {
                            input type="radio" name="preset" value=(key) checked[i == 2]; " " (label)
                            span.muted.small { " (" (scopes.join(", ")) ")" }
                        }
                    }
                    label.check { input type="radio" name="preset" value="custom"; " Custom:" }
                    div.custom {
                        @for s in Scope::ALL {
                            label.check { input type="checkbox" name="scope" value=(s.as_str()); " " code { (s.as_str()) } }
                        }
                    }
                }
                button.primary type="submit" { "Create agent" }
            }
        }
    }
}

/// `GET /ui/agents`.
pub async fn page(
    OwnerSession(session, me): OwnerSession,
    State(gw): State<Gateway>,
) -> Result<Page, UiError> {
    let snap = Snapshot::load(&gw, Some(me.id)).await?;
    let header = Header {
        who: &me.display_name,
        csrf: &session.csrf,
        active: "agents",
        admin: false,
    };
    if !entitled(&me) {
        let body = html! {
            section.settings {
                h1 { "Workspace settings · Features" }
                p.notice role="status" {
                    "Codex agents are not available to you: your account does not have the "
                    code { "codex_agents" } " module"
                    @if me.blocked { " (your account is blocked)" }
                    ". An administrator of your organisation (client " code { (me.client_id) }
                    ") can grant it in Launcher, or the gateway admin on its admin page."
                }
                @if !snap.agents.is_empty() {
                    h2 { "Your agents (disabled while the module is off)" }
                    (agents_list(&gw, &snap))
                }
            }
        };
        return Ok(Page(shell("Codex agents", &header, body)));
    }
    let projects = gw
        .tasker
        .projects_of_member(&me.id.to_string())
        .await
        .unwrap_or_default();
    let body = html! {
        section.settings hx-ext="sse" sse-connect="/ui/agents/stream" {
            h1 { "Workspace settings · Features" }
            article.card.glass #codex-agents aria-labelledby="codex-agents-title" {
                header.card-head {
                    h2 #codex-agents-title { "Codex agents" }
                    span.live data-live-indicator role="status" aria-live="polite" { "Connecting…" }
                }
                p.muted { "Agents act for you in the projects you grant, with the scopes you pick. Each has its own token; revoke it at any time." }
                div #agents-list sse-swap="agents" { (agents_list(&gw, &snap)) }
                div #created aria-live="polite" {}
                (create_form(&projects, &session.csrf))
                (revoke_dialog(&session.csrf))
            }
            aside #drawer.drawer aria-live="polite" {}
        }
    };
    Ok(Page(shell("Codex agents", &header, body)))
}

/// `POST /ui/agents` (htmx): creates an agent; answers the token-once panel.
pub async fn create(
    OwnerSession(session, me): OwnerSession,
    State(gw): State<Gateway>,
    crate::http::extract::RequestId(request_id): crate::http::extract::RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Page, UiError> {
    let form = form_pairs(&body);
    session.check(&gw, &headers, field(&form, "csrf"))?;
    let preset = field(&form, "preset");
    let scopes: Vec<String> = match PRESETS.iter().find(|(k, _, _)| *k == preset) {
        Some((_, _, scopes)) => scopes.iter().map(|s| (*s).to_owned()).collect(),
        None => fields(&form, "scope")
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    let projects = fields(&form, "project");
    if projects.is_empty() {
        return Err(UiError::Invalid("pick at least one project".into()));
    }
    if scopes.is_empty() {
        return Err(UiError::Invalid(
            "pick a preset, or at least one custom scope".into(),
        ));
    }
    let event = AuditEvent::start(&request_id, "owner.agent.create").owner(me.id);
    let result = gw
        .create_agent(CreateAgent {
            owner_id: me.id,
            name: field(&form, "name").to_owned(),
            grants: projects
                .iter()
                .map(|p| ((*p).to_owned(), scopes.clone()))
                .collect(),
            rate_per_minute: None,
            rate_burst: None,
            members_only: true,
        })
        .await;
    let row = match &result {
        Ok(c) => event
            .target(c.agent.id.to_string())
            .finish(Outcome::Allowed, None),
        Err(e) => event.finish(e.outcome(), Some(e.to_string())),
    };
    gw.auditor
        .record(row)
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let created = result?;
    let pack = crate::http::setup::pack(&gw, &created.agent).await;
    Ok(Page(super::pairing::created_panel(
        &gw,
        &created.agent,
        created.token.expose(),
        &pack,
    )))
}

/// The owner's agent `agent_id`, or a 404 naming it (someone else's agent is not shown
/// to exist).
pub(super) async fn my_agent(gw: &Gateway, me: Uuid, agent_id: Uuid) -> Result<Agent, UiError> {
    gw.owned_agent(me, agent_id)
        .await?
        .ok_or_else(|| UiError::NotFound(format!("you have no agent {agent_id}")))
}

/// `POST /ui/agents/{id}/revoke`: revokes with the given reason, back to the page.
pub async fn revoke(
    OwnerSession(session, me): OwnerSession,
    State(gw): State<Gateway>,
    crate::http::extract::RequestId(request_id): crate::http::extract::RequestId,
    Path(agent_id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = form_pairs(&body);
    session.check(&gw, &headers, field(&form, "csrf"))?;
    my_agent(&gw, me.id, agent_id).await?;
    let reason = reason_of(&form)?;
    let event = AuditEvent::start(&request_id, "owner.agent.revoke").agent(agent_id, me.id);
    gw.revoke_agent_audited(event, agent_id, &reason, Some(reason.clone()))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))??;
    Ok(Redirect::to("/ui/agents").into_response())
}

/// The form's `reason`: required, at most 500 characters.
pub fn reason_of(form: &[(String, String)]) -> Result<String, UiError> {
    let reason: String = field(form, "reason").trim().chars().take(500).collect();
    if reason.is_empty() {
        return Err(UiError::Invalid(
            "give a reason: it is kept in the audit log".into(),
        ));
    }
    Ok(reason)
}
