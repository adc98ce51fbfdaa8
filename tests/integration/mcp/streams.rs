//! GET streams: closed by a revocation, outliving an idle actor, ended at shutdown,
//! bounded per agent and in total.

use reqwest::Method;
use serde_json::{json, Value};

use super::{agent_with, world, Client, ALL};
use crate::both_engines;
use crate::helpers::Engine;

async fn revocation_closes_streams_and_refuses_the_next_call(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "r",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    assert_eq!(c.tool("list_projects", json!({})).await["isError"], false);
    let body = c.open_stream().await;
    let (status, _) = w
        .app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // The open stream ends (the body completes) without waiting for the client.
    tokio::time::timeout(std::time::Duration::from_secs(10), body)
        .await
        .expect("the stream was closed")
        .unwrap()
        .ok();
    let (status, _, _) = c
        .rpc(
            "tools/call",
            json!({"name": "list_projects", "arguments": {}}),
        )
        .await;
    assert_eq!(status, 401, "the next call after revoke fails");
    w.app.stop().await;
}
both_engines!(
    revocation_closes_streams_and_refuses_the_next_call_,
    revocation_closes_streams_and_refuses_the_next_call
);

/// An open stream outlives its agent actor idling out, and still closes on revocation.
#[tokio::test]
async fn a_stream_outlives_an_idle_actor_and_still_closes_on_revoke() {
    let w = world(Engine::Sqlite, &[("GATEWAY_AGENT_IDLE_SECS", "1")]).await;
    let (agent_id, token) = agent_with(
        &w.app,
        w.owner,
        "idle",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let body = c.open_stream().await;
    // Let the actor idle out (idle timeout 1 s) a few times over.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(
        !body.is_finished(),
        "the stream must stay open while the agent is in good standing"
    );
    w.app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{agent_id}/revoke"),
            None,
        )
        .await;
    tokio::time::timeout(std::time::Duration::from_secs(10), body)
        .await
        .expect("closed on revoke")
        .unwrap()
        .ok();
    w.app.stop().await;
}

/// Shutting down does not wait for clients to close their streams.
#[tokio::test]
async fn shutdown_ends_open_streams() {
    let w = world(Engine::Sqlite, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "s",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let body = c.open_stream().await;
    tokio::time::timeout(std::time::Duration::from_secs(20), w.app.stop())
        .await
        .expect("the drain finished with a stream open");
    tokio::time::timeout(std::time::Duration::from_secs(5), body)
        .await
        .expect("the stream ended")
        .unwrap()
        .ok();
}

/// Open streams are bounded per agent and per replica, answered 429, and a revoked
/// agent's streams give their places back.
#[tokio::test]
async fn streams_are_bounded_per_agent_and_in_total() {
    let w = world(
        Engine::Sqlite,
        &[
            ("GATEWAY_MAX_STREAMS", "3"),
            ("GATEWAY_MAX_STREAMS_PER_AGENT", "2"),
        ],
    )
    .await;
    let grants = json!([{"project_id": w.web, "scopes": ALL}]);
    let (a_id, a_token) = agent_with(&w.app, w.owner, "a", grants.clone(), None).await;
    let (_, b_token) = agent_with(&w.app, w.owner, "b", grants, None).await;
    let mut a = Client::new(&w.app, &a_token);
    a.init().await;
    let mut b = Client::new(&w.app, &b_token);
    b.init().await;
    let get = |c: &Client| {
        c.app
            .http
            .get(c.app.url("/mcp"))
            .bearer_auth(&c.token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", c.session.clone().unwrap())
            .send()
    };
    let a1 = a.open_stream().await;
    let a2 = a.open_stream().await;
    let refused = get(&a).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already holds 2 open streams"),
        "{body}"
    );
    let b1 = b.open_stream().await;
    assert_eq!(get(&b).await.unwrap().status(), 429, "the replica is full");
    w.app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{a_id}/revoke"),
            None,
        )
        .await;
    for stream in [a1, a2] {
        tokio::time::timeout(std::time::Duration::from_secs(10), stream)
            .await
            .expect("a revoked agent's stream ends")
            .unwrap()
            .ok();
    }
    let b2 = b.open_stream().await;
    assert!(!b2.is_finished() && !b1.is_finished());
    w.app.stop().await;
}
