//! Read rows ride a lazy audit batch (`GATEWAY_AUDIT_READ_DELAY_MS`), yet the audit log
//! never lags behind the calls: a read of the log flushes what is queued first.

use serde_json::json;

use super::{agent_with, world, Client};
use crate::both_engines;
use crate::helpers::Engine;

async fn the_audit_log_shows_every_read_answered_before_it_is_read(engine: Engine) {
    // Read rows would wait up to a second for their batch: only the flush shows them now.
    let w = world(engine, &[("GATEWAY_AUDIT_READ_DELAY_MS", "1000")]).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "reader",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let mut client = Client::new(&w.app, &token);
    client.init().await;
    for _ in 0..3 {
        let result = client.tool("list_projects", json!({})).await;
        assert_eq!(result["isError"], false, "{result}");
    }
    let rows = w.app.audit_rows(agent).await;
    let reads = rows
        .iter()
        .filter(|r| r["action"] == "list_projects" && r["outcome"] == "allowed")
        .count();
    assert_eq!(reads, 3, "{rows:#?}");
}
both_engines!(
    the_audit_log_shows_every_read_answered_before_it_is_read_,
    the_audit_log_shows_every_read_answered_before_it_is_read
);
