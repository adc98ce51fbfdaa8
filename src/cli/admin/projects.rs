//! `admin projects`: every project the Tasker holds, to grant them to agents.

use super::client::Client;
use super::error::CliError;
use super::table::{cell, Table};
use super::{list, print, print_json};

/// Lists the projects (`GET /api/v1/admin/projects`).
pub async fn run(client: &Client, json: bool) -> Result<(), CliError> {
    let doc = client.get("api/v1/admin/projects", &[]).await?;
    if json {
        return print_json(&doc);
    }
    let mut table = Table::new(["ID", "IDENTIFIER", "NAME"]);
    for p in list(&doc, "projects")? {
        table.row([
            cell(p.get("id")),
            cell(p.get("identifier")),
            cell(p.get("name")),
        ]);
    }
    if table.is_empty() {
        return print("No projects.\n");
    }
    print(&table.render())
}
