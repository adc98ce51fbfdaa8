//! Faults, nothing lost: the real binary under a write load is killed with SIGKILL, its
//! Postgres is stopped and started again, its Tasker dies or stalls — and afterwards
//! every acknowledged write has its card and its `allowed` audit row, no card exists
//! without an audit row naming it, and retrying any attempted write with its
//! idempotency key never makes a second card.
//!
//! Everything is real: the binary (`serve`, `tasker-serve`), SQLite files, the session's
//! Postgres, a throwaway Postgres cluster started here (initdb/pg_ctl), HTTP on loopback.
//!
//! Long because each fault needs its own process choreography (load, kill, restart,
//! verify); the shared verification of "nothing lost" is written once, here, for all three.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::both_engines;
use crate::helpers::{fresh_db, Engine, ADMIN_TOKEN};

// --- processes ------------------------------------------------------------------------

/// A child process, SIGKILLed and reaped on drop.
struct Proc {
    child: Child,
    lines: Vec<String>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns the binary; reads stdout until a line containing `until` (then drains the rest
/// in the background so the child never blocks on a full pipe). stderr goes to `log`.
fn spawn(args: &[&str], env: &[(&str, String)], until: &str, log: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-gateway"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = until.to_owned();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout).lines();
        let mut lines = Vec::new();
        for line in reader.by_ref() {
            let line = line.unwrap_or_default();
            let done = line.contains(&wanted);
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = tx.send(lines);
        for _ in reader {}
    });
    let lines = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "{args:?} did not print {until:?} within 60 s; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
    assert!(
        lines.iter().any(|l| l.contains(until)),
        "{args:?} exited before printing {until:?}: {lines:?}\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    Proc { child, lines }
}

/// A gateway process (`serve`), its base URL.
struct Served {
    proc: Proc,
    base: String,
}

fn serve(db: &str, demo: bool, extra: &[(&str, String)], log: &Path) -> Served {
    let mut env = vec![
        ("GATEWAY_BIND", "127.0.0.1:0".to_owned()),
        ("GATEWAY_DATABASE_URL", db.to_owned()),
        ("GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        // The load is the point here, not the rate limit.
        ("GATEWAY_RATE_PER_MINUTE", "1000000".to_owned()),
        ("GATEWAY_RATE_BURST", "1000000".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let args: &[&str] = if demo {
        &["serve", "--demo"]
    } else {
        &["serve"]
    };
    let until = if demo {
        "bearer_token_env_var"
    } else {
        "listening on"
    };
    let proc = spawn(args, &env, until, log);
    let base = proc
        .lines
        .iter()
        .find_map(|l| {
            l.split_once("listening on ")
                .map(|(_, r)| r.split_whitespace().next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no listening line in {:?}", proc.lines));
    Served { proc, base }
}

fn demo_token(served: &Served) -> String {
    served
        .proc
        .lines
        .iter()
        .find_map(|l| {
            l.split_once("NODEDC_AGENT_TOKEN=")
                .map(|(_, t)| t.trim().to_owned())
        })
        .expect("the demo prints the agent token")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

// --- an MCP client --------------------------------------------------------------------

#[derive(Clone)]
struct Mcp {
    http: reqwest::Client,
    base: String,
    token: String,
    session: String,
}

impl Mcp {
    async fn connect(http: &reqwest::Client, base: &str, token: &str) -> Result<Self, String> {
        let resp = http
            .post(format!("{base}/mcp"))
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "faults", "version": "1"}}}))
            .send()
            .await
            .map_err(|e| format!("initialize: {e}"))?;
        if resp.status() != 200 {
            return Err(format!("initialize: {}", resp.status()));
        }
        let session = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        Ok(Self {
            http: http.clone(),
            base: base.to_owned(),
            token: token.to_owned(),
            session,
        })
    }

    /// A tool call: `Ok(result)` (success or tool error) when answered `200` with a
    /// result; `Err` with what happened otherwise (transport error, status, RPC error).
    async fn call(&self, name: &str, args: Value) -> Result<Value, String> {
        let resp = self
            .http
            .post(format!("{}/mcp", self.base))
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}}))
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        match (status, body.get("result")) {
            (200, Some(result)) => Ok(result.clone()),
            _ => Err(format!("{status} {body}")),
        }
    }

    /// A call that must succeed.
    async fn ok(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args.clone()).await.unwrap();
        assert_eq!(result["isError"], false, "{name} {args}: {result}");
        result["structuredContent"].clone()
    }
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The card name a key writes: the key can be read back from any card.
fn card_name(key: &str) -> String {
    format!("fault {key}")
}

async fn granted_project(mcp: &Mcp) -> String {
    mcp.ok("list_projects", json!({})).await["projects"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn agent_id(http: &reqwest::Client, base: &str, token: &str) -> String {
    let me: Value = http
        .get(format!("{base}/api/v1/agent/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["agent_id"].as_str().unwrap().to_owned()
}

/// Every card of `project`: name → keys of the cards with that name.
async fn cards_by_name(mcp: &Mcp, project: &str) -> BTreeMap<String, Vec<String>> {
    let mut cards: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"project_id": project, "limit": 100});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = mcp.ok("search_cards", args).await;
        for card in page["cards"].as_array().unwrap() {
            cards
                .entry(card["name"].as_str().unwrap().to_owned())
                .or_default()
                .push(card["key"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return cards,
        }
    }
}

/// Every audit row of `agent`, oldest first.
async fn audit_rows(http: &reqwest::Client, base: &str, agent: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut url = format!("{base}/api/v1/admin/audit?agent_id={agent}&limit=500");
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rows.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    rows.reverse();
    rows
}

/// idempotency key → the outcomes of its `create_card` audit rows.
fn outcomes_by_key(rows: &[Value]) -> HashMap<String, Vec<String>> {
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        if row["action"] == "create_card" {
            if let Some(key) = row["idempotency_key"].as_str() {
                by_key
                    .entry(key.to_owned())
                    .or_default()
                    .push(row["outcome"].as_str().unwrap().to_owned());
            }
        }
    }
    by_key
}

// --- a write load ---------------------------------------------------------------------

/// What the clients of a load saw.
#[derive(Default)]
struct Ledger {
    /// Every key a client sent (or started to send), in order.
    attempted: Vec<String>,
    /// key → card key, for every write answered `isError: false`.
    acknowledged: BTreeMap<String, String>,
    /// Answers that were neither an acknowledgement nor a transport failure.
    refusals: Vec<String>,
}

struct Load {
    ledger: Arc<Mutex<Ledger>>,
    acked: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `clients` clients, each writing `create_card` with fresh keys `<prefix><client>-<n>`
    /// as fast as it can (after `pause`). With `persist`, a client that loses its answer
    /// keeps going (reconnecting as needed) until stopped; without, it stops at its first
    /// lost answer (its gateway is gone).
    fn start(
        mcp: &Mcp,
        project: &str,
        prefix: &str,
        clients: usize,
        pause: Duration,
        persist: bool,
    ) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let acked = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..clients)
            .map(|c| {
                let (mcp, project, prefix) = (mcp.clone(), project.to_owned(), prefix.to_owned());
                let (ledger, acked, failures, stop) = (
                    Arc::clone(&ledger),
                    Arc::clone(&acked),
                    Arc::clone(&failures),
                    Arc::clone(&stop),
                );
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let key = format!("{prefix}{c}-{n}");
                        ledger.lock().unwrap().attempted.push(key.clone());
                        let answer = mcp
                            .call(
                                "create_card",
                                json!({"idempotency_key": key, "project_id": project, "name": card_name(&key)}),
                            )
                            .await;
                        match answer {
                            Ok(result) if result["isError"] == false => {
                                let card = result["structuredContent"]["key"]
                                    .as_str()
                                    .unwrap()
                                    .to_owned();
                                ledger.lock().unwrap().acknowledged.insert(key, card);
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(result) => {
                                failures.fetch_add(1, Ordering::SeqCst);
                                ledger
                                    .lock()
                                    .unwrap()
                                    .refusals
                                    .push(format!("{key}: {}", text(&result)));
                            }
                            Err(e) => {
                                failures.fetch_add(1, Ordering::SeqCst);
                                if !persist {
                                    return;
                                }
                                ledger.lock().unwrap().refusals.push(format!("{key}: {e}"));
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Self {
            ledger,
            acked,
            failures,
            stop,
            tasks,
        }
    }

    async fn wait_for(&self, what: &str, counter: &AtomicUsize, at_least: usize) {
        let started = Instant::now();
        while counter.load(Ordering::SeqCst) < at_least {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{what}: only {} of {at_least} within 120 s; refusals: {:?}",
                counter.load(Ordering::SeqCst),
                self.ledger.lock().unwrap().refusals
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn finish(self) -> Ledger {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .expect("a load client did not finish")
                .unwrap();
        }
        Arc::try_unwrap(self.ledger)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

// --- the checks -----------------------------------------------------------------------

/// After the fault: every acknowledged write is there with its `allowed` audit row, no
/// card lacks an audit row naming it, and retrying every attempted key (with the same
/// arguments) makes no second card. `age_leases` ages in-flight claims past their
/// 2-minute lease (what waiting 2 minutes would do) so a retry may take them over.
async fn nothing_lost<F, Fut>(
    http: &reqwest::Client,
    mcp: &Mcp,
    agent: &str,
    project: &str,
    ledger: &Ledger,
    age_leases: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    // 1. Every acknowledged write has its card and its `allowed` audit row.
    let rows = audit_rows(http, &mcp.base, agent).await;
    let outcomes = outcomes_by_key(&rows);
    for (key, card) in &ledger.acknowledged {
        let detail = mcp.ok("get_card", json!({"card": card})).await;
        assert_eq!(
            detail["name"],
            card_name(key),
            "acknowledged {key} → {card}"
        );
        let seen = outcomes.get(key).cloned().unwrap_or_default();
        assert!(
            seen.iter().any(|o| o == "allowed"),
            "acknowledged write {key} ({card}) has no allowed audit row: {seen:?}"
        );
        assert!(
            seen.iter().any(|o| o == "intent"),
            "acknowledged write {key} ({card}) has no intent audit row: {seen:?}"
        );
    }

    // 2. No card without an audit row (intent or allowed) naming its key.
    let attempted: BTreeSet<&str> = ledger.attempted.iter().map(String::as_str).collect();
    let cards = cards_by_name(mcp, project).await;
    for (name, keys) in &cards {
        let key = name
            .strip_prefix("fault ")
            .unwrap_or_else(|| panic!("a card nobody wrote: {name} {keys:?}"));
        assert!(
            attempted.contains(key),
            "a card of no attempted key: {name}"
        );
        let seen = outcomes.get(key).cloned().unwrap_or_default();
        assert!(
            seen.iter().any(|o| o == "intent" || o == "allowed"),
            "card {keys:?} ({name}) exists without an audit row naming it: {seen:?}"
        );
        assert_eq!(keys.len(), 1, "{name} has more than one card: {keys:?}");
    }
    let unanswered: Vec<&String> = ledger
        .attempted
        .iter()
        .filter(|k| !ledger.acknowledged.contains_key(*k))
        .collect();
    println!(
        "{} attempted, {} acknowledged, {} cards before retries; unanswered with a card: {:?}",
        ledger.attempted.len(),
        ledger.acknowledged.len(),
        cards.len(),
        unanswered
            .iter()
            .filter(|k| cards.contains_key(&card_name(k)))
            .collect::<Vec<_>>()
    );

    // 3. Retry every attempted key with the same arguments.
    let retry = |key: String| {
        let mcp = mcp.clone();
        let project = project.to_owned();
        async move {
            let result = mcp
                .call(
                    "create_card",
                    json!({"idempotency_key": key, "project_id": project, "name": card_name(&key)}),
                )
                .await
                .unwrap_or_else(|e| panic!("retry of {key} was not answered: {e}"));
            (key, result)
        }
    };
    let mut in_progress = Vec::new();
    for key in &ledger.attempted {
        let (key, result) = retry(key.clone()).await;
        if result["isError"] == false {
            check_retry(ledger, &key, &result);
        } else {
            assert!(
                text(&result).contains("still in progress"),
                "retry of {key}: {result}"
            );
            in_progress.push(key);
        }
    }
    if !in_progress.is_empty() {
        // Claims left in flight by the fault: after their lease the same call takes
        // them over, and the Tasker, given the same key, must not write twice.
        let aged = age_leases().await;
        println!(
            "{} key(s) left in flight by the fault: {in_progress:?}; {aged} lease(s) aged",
            in_progress.len()
        );
        for key in in_progress {
            let (key, result) = retry(key).await;
            assert_eq!(
                result["isError"], false,
                "retry of {key} after its lease: {result}"
            );
            check_retry(ledger, &key, &result);
        }
    }
    let cards = cards_by_name(mcp, project).await;
    for key in &ledger.attempted {
        let name = card_name(key);
        assert_eq!(
            cards.get(&name).map(Vec::len),
            Some(1),
            "{name}: after retries, cards {:?}",
            cards.get(&name)
        );
    }
    assert_eq!(
        cards.len(),
        attempted.len(),
        "one card per attempted key, nothing else"
    );
    // And now every key's write is settled in the audit log as `allowed`.
    let outcomes = outcomes_by_key(&audit_rows(http, &mcp.base, agent).await);
    for key in &ledger.attempted {
        let seen = outcomes.get(key).cloned().unwrap_or_default();
        assert!(
            seen.iter().any(|o| o == "allowed"),
            "{key} after its retry: {seen:?}"
        );
    }
}

fn check_retry(ledger: &Ledger, key: &str, result: &Value) {
    if let Some(card) = ledger.acknowledged.get(key) {
        assert_eq!(
            result["structuredContent"]["key"], *card,
            "the retry of acknowledged {key} replays its card"
        );
    }
}

/// Ages every in-flight idempotency claim by 3 minutes, past the 2-minute lease.
async fn age_leases(url: &str) -> u64 {
    let then = chrono::Utc::now() - chrono::Duration::minutes(3);
    let sql = "UPDATE idempotency_keys SET created_at = $1 WHERE state = 'in_flight'";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let done = sqlx::query(sql).bind(then).execute(&pool).await.unwrap();
        pool.close().await;
        done.rows_affected()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let done = sqlx::query(sql).bind(then).execute(&pool).await.unwrap();
        pool.close().await;
        done.rows_affected()
    }
}

// --- 1. SIGKILL during a write load ---------------------------------------------------

both_engines!(kill_9_during_a_write_load, kill_9_during_a_write_load);

async fn kill_9_during_a_write_load(engine: Engine) {
    let db = fresh_db(engine).await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("gateway.log");
    let http = http();
    let mut first = serve(&db.url, true, &[], &log);
    let token = demo_token(&first);
    let mcp = Mcp::connect(&http, &first.base, &token).await.unwrap();
    let project = granted_project(&mcp).await;
    let agent = agent_id(&http, &first.base, &token).await;

    let load = Load::start(&mcp, &project, "k", 8, Duration::ZERO, false);
    load.wait_for("acknowledged writes", &load.acked, 40).await;
    first.proc.kill_9();
    let ledger = load.finish().await;
    let unanswered = ledger.attempted.len() - ledger.acknowledged.len();
    println!(
        "SIGKILL after {} acknowledged writes; {unanswered} attempted write(s) unanswered",
        ledger.acknowledged.len()
    );
    assert!(
        ledger.refusals.is_empty(),
        "before the kill every write succeeds: {:?}",
        ledger.refusals
    );
    assert!(
        unanswered > 0,
        "the kill landed while writes were in flight"
    );

    let second = serve(&db.url, false, &[], &log);
    let mcp = Mcp::connect(&http, &second.base, &token).await.unwrap();
    let url = db.url.clone();
    nothing_lost(&http, &mcp, &agent, &project, &ledger, || async move {
        age_leases(&url).await
    })
    .await;
}

// --- 2. Postgres stopped and started under a load ---------------------------------------

/// The directory of `initdb` and `pg_ctl`: `GATEWAY_TEST_PG_BIN` (set by `scripts/test`),
/// else `PATH`, else `/usr/lib/postgresql/*/bin`.
fn pg_bin() -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("GATEWAY_TEST_PG_BIN") {
        candidates.push(dir.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(versions.flatten().map(|v| v.path().join("bin")));
    }
    candidates.into_iter().find(|dir| usable(dir))
}

/// A throwaway Postgres cluster in a temp dir, on a unix socket only; run as the
/// `postgres` user when we are root (Postgres refuses root), like `scripts/test`.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn start(bin: PathBuf) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("agw-fpg")
            .tempdir_in("/tmp")
            .unwrap();
        let uid = Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown postgres: {}", dir.path().display());
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cluster = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        cluster.pg_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost:{}/postgres?host={}",
            self.port,
            self.dir.path().display()
        )
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.args(args).stdout(Stdio::null());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program, args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_start(&self) {
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories={} -c port={} -c fsync=off",
            self.dir.path().display(),
            self.port
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    fn pg_stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"])
            .stderr(Stdio::null())
            .status();
    }
}

async fn readyz(http: &reqwest::Client, base: &str) -> Option<u16> {
    http.get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn wait_readyz(http: &reqwest::Client, base: &str, ready: bool, within: Duration) {
    let started = Instant::now();
    loop {
        let status = readyz(http, base).await;
        if (status == Some(200)) == ready {
            println!("/readyz answered {status:?} after {:?}", started.elapsed());
            return;
        }
        assert!(
            started.elapsed() < within,
            "/readyz still {status:?} after {within:?} (waiting for ready = {ready})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_a_write_load() {
    let Some(bin) = pg_bin() else {
        let why =
            "faults::postgres_restarted_under_a_write_load: SKIPPED — initdb/pg_ctl not found \
                   (set GATEWAY_TEST_PG_BIN, or install the PostgreSQL server binaries)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("{why}");
        return;
    };
    let cluster = Cluster::start(bin);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("gateway.log");
    let http = http();
    let served = serve(&cluster.url(), true, &[], &log);
    let token = demo_token(&served);
    let mcp = Mcp::connect(&http, &served.base, &token).await.unwrap();
    let project = granted_project(&mcp).await;
    let agent = agent_id(&http, &served.base, &token).await;
    wait_readyz(&http, &served.base, true, Duration::from_secs(10)).await;

    let load = Load::start(&mcp, &project, "p", 2, Duration::from_millis(20), true);
    load.wait_for("writes before the stop", &load.acked, 10)
        .await;
    cluster.pg_stop();
    let failures_at_stop = load.failures.load(Ordering::SeqCst);
    wait_readyz(&http, &served.base, false, Duration::from_secs(30)).await;
    load.wait_for(
        "writes failing while Postgres is down",
        &load.failures,
        failures_at_stop + 2,
    )
    .await;
    let acked_while_down = load.acked.load(Ordering::SeqCst);
    cluster.pg_start();
    wait_readyz(&http, &served.base, true, Duration::from_secs(60)).await;
    load.wait_for(
        "writes succeeding again after the restart",
        &load.acked,
        acked_while_down + 10,
    )
    .await;
    let ledger = load.finish().await;
    println!(
        "{} acknowledged, {} refused or lost: {:?}",
        ledger.acknowledged.len(),
        ledger.refusals.len(),
        ledger.refusals.iter().take(5).collect::<Vec<_>>()
    );

    // The gateway is the same process throughout: it recovered by itself.
    let url = cluster.url();
    nothing_lost(&http, &mcp, &agent, &project, &ledger, || async move {
        age_leases(&url).await
    })
    .await;
    drop(served);
}

// --- 3. The Tasker down or slow ---------------------------------------------------------

const TASKER_TOKEN: &str = "internal-service-token-for-faults";

fn tasker_serve(port: u16, db: &str, seed: bool, log: &Path) -> Proc {
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["tasker-serve", "--bind", bind.as_str()];
    if seed {
        args.push("--seed-check-projects");
    }
    spawn(
        &args,
        &[
            ("GATEWAY_TASKER_TOKEN", TASKER_TOKEN.to_owned()),
            ("GATEWAY_DATABASE_URL", db.to_owned()),
        ],
        "/api/internal/nodedc/agent/",
        log,
    )
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

async fn admin(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> Value {
    let resp = http
        .request(method, url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(status == 200 || status == 201, "{status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasker_down_or_slow() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("processes.log");
    let tasker_db = format!("sqlite://{}/tasker.db", dir.path().display());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut tasker = tasker_serve(port, &tasker_db, true, &log);
    let ids: Value = serde_json::from_str(&tasker.lines[0]).unwrap();
    let project = ids["project"].as_str().unwrap().to_owned();

    let db = fresh_db(Engine::Postgres).await;
    let served = serve(
        &db.url,
        false,
        &[
            ("GATEWAY_TASKER", "nodedc".to_owned()),
            ("GATEWAY_TASKER_URL", format!("http://127.0.0.1:{port}/")),
            ("GATEWAY_TASKER_TOKEN", TASKER_TOKEN.to_owned()),
            // Short, so the stalls below are quick; 2 s, not 1, so a Tasker merely slowed
            // by a loaded CI machine is not taken for a stalled one.
            ("GATEWAY_TASKER_TIMEOUT_SECS", "2".to_owned()),
            ("GATEWAY_TASKER_RETRIES", "2".to_owned()),
        ],
        &log,
    );
    let http = http();
    let owner = uuid::Uuid::new_v4();
    admin(
        &http,
        reqwest::Method::PUT,
        format!("{}/api/v1/admin/users/{owner}", served.base),
        json!({"display_name": "Ada", "client_id": "client-1", "codex_agents": true, "blocked": false}),
    )
    .await;
    let created = admin(
        &http,
        reqwest::Method::POST,
        format!("{}/api/v1/admin/agents", served.base),
        json!({"owner_id": owner, "name": "faulty", "grants": [{"project_id": project, "scopes": ["cards:read", "cards:write"]}]}),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let agent = created["agent_id"].as_str().unwrap().to_owned();
    let mcp = Mcp::connect(&http, &served.base, &token).await.unwrap();
    let create = |key: &str| {
        let mcp = mcp.clone();
        let args = json!({"idempotency_key": key, "project_id": project, "name": card_name(key)});
        async move { mcp.call("create_card", args).await.unwrap() }
    };
    assert_eq!(create("t-ok").await["isError"], false);

    // Slow: the Tasker stalls (SIGSTOP). Its socket still accepts, so the request is
    // delivered, but nothing answers within the timeout, on any attempt.
    signal(tasker.pid(), "-STOP");
    let stalled = create("t-slow").await;
    signal(tasker.pid(), "-CONT");
    assert_eq!(stalled["isError"], true, "{stalled}");
    let message = text(&stalled);
    assert!(
        // The pool's per-attempt timeout fires first (the HTTP client's is a backstop
        // half a second longer), so a stall reads as one, not as "could not be reached".
        message.contains("unavailable")
            && message.contains("with the same idempotency_key")
            && !message.contains("could not be reached"),
        "a stalled Tasker is a retryable tool error naming the key: {message}"
    );
    // The Tasker wakes up and may now apply what it was sent; the retry with the same
    // key must come back with that card, not a second one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_retry = cards_by_name(&mcp, &project).await;
    println!(
        "after SIGCONT, before the retry, the stalled write's card: {:?}",
        before_retry.get(&card_name("t-slow"))
    );
    let retried = retry_until_ok(&create, "t-slow", &log).await;
    assert_eq!(retried["isError"], false);

    // Down: the Tasker is killed.
    tasker.kill_9();
    let first = create("t-dead").await;
    assert_eq!(first["isError"], true, "{first}");
    let message = text(&first);
    assert!(
        message.contains("unavailable") && message.contains("with the same idempotency_key"),
        "a dead Tasker is a retryable tool error naming the key: {message}"
    );
    // Consecutive failures open the breaker: further calls are refused without trying.
    let mut paused = None;
    for attempt in 0..6 {
        let again = create("t-dead").await;
        assert_eq!(again["isError"], true, "{again}");
        if text(&again).contains("calls are paused") {
            paused = Some((attempt, text(&again)));
            break;
        }
    }
    let (attempt, message) = paused.expect("the breaker never opened");
    let opened = Instant::now();
    println!("breaker open on retry {attempt}: {message}");
    assert!(
        message.contains("Retry in ") && message.contains("same idempotency_key"),
        "{message}"
    );

    // The Tasker comes back on the same port and database. While the breaker is open
    // (10 s) calls are still refused without trying, although the Tasker would answer.
    let _tasker = tasker_serve(port, &tasker_db, false, &log);
    let still = create("t-dead").await;
    if opened.elapsed() < Duration::from_secs(8) {
        assert!(
            text(&still).contains("calls are paused"),
            "an open breaker refuses without calling the Tasker: {still}"
        );
    }
    let done = retry_until_ok(&create, "t-dead", &log).await;
    let card = done["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let replay = create("t-dead").await;
    assert_eq!(replay["structuredContent"]["key"], card, "{replay}");

    let cards = cards_by_name(&mcp, &project).await;
    for key in ["t-ok", "t-slow", "t-dead"] {
        assert_eq!(
            cards.get(&card_name(key)).map(Vec::len),
            Some(1),
            "{key}: exactly one card; all cards: {cards:?}"
        );
    }
    let rows = audit_rows(&http, &served.base, &agent).await;
    let outcomes = outcomes_by_key(&rows);
    for key in ["t-ok", "t-slow", "t-dead"] {
        assert!(
            outcomes[key].iter().any(|o| o == "allowed"),
            "{key}: {:?}",
            outcomes[key]
        );
    }
    assert!(
        outcomes["t-dead"].iter().any(|o| o == "failed"),
        "the refusals are audited failed: {:?}",
        outcomes["t-dead"]
    );
    drop(served);
}

/// Retries `key` until it succeeds (bounded: the breaker's cooldown is 10 s). On
/// failure, the end of both processes' log says what the gateway and the Tasker saw.
async fn retry_until_ok<F, Fut>(create: &F, key: &str, log: &Path) -> Value
where
    F: Fn(&str) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let started = Instant::now();
    loop {
        let result = create(key).await;
        if result["isError"] == false {
            println!("{key} succeeded after {:?}", started.elapsed());
            return result;
        }
        if started.elapsed() >= Duration::from_secs(60) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(80)..].join("\n");
            panic!("{key} still failing after 60 s: {result}\n--- the processes' log, last lines:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
