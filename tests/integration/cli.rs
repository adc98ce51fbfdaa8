//! The one command a new user runs: `agent-gateway serve` on the embedded default, in an
//! empty directory, seeds the demo and prints a token that works — run as a real process,
//! whose logs (at debug level) never contain a token.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_on_an_empty_directory_seeds_a_working_demo() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_agent-gateway"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEWAY_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("bearer_token_env_var");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(Duration::from_secs(60), lines)
        .await
        .unwrap()
        .unwrap();
    let find = |needle: &str| {
        lines
            .iter()
            .find_map(|l| l.split_once(needle).map(|(_, rest)| rest.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{}", lines.join("\n")))
    };
    let base = find("listening on ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let admin = find("GATEWAY_ADMIN_TOKEN=");
    let agent = find("NODEDC_AGENT_TOKEN=");
    assert!(admin.starts_with("ndcadm_") && agent.starts_with("ndcag_"));
    assert!(lines
        .iter()
        .any(|l| l.contains("codex mcp add nodedc --url")
            && l.contains("--bearer-token-env-var NODEDC_AGENT_TOKEN")));
    assert!(
        dir.path().join("data/gateway.db").exists(),
        "the SQLite file is created under ./data"
    );

    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!("{base}/api/v1/agent/me"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["agent_name"], "demo-codex");
    assert_eq!(
        me["grants"].as_array().unwrap().len(),
        1,
        "granted to one of the two projects"
    );
    let agents = http
        .get(format!("{base}/api/v1/admin/agents"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(agents.status(), 200, "the generated admin token works");
    // Use the agent token over MCP too, and present a wrong token once, then read the logs.
    let init = http
        .post(format!("{base}/mcp"))
        .bearer_auth(&agent)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    // The last character changed (to `x`, or to `y` when it already is `x`).
    let last = if admin.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{last}", &admin[..admin.len() - 1]);
    assert_ne!(wrong, admin);
    let refused = http
        .get(format!("{base}/api/v1/admin/agents"))
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    drop(child);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("DEBUG") || logs.contains("INFO"),
        "logs were written"
    );
    for secret in [&admin, &agent, &wrong] {
        let random = &secret[secret.len() - 20..];
        assert!(!logs.contains(random), "a token reached the logs");
    }
}
