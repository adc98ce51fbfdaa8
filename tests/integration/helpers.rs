//! Spawning real gateways and real databases for tests.

use std::collections::HashMap;
use std::sync::Arc;

use agent_gateway::app::Application;
use agent_gateway::config::{Config, Overrides};
use agent_gateway::gateway::Gateway;
use agent_gateway::store::{self, Store};
use agent_gateway::tasker::embedded::{default_states, EmbeddedTasker, NewProject};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The two store engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per engine, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::helpers::Engine::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::helpers::Engine::Postgres).await;
            }
        }
    };
}

/// A fresh, empty database; a SQLite file in a temp dir, or a new Postgres database.
/// Either goes with the handle that created it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The Postgres database this handle created, dropped with it.
    created: Option<String>,
}

impl Drop for TestDb {
    /// Drops the Postgres database this handle created, `WITH (FORCE)`: a gateway of the
    /// test may still hold connections to it. Without this a suite run against a
    /// long-lived cluster leaves a database per test behind. Best effort: one left behind
    /// only takes space.
    fn drop(&mut self) {
        let (Some(name), Ok(base)) = (
            self.created.take(),
            std::env::var("GATEWAY_TEST_POSTGRES_URL"),
        ) else {
            return;
        };
        // Drop cannot await, and runs inside the test's runtime: a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
                    .await
                    .ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// The throwaway cluster started by `scripts/test`.
pub fn postgres_base() -> String {
    std::env::var("GATEWAY_TEST_POSTGRES_URL").expect(
        "GATEWAY_TEST_POSTGRES_URL is not set: run the suite with scripts/test, which starts a throwaway Postgres",
    )
}

pub async fn fresh_db(engine: Engine) -> TestDb {
    match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
            TestDb {
                url,
                _dir: Some(dir),
                created: None,
            }
        }
        Engine::Postgres => {
            let base = postgres_base();
            let name = format!("agw_{}", Uuid::new_v4().simple());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let url = match base.split_once('?') {
                Some((left, query)) => {
                    format!("{}/{name}?{query}", left.rsplit_once('/').unwrap().0)
                }
                None => format!("{}/{name}", base.rsplit_once('/').unwrap().0),
            };
            TestDb {
                url,
                _dir: None,
                created: Some(name),
            }
        }
    }
}

/// A connected, migrated store on a fresh database.
pub async fn fresh_store(engine: Engine) -> (Arc<dyn Store>, TestDb) {
    let db = fresh_db(engine).await;
    let config = config_for(&db, &[]);
    let store = store::connect(&config.database).await.unwrap();
    store.migrate().await.unwrap();
    (store, db)
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

fn config_for(db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("GATEWAY_BIND".into(), "127.0.0.1:0".into()),
        ("GATEWAY_DATABASE_URL".into(), db.url.clone()),
        ("GATEWAY_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_vars(&vars, Overrides::default()).unwrap()
}

/// A gateway serving on loopback, stopped (and drained) on drop.
pub struct TestApp {
    pub base: String,
    pub gateway: Gateway,
    /// The embedded tracker (every test app runs on it), to create projects.
    pub embedded: Option<EmbeddedTasker>,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn(engine: Engine) -> Self {
        Self::spawn_with(engine, &[]).await
    }

    pub async fn spawn_with(engine: Engine, extra: &[(&str, &str)]) -> Self {
        let db = fresh_db(engine).await;
        Self::spawn_on(db, extra).await
    }

    pub async fn spawn_on(db: TestDb, extra: &[(&str, &str)]) -> Self {
        let app = Application::build(config_for(&db, extra), true)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let gateway = app.gateway().clone();
        let embedded = app.embedded().cloned();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            gateway,
            embedded,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
            db,
        }
    }

    /// Stops serving and waits for the drain (audit flush, actors stopped).
    pub async fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        std::mem::replace(
            &mut self.db,
            TestDb {
                url: String::new(),
                _dir: None,
                created: None,
            },
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The newest audit rows of `agent` (up to 500), through the admin API.
    pub async fn audit_rows(&self, agent: Uuid) -> Vec<Value> {
        let (status, page) = self
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/admin/audit?agent_id={agent}&limit=500"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    /// Creates an entitled owner; returns its id.
    pub async fn owner(&self, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        let (status, body) = self
            .admin(
                reqwest::Method::PUT,
                &format!("/api/v1/admin/users/{id}"),
                Some(json!({"display_name": name, "client_id": "client-1", "codex_agents": true, "blocked": false})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        id
    }

    /// Creates an agent with every scope on `projects`; returns (agent id, token).
    pub async fn agent(&self, owner: Uuid, name: &str, projects: &[&str]) -> (Uuid, String) {
        let grants: Vec<Value> = projects
            .iter()
            .map(|p| json!({"project_id": p, "scopes": ["cards:read", "cards:write", "comments:write", "labels:write", "assign:write", "blocks:write"]}))
            .collect();
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/api/v1/admin/agents",
                Some(json!({"owner_id": owner, "name": name, "grants": grants})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["agent_id"].as_str().unwrap().parse().unwrap(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates an embedded-tracker project with `members` (id, name, role 20/15/5);
    /// returns its id.
    pub async fn project(&self, identifier: &str, members: &[(Uuid, &str, i64)]) -> String {
        let embedded = self
            .embedded
            .as_ref()
            .expect("tests run on the embedded tracker");
        embedded
            .create_project(&NewProject {
                identifier: identifier.into(),
                name: format!("Project {identifier}"),
                states: default_states(),
                labels: vec![
                    ("bug".into(), "#ff0000".into()),
                    ("feature".into(), "#00ff00".into()),
                ],
                members: members
                    .iter()
                    .map(|(id, name, role)| (*id, (*name).to_owned(), *role))
                    .collect(),
            })
            .await
            .unwrap()
            .id
    }

    /// `GET /api/v1/agent/me` with `token`; returns the status.
    pub async fn me(&self, token: &str) -> u16 {
        self.http
            .get(self.url("/api/v1/agent/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl TestDb {
    /// The same database for a second gateway (a replica); the first keeps ownership.
    pub fn same(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            _dir: None,
            created: None,
        }
    }
}
