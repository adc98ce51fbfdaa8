//! The gateway started with `GATEWAY_TASKER=plane` against the fake Plane: a real MCP
//! `tools/call` creates a card, and reading it back shows the agent in its history and
//! in what Plane stored.

use serde_json::json;

use super::fake::{Fake, KEY, SLUG};
use crate::helpers::{Engine, TestApp};
use crate::mcp::{agent_with, text, Client, ALL};

#[tokio::test]
async fn the_gateway_in_front_of_plane_attributes_an_agent_s_card() {
    let fake = Fake::start().await;
    let project = fake.with(|w| w.add_project("WEB", &[]));
    let url = fake.url.to_string();
    let app = TestApp::spawn_with(
        Engine::Sqlite,
        &[
            ("GATEWAY_TASKER", "plane"),
            ("GATEWAY_PLANE_URL", &url),
            ("GATEWAY_PLANE_WORKSPACE", SLUG),
            ("GATEWAY_PLANE_API_KEY", KEY),
        ],
    )
    .await;
    let owner = app.owner("Ada Lovelace").await;
    let (_, token) = agent_with(
        &app,
        owner,
        "Codex Laptop",
        json!([{"project_id": project, "scopes": ALL}]),
        None,
    )
    .await;
    let mut client = Client::new(&app, &token);
    client.init().await;
    let created = client
        .tool(
            "create_card",
            json!({"idempotency_key": "e2e-1", "project_id": project, "name": "Fix login redirect",
                   "description": "Users land on /404", "state": "Todo"}),
        )
        .await;
    assert_ne!(created["isError"], true, "{created}");
    let key = created["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(key, "WEB-1");
    let got = client.tool("get_card", json!({"card": key})).await;
    let got = &got["structuredContent"];
    assert_eq!(got["history"][0]["field"], "created");
    assert_eq!(
        got["history"][0]["actor"],
        "Codex Laptop (on behalf of Ada Lovelace)"
    );
    assert_eq!(got["description"], "Users land on /404");
    // What Plane keeps names the agent and its owner, and the gateway as the source.
    let stored = fake.with(|w| w.issues[0].clone());
    let html = stored["description_html"].as_str().unwrap();
    assert!(
        html.contains("Created by Codex Laptop on behalf of Ada Lovelace, via Agent Gateway"),
        "{html}"
    );
    assert_eq!(stored["external_source"], "agent-gateway");
    // A label Plane would drop is refused with the valid names, over MCP too.
    let refused = client
        .tool(
            "set_labels",
            json!({"idempotency_key": "e2e-2", "card": "WEB-1", "labels": ["feature"]}),
        )
        .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("bug"), "{refused}");
    // Nothing the gateway sent was a delete.
    assert!(fake.with(|w| w.requests.iter().all(|(m, _)| m != "DELETE")));
    app.stop().await;
}
