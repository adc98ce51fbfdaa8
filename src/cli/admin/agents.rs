//! `admin agents create | list | show | revoke`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use uuid::Uuid;

use super::client::Client;
use super::error::CliError;
use super::table::{cell, Table};
use super::{list as items, print, print_json};

/// The scopes granted when `--project` names none: read-only, the least privilege.
pub const DEFAULT_SCOPES: [&str; 1] = ["cards:read"];

/// `admin agents …`.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  agent-gateway admin agents create --owner 3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34 \\
      --name ada-laptop-codex --project WEB:cards:read,cards:write,comments:write
  agent-gateway admin agents list
  agent-gateway admin agents revoke 01968f2e-5a7b-7c3d-9e1f-2a3b4c5d6e7f --reason 'laptop lost'")]
pub struct AgentsArgs {
    /// The command.
    #[command(subcommand)]
    pub command: AgentsCommand,
}

/// The `agents` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create an agent: prints its token once, then the Codex setup lines.
    Create(CreateArgs),
    /// List agents, newest first.
    #[command(
        after_help = "Example:\n  agent-gateway admin agents list\n  agent-gateway admin agents list --owner 3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34 --json"
    )]
    List {
        /// Only this owner's agents.
        #[arg(long, value_name = "ID")]
        owner: Option<Uuid>,
    },
    /// Show one agent: status, grants, tokens (their short form only).
    #[command(
        after_help = "Example:\n  agent-gateway admin agents show 01968f2e-5a7b-7c3d-9e1f-2a3b4c5d6e7f"
    )]
    Show {
        /// The agent's id.
        id: Uuid,
    },
    /// Revoke an agent, finally; in force when the command returns.
    #[command(
        after_help = "Example:\n  agent-gateway admin agents revoke 01968f2e-5a7b-7c3d-9e1f-2a3b4c5d6e7f --reason 'laptop lost'"
    )]
    Revoke {
        /// The agent's id.
        id: Uuid,
        /// Why (kept in the agent's status and the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Flags of `agents create`.
#[derive(Debug, Args)]
#[command(after_help = "\
--project is PROJECT[:SCOPE,SCOPE…], repeatable. PROJECT is a project id or its identifier
(as `admin projects` lists them). Without scopes the grant is read-only (cards:read).
Scopes: cards:read, cards:write, comments:write, labels:write, assign:write, blocks:write,
sessions:write (reporting mode).
The token is printed once, here; only its hash is stored. With --json the document is the
API's answer with the setup pack added under \"setup\".

Example:
  agent-gateway admin agents create --owner 3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34 \\
      --name ada-laptop-codex --project WEB:cards:read,cards:write,comments:write --project OPS")]
pub struct CreateArgs {
    /// The owner's user id (entitled, not blocked).
    #[arg(long, value_name = "ID")]
    pub owner: Uuid,
    /// The agent's name, unique per owner.
    #[arg(long)]
    pub name: String,
    /// A grant: PROJECT[:SCOPE,SCOPE…]; repeat for several projects.
    #[arg(long = "project", value_name = "PROJECT[:SCOPES]", required = true)]
    pub projects: Vec<String>,
    /// The agent's rate limit per minute (default: the gateway's).
    #[arg(long)]
    pub rate_per_minute: Option<u32>,
    /// The agent's burst (default: the gateway's).
    #[arg(long)]
    pub rate_burst: Option<u32>,
}

/// Runs an `agents` subcommand.
pub async fn run(client: &Client, args: AgentsArgs, json: bool) -> Result<(), CliError> {
    match args.command {
        AgentsCommand::Create(create_args) => create(client, create_args, json).await,
        AgentsCommand::List { owner } => {
            let query: Vec<(&str, String)> =
                owner.iter().map(|o| ("owner_id", o.to_string())).collect();
            let doc = client.get("api/v1/admin/agents", &query).await?;
            if json {
                return print_json(&doc);
            }
            let mut table = Table::new(["ID", "NAME", "OWNER", "STATUS", "PROJECTS", "CREATED"]);
            for a in items(&doc, "agents")? {
                let projects: Vec<Value> = a
                    .get("grants")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.get("project_id").cloned())
                    .collect();
                table.row([
                    cell(a.get("id")),
                    cell(a.get("name")),
                    cell(a.get("owner_id")),
                    cell(a.get("status")),
                    cell(Some(&Value::Array(projects))),
                    cell(a.get("created_at")),
                ]);
            }
            if table.is_empty() {
                return print("No agents.\n");
            }
            print(&table.render())
        }
        AgentsCommand::Show { id } => {
            let agent = client
                .get(&format!("api/v1/admin/agents/{id}"), &[])
                .await?;
            if json {
                return print_json(&agent);
            }
            print(&describe(&agent))
        }
        AgentsCommand::Revoke { id, reason } => {
            let body = reason.map(|r| json!({ "reason": r }));
            let agent = client
                .post(&format!("api/v1/admin/agents/{id}/revoke"), body)
                .await?;
            if json {
                return print_json(&agent);
            }
            print(&format!(
                "Agent {} ({}) is {}: {}\n",
                cell(agent.get("name")),
                cell(agent.get("id")),
                cell(agent.get("status")),
                cell(agent.get("status_reason")),
            ))
        }
    }
}

/// An agent for people: its fields, then its grants and tokens as tables.
fn describe(agent: &Value) -> String {
    let mut fields = Table::new(["FIELD", "VALUE"]);
    for (label, key) in [
        ("id", "id"),
        ("name", "name"),
        ("owner", "owner_id"),
        ("status", "status"),
        ("reason", "status_reason"),
        ("rate/min", "rate_per_minute"),
        ("burst", "rate_burst"),
        ("created", "created_at"),
        ("updated", "updated_at"),
    ] {
        fields.row([label.to_owned(), cell(agent.get(key))]);
    }
    let mut grants = Table::new(["PROJECT", "SCOPES"]);
    for g in agent
        .get("grants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        grants.row([cell(g.get("project_id")), cell(g.get("scopes"))]);
    }
    let mut tokens = Table::new(["TOKEN ID", "TOKEN", "CREATED", "LAST USED", "REVOKED"]);
    for t in agent
        .get("tokens")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        tokens.row([
            cell(t.get("id")),
            cell(t.get("display")),
            cell(t.get("created_at")),
            cell(t.get("last_used_at")),
            cell(t.get("revoked_at")),
        ]);
    }
    // The field table's header is noise for a record; drop its first line.
    let record: String = fields
        .render()
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{record}\n{}\n{}", grants.render(), tokens.render())
}

/// Splits `PROJECT[:SCOPE,SCOPE…]` at its first `:`; no scopes means [`DEFAULT_SCOPES`].
pub fn parse_grant(raw: &str) -> Result<(String, Vec<String>), CliError> {
    let (project, scopes) = match raw.split_once(':') {
        Some((p, s)) => (
            p.trim(),
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        None => (raw.trim(), Vec::new()),
    };
    if project.is_empty() {
        return Err(CliError::Usage(format!(
            "--project {raw}: expected PROJECT[:SCOPE,SCOPE…]"
        )));
    }
    let scopes: Vec<String> = if scopes.is_empty() {
        DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        scopes.into_iter().map(str::to_owned).collect()
    };
    Ok((project.to_owned(), scopes))
}

/// A project identifier (`WEB`) becomes its id; a value that already is an id, or that
/// no project matches, is sent as given (the gateway then names the known projects).
async fn resolve(client: &Client, project: String) -> Result<String, CliError> {
    let doc = client.get("api/v1/admin/projects", &[]).await?;
    let known = items(&doc, "projects")?;
    if known
        .iter()
        .any(|p| p.get("id").and_then(Value::as_str) == Some(&project))
    {
        return Ok(project);
    }
    Ok(known
        .iter()
        .find(|p| {
            p.get("identifier")
                .and_then(Value::as_str)
                .is_some_and(|i| i.eq_ignore_ascii_case(&project))
        })
        .and_then(|p| p.get("id").and_then(Value::as_str))
        .map_or(project, str::to_owned))
}

async fn create(client: &Client, args: CreateArgs, json: bool) -> Result<(), CliError> {
    let mut grants = Vec::new();
    for raw in &args.projects {
        let (project, scopes) = parse_grant(raw)?;
        let project = resolve(client, project).await?;
        grants.push(json!({ "project_id": project, "scopes": scopes }));
    }
    let mut body = json!({ "owner_id": args.owner, "name": args.name, "grants": grants });
    if let Some(rate) = args.rate_per_minute {
        body["rate_per_minute"] = json!(rate);
    }
    if let Some(burst) = args.rate_burst {
        body["rate_burst"] = json!(burst);
    }
    let mut created = client.post("api/v1/admin/agents", Some(body)).await?;
    let token = created
        .get("token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let agent_id = cell(created.get("agent_id"));
    // The token exists only in `created`: it is printed whatever happens to the setup.
    let setup = client
        .get(&format!("api/v1/agents/{agent_id}/setup"), &[])
        .await;
    if json {
        if let Ok(pack) = &setup {
            created["setup"] = pack.clone();
        }
        print_json(&created)?;
        return setup.map(|_| ());
    }
    let pack = setup.as_ref().ok();
    let field = |key: &str| pack.and_then(|p| p.get(key)).and_then(Value::as_str);
    let env_var = field("token_env_var").unwrap_or("NODEDC_AGENT_TOKEN");
    let mut text = format!(
        "Agent {} ({agent_id}) created.\n\nIts token (shown once; only its hash is stored):\n  export {env_var}={}\n",
        cell(created.get("agent").and_then(|a| a.get("name"))),
        token.as_deref().unwrap_or("-"),
    );
    if let (Some(add), Some(toml), Some(url)) = (
        field("codex_mcp_add"),
        field("codex_config_toml"),
        field("mcp_url"),
    ) {
        text.push_str(&format!(
            "\nCodex CLI setup (MCP endpoint {url}):\n  {add}\nor in ~/.codex/config.toml:\n"
        ));
        text.extend(toml.lines().map(|l| format!("  {l}\n")));
    }
    if let Some(agents_md) = field("agents_md") {
        text.push_str("\nFor the repository's AGENTS.md:\n\n");
        text.push_str(agents_md.trim_end());
        text.push('\n');
    }
    print(&text)?;
    setup.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_split_at_the_first_colon_and_default_to_read_only() {
        let (p, s) = parse_grant("WEB:cards:read, cards:write").unwrap_or_default();
        assert_eq!(
            (p.as_str(), s),
            (
                "WEB",
                vec!["cards:read".to_owned(), "cards:write".to_owned()]
            )
        );
        let (p, s) = parse_grant("OPS").unwrap_or_default();
        assert_eq!((p.as_str(), s), ("OPS", vec!["cards:read".to_owned()]));
        assert!(parse_grant(":cards:read").is_err());
    }
}
