//! One agent cannot pause the Tasker for the others: inputs that fail the same way on
//! every retry are validation errors (never counted by the breaker), and the breaker is
//! kept per agent. Black box: two owners' agents over MCP JSON-RPC on real HTTP, with
//! the embedded tracker and with the nodedc client against the contract served over a
//! socket.

use serde_json::{json, Value};
use uuid::Uuid;

use super::paths::Observed;
use super::SERVICE_TOKEN;
use crate::both_engines;
use crate::helpers::{Engine, TestApp};
use crate::mcp::{agent_with, text, Client, ALL};

/// Owners of the gateway `app`, each a member of the project the tracker makes.
async fn owners(app: &TestApp, n: usize) -> Vec<(Uuid, String)> {
    let mut owners = Vec::new();
    for i in 0..n {
        let name = format!("Owner {i}");
        owners.push((app.owner(&name).await, name));
    }
    owners
}

async fn project(tracker: &TestApp, owners: &[(Uuid, String)]) -> String {
    let members: Vec<(Uuid, &str, i64)> =
        owners.iter().map(|(id, n)| (*id, n.as_str(), 15)).collect();
    tracker.project("WEB", &members).await
}

/// An agent of `owner` on `project`; returns its token.
async fn agent_of(app: &TestApp, owner: Uuid, name: &str, project: &str) -> String {
    let (_, token) = agent_with(
        app,
        owner,
        name,
        json!([{"project_id": project, "scopes": ALL}]),
        None,
    )
    .await;
    token
}

fn assert_refused_not_paused(result: &Value, expect: &str) {
    let message = text(result);
    assert_eq!(result["isError"], true, "{result}");
    assert!(message.contains(expect), "{message}");
    assert!(!message.contains("paused"), "{message}");
}

async fn assert_served(client: &Client<'_>, project: &str, key: &str) {
    let found = client
        .tool(
            "search_cards",
            json!({"project_id": project, "text": "login"}),
        )
        .await;
    assert_ne!(found["isError"], true, "reads still served: {found}");
    let made = client
        .tool(
            "create_card",
            json!({"idempotency_key": key, "project_id": project, "name": "Fix login"}),
        )
        .await;
    assert_ne!(made["isError"], true, "writes still served: {made}");
}

/// A project in `tracker` and two initialised MCP clients of `app`, agents of two
/// different owners on it: (project, noisy, other).
async fn two_owners_agents<'a>(
    app: &'a TestApp,
    tracker: &TestApp,
) -> (String, Client<'a>, Client<'a>) {
    let owners = owners(app, 2).await;
    let project = project(tracker, &owners).await;
    let mut clients = Vec::new();
    for ((owner, _), name) in owners.iter().zip(["noisy", "other"]) {
        let token = agent_of(app, *owner, name, &project).await;
        let mut client = Client::new(app, &token);
        client.init().await;
        clients.push(client);
    }
    let other = clients.pop().unwrap();
    let noisy = clients.pop().unwrap();
    (project, noisy, other)
}

async fn search_inputs_do_not_pause_other_agents(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let (project, noisy, other) = two_owners_agents(&app, &app).await;

    // SQLite evaluates LIKE only on rows: give it a card to look at.
    assert_served(&other, &project, "other-0").await;
    // Over the adapter's search limit (500 bytes) though within the MCP edge's (512),
    // and a NUL (which the edge refuses first): each fails the same way on every retry,
    // so each is the agent's to fix. (A 60,000-byte text, over SQLite's LIKE pattern
    // limit, never gets past the edge.)
    let long = "x".repeat(510);
    // Each three times over (nine failed attempts if they counted), one after the
    // other, so that neither's success on one engine hides the other's failures.
    let mut refused = Vec::new();
    for text in [long.as_str(), "a\u{0}b"] {
        for _ in 0..3 {
            let query = json!({"project_id": project, "text": text});
            refused.push(noisy.tool("search_cards", query).await);
        }
    }
    // The other owner's agent is served, reads and writes alike.
    assert_served(&other, &project, "other-1").await;
    for result in &refused[..3] {
        assert_refused_not_paused(result, "at most 500 bytes");
    }
    for result in &refused[3..] {
        // The edge refuses a control character before any adapter sees it.
        assert_refused_not_paused(result, "control character");
    }
    // LIKE wildcards in the text match literally: "Fix login" holds neither.
    for wildcard in ["%", "_", "\\"] {
        let query = json!({"project_id": project, "text": wildcard});
        let found = noisy.tool("search_cards", query).await;
        assert_eq!(
            found["structuredContent"]["cards"],
            json!([]),
            "{wildcard}: {found}"
        );
    }
    assert_served(&noisy, &project, "noisy-1").await;
    app.stop().await;
}
both_engines!(
    search_inputs_do_not_pause_other_agents_,
    search_inputs_do_not_pause_other_agents
);

async fn nodedc_inputs_do_not_pause_other_agents(engine: Engine) {
    // The tracker: an embedded one served over the contract on a loopback port.
    let tracker = TestApp::spawn(engine).await;
    let served = Observed::serve(&tracker).await;
    // The gateway under test calls it with the nodedc client.
    let app = nodedc_gateway(engine, &served.url).await;
    let (project, noisy, other) = two_owners_agents(&app, &tracker).await;

    assert_served(&other, &project, "other-0").await;
    // Each three times over, one kind after the other (a healthy answer to one would
    // hide the others' failures), the header-unsafe key last.
    let mut refused = Vec::new();
    for _ in 0..3 {
        let card = json!({"card": "../projects/all"});
        refused.push((
            noisy.tool("get_card", card).await,
            "card key such as WEB-12",
        ));
    }
    for _ in 0..3 {
        let search = json!({"project_id": project, "text": "x".repeat(510)});
        refused.push((
            noisy.tool("search_cards", search).await,
            "at most 500 bytes",
        ));
    }
    for i in 0..3 {
        // A control character cannot travel in the Idempotency-Key header.
        let key = format!("key-{i}\u{1}");
        let create = json!({"idempotency_key": key, "project_id": project, "name": "Fix login"});
        refused.push((noisy.tool("create_card", create).await, "printable ASCII"));
    }
    assert_served(&other, &project, "other-1").await;
    for (result, expect) in &refused {
        assert_refused_not_paused(result, expect);
    }
    assert_served(&noisy, &project, "noisy-1").await;
    app.stop().await;
    served.stop().await;
    tracker.stop().await;
}
both_engines!(
    nodedc_inputs_do_not_pause_other_agents_,
    nodedc_inputs_do_not_pause_other_agents
);

/// A gateway whose Tasker is the contract served at `url`, called by the nodedc client.
async fn nodedc_gateway(engine: Engine, url: &url::Url) -> TestApp {
    TestApp::spawn_with(
        engine,
        &[
            ("GATEWAY_TASKER", "nodedc"),
            ("GATEWAY_TASKER_URL", url.as_str()),
            ("GATEWAY_TASKER_TOKEN", SERVICE_TOKEN),
        ],
    )
    .await
}

/// A Tasker that is really down still pauses every caller: once two owners' agents
/// have seen it fail, a third owner's agent is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tasker_that_is_down_pauses_every_agent() {
    let tracker = TestApp::spawn(Engine::Sqlite).await;
    let served = Observed::serve(&tracker).await;
    let app = nodedc_gateway(Engine::Sqlite, &served.url).await;
    let owners = owners(&app, 3).await;
    let project = project(&tracker, &owners).await;
    let mut clients = Vec::new();
    for (i, (owner, _)) in owners.iter().enumerate() {
        let token = agent_of(&app, *owner, &format!("agent-{i}"), &project).await;
        clients.push(token);
    }
    served.stop().await;

    for token in &clients[..2] {
        let mut client = Client::new(&app, token);
        client.init().await;
        let result = client
            .tool("search_cards", json!({"project_id": project}))
            .await;
        assert_eq!(result["isError"], true, "{result}");
        assert!(text(&result).contains("unavailable"), "{result}");
    }
    let mut third = Client::new(&app, &clients[2]);
    third.init().await;
    let result = third
        .tool("search_cards", json!({"project_id": project}))
        .await;
    assert!(text(&result).contains("calls are paused"), "{result}");
    app.stop().await;
    tracker.stop().await;
}
