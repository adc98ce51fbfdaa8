//! The pairing panel: the token shown once (with a copy button), then tabs with the
//! `export` line, `codex mcp add …`, the `config.toml` block and the AGENTS.md section
//! (the instruction pack of `GET /api/v1/agents/{id}/setup`), and a status line that
//! flips from "Waiting for the first connection…" to "Connected" when the agent's first
//! call arrives, pushed by the page's stream.

use axum::extract::{Path, State};
use chrono::Utc;
use maud::{html, Markup};
use uuid::Uuid;

use super::error::UiError;
use super::layout::Page;
use super::session::OwnerSession;
use crate::gateway::Gateway;
use crate::http::setup::{pack, SetupPack, TOKEN_ENV};
use crate::store::Agent;

/// The SSE event name that carries an agent's pairing status.
pub fn event_name(agent_id: Uuid) -> String {
    format!("pairing-{agent_id}")
}

/// "Waiting for the first connection…" or "Connected: …".
pub fn status(gw: &Gateway, agent: &Agent) -> Markup {
    let first = super::view::last_seen(gw, agent);
    let client = agent
        .client
        .as_ref()
        .map(|c| super::snapshot::client_label(&c.name, &c.version));
    html! {
        @match first {
            Some(at) => {
                span.pairing.connected data-pairing="connected" {
                    span.dot aria-hidden="true" {} "Connected: "
                    @if let Some(client) = client { (client) " · " }
                    "last call " (super::view::ago(at, Utc::now()))
                }
            }
            None => {
                span.pairing.waiting data-pairing="waiting" {
                    span.spinner aria-hidden="true" {} "Waiting for the first connection…"
                }
            }
        }
    }
}

fn tabs(agent: &Agent, pack: &SetupPack, token: Option<&str>) -> Markup {
    let export = match token {
        Some(t) => format!("export {TOKEN_ENV}={t}"),
        None => pack.env_line.clone(),
    };
    let id = agent.id;
    let panels = [
        ("export", "export line", export),
        ("codex", "codex mcp add", pack.codex_mcp_add.clone()),
        ("toml", "config.toml", pack.codex_config_toml.clone()),
        ("agents", "AGENTS.md", pack.agents_md.clone()),
    ];
    html! {
        div.tabs data-tabs {
            div role="tablist" aria-label="Pairing instructions" {
                @for (i, (key, label, _)) in panels.iter().enumerate() {
                    button type="button" role="tab" id={"tab-" (key) "-" (id)}
                        aria-controls={"panel-" (key) "-" (id)} aria-selected=(if i == 0 { "true" } else { "false" })
                        tabindex=(if i == 0 { "0" } else { "-1" }) { (label) }
                }
            }
            @for (i, (key, label, text)) in panels.iter().enumerate() {
                div role="tabpanel" id={"panel-" (key) "-" (id)} aria-labelledby={"tab-" (key) "-" (id)} hidden[i != 0] {
                    pre { code id={"code-" (key) "-" (id)} { (text) } }
                    button.ghost type="button" data-copy={"code-" (key) "-" (id)} aria-label={"Copy the " (label)} { "Copy" }
                }
            }
        }
    }
}

/// The answer to a create: token once, pairing tabs, live status.
pub fn created_panel(gw: &Gateway, agent: &Agent, token: &str, pack: &SetupPack) -> Markup {
    html! {
        section.created.glass aria-labelledby="created-title" {
            h3 #created-title { "Agent " (agent.name) " created" }
            div.token-once {
                label for="new-token" { "Its token — shown once. Copy it now: after a reload it is gone, and the gateway keeps only a hash." }
                div.row {
                    input #new-token readonly value=(token) aria-describedby="created-title";
                    button.primary type="button" data-copy="new-token" aria-label="Copy the token" { "Copy" }
                }
            }
            (tabs(agent, pack, Some(token)))
            p #pairing-status sse-swap=(event_name(agent.id)) aria-live="polite" { (status(gw, agent)) }
        }
    }
}

/// `GET /ui/agents/{id}/setup`: the pairing panel of an existing agent (no token).
pub async fn owner_setup(
    OwnerSession(_, me): OwnerSession,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Page, UiError> {
    let agent = super::owner::my_agent(&gw, me.id, agent_id).await?;
    let pack = pack(&gw, &agent).await;
    Ok(Page(html! {
        section.glass aria-labelledby="setup-title" {
            header.card-head {
                h3 #setup-title { "Pair Codex with " (agent.name) }
                button.ghost type="button" data-close-drawer aria-label="Close" { "×" }
            }
            p.muted { "The token was shown once, at creation. If it is lost, revoke this agent and create a new one." }
            (tabs(&agent, &pack, None))
            p sse-swap=(event_name(agent.id)) aria-live="polite" { (status(&gw, &agent)) }
        }
    }))
}
