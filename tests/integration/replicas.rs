//! Two gateway processes on one Postgres: a revoke on one is in force on the other
//! within milliseconds (LISTEN/NOTIFY), open streams there close, and a change whose
//! notification was missed is applied by the reconcile.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{fresh_db, Engine, ADMIN_TOKEN};

struct Replica {
    child: Child,
    base: String,
    lines: Vec<String>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &str, demo: bool) -> Replica {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-gateway"));
    cmd.arg("serve");
    if demo {
        cmd.arg("--demo");
    }
    let mut child = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEWAY_BIND", "127.0.0.1:0")
        .env("GATEWAY_DATABASE_URL", db)
        .env("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("GATEWAY_RECONCILE_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout).lines();
        let mut lines = Vec::new();
        for line in reader.by_ref() {
            let line = line.unwrap_or_default();
            let done = line.contains(if demo {
                "bearer_token_env_var"
            } else {
                "listening on"
            });
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = tx.send(lines);
        for _ in reader {}
    });
    let lines = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let base = lines
        .iter()
        .find_map(|l| {
            l.split_once("listening on ")
                .map(|(_, r)| r.split_whitespace().next().unwrap().to_owned())
        })
        .unwrap();
    Replica { child, base, lines }
}

async fn mcp_session(http: &reqwest::Client, base: &str, token: &str) -> String {
    let resp = http
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn list_projects(http: &reqwest::Client, base: &str, token: &str, session: &str) -> u16 {
    http.post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("mcp-session-id", session)
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_projects", "arguments": {}}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_on_one_replica_is_in_force_on_the_other() {
    let db = fresh_db(Engine::Postgres).await;
    let a = start(&db.url, true);
    let b = start(&db.url, false);
    let token = a
        .lines
        .iter()
        .find_map(|l| {
            l.split_once("NODEDC_AGENT_TOKEN=")
                .map(|(_, t)| t.trim().to_owned())
        })
        .unwrap();
    let http = reqwest::Client::new();

    // Warm B: session, actor, token cache; and an open stream on B.
    let session = mcp_session(&http, &b.base, &token).await;
    assert_eq!(list_projects(&http, &b.base, &token, &session).await, 200);
    let stream = http
        .get(format!("{}/mcp", b.base))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let stream = tokio::spawn(async move { stream.text().await });

    let agents: Value = http
        .get(format!("{}/api/v1/admin/agents", a.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent_id = agents["agents"][0]["id"].as_str().unwrap().to_owned();
    let revoked_at = Instant::now();
    let resp = http
        .post(format!("{}/api/v1/admin/agents/{agent_id}/revoke", a.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let returned = revoked_at.elapsed();
    // On A: in force as the call returned.
    assert_eq!(
        list_projects(
            &http,
            &a.base,
            &token,
            &initialize_refused(&http, &a.base, &token).await
        )
        .await,
        401
    );
    // On B: refused as soon as the notification lands. Print how long that took.
    let mut polls = 0;
    while list_projects(&http, &b.base, &token, &session).await != 401 {
        polls += 1;
        assert!(polls < 5000, "replica B never refused the revoked token");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "revoke returned in {returned:?}; replica B refused after {:?} ({polls} polls)",
        revoked_at.elapsed()
    );
    tokio::time::timeout(Duration::from_secs(10), stream)
        .await
        .expect("B's open stream was closed")
        .unwrap()
        .ok();
}

/// Asserts `initialize` with a revoked token is refused; returns a dummy session id.
async fn initialize_refused(http: &reqwest::Client, base: &str, token: &str) -> String {
    let resp = http
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "initialize with a revoked token is refused on A too"
    );
    "none".to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_notification_is_applied_by_the_reconcile() {
    let db = fresh_db(Engine::Postgres).await;
    let a = start(&db.url, true);
    let token = a
        .lines
        .iter()
        .find_map(|l| {
            l.split_once("NODEDC_AGENT_TOKEN=")
                .map(|(_, t)| t.trim().to_owned())
        })
        .unwrap();
    let http = reqwest::Client::new();
    let session = mcp_session(&http, &a.base, &token).await;
    assert_eq!(list_projects(&http, &a.base, &token, &session).await, 200);
    // Another replica revoked the agent but its NOTIFY never arrived: only the store knows.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE agents SET status = 'revoked', updated_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    while list_projects(&http, &a.base, &token, &session).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the reconcile never applied the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "reconcile applied the missed revocation after {:?}",
        started.elapsed()
    );
}
