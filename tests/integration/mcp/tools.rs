//! Every tool end to end, and scopes and rate limits.

use serde_json::json;

use super::{agent_with, text, world, Client, ALL};
use crate::both_engines;
use crate::helpers::Engine;

async fn the_tools_end_to_end(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "full",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    let init = c.init().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        init["result"]["capabilities"]["tools"]["listChanged"],
        false
    );

    // tools/list: all eleven, small, annotations true.
    let (_, list, _) = c.rpc("tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 11);
    assert!(serde_json::to_string(&list["result"]).unwrap().len() < 16 * 1024);
    for t in tools {
        assert_eq!(t["annotations"]["destructiveHint"], false);
        assert_eq!(t["inputSchema"]["type"], "object");
        assert_eq!(t["outputSchema"]["type"], "object");
        // Function-calling clients (Codex) want a type on every argument.
        for (arg, schema) in t["inputSchema"]["properties"].as_object().unwrap() {
            assert!(
                schema["type"].is_string(),
                "{}.{arg} has no type",
                t["name"]
            );
        }
        let write = t["inputSchema"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("idempotency_key"));
        assert_eq!(t["annotations"]["readOnlyHint"], !write, "{}", t["name"]);
    }

    let listed = c.tool("list_projects", json!({})).await;
    assert_eq!(
        listed["structuredContent"]["projects"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "OPS is not listed"
    );
    let ctx = c
        .tool("get_project_context", json!({"project_id": w.web}))
        .await;
    assert!(text(&ctx).contains("Todo"));

    // A write, replayed, mismatched, and without a key.
    let args = json!({"idempotency_key": "k-1", "project_id": w.web, "name": "Ship it", "labels": ["bug"]});
    let created = c.tool("create_card", args.clone()).await;
    assert_eq!(created["isError"], false, "{created}");
    let key = created["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = c.tool("create_card", args).await;
    assert_eq!(
        again["structuredContent"], created["structuredContent"],
        "the first result, replayed"
    );
    let other = c
        .tool(
            "create_card",
            json!({"idempotency_key": "k-1", "project_id": w.web, "name": "Other"}),
        )
        .await;
    assert_eq!(other["isError"], true);
    assert!(text(&other).contains("new key"), "{}", text(&other));
    let keyless = c
        .tool("move_card", json!({"card": key, "state": "Done"}))
        .await;
    assert!(text(&keyless).contains("idempotency_key"));
    let found = c.tool("search_cards", json!({"text": "Ship it"})).await;
    assert_eq!(
        found["structuredContent"]["cards"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no second write"
    );

    // Every write tool, and errors that say what to do.
    let bad_state = c
        .tool(
            "move_card",
            json!({"idempotency_key": "k-2", "card": key, "state": "Shipped"}),
        )
        .await;
    assert!(
        text(&bad_state).contains("Valid values: Backlog, Todo, In Progress, Done, Cancelled"),
        "{}",
        text(&bad_state)
    );
    for (tool, args) in [
        (
            "move_card",
            json!({"idempotency_key": "k-3", "card": key, "state": "In Progress"}),
        ),
        (
            "update_card",
            json!({"idempotency_key": "k-4", "card": key, "priority": "high"}),
        ),
        (
            "add_comment",
            json!({"idempotency_key": "k-5", "card": key, "body": "started"}),
        ),
        (
            "set_labels",
            json!({"idempotency_key": "k-6", "card": key, "labels": ["feature"]}),
        ),
        (
            "assign_card",
            json!({"idempotency_key": "k-7", "card": key, "assignees": ["Ada"]}),
        ),
        (
            "update_structured_block",
            json!({"idempotency_key": "k-8", "card": key, "block": "plan", "content": "1. ship"}),
        ),
    ] {
        let r = c.tool(tool, args).await;
        assert_eq!(r["isError"], false, "{tool}: {r}");
    }
    let card = c.tool("get_card", json!({"card": key})).await;
    let s = &card["structuredContent"];
    assert_eq!(
        (s["state"].as_str(), s["priority"].as_str()),
        (Some("In Progress"), Some("high"))
    );
    assert_eq!(s["labels"], json!(["feature"]));
    assert_eq!(s["blocks"][0]["content"], "1. ship");
    assert_eq!(s["comments"][0]["actor"], "full (on behalf of Ada)");

    // Confinement and refusals.
    let ungranted = c
        .tool(
            "create_card",
            json!({"idempotency_key": "k-9", "project_id": w.ops, "name": "x"}),
        )
        .await;
    assert_eq!(ungranted["isError"], true);
    assert!(
        text(&ungranted).contains(&w.web) && text(&ungranted).contains("WEB"),
        "{}",
        text(&ungranted)
    );
    let ctx = c
        .tool("get_project_context", json!({"project_id": w.ops}))
        .await;
    assert_eq!(ctx["isError"], true);
    let delete = c.tool("delete_card", json!({"card": key})).await;
    assert!(text(&delete).contains("never possible"));
    let (_, unknown, _) = c
        .rpc("tools/call", json!({"name": "frobnicate", "arguments": {}}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602);
    let (_, missing, _) = c.rpc("resources/list", json!({})).await;
    assert_eq!(missing["error"]["code"], -32601);
    let (_, ping, _) = c.rpc("ping", json!({})).await;
    assert_eq!(ping["result"], json!({}));

    // Every call is in the audit log; writes durably before their answer.
    w.app.gateway.auditor.shutdown().await;
    let rows = &w.app.audit_rows(agent_id).await;
    let find = |action: &str, outcome: &str| {
        rows.iter()
            .any(|r| r["action"] == action && r["outcome"] == outcome)
    };
    assert!(
        find("create_card", "allowed")
            && find("create_card", "denied")
            && find("create_card", "failed")
    );
    assert!(
        find("list_projects", "allowed")
            && find("delete_card", "denied")
            && find("get_project_context", "denied")
    );
    assert!(rows
        .iter()
        .any(|r| r["reason"] == "replayed the first result" && r["idempotency_key"] == "k-1"));
    w.app.stop().await;
}
both_engines!(the_tools_end_to_end_, the_tools_end_to_end);

async fn scopes_and_rate_limits(engine: Engine) {
    let w = world(engine, &[]).await;
    let (_, reader) = agent_with(
        &w.app,
        w.owner,
        "reader",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &reader);
    c.init().await;
    let (_, list, _) = c.rpc("tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "list_projects",
            "get_project_context",
            "search_cards",
            "get_card"
        ]
    );
    let (status, body, headers) = c
        .rpc("tools/call", json!({"name": "create_card", "arguments": {"idempotency_key": "k", "project_id": w.web, "name": "x"}}))
        .await;
    assert_eq!(status, 403);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"cards:write\""),
        "{challenge}"
    );
    assert_eq!(body["id"], 7);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cards:write"));

    let (_, limited) = agent_with(
        &w.app,
        w.owner,
        "limited",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        Some((1, 4)),
    )
    .await;
    let mut c = Client::new(&w.app, &limited);
    // Everything the agent sends counts: initialize and its notification take two.
    c.init().await;
    assert_eq!(c.tool("list_projects", json!({})).await["isError"], false);
    assert_eq!(c.tool("list_projects", json!({})).await["isError"], false);
    let limited_call = c.tool("list_projects", json!({})).await;
    assert_eq!(limited_call["isError"], true);
    assert!(
        text(&limited_call).contains("Rate limit reached")
            && text(&limited_call).contains("Retry after")
    );
    // So do protocol requests and bad tool calls: refused with 429 and Retry-After, or a
    // tool error, and never let through.
    let (status, body, headers) = c.rpc("ping", json!({})).await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body["id"], 7);
    let (status, _, _) = c.rpc("tools/list", json!({})).await;
    assert_eq!(status, 429);
    let bad = c.tool("get_card", json!({"card": "WEB-1\u{0}"})).await;
    assert!(text(&bad).contains("Rate limit reached"), "{bad}");
    w.app.stop().await;
}
both_engines!(scopes_and_rate_limits_, scopes_and_rate_limits);
