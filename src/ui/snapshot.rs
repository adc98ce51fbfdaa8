//! What a page (or its stream) renders from: the agents, their owners, project names and
//! open work sessions — read from the store when the page loads and again only when an
//! event says something changed; liveness and staleness are computed from it at each
//! render, so a silent agent or session turns stale on screen without a store read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{html, Markup};
use uuid::Uuid;

use super::error::UiError;
use super::view::{self, ProjectNames};
use crate::events::LiveEvent;
use crate::gateway::Gateway;
use crate::store::{Agent, WorkSessionRecord};

/// Owner names by id.
pub type Owners = HashMap<Uuid, String>;

/// The data of a board or an owner's card.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Only this owner's agents (the owner page), or all (the admin page).
    pub owner: Option<Uuid>,
    /// The agents, newest first.
    pub agents: Vec<Agent>,
    /// Owner names.
    pub owners: Owners,
    /// Project identifiers.
    pub names: ProjectNames,
    /// Open work sessions.
    pub open: Vec<WorkSessionRecord>,
    /// Agents re-read once for their client (so a client that never says who it is
    /// costs one read, not one per call).
    asked: std::collections::HashSet<Uuid>,
}

impl Snapshot {
    /// Reads everything.
    pub async fn load(gw: &Gateway, owner: Option<Uuid>) -> Result<Self, UiError> {
        let agents = gw.store.list_agents(owner).await?;
        let owners = match owner {
            Some(_) => Owners::new(),
            None => super::entitlements::users(gw, None)
                .await?
                .into_iter()
                .map(|u| (u.user.id, u.user.display_name))
                .collect(),
        };
        let mut me = Self {
            owner,
            agents,
            owners,
            names: view::project_names(gw).await,
            open: Vec::new(),
            asked: std::collections::HashSet::new(),
        };
        me.load_sessions(gw).await?;
        Ok(me)
    }

    async fn load_sessions(&mut self, gw: &Gateway) -> Result<(), UiError> {
        let open = gw.store.open_sessions().await?;
        self.open = open
            .into_iter()
            .filter(|s| self.owner.is_none_or(|o| s.owner_id == o))
            .collect();
        Ok(())
    }

    /// Brings the snapshot up to date after `event`, reading only what it may have
    /// changed; a failed read keeps the old data (logged). An ordinary call reads
    /// nothing: it moves its session's last call in memory. The first call of an agent
    /// whose client is not known re-reads that one agent, once per page.
    pub async fn apply(&mut self, gw: &Gateway, event: &LiveEvent) {
        let subject = event.subject();
        if event.changes_agents() {
            match Self::load(gw, self.owner).await {
                Ok(fresh) => *self = fresh,
                Err(e) => tracing::warn!(error = %e, "a page could not reload its agents"),
            }
            return;
        }
        if event.action.contains("work_session") {
            if let Err(e) = self.load_sessions(gw).await {
                tracing::warn!(error = %e, "a page could not reload work sessions");
            }
        } else if let Some(s) = subject
            .filter(|_| !event.action.contains('.'))
            .and_then(|id| self.open.iter_mut().find(|s| s.agent_id == id))
        {
            s.last_call_at = s.last_call_at.max(Some(event.at));
        }
        let Some(id) = subject else { return };
        let unknown = self.agents.iter().any(|a| a.id == id && a.client.is_none());
        if unknown && self.asked.insert(id) {
            match gw.store.get_agent(id).await {
                Ok(Some(fresh)) => {
                    if let Some(a) = self.agents.iter_mut().find(|a| a.id == id) {
                        *a = fresh;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "a page could not re-read an agent"),
            }
        }
    }

    /// The agent's open session, if any.
    pub fn session_of(&self, agent: Uuid) -> Option<&WorkSessionRecord> {
        self.open.iter().find(|s| s.agent_id == agent)
    }
}

/// "Codex 0.46.0" for Codex CLI's `codex-mcp-client`, otherwise the name and version.
pub fn client_label(name: &str, version: &str) -> String {
    let name = if name.to_ascii_lowercase().contains("codex") {
        "Codex"
    } else {
        name
    };
    format!("{name} {version}").trim().to_owned()
}

/// The client an agent last connected with.
pub fn client_of(agent: &Agent) -> Markup {
    html! {
        @match &agent.client {
            Some(c) => { span title={(c.name) " " (c.version)} { (client_label(&c.name, &c.version)) } }
            None => { span.muted { "—" } }
        }
    }
}

/// An open session in words: card, state (stale when silent), last activity.
pub fn session_words(
    gw: &Gateway,
    session: Option<&WorkSessionRecord>,
    now: DateTime<Utc>,
) -> Markup {
    match session {
        None => html! { span.muted { "none" } },
        Some(s) => {
            let v = gw.view(s, now);
            html! {
                span class={"session " (v.state)} data-session-state=(v.state) title=(v.intent) {
                    strong { (v.card) } " · "
                    span class={"badge " (v.state)} { (v.state.replace('_', " ")) }
                    " · " span.muted { (view::ago(s.last_activity(), now)) }
                }
            }
        }
    }
}
