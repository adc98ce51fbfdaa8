//! `admin status` and `admin sessions …`: the live status, and work sessions (reporting
//! mode) — list, show (reported vs observed), stop.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use uuid::Uuid;

use super::client::Client;
use super::error::CliError;
use super::table::{cell, Table};
use super::{list, print, print_json};

/// Prints the live status (`GET /api/v1/admin/status`).
pub async fn status(client: &Client, json: bool) -> Result<(), CliError> {
    let doc = client.get("api/v1/admin/status", &[]).await?;
    if json {
        return print_json(&doc);
    }
    let totals = doc.get("totals").cloned().unwrap_or(Value::Null);
    let mut out = format!(
        "As of {}: {} agents — {} active, {} idle, {} stale; {} open sessions; {} calls, {} denials, {} rate-limited.\n",
        cell(doc.get("as_of")),
        cell(totals.get("agents")),
        cell(totals.get("active")),
        cell(totals.get("idle")),
        cell(totals.get("stale")),
        cell(totals.get("open_sessions")),
        cell(totals.get("calls")),
        cell(totals.get("denials")),
        cell(totals.get("rate_limited")),
    );
    let mut table = Table::new([
        "AGENT",
        "NAME",
        "STATUS",
        "LIVENESS",
        "LAST ACTIVITY",
        "CLIENT",
        "SESSION",
        "CALLS",
    ]);
    for a in list(&doc, "agents")? {
        let client_name = match a.get("client").filter(|c| c.is_object()) {
            Some(c) => format!("{} {}", cell(c.get("name")), cell(c.get("version"))),
            None => "-".into(),
        };
        let session = match a.get("session").filter(|s| s.is_object()) {
            Some(s) => format!("{} [{}]", cell(s.get("card")), cell(s.get("state"))),
            None => "-".into(),
        };
        table.row([
            cell(a.get("id")),
            cell(a.get("name")),
            cell(a.get("status")),
            cell(a.get("liveness")),
            cell(a.get("last_activity_at")),
            client_name,
            session,
            cell(a.pointer("/counters/calls")),
        ]);
    }
    if !table.is_empty() {
        out.push_str(&table.render());
    }
    print(&out)
}

/// `admin sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// The command.
    #[command(subcommand)]
    pub command: SessionsCommand,
}

/// The `admin sessions` commands.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List work sessions, newest first.
    #[command(after_help = "Example:\n  agent-gateway admin sessions list --state open")]
    List {
        /// Only this agent's.
        #[arg(long)]
        agent: Option<Uuid>,
        /// Only sessions of this owner's agents.
        #[arg(long)]
        owner: Option<Uuid>,
        /// open, stale, in_progress, awaiting, stopping, completed, failed or stopped.
        #[arg(long)]
        state: Option<String>,
        /// Only on this card key.
        #[arg(long)]
        card: Option<String>,
        /// At most this many (1–500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One session: its activities, and what was reported beside what was observed.
    Show {
        /// The session id.
        id: Uuid,
    },
    /// Ask a session to stop; the agent's next results carry a stop notice.
    Stop {
        /// The session id.
        id: Uuid,
        /// Why (shown to the owner and in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// Runs an `admin sessions` command.
pub async fn run(client: &Client, args: SessionsArgs, json: bool) -> Result<(), CliError> {
    match args.command {
        SessionsCommand::List {
            agent,
            owner,
            state,
            card,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(agent.map(|a| ("agent_id", a.to_string())));
            query.extend(owner.map(|o| ("owner_id", o.to_string())));
            query.extend(state.map(|s| ("state", s)));
            query.extend(card.map(|c| ("card", c)));
            let doc = client.get("api/v1/admin/work-sessions", &query).await?;
            if json {
                return print_json(&doc);
            }
            let mut table = Table::new(["SESSION", "AGENT", "CARD", "STATE", "STARTED", "INTENT"]);
            for s in list(&doc, "items")? {
                table.row([
                    cell(s.get("id")),
                    cell(s.get("agent_id")),
                    cell(s.get("card")),
                    cell(s.get("state")),
                    cell(s.get("started_at")),
                    cell(s.get("intent")),
                ]);
            }
            if table.is_empty() {
                return print("No work sessions.\n");
            }
            print(&table.render())
        }
        SessionsCommand::Show { id } => {
            let doc = client
                .get(&format!("api/v1/admin/work-sessions/{id}"), &[])
                .await?;
            if json {
                return print_json(&doc);
            }
            let mut out = format!(
                "{} on {} [{}]: {}\n{}\n",
                cell(doc.get("id")),
                cell(doc.get("card")),
                cell(doc.get("state")),
                cell(doc.get("intent")),
                cell(doc.get("comparison")),
            );
            let mut table = Table::new(["AT", "KIND", "NOTE"]);
            for a in list(&doc, "activities")? {
                table.row([cell(a.get("at")), cell(a.get("kind")), cell(a.get("note"))]);
            }
            out.push_str(&table.render());
            print(&out)
        }
        SessionsCommand::Stop { id, reason } => {
            let doc = client
                .post(
                    &format!("api/v1/admin/work-sessions/{id}/stop"),
                    Some(json!({ "reason": reason })),
                )
                .await?;
            if json {
                return print_json(&doc);
            }
            print(&format!(
                "Asked work session {} on {} to stop; it is {}.\n",
                cell(doc.get("id")),
                cell(doc.get("card")),
                cell(doc.get("state"))
            ))
        }
    }
}
