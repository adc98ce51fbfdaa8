//! `agent-gateway admin …`: the operator CLI, a client of a running gateway's admin API.
//!
//! One file per command group; [`client`] speaks HTTP, [`error`] maps every failure to
//! one line on stderr and a documented exit code (0 done, 1 the API refused, 2 usage or
//! configuration, 3 unreachable, 4 an answer that is not the API's, 5 stdout failed).

pub mod agents;
pub mod audit;
pub mod client;
pub mod error;
pub mod projects;
pub mod sessions;
pub mod table;
pub mod users;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use client::Client;
use error::CliError;

/// The URL used when neither `--url` nor `GATEWAY_PUBLIC_URL` is given: the default bind.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/";

/// Flags shared by every `admin` command.
#[derive(Debug, Args)]
#[command(after_help = "\
The admin token is read only from GATEWAY_ADMIN_TOKEN (never a flag, so it stays out of
shell history). Exit codes: 0 done, 1 the gateway refused (401, 404, 422, …), 2 usage or
configuration (no token, bad flags), 3 gateway unreachable, 4 unexpected answer, 5 stdout failed.

Example:
  export GATEWAY_ADMIN_TOKEN=…   # printed once by the first `agent-gateway serve`
  agent-gateway admin projects
  agent-gateway admin agents list --json")]
pub struct AdminArgs {
    /// The gateway's base URL [default: GATEWAY_PUBLIC_URL if set, else http://127.0.0.1:8080/].
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Print the API's JSON (one document) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The `admin` commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List every project the Tracker holds (to grant them to agents).
    #[command(
        after_help = "Example:\n  agent-gateway admin projects\n  agent-gateway admin projects --json"
    )]
    Projects,
    /// List users, or change one with `users set`.
    Users(users::UsersArgs),
    /// Create, list, show and revoke agents.
    Agents(agents::AgentsArgs),
    /// Print the audit log, or follow it.
    Audit(audit::AuditArgs),
    /// The live status of every agent: liveness, client, open session, counters.
    #[command(after_help = "Example:\n  agent-gateway admin status")]
    Status,
    /// Work sessions (reporting mode): list, show (reported vs observed), stop.
    Sessions(sessions::SessionsArgs),
}

/// Runs an `admin` command; every failure is one line on stderr and its exit code.
pub async fn run(args: AdminArgs) -> ExitCode {
    match dispatch(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}

async fn dispatch(args: AdminArgs) -> Result<(), CliError> {
    let url = args
        .url
        .or_else(|| std::env::var("GATEWAY_PUBLIC_URL").ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let client = Client::from_env(&url)?;
    let json = args.json;
    match args.command {
        AdminCommand::Projects => projects::run(&client, json).await,
        AdminCommand::Users(a) => users::run(&client, a, json).await,
        AdminCommand::Agents(a) => agents::run(&client, a, json).await,
        AdminCommand::Audit(a) => audit::run(&client, a, json).await,
        AdminCommand::Status => sessions::status(&client, json).await,
        AdminCommand::Sessions(a) => sessions::run(&client, a, json).await,
    }
}

/// Writes `text` to stdout as is.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes a JSON document to stdout, pretty, with a final newline.
pub fn print_json(doc: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| CliError::BadResponse(format!("cannot render JSON: {e}")))?;
    print(&format!("{text}\n"))
}

/// The array under `key` in an API document (an unexpected answer when absent).
pub fn list<'a>(doc: &'a Value, key: &str) -> Result<&'a Vec<Value>, CliError> {
    doc.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| CliError::BadResponse(format!("no \"{key}\" list in the answer")))
}
