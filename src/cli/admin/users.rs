//! `admin users` (list) and `admin users set ID …` (create or change one user).

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::client::Client;
use super::error::CliError;
use super::table::{cell, Table};
use super::{print, print_json};

/// `admin users [set …]`.
#[derive(Debug, Args)]
#[command(after_help = "\
Without a subcommand, lists every user (GET /api/v1/admin/users, page after page) with
the columns the gateway returns: entitlement, block, and agents counted by status.

Example:
  agent-gateway admin users
  agent-gateway admin users --client acme --json
  agent-gateway admin users set 3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34 --entitlement on")]
pub struct UsersArgs {
    /// `set`, or nothing to list.
    #[command(subcommand)]
    pub command: Option<UsersCommand>,
    /// List only this Launcher client's users.
    #[arg(long, value_name = "ID")]
    pub client: Option<String>,
    /// Users per request while listing (1–500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub page_size: u16,
}

/// The `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user, or change some of its fields (the others are kept).
    Set(SetArgs),
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// True.
    On,
    /// False.
    Off,
}

impl Switch {
    fn value(self) -> bool {
        self == Switch::On
    }
}

/// Flags of `users set`.
#[derive(Debug, Args)]
#[command(after_help = "\
Reads the user, changes the given fields, and writes it back (PUT /api/v1/admin/users/ID).
A new user needs --name and --client; it is not entitled and not blocked unless told.
Withdrawing the entitlement or blocking disables the user's active agents; restoring
both re-enables exactly those.

Example:
  agent-gateway admin users set 3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34 \\
      --name 'Ada Lovelace' --client acme --entitlement on
  agent-gateway admin users set 3f2b8c1e-9d4a-4f6b-8e2c-1a7d5b9c0e34 --blocked on")]
pub struct SetArgs {
    /// The user's id (a UUID, as Launcher knows it).
    pub id: Uuid,
    /// The `codex_agents` entitlement, needed to own working agents.
    #[arg(long, value_enum)]
    pub entitlement: Option<Switch>,
    /// Whether the user is blocked.
    #[arg(long, value_enum)]
    pub blocked: Option<Switch>,
    /// The display name.
    #[arg(long)]
    pub name: Option<String>,
    /// The client (organisation) id.
    #[arg(long)]
    pub client: Option<String>,
}

/// Runs `users` or `users set`.
pub async fn run(client: &Client, args: UsersArgs, json: bool) -> Result<(), CliError> {
    match args.command {
        None => list(client, &args, json).await,
        Some(UsersCommand::Set(set_args)) => set(client, set_args, json).await,
    }
}

/// The columns shown first when present; other scalar fields follow in the order the
/// gateway sends them, and one level of nested objects is flattened (`agents.active`).
const FIRST: [&str; 5] = ["id", "client_id", "display_name", "codex_agents", "blocked"];
const HIDDEN: [&str; 2] = ["created_at", "updated_at"];

/// The most pages `users` reads (each as large as the gateway makes it).
const MAX_PAGES: usize = 100;

async fn list(client: &Client, args: &UsersArgs, json: bool) -> Result<(), CliError> {
    let (mut doc, key, users) = pages(client, args).await?;
    if json {
        // One document: the last page's, holding every row read.
        doc[key] = Value::Array(users);
        return print_json(&doc);
    }
    let rows: Vec<Map<String, Value>> = users
        .iter()
        .filter_map(Value::as_object)
        .map(flatten)
        .collect();
    let mut columns: Vec<String> = FIRST
        .iter()
        .filter(|c| rows.iter().any(|r| r.contains_key(**c)))
        .map(|c| (*c).to_owned())
        .collect();
    for row in &rows {
        for key in row.keys() {
            if !columns.contains(key) && !HIDDEN.contains(&key.as_str()) {
                columns.push(key.clone());
            }
        }
    }
    let mut table = Table::new(columns.iter().map(|c| c.to_uppercase()));
    for row in &rows {
        table.row(columns.iter().map(|c| cell(row.get(c))));
    }
    if table.is_empty() {
        print("No users.\n")?;
    } else {
        print(&table.render())?;
    }
    if let Some((key, value)) = doc
        .as_object()
        .into_iter()
        .flatten()
        .find(|(k, v)| k.starts_with("next") && !v.is_null())
    {
        eprintln!(
            "(more users: the gateway returned {key} = {})",
            cell(Some(value))
        );
    }
    Ok(())
}

/// Every page of the user list: follows `next_before` (as `before`) while it is set,
/// at most [`MAX_PAGES`] pages. Returns the last page read (its `next_before` says
/// whether more remain), its list's key, and every row read.
async fn pages(
    client: &Client,
    args: &UsersArgs,
) -> Result<(Value, &'static str, Vec<Value>), CliError> {
    let mut rows = Vec::new();
    let mut filters: Vec<(&str, String)> = vec![("limit", args.page_size.to_string())];
    filters.extend(args.client.iter().map(|c| ("client_id", c.clone())));
    let mut query = filters.clone();
    let mut pages_read = 0;
    loop {
        let doc = match client.get("api/v1/admin/users", &query).await {
            Err(CliError::Refused {
                status: 404,
                code,
                message,
            }) if message.contains("endpoint") => {
                return Err(CliError::Refused {
                    status: 404,
                    code,
                    message: "this gateway has no GET /api/v1/admin/users (an older version)"
                        .into(),
                })
            }
            other => other?,
        };
        pages_read += 1;
        let (key, page) = ["users", "items"]
            .into_iter()
            .find_map(|k| doc.get(k).and_then(Value::as_array).map(|a| (k, a)))
            .ok_or_else(|| CliError::BadResponse("no \"users\" list in the answer".into()))?;
        rows.extend(page.iter().cloned());
        let next = doc
            .get("next_before")
            .filter(|v| !v.is_null())
            .map(|v| cell(Some(v)));
        match next {
            Some(before) if !page.is_empty() && pages_read < MAX_PAGES => {
                query = filters.clone();
                query.push(("before", before));
            }
            _ => return Ok((doc, key, rows)),
        }
    }
}

/// One level of nested objects becomes `outer.inner` keys; key order is kept.
fn flatten(user: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in user {
        match value {
            Value::Object(inner) => {
                for (k, v) in inner {
                    out.insert(format!("{key}.{k}"), v.clone());
                }
            }
            other => {
                out.insert(key.clone(), other.clone());
            }
        }
    }
    out
}

async fn set(client: &Client, args: SetArgs, json: bool) -> Result<(), CliError> {
    let path = format!("api/v1/admin/users/{}", args.id);
    let current = match client.get(&path, &[]).await {
        Ok(user) => Some(user),
        Err(CliError::Refused { status: 404, .. }) => None,
        Err(e) => return Err(e),
    };
    let text = |field: &str| {
        current
            .as_ref()
            .and_then(|u| u.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let flag = |field: &str| {
        current
            .as_ref()
            .and_then(|u| u.get(field))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let (Some(display_name), Some(client_id)) = (
        args.name.clone().or_else(|| text("display_name")),
        args.client.clone().or_else(|| text("client_id")),
    ) else {
        return Err(CliError::Refused {
            status: 404,
            code: "not_found".into(),
            message: format!(
                "no user {} exists; give --name and --client to create it",
                args.id
            ),
        });
    };
    let body = json!({
        "display_name": display_name,
        "client_id": client_id,
        "codex_agents": args.entitlement.map_or_else(|| flag("codex_agents"), Switch::value),
        "blocked": args.blocked.map_or_else(|| flag("blocked"), Switch::value),
    });
    let user = client.put(&path, body).await?;
    if json {
        return print_json(&user);
    }
    print(&format!(
        "User {} {}: {} (client {}), entitled {}, blocked {}\n",
        cell(user.get("id")),
        if current.is_some() {
            "updated"
        } else {
            "created"
        },
        cell(user.get("display_name")),
        cell(user.get("client_id")),
        cell(user.get("codex_agents")),
        cell(user.get("blocked")),
    ))
}
