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

/// The two binaries in front of a Plane, as an operator would check one: `tasker-serve`
/// with `GATEWAY_TASKER=plane` serves the contract over the adapter, and `tasker-check`
/// passes against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasker_check_binary_passes_against_tasker_serve_in_front_of_plane() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let fake = Fake::start().await;
    let (project, other) = fake.with(|w| {
        let ana = w.add_user("Ana", 15);
        (
            w.add_project("CHK", &[(&ana, 15)]),
            w.add_project("CHO", &[]),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let token = "internal-service-token-for-tests";
    let mut server = Command::new(env!("CARGO_BIN_EXE_agent-gateway"))
        .args(["tasker-serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("GATEWAY_TASKER_TOKEN", token)
        .env("GATEWAY_TASKER", "plane")
        .env("GATEWAY_PLANE_URL", fake.url.as_str())
        .env("GATEWAY_PLANE_WORKSPACE", SLUG)
        .env("GATEWAY_PLANE_API_KEY", KEY)
        // The kit sends about 150 requests in seconds; this fake Plane allows that (a
        // real one needs API_KEY_RATE_LIMIT raised for the run: docs/TASKER_ADAPTER_CONTRACT.md §12).
        .env("GATEWAY_TASKER_BUDGET_PER_MINUTE", "100000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let served = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().unwrap().unwrap()
    })
    .await
    .unwrap();
    assert!(served.contains("/api/internal/nodedc/agent/"), "{served}");
    let check = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_agent-gateway"))
            .args([
                "tasker-check",
                "--url",
                &format!("http://127.0.0.1:{port}"),
                "--token-env",
                "CHECK_TOKEN",
                "--project",
                &project,
                "--other-project",
                &other,
            ])
            .env("CHECK_TOKEN", token)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let table = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(check.status.success(), "{table}");
    assert!(table.contains("11 checks, 11 passed, 0 failed"), "{table}");
    assert!(fake.with(|w| w
        .requests
        .iter()
        .all(|(m, p)| m != "DELETE" && !p.contains("archiv"))));
}
