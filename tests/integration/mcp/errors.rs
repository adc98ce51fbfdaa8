//! Errors are errors: a failing runtime is never an empty tool list (in either era, and
//! never cacheable), and every refused or failed call is audited with readable text and
//! an outcome that follows the error's kind.

use serde_json::{json, Value};

use super::{agent_with, world, Client, ALL};
use crate::both_engines;
use crate::helpers::{Engine, TestApp};

/// Runs one statement on the gateway's own database, behind its back.
async fn sabotage(app: &TestApp, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.db.url)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

async fn a_failing_runtime_is_an_error_not_an_empty_list(engine: Engine) {
    let w = world(engine, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "lister",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    // The token is authenticated (and cached) by initialize.
    let mut client = Client::new(&w.app, &token);
    client.init().await;
    // The agent's profile can no longer be loaded, and its running actor is dropped (as
    // a standing change does): the next request must start one and cannot.
    sabotage(&w.app, "ALTER TABLE grants RENAME TO grants_gone").await;
    w.app.gateway.supervisor.restart_owner(w.owner);

    let (status, body, _) = client.rpc("tools/list", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert!(body.get("result").is_none(), "{body}");
    w.app.gateway.supervisor.restart_owner(w.owner);

    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let resp = w
        .app
        .http
        .post(w.app.url("/mcp"))
        .bearer_auth(&token)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 3);
    assert!(body.get("result").is_none(), "nothing cacheable: {body}");
    w.app.stop().await;
}
both_engines!(
    a_failing_runtime_is_an_error_not_an_empty_list_,
    a_failing_runtime_is_an_error_not_an_empty_list
);

async fn refused_calls_are_audited_in_plain_words(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "auditee",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut client = Client::new(&w.app, &token);
    client.init().await;
    // Arguments that are not an object: a protocol error.
    let (status, body, _) = client
        .rpc(
            "tools/call",
            json!({"name": "get_card", "arguments": [1, 2]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32602, "{body}");
    // A write without its key: a tool error.
    let result = client
        .tool("move_card", json!({"card": "WEB-1", "state": "Done"}))
        .await;
    assert_eq!(result["isError"], true);
    // No such tool, and a delete that never exists.
    client
        .rpc("tools/call", json!({"name": "frobnicate"}))
        .await;
    client.tool("delete_card", json!({"card": "WEB-1"})).await;

    w.app.gateway.auditor.shutdown().await;
    let rows = &w.app.audit_rows(agent_id).await;
    let row = |action: &str| {
        rows.iter()
            .find(|r| r["action"] == action)
            .unwrap_or_else(|| panic!("no {action} row in {rows:?}"))
    };
    assert_eq!(row("get_card")["outcome"], "failed");
    assert_eq!(
        row("get_card")["reason"],
        "tool arguments must be a JSON object"
    );
    let missing_key = row("move_card");
    assert_eq!(missing_key["outcome"], "failed");
    assert!(
        missing_key["reason"]
            .as_str()
            .unwrap()
            .starts_with("move_card writes, so it needs \"idempotency_key\""),
        "{missing_key}"
    );
    // Bad input is a failure; asking for what is never allowed is a denial.
    assert_eq!(row("frobnicate")["outcome"], "failed");
    assert_eq!(row("delete_card")["outcome"], "denied");
    for r in rows {
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(
            !reason.contains(" { ") && !reason.contains("Failure"),
            "Rust debug text in the audit log: {reason}"
        );
    }
    w.app.stop().await;
}
both_engines!(
    refused_calls_are_audited_in_plain_words_,
    refused_calls_are_audited_in_plain_words
);

/// A write is named in the audit log before it reaches the tracker (its intent), and a
/// row an agent poisons (a NUL in the tool name, megabytes of text) costs no other row.
async fn writes_are_named_before_the_tracker_and_poison_costs_nothing(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "writer",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut client = Client::new(&w.app, &token);
    client.init().await;
    let big = "y".repeat(200_000);
    let calls = (0..6).map(|i| {
        let client = &client;
        let web = w.web.clone();
        let big = big.clone();
        async move {
            if i % 2 == 0 {
                let result = client
                    .tool(
                        "create_card",
                        json!({"idempotency_key": format!("k-{i}"), "project_id": web, "name": format!("card {i}")}),
                    )
                    .await;
                assert_eq!(result["isError"], false, "{result}");
            } else {
                let (status, _, _) = client
                    .rpc("tools/call", json!({"name": format!("poison\u{0}{big}"), "arguments": {}}))
                    .await;
                assert!(status.as_u16() < 500, "{status}");
            }
        }
    });
    futures::future::join_all(calls).await;

    w.app.gateway.auditor.shutdown().await;
    let rows = &w.app.audit_rows(agent_id).await;
    let creates: Vec<&Value> = rows
        .iter()
        .filter(|r| r["action"] == "create_card")
        .collect();
    let outcome = |o: &str| creates.iter().filter(|r| r["outcome"] == o).count();
    assert_eq!(
        (outcome("intent"), outcome("allowed")),
        (3, 3),
        "{creates:?}"
    );
    for done in creates.iter().filter(|r| r["outcome"] == "allowed") {
        let intent = creates
            .iter()
            .find(|r| r["outcome"] == "intent" && r["request_id"] == done["request_id"])
            .unwrap_or_else(|| panic!("no intent row before {done}"));
        // Both rows time the call from its arrival: the outcome's is the longer.
        assert!(
            done["latency_us"].as_i64() >= intent["latency_us"].as_i64(),
            "{intent} then {done}"
        );
    }
    let poisoned: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["action"]
                .as_str()
                .unwrap_or_default()
                .starts_with("poison")
        })
        .collect();
    assert_eq!(
        poisoned.len(),
        3,
        "every poisoned call is on record: {rows:?}"
    );
    for row in poisoned {
        let action = row["action"].as_str().unwrap();
        assert!(
            !action.contains('\u{0}') && action.len() < 400,
            "{action:.80}"
        );
        assert!(row["reason"].as_str().unwrap().len() < 4_000);
    }
    w.app.stop().await;
}
both_engines!(
    writes_are_named_before_the_tracker_and_poison_costs_nothing_,
    writes_are_named_before_the_tracker_and_poison_costs_nothing
);
