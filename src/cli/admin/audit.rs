//! `admin audit [--agent ID] [--limit N] [--follow [--interval S]]`.

use std::time::Duration;

use clap::Args;
use serde_json::Value;
use uuid::Uuid;

use super::client::Client;
use super::error::CliError;
use super::table::{cell, Table};
use super::{list, print, print_json};

/// The most pages one poll reads before it stops catching up (500 rows each).
const MAX_PAGES_PER_POLL: usize = 20;

/// Flags of `audit`.
#[derive(Debug, Args)]
#[command(after_help = "\
Prints the newest rows, oldest of them first. With --follow, keeps polling and prints each
new row as it is written, until interrupted (Ctrl-C); --json then prints one row per line
(JSON Lines) instead of one document.

Example:
  agent-gateway admin audit --limit 20
  agent-gateway admin audit --agent 01968f2e-5a7b-7c3d-9e1f-2a3b4c5d6e7f --follow")]
pub struct AuditArgs {
    /// Only this agent's rows.
    #[arg(long, value_name = "ID")]
    pub agent: Option<Uuid>,
    /// How many of the newest rows to print first (1–500).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub limit: u16,
    /// Keep printing new rows until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls with --follow (1–60).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub interval: u64,
}

/// Runs `audit`.
pub async fn run(client: &Client, args: AuditArgs, json: bool) -> Result<(), CliError> {
    let mut query: Vec<(&str, String)> = args
        .agent
        .iter()
        .map(|a| ("agent_id", a.to_string()))
        .collect();
    query.push(("limit", args.limit.to_string()));
    let doc = client.get("api/v1/admin/audit", &query).await?;
    let rows = list(&doc, "items")?.clone();
    if !args.follow {
        if json {
            return print_json(&doc);
        }
        let mut table = header();
        for row in rows.iter().rev() {
            table.row(cells(row));
        }
        if table.is_empty() {
            return print("No audit rows.\n");
        }
        return print(&table.render());
    }
    let mut last = rows.iter().filter_map(id).max().unwrap_or(0);
    if !json {
        let titles = [
            "ID", "AT", "ACTION", "OUTCOME", "AGENT", "PROJECT", "TARGET", "REASON",
        ];
        print(&format!("{}\n", line(&titles.map(str::to_owned))))?;
    }
    emit(rows.iter().rev(), json)?;
    let interval = Duration::from_secs(args.interval);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        let fresh = newer_than(client, args.agent, last).await?;
        if let Some(max) = fresh.iter().filter_map(id).max() {
            last = last.max(max);
        }
        emit(fresh.iter().rev(), json)?;
    }
}

/// Rows with an id above `last`, newest first, reading back page by page (bounded).
async fn newer_than(
    client: &Client,
    agent: Option<Uuid>,
    last: i64,
) -> Result<Vec<Value>, CliError> {
    let mut found = Vec::new();
    let mut before: Option<i64> = None;
    for _ in 0..MAX_PAGES_PER_POLL {
        let mut query: Vec<(&str, String)> =
            agent.iter().map(|a| ("agent_id", a.to_string())).collect();
        query.push(("limit", "500".into()));
        if let Some(b) = before {
            query.push(("before", b.to_string()));
        }
        let doc = client.get("api/v1/admin/audit", &query).await?;
        let page = list(&doc, "items")?;
        let mut reached = false;
        for row in page {
            match id(row) {
                Some(i) if i > last => found.push(row.clone()),
                _ => reached = true,
            }
        }
        before = doc.get("next_before").and_then(Value::as_i64);
        if reached || before.is_none() {
            break;
        }
    }
    Ok(found)
}

fn id(row: &Value) -> Option<i64> {
    row.get("id").and_then(Value::as_i64)
}

fn header() -> Table {
    Table::new([
        "ID", "AT", "ACTION", "OUTCOME", "AGENT", "PROJECT", "TARGET", "REASON",
    ])
}

fn cells(row: &Value) -> Vec<String> {
    [
        "id",
        "at",
        "action",
        "outcome",
        "agent_id",
        "project_id",
        "target",
        "reason",
    ]
    .iter()
    .map(|k| cell(row.get(*k)))
    .collect()
}

/// Eight cells (see [`cells`]) as one fixed-width line.
fn line(c: &[String]) -> String {
    let get = |i: usize| c.get(i).map_or("", String::as_str);
    let text = format!(
        "{:<6}  {:<24}  {:<24}  {:<7}  {:<36}  {:<36}  {}  {}",
        get(0),
        get(1),
        get(2),
        get(3),
        get(4),
        get(5),
        get(6),
        get(7)
    );
    super::error::one_line(text.trim_end())
}

/// Follow mode: one line per row, fixed-width so lines printed apart still line up.
fn emit<'a>(rows: impl Iterator<Item = &'a Value>, json: bool) -> Result<(), CliError> {
    let mut text = String::new();
    for row in rows {
        if json {
            text.push_str(&row.to_string());
        } else {
            text.push_str(&line(&cells(row)));
        }
        text.push('\n');
    }
    if text.is_empty() {
        return Ok(());
    }
    print(&text)
}
