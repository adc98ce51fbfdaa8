//! `GET /api/v1/agents/{agent_id}/setup`: the instruction pack for pairing Codex (or any
//! MCP client) with an agent — for its owner or an admin. It never contains a token or
//! any secret: the token was shown once, at creation, and the pack says where to put it.

use axum::extract::State;
use serde::Serialize;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{Json, Path};
use super::principal::Principal;
use crate::gateway::Gateway;
use crate::mcp::INSTRUCTIONS;
use crate::scopes::Scope;
use crate::store::Agent;
use crate::tasker::Actor;

/// The MCP server name used in the generated config (Codex: `^[a-zA-Z0-9_-]+$`).
pub const SERVER_NAME: &str = "nodedc";
/// The environment variable the generated config reads the token from.
pub const TOKEN_ENV: &str = "NODEDC_AGENT_TOKEN";

/// The pack.
#[derive(Debug, Serialize)]
pub struct SetupPack {
    pub agent_id: Uuid,
    pub agent_name: String,
    pub mcp_url: String,
    pub server_name: &'static str,
    pub token_env_var: &'static str,
    /// The `~/.codex/config.toml` block.
    pub codex_config_toml: String,
    /// The equivalent `codex mcp add` line.
    pub codex_mcp_add: String,
    /// The environment line, with a placeholder for the token.
    pub env_line: String,
    /// A section for the repository's AGENTS.md.
    pub agents_md: String,
}

/// Builds the pack for an agent the caller may manage.
pub async fn setup(
    principal: Principal,
    State(gw): State<Gateway>,
    Path(agent_id): Path<Uuid>,
) -> Result<Json<SetupPack>, ApiError> {
    let agent = gw
        .store
        .get_agent(agent_id)
        .await?
        .filter(|a| principal.may_manage(a.owner_id))
        .ok_or_else(|| ApiError::NotFound(format!("no agent {agent_id} exists")))?;
    Ok(Json(pack(&gw, &agent).await))
}

/// The pack of `agent` (also shown by the owner page's pairing panel).
pub async fn pack(gw: &Gateway, agent: &Agent) -> SetupPack {
    let mcp_url = gw
        .config
        .public_url
        .join("mcp")
        .map(|u| u.to_string())
        .unwrap_or_default();
    let projects = granted_projects(gw, agent).await;
    SetupPack {
        agent_id: agent.id,
        agent_name: agent.name.clone(),
        codex_config_toml: format!(
            "[mcp_servers.{SERVER_NAME}]\nurl = \"{mcp_url}\"\nbearer_token_env_var = \"{TOKEN_ENV}\"\n"
        ),
        codex_mcp_add: format!("codex mcp add {SERVER_NAME} --url {mcp_url} --bearer-token-env-var {TOKEN_ENV}"),
        env_line: format!("export {TOKEN_ENV}=<the token shown once when the agent was created>"),
        agents_md: agents_md(agent, &projects),
        mcp_url,
        server_name: SERVER_NAME,
        token_env_var: TOKEN_ENV,
    }
}

/// `IDENT — Name: scopes` per granted project (ids when the Tasker cannot say).
async fn granted_projects(gw: &Gateway, agent: &Agent) -> Vec<String> {
    let actor = Actor {
        agent_id: agent.id,
        agent_name: agent.name.clone(),
        owner_id: agent.owner_id,
        owner_name: String::new(),
        granted: agent.grants.iter().map(|g| g.project_id.clone()).collect(),
        work_session: None,
    };
    let known = gw.tasker.projects(&actor).await.unwrap_or_default();
    agent
        .grants
        .iter()
        .map(|g| {
            let name = known.iter().find(|p| p.id == g.project_id).map_or_else(
                || g.project_id.clone(),
                |p| format!("{} — {} (id {})", p.identifier, p.name, p.id),
            );
            format!("{name}: {}", g.scopes.join(", "))
        })
        .collect()
}

fn agents_md(agent: &Agent, projects: &[String]) -> String {
    let list: String = projects.iter().map(|p| format!("- {p}\n")).collect();
    let reporting = if agent
        .grants
        .iter()
        .any(|g| g.scopes.iter().any(|s| s == Scope::SessionsWrite.as_str()))
    {
        "- Report your work session: start_work_session before you begin (the card, one line of \
         intent, a short plan); update_work_session at each step (action, thought, or elicitation \
         when you need a person); finish_work_session with the outcome and a summary \
         (comment=true posts it on the card). If a result says STOP REQUESTED, stop and finish \
         the session.\n"
    } else {
        ""
    };
    format!(
        "## Task tracker (NODE.DC Agent Gateway)\n\n\
         You are the agent \"{name}\". You reach the team's tracker only through the MCP server `{SERVER_NAME}`; \
         never call the tracker's own API.\n\n\
         Projects you may work in, with your scopes:\n{list}\n\
         How to work here:\n\
         - {INSTRUCTIONS}\n\
         - Report progress on the card you work on: add_comment for what you did, update_structured_block \
         for the \"plan\" and \"acceptance criteria\" blocks, move_card when the state changes.\n\
         {reporting}\
         - If a call is refused, read the message: it names the valid values or the projects you may use.\n",
        name = agent.name
    )
}
