//! The project list answered from memory (`tasker/cache.rs`) is never stale where it
//! matters: a project created is listed at once, each call sees only its own grants,
//! and a revoked agent is refused whatever is cached.

use reqwest::Method;
use serde_json::json;

use super::{agent_with, world, Client};
use crate::both_engines;
use crate::helpers::Engine;

async fn the_cached_project_list_follows_creations_grants_and_revocations(engine: Engine) {
    let w = world(engine, &[]).await;
    let (_, web_only) = agent_with(
        &w.app,
        w.owner,
        "web-only",
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let (ops_id, ops_only) = agent_with(
        &w.app,
        w.owner,
        "ops-only",
        json!([{"project_id": w.ops, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let mut a = Client::new(&w.app, &web_only);
    a.init().await;
    let mut b = Client::new(&w.app, &ops_only);
    b.init().await;
    let ids = |r: &serde_json::Value| -> Vec<String> {
        r["structuredContent"]["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Warm the cache, then each agent sees only its grant.
    assert_eq!(
        ids(&a.tool("list_projects", json!({})).await),
        vec![w.web.clone()]
    );
    assert_eq!(
        ids(&b.tool("list_projects", json!({})).await),
        vec![w.ops.clone()]
    );
    // A project created now is known at once (the admin's list reads the same cache).
    let new = w.app.project("NEW", &[]).await;
    let (status, listed) = w
        .app
        .admin(Method::GET, "/api/v1/admin/projects", None)
        .await;
    assert_eq!(status, 200);
    assert!(
        listed["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == new.as_str()),
        "{listed}"
    );
    // …and still not to an agent without the grant.
    assert_eq!(
        ids(&a.tool("list_projects", json!({})).await),
        vec![w.web.clone()]
    );
    // A revoked agent is refused, cache or not.
    let (status, _) = w
        .app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{ops_id}/revoke"),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = b
        .rpc(
            "tools/call",
            json!({"name": "list_projects", "arguments": {}}),
        )
        .await;
    assert_eq!(status, 401);
    w.app.stop().await;
}
both_engines!(
    the_cached_project_list_follows_creations_grants_and_revocations,
    the_cached_project_list_follows_creations_grants_and_revocations
);
