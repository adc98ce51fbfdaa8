//! A revocation is in force on this replica before the store is written (fail closed),
//! and undone when the store then refuses the change: whatever happened in memory, the
//! agent ends up as the store says, and a retried revocation works.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;

use super::{agent_with, world, Client, World};
use crate::both_engines;
use crate::helpers::{Engine, TestApp};

/// Raw SQL on the app's database: makes every update of `agents` (a revocation) or
/// every insert into `entitlement_changes` (a block) fail, or undoes that.
async fn sabotage(app: &TestApp, engine: Engine, table: &str, on: bool) {
    let sql = match (engine, on) {
        (Engine::Sqlite, true) => format!(
            "CREATE TRIGGER sabotage BEFORE {} ON {table} BEGIN SELECT RAISE(ABORT, 'sabotaged'); END",
            if table == "agents" { "UPDATE" } else { "INSERT" }
        ),
        (Engine::Sqlite, false) => "DROP TRIGGER sabotage".to_owned(),
        (Engine::Postgres, true) => {
            format!("ALTER TABLE {table} ADD CONSTRAINT sabotage CHECK (false) NOT VALID")
        }
        (Engine::Postgres, false) => format!("ALTER TABLE {table} DROP CONSTRAINT sabotage"),
    };
    match engine {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(&sql).execute(&mut c).await.unwrap();
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query(&sql).execute(&mut c).await.unwrap();
        }
    }
}

/// An agent that reads the web project, initialized, its first call answered.
async fn reader<'a>(w: &'a World, name: &str) -> (uuid::Uuid, Client<'a>) {
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        name,
        json!([{"project_id": w.web, "scopes": ["cards:read"]}]),
        None,
    )
    .await;
    let mut client = Client::new(&w.app, &token);
    client.init().await;
    assert_eq!(
        client.tool("list_projects", json!({})).await["isError"],
        false
    );
    (agent, client)
}

/// With `table` sabotaged, the admin call is refused by the store and the agent still
/// works; unsabotaged, the same call succeeds and the agent's next call is refused.
async fn refused_then_retried(
    w: &World,
    engine: Engine,
    client: &Client<'_>,
    table: &str,
    (method, path, body): (Method, &str, Option<serde_json::Value>),
) {
    sabotage(&w.app, engine, table, true).await;
    let (status, answer) = w.app.admin(method.clone(), path, body.clone()).await;
    assert!(status >= 500, "{status} {answer}");
    let after = client.tool("list_projects", json!({})).await;
    assert_eq!(after["isError"], false, "{after}");
    sabotage(&w.app, engine, table, false).await;

    // The same call, retried, is in force when it returns.
    let (status, answer) = w.app.admin(method, path, body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _, _) = client
        .rpc(
            "tools/call",
            json!({"name": "list_projects", "arguments": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_refused_revocation_is_undone_here_and_a_retry_works(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent, client) = reader(&w, "revoked-twice").await;
    let revoke = format!("/api/v1/admin/agents/{agent}/revoke");
    refused_then_retried(&w, engine, &client, "agents", (Method::POST, &revoke, None)).await;
}
both_engines!(
    a_refused_revocation_is_undone_here_and_a_retry_works_,
    a_refused_revocation_is_undone_here_and_a_retry_works
);

async fn a_refused_block_is_undone_here_and_a_retry_works(engine: Engine) {
    let w = world(engine, &[]).await;
    let (_, client) = reader(&w, "blocked-twice").await;
    let user = format!("/api/v1/admin/users/{}", w.owner);
    let block = json!({"display_name": "Ada", "client_id": "client-1", "codex_agents": true, "blocked": true});
    let call = (Method::PUT, user.as_str(), Some(block));
    refused_then_retried(&w, engine, &client, "entitlement_changes", call).await;
}
both_engines!(
    a_refused_block_is_undone_here_and_a_retry_works_,
    a_refused_block_is_undone_here_and_a_retry_works
);
