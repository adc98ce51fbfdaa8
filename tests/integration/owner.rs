//! The owner self-service API and the setup pack: an owner sees and touches only their
//! own agents, grants only projects they belong to, and no generated artifact ever
//! carries token material.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp};

/// Issues an owner session for `user`; returns its token.
pub(crate) async fn session(app: &TestApp, user: Uuid) -> String {
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{user}/sessions"),
            Some(json!({"ttl_minutes": 30})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ndcown_"));
    token
}

async fn as_owner(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn owners_manage_only_their_own_agents(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let ada = app.owner("Ada").await;
    let bob = app.owner("Bob").await;
    let web = app
        .project("WEB", &[(ada, "Ada", 20), (bob, "Bob", 15)])
        .await;
    let ops = app.project("OPS", &[(bob, "Bob", 20)]).await;
    let ada_s = session(&app, ada).await;
    let bob_s = session(&app, bob).await;

    let create = |name: &str, project: &str| json!({"name": name, "grants": [{"project_id": project, "scopes": ["cards:read"]}]});
    let (status, created) = as_owner(
        &app,
        &ada_s,
        Method::POST,
        "/api/v1/owner/agents",
        Some(create("ada-1", &web)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let ada_agent = created["agent_id"].as_str().unwrap().to_owned();
    assert_eq!(created["agent"]["owner_id"], ada.to_string());

    // Ada is not a member of OPS: she cannot grant it.
    let (status, body) = as_owner(
        &app,
        &ada_s,
        Method::POST,
        "/api/v1/owner/agents",
        Some(create("ada-2", &ops)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("not_a_member"))
    );

    let (status, created) = as_owner(
        &app,
        &bob_s,
        Method::POST,
        "/api/v1/owner/agents",
        Some(create("bob-1", &ops)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let bob_agent = created["agent_id"].as_str().unwrap().to_owned();

    // Each sees only their own.
    let (_, mine) = as_owner(&app, &ada_s, Method::GET, "/api/v1/owner/agents", None).await;
    let ids: Vec<&str> = mine["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ada_agent.as_str()]);
    for (method, path) in [
        (Method::GET, format!("/api/v1/owner/agents/{bob_agent}")),
        (
            Method::POST,
            format!("/api/v1/owner/agents/{bob_agent}/revoke"),
        ),
        (Method::GET, format!("/api/v1/agents/{bob_agent}/setup")),
    ] {
        let (status, _) = as_owner(&app, &ada_s, method.clone(), &path, None).await;
        assert_eq!(
            status, 404,
            "{method} {path} must not reveal another owner's agent"
        );
    }
    let (_, bob_view) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/agents/{bob_agent}"),
            None,
        )
        .await;
    assert_eq!(
        bob_view["status"], "active",
        "Ada's attempt changed nothing"
    );

    // The owner API is not the admin API, and the admin API is not the owner's.
    let (status, _) = as_owner(&app, &ada_s, Method::GET, "/api/v1/admin/agents", None).await;
    assert_eq!(status, 401);
    let (status, body) = app.admin(Method::GET, "/api/v1/owner/agents", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("owner_only"))
    );

    // Ada revokes her own.
    let (status, revoked) = as_owner(
        &app,
        &ada_s,
        Method::POST,
        &format!("/api/v1/owner/agents/{ada_agent}/revoke"),
        None,
    )
    .await;
    assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")));

    // A blocked owner's session stops working.
    app.admin(
        Method::PUT,
        &format!("/api/v1/admin/users/{ada}"),
        Some(json!({"display_name": "Ada", "client_id": "client-1", "codex_agents": true, "blocked": true})),
    )
    .await;
    let (status, _) = as_owner(&app, &ada_s, Method::GET, "/api/v1/owner/agents", None).await;
    assert_eq!(status, 403);
    let (status, _) = as_owner(
        &app,
        "ndcown_notatoken",
        Method::GET,
        "/api/v1/owner/agents",
        None,
    )
    .await;
    assert_eq!(status, 401);
    app.stop().await;
}
both_engines!(
    owners_manage_only_their_own_agents_,
    owners_manage_only_their_own_agents
);

#[tokio::test]
async fn the_setup_pack_pairs_codex_and_carries_no_secret() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let ada = app.owner("Ada").await;
    let web = app.project("WEB", &[(ada, "Ada", 20)]).await;
    let (agent_id, token) = app.agent(ada, "laptop", &[&web]).await;
    let owner_token = session(&app, ada).await;

    let (status, by_admin) = app
        .admin(
            Method::GET,
            &format!("/api/v1/agents/{agent_id}/setup"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, by_owner) = as_owner(
        &app,
        &owner_token,
        Method::GET,
        &format!("/api/v1/agents/{agent_id}/setup"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_admin, by_owner);

    let mcp_url = format!("{}/mcp", app.base);
    assert_eq!(
        by_admin["codex_config_toml"],
        format!("[mcp_servers.nodedc]\nurl = \"{mcp_url}\"\nbearer_token_env_var = \"NODEDC_AGENT_TOKEN\"\n")
    );
    assert_eq!(
        by_admin["codex_mcp_add"],
        format!("codex mcp add nodedc --url {mcp_url} --bearer-token-env-var NODEDC_AGENT_TOKEN")
    );
    assert!(by_admin["env_line"]
        .as_str()
        .unwrap()
        .starts_with("export NODEDC_AGENT_TOKEN=<"));
    let md = by_admin["agents_md"].as_str().unwrap();
    for needle in [
        "WEB — Project WEB",
        "idempotency_key",
        "deleted or archived",
        "cards:write",
    ] {
        assert!(md.contains(needle), "AGENTS.md lacks {needle:?}:\n{md}");
    }

    // No token material anywhere: not this agent's token, nor anything token-shaped.
    let all = by_admin.to_string();
    assert!(!all.contains(&token));
    assert!(!all.contains(&token[..12]));
    for prefix in ["ndcag_", "ndcadm_", "ndcown_"] {
        assert!(!all.contains(prefix), "{prefix} appears in the pack");
    }
    assert!(!all.contains(&owner_token) && !all.contains(crate::helpers::ADMIN_TOKEN));
    let (status, _) = app
        .admin(
            Method::GET,
            &format!("/api/v1/agents/{}/setup", Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}
