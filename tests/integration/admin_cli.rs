//! `agent-gateway admin …`, run as the real binary against a gateway spawned in-process:
//! exit codes, `--json` parsed, the rows people read, and one-line errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::both_engines;
use crate::helpers::{Engine, TestApp, ADMIN_TOKEN};

/// What a run of the CLI left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// A failure: the given exit code, nothing on stdout, exactly one line on stderr.
    fn failed(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.is_empty(), "{}", self.stdout);
        assert_eq!(self.stderr.lines().count(), 1, "{}", self.stderr);
        assert!(
            self.stderr.starts_with("agent-gateway: "),
            "{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("Error {"));
        self.stderr.trim_end()
    }
}

fn command(url: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-gateway"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("admin")
        .args(["--url", url])
        .args(args);
    if let Some(token) = token {
        cmd.env("GATEWAY_ADMIN_TOKEN", token);
    }
    cmd
}

async fn run_with(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = command(url, token, args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

async fn cli(app: &TestApp, args: &[&str]) -> Run {
    run_with(&app.base, Some(ADMIN_TOKEN), args).await
}

async fn projects_and_users_set(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let project = app.project("CLI", &[]).await;

    let out = cli(&app, &["projects"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out.stdout.lines().find(|l| l.contains(&project)).unwrap();
    assert!(
        line.contains("CLI") && line.contains("Project CLI"),
        "{line}"
    );
    assert!(out.stdout.starts_with("ID "), "{}", out.stdout);
    let doc = cli(&app, &["projects", "--json"]).await.json();
    assert!(doc["projects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == project.as_str() && p["identifier"] == "CLI"));

    // A new user needs a name and a client; an unknown id without them is refused.
    let id = uuid::Uuid::new_v4().to_string();
    let err = cli(&app, &["users", "set", &id, "--entitlement", "on"]).await;
    assert!(err.failed(1).contains("not_found"));
    let out = cli(
        &app,
        &[
            "users",
            "set",
            &id,
            "--name",
            "Ada Lovelace",
            "--client",
            "acme",
            "--entitlement",
            "on",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("created") && out.stdout.contains("entitled yes"));
    // A change keeps the other fields.
    let user = cli(&app, &["users", "set", &id, "--blocked", "on", "--json"])
        .await
        .json();
    assert_eq!(user["blocked"], true);
    assert_eq!(user["codex_agents"], true);
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["client_id"], "acme");
    let (status, stored) = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/admin/users/{id}"),
            None,
        )
        .await;
    assert_eq!((status, &stored["blocked"]), (200, &Value::Bool(true)));
    let out = cli(
        &app,
        &["users", "set", &id, "--blocked", "off", "--name", "Ada"],
    )
    .await;
    assert!(
        out.stdout.contains("updated: Ada (client acme)"),
        "{}",
        out.stdout
    );

    // The list: the table row with the agents counted, the client filter, every page.
    let user = uuid::Uuid::parse_str(&id).unwrap();
    app.agent(user, "counted", &[&project]).await;
    for name in ["Bob", "Cy"] {
        let other = uuid::Uuid::new_v4().to_string();
        let out = cli(
            &app,
            &["users", "set", &other, "--name", name, "--client", "acme"],
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    app.owner("Elsewhere").await;
    let out = cli(&app, &["users"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let header = out.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("ID ") && header.contains("AGENTS_ACTIVE"),
        "{header}"
    );
    let row = out.stdout.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        row.contains("Ada") && row.contains("acme") && row.contains(" 1 "),
        "{row}"
    );
    assert_eq!(out.stdout.lines().count(), 5, "a header and four users");
    let doc = cli(
        &app,
        &["users", "--client", "acme", "--page-size", "1", "--json"],
    )
    .await
    .json();
    let items = doc["items"].as_array().unwrap();
    let mut ids: Vec<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every page read, once: {doc}");
    assert!(items.iter().all(|u| u["client_id"] == "acme"));
    assert_eq!(doc["next_before"], Value::Null);
    let ada = items.iter().find(|u| u["id"] == id.as_str()).unwrap();
    assert_eq!(ada["agents_active"], 1);
    app.stop().await;
}
both_engines!(projects_users_and_users_set_work, projects_and_users_set);

async fn agents_lifecycle(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Ada").await.to_string();
    let web = app.project("WEB", &[]).await;
    let ops = app.project("OPS", &[]).await;

    // Create, people's form: the identifier is resolved, no scopes means read-only, the
    // token is printed once and works, the setup lines come from the setup pack.
    let out = cli(
        &app,
        &[
            "agents",
            "create",
            "--owner",
            &owner,
            "--name",
            "cli-one",
            "--project",
            "WEB:cards:read,cards:write",
            "--project",
            "OPS",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let token = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export NODEDC_AGENT_TOKEN="))
        .unwrap()
        .to_owned();
    assert!(token.starts_with("ndcag_"));
    assert_eq!(
        out.stdout.matches(&token).count(),
        1,
        "the token is printed once"
    );
    assert!(out.stdout.contains(&format!(
        "codex mcp add nodedc --url {}/mcp --bearer-token-env-var NODEDC_AGENT_TOKEN",
        app.base
    )));
    assert!(out.stdout.contains("[mcp_servers.nodedc]"));
    assert_eq!(app.me(&token).await, 200);

    // Create, scripts' form: the API's answer plus the setup pack.
    let created = cli(
        &app,
        &[
            "agents",
            "create",
            "--owner",
            &owner,
            "--name",
            "cli-two",
            "--project",
            &ops,
            "--json",
        ],
    )
    .await
    .json();
    let two = created["agent_id"].as_str().unwrap().to_owned();
    assert!(created["token"].as_str().unwrap().starts_with("ndcag_"));
    assert_eq!(created["setup"]["agent_id"], two.as_str());
    assert_eq!(
        created["agent"]["grants"][0]["scopes"],
        serde_json::json!(["cards:read"])
    );

    // List: the table has both rows; --owner filters; --json parses.
    let out = cli(&app, &["agents", "list"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = out.stdout.lines().find(|l| l.contains("cli-one")).unwrap();
    assert!(
        row.contains(&owner) && row.contains("active") && row.contains(&web),
        "{row}"
    );
    let other = app.owner("Bob").await.to_string();
    let listed = cli(&app, &["agents", "list", "--owner", &other, "--json"])
        .await
        .json();
    assert_eq!(listed["agents"].as_array().unwrap().len(), 0);
    let listed = cli(&app, &["agents", "list", "--owner", &owner, "--json"])
        .await
        .json();
    assert_eq!(listed["agents"].as_array().unwrap().len(), 2);
    let one = listed["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "cli-one")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Show, then revoke: in force when the command returns.
    let out = cli(&app, &["agents", "show", &one]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("cli-one") && out.stdout.contains("cards:read,cards:write"));
    assert!(!out.stdout.contains(&token), "show never prints a token");
    let shown = cli(&app, &["agents", "show", &one, "--json"]).await.json();
    assert_eq!(shown["id"], one.as_str());
    let out = cli(&app, &["agents", "revoke", &one, "--reason", "laptop lost"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("revoked: laptop lost"),
        "{}",
        out.stdout
    );
    assert_eq!(app.me(&token).await, 401);
    let revoked = cli(&app, &["agents", "revoke", &two, "--json"])
        .await
        .json();
    assert_eq!(revoked["status"], "revoked");

    // Audit: the table shows the revocation; --agent filters; --json parses.
    let out = cli(&app, &["audit"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("admin.agent.revoke"))
        .unwrap();
    assert!(row.contains("allowed"), "{row}");
    let doc = cli(&app, &["audit", "--agent", &one, "--json", "--limit", "50"])
        .await
        .json();
    let items = doc["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|r| r["agent_id"] == one.as_str()));
    assert!(items
        .iter()
        .any(|r| r["action"] == "admin.agent.revoke" && r["reason"] == "laptop lost"));
    app.stop().await;
}
both_engines!(agents_create_list_show_revoke_and_audit, agents_lifecycle);

async fn errors(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let missing = uuid::Uuid::now_v7().to_string();

    let no_token = run_with(&app.base, None, &["projects"]).await;
    assert!(no_token
        .failed(2)
        .contains("GATEWAY_ADMIN_TOKEN is not set"));
    let wrong = run_with(
        &app.base,
        Some("wrong-token-0123456789abcdef0123456789"),
        &["agents", "list"],
    )
    .await;
    assert!(wrong.failed(1).contains("401"));
    assert!(
        !wrong.stderr.contains("wrong-token"),
        "the token is never printed"
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    let down = run_with(&closed, Some(ADMIN_TOKEN), &["projects"]).await;
    assert!(down.failed(3).contains("cannot reach the gateway"));

    for args in [
        vec!["agents", "show", missing.as_str()],
        vec!["agents", "revoke", missing.as_str()],
    ] {
        let out = cli(&app, &args).await;
        assert!(out.failed(1).contains("404 not_found"), "{}", out.stderr);
    }
    let owner = app.owner("Ada").await.to_string();
    let unknown = cli(
        &app,
        &[
            "agents",
            "create",
            "--owner",
            &owner,
            "--name",
            "x",
            "--project",
            "NOPE",
        ],
    )
    .await;
    assert!(unknown.failed(1).contains("422"), "{}", unknown.stderr);

    // Usage errors are clap's: exit code 2.
    let bad = cli(&app, &["agents", "show", "not-a-uuid"]).await;
    assert_eq!(bad.code, 2);
    app.stop().await;
}
both_engines!(errors_are_one_line_with_distinct_codes, errors);

async fn follow(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let owner = app.owner("Ada").await;
    let project = app.project("FOL", &[]).await;
    let mut cmd = command(
        &app.base,
        Some(ADMIN_TOKEN),
        &["audit", "--follow", "--interval", "1", "--json"],
    );
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The existing rows first (the owner's upsert); only then is the agent created, so
    // its row can only arrive by a poll.
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["action"], "admin.user.upsert");
    let mut seen = vec![first["id"].as_i64().unwrap()];
    let (agent, _) = app.agent(owner, "followed", &[&project]).await;
    let wanted = agent.to_string();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = rx.recv().await {
            let row: Value = serde_json::from_str(&line).unwrap();
            seen.push(row["id"].as_i64().unwrap());
            if row["action"] == "admin.agent.create" && row["target"] == wanted.as_str() {
                return seen;
            }
        }
        seen
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let seen = found.expect("the new row was printed while following");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "rows in order, once: {seen:?}"
    );
    app.stop().await;
}
both_engines!(audit_follow_prints_new_rows, follow);

#[test]
fn every_command_has_help_with_an_example() {
    for path in [
        &["admin"][..],
        &["admin", "projects"],
        &["admin", "users"],
        &["admin", "users", "set"],
        &["admin", "agents"],
        &["admin", "agents", "create"],
        &["admin", "agents", "list"],
        &["admin", "agents", "show"],
        &["admin", "agents", "revoke"],
        &["admin", "audit"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_agent-gateway"))
            .args(path)
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{path:?}");
        assert!(text.contains("Example"), "{path:?}: {text}");
    }
}

/// Something that answers HTTP but is not the gateway (a proxy's page): exit code 4.
#[tokio::test]
async fn an_answer_that_is_not_the_api_is_its_own_exit_code() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let page = "<html>welcome</html>";
            let _ = socket
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let out = run_with(&url, Some(ADMIN_TOKEN), &["agents", "list"]).await;
    assert!(out.failed(4).contains("not JSON"), "{}", out.stderr);
}
