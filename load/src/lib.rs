//! `agent-gateway-load`: a load harness for a *running* Agent Gateway on loopback.
//!
//! It creates its own owners and `N` agents through the admin API (with a high rate
//! limit, so the gateway is measured rather than its limiter), connects every
//! simulated agent over `/mcp` — `initialize`, `notifications/initialized`,
//! `tools/list`, optionally a `GET /mcp` stream held open — and, once all are
//! connected, has each run a mix of reads (`list_projects`, `search_cards`), keyed
//! writes (`create_card`) and work-session reports (`start_work_session`,
//! `update_work_session`, `finish_work_session`) until the duration or the request
//! budget runs out, back to back or paced at a fixed total rate. During the run it
//! can revoke agents and block an owner and measure how fast that takes effect, on
//! this replica and another (`revoke.rs`). [`run`] returns a [`Report`]: throughput,
//! latency percentiles per operation, errors by kind, the per-second series, gateway
//! memory and the revocation figures. `baseline.rs` is the bare axum server the
//! gateway is compared with, `summary.rs` the comparison, `svg.rs` the plot.

mod admin;
mod agent;
pub mod baseline;
mod report;
mod revoke;
pub mod summary;
pub mod svg;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::{stats_ms, Memory, MsStats, OpStats, Report, Second, Setup};
pub use revoke::{RevocationEvent, RevocationReport};

/// What one run does. Every bound is enforced: the measured phase stops at
/// `duration` or after `max_requests` requests, whichever comes first.
#[derive(Clone)]
pub struct Config {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8080`. Must be loopback.
    pub url: String,
    /// The gateway's admin token (`GATEWAY_ADMIN_TOKEN`).
    pub admin_token: String,
    /// How many simulated agents (each one MCP session, one concurrent request).
    pub agents: usize,
    /// How long the measured phase lasts.
    pub duration: Duration,
    /// The most requests sent in all (MCP requests, notifications included).
    pub max_requests: u64,
    /// The share of tool calls that are writes (`create_card`), 0 to 100.
    pub writes_percent: u8,
    /// The share of tool calls that are work-session reports, 0 to 100 (with
    /// `writes_percent`, at most 100): start, two updates, finish, in turn.
    pub sessions_percent: u8,
    /// The reads, taken in turn: `list_projects`, `search_cards`, `get_project_context`.
    pub read_tools: Vec<String>,
    /// The project to work in, by id or identifier; the first listed when `None`.
    pub project: Option<String>,
    /// `rate_per_minute` and `rate_burst` given to each agent (1 to 1,000,000).
    pub agent_rate: u32,
    /// Owners the agents are spread over (round robin).
    pub owners: usize,
    /// Agents created at once through the admin API.
    pub create_concurrency: usize,
    /// Agents in their handshake at once.
    pub connect_concurrency: usize,
    /// Each agent holds a `GET /mcp` stream open from its handshake to the end.
    pub streams: bool,
    /// Tool calls per second offered by all agents together (open loop); `None`:
    /// every agent calls back to back (closed loop).
    pub rate: Option<f64>,
    /// Agents revoked during the run (one after the other, 10 ms apart).
    pub revoke: usize,
    /// When the admin actions start, into the measured phase.
    pub revoke_at: Duration,
    /// Block the last owner after the revocations (needs `owners` ≥ 2).
    pub block_owner: bool,
    /// Another replica on the same database, for the cross-replica propagation.
    pub replica_url: Option<String>,
    /// The gateway's process id, for its RSS.
    pub gateway_pid: Option<u32>,
    /// Target a bare server (`baseline`): no admin setup, no streams, no revocation.
    pub baseline: bool,
}

impl Config {
    /// A configuration with the defaults of the command line.
    pub fn new(url: impl Into<String>, admin_token: impl Into<String>) -> Self {
        Config {
            url: url.into(),
            admin_token: admin_token.into(),
            agents: 10,
            duration: Duration::from_secs(10),
            max_requests: 100_000,
            writes_percent: 20,
            sessions_percent: 0,
            read_tools: vec!["list_projects".into(), "search_cards".into()],
            project: None,
            agent_rate: 1_000_000,
            owners: 1,
            create_concurrency: 16,
            connect_concurrency: 64,
            streams: false,
            rate: None,
            revoke: 0,
            revoke_at: Duration::from_secs(1),
            block_owner: false,
            replica_url: None,
            gateway_pid: None,
            baseline: false,
        }
    }

    /// The configuration as JSON, without the admin token.
    pub fn scenario(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url, "agents": self.agents, "duration_secs": self.duration.as_secs_f64(),
            "max_requests": self.max_requests, "writes_percent": self.writes_percent,
            "sessions_percent": self.sessions_percent, "read_tools": self.read_tools,
            "project": self.project, "agent_rate": self.agent_rate, "owners": self.owners,
            "create_concurrency": self.create_concurrency,
            "connect_concurrency": self.connect_concurrency, "streams": self.streams,
            "rate": self.rate, "revoke": self.revoke, "revoke_at_secs": self.revoke_at.as_secs_f64(),
            "block_owner": self.block_owner, "replica_url": self.replica_url,
            "gateway_pid": self.gateway_pid, "baseline": self.baseline,
        })
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("scenario", &self.scenario())
            .field("admin_token", &"<redacted>")
            .finish()
    }
}

/// Why a run could not start or complete its setup. Errors *during* the measured
/// phase are not failures of the run: they are counted in the [`Report`].
#[derive(Debug)]
pub enum Error {
    /// The configuration is unusable (not loopback, a bound of zero, …).
    Config(String),
    /// The admin API answered something unexpected while setting up.
    Setup(String),
    /// An HTTP request failed at the transport level while setting up.
    Http(reqwest::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "configuration: {m}"),
            Error::Setup(m) => write!(f, "setup: {m}"),
            Error::Http(e) => write!(f, "http: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error::Http(e)
    }
}

/// Checks that `url` is an `http` URL whose host is loopback (`localhost`,
/// `127.0.0.0/8` or `::1`); returns it without a trailing slash.
pub fn loopback_base(url: &str) -> Result<String, Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::Config(format!("{url}: {e}")))?;
    if parsed.scheme() != "http" {
        return Err(Error::Config(format!(
            "{url}: only http:// on loopback is supported"
        )));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback {
        return Err(Error::Config(format!(
            "{url}: refusing a non-loopback gateway; this harness only targets 127.0.0.1, ::1 or localhost"
        )));
    }
    if parsed.path() != "/" || parsed.query().is_some() {
        return Err(Error::Config(format!(
            "{url}: give the base URL only (no path or query)"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// The run-wide bounds every agent checks before each request.
#[derive(Debug)]
pub(crate) struct Budget {
    origin: Instant,
    /// Nanoseconds after `origin`; `u64::MAX` until the measured phase starts.
    deadline_ns: AtomicU64,
    max: u64,
    sent: AtomicU64,
    pub(crate) agents: usize,
}

impl Budget {
    /// Takes a ticket for one more request; `false` once the run is over.
    pub(crate) fn take(&self) -> bool {
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now >= self.deadline_ns.load(Ordering::Relaxed) {
            return false;
        }
        self.sent.fetch_add(1, Ordering::Relaxed) < self.max
    }

    /// When the measured phase ends, once it has started.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.deadline_ns.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(self.origin + Duration::from_nanos(ns)),
        }
    }

    fn set_deadline(&self, at: Instant) {
        let ns =
            u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX);
        self.deadline_ns.store(ns, Ordering::Relaxed);
    }
}

/// VmRSS of a process, kB, from `/proc/<pid>/status`.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time (user + system) of a process, seconds, from `/proc/<pid>/stat`
/// (`"self"` for this one), assuming the usual 100 clock ticks per second.
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Runs the load: setup through the admin API, the handshake of every agent, then
/// the measured phase until a bound is reached, with the admin actions during it.
pub async fn run(config: Config) -> Result<Report, Error> {
    let base = loopback_base(&config.url)?;
    let replica = config
        .replica_url
        .as_deref()
        .map(loopback_base)
        .transpose()?;
    if config.agents == 0 || config.max_requests == 0 || config.duration.is_zero() {
        return Err(Error::Config(
            "--agents, --duration and --max-requests must be at least 1".into(),
        ));
    }
    if u16::from(config.writes_percent) + u16::from(config.sessions_percent) > 100 {
        return Err(Error::Config(
            "--writes and --sessions are percentages and add up to at most 100".into(),
        ));
    }
    if !(1..=1_000_000).contains(&config.agent_rate) {
        return Err(Error::Config("--agent-rate is 1 to 1,000,000".into()));
    }
    if let Some(r) = config.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::Config("--rate must be above 0".into()));
        }
    }
    for t in &config.read_tools {
        if !["list_projects", "search_cards", "get_project_context"].contains(&t.as_str()) {
            return Err(Error::Config(format!(
                "--reads: {t} is not list_projects, search_cards or get_project_context"
            )));
        }
    }
    // No client-wide timeout: streams stay open; each POST carries its own.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let pid = config.gateway_pid;
    let sample = || pid.and_then(rss_kb);
    let mut memory = Memory {
        gateway_pid: pid,
        rss_start_kb: sample(),
        ..Memory::default()
    };

    let setup = if config.baseline {
        admin::Setup {
            project: "baseline".into(),
            agents: (0..config.agents)
                .map(|i| (0, format!("baseline-{i}"), "ndcag_baseline".to_owned()))
                .collect(),
            owners: Vec::new(),
            create_secs: 0.0,
        }
    } else {
        admin::setup(&http, &base, &config).await?
    };
    let mut setup_report = Setup {
        agents_created: if config.baseline {
            0
        } else {
            setup.agents.len() as u64
        },
        owners: setup.owners.len() as u64,
        create_concurrency: config.create_concurrency,
        create_secs: setup.create_secs,
        create_per_sec: if setup.create_secs > 0.0 {
            setup.agents.len() as f64 / setup.create_secs
        } else {
            0.0
        },
        connect_concurrency: config.connect_concurrency,
        connect_secs: 0.0,
    };
    memory.rss_before_connect_kb = sample();

    let budget = Arc::new(Budget {
        origin: Instant::now(),
        deadline_ns: AtomicU64::new(u64::MAX),
        max: config.max_requests,
        sent: AtomicU64::new(0),
        agents: config.agents,
    });
    let (go_tx, go_rx) = tokio::sync::watch::channel(None);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(agent::Shared {
        http: http.clone(),
        mcp: format!("{base}/mcp"),
        project: setup.project.clone(),
        mix: agent::Mix {
            writes_percent: config.writes_percent,
            sessions_percent: config.sessions_percent,
            read_tools: config.read_tools.clone(),
            interval: config
                .rate
                .map(|r| Duration::from_secs_f64(config.agents as f64 / r)),
            streams: config.streams && !config.baseline,
        },
        budget: budget.clone(),
        connect: Arc::new(tokio::sync::Semaphore::new(
            config.connect_concurrency.max(1),
        )),
        go: go_rx,
        connected: conn_tx,
        stop: stop_rx,
    });
    let states: Vec<Arc<agent::AgentState>> = setup
        .agents
        .iter()
        .enumerate()
        .map(|(i, (o, id, token))| {
            Arc::new(agent::AgentState::new(i, *o, id.clone(), token.clone()))
        })
        .collect();
    let connect_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for state in &states {
        let sim = agent::SimAgent {
            shared: shared.clone(),
            state: state.clone(),
        };
        tasks.spawn(sim.run());
    }
    drop(shared);
    let mut connected = 0u64;
    for _ in 0..states.len() {
        match conn_rx.recv().await {
            Some(true) => connected += 1,
            Some(false) => {}
            None => break,
        }
    }
    setup_report.connect_secs = connect_started.elapsed().as_secs_f64();
    memory.connected_agents = connected;
    memory.streams_open = states
        .iter()
        .filter(|s| s.stream_open.load(Ordering::SeqCst))
        .count() as u64;
    memory.rss_connected_kb = sample();
    if let (Some(before), Some(after)) = (memory.rss_before_connect_kb, memory.rss_connected_kb) {
        if connected > 0 {
            memory.rss_per_agent_kb = Some((after as f64 - before as f64) / connected as f64);
        }
    }

    // The measured phase.
    let gw_cpu0 = pid.and_then(|p| cpu_secs(&p.to_string()));
    let gen_cpu0 = cpu_secs("self");
    let started = Instant::now();
    budget.set_deadline(started + config.duration);
    let _ = go_tx.send(Some(started));
    let sampler = pid.map(|pid| {
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Some(kb) = rss_kb(pid) {
                            samples.push((started.elapsed().as_secs(), kb));
                        }
                    }
                    _ = stop.changed() => return samples,
                }
            }
        })
    });
    let controller = (!config.baseline && (config.revoke > 0 || config.block_owner)).then(|| {
        let c = revoke::Controller {
            http: http.clone(),
            base: base.clone(),
            replica: replica.clone(),
            admin_token: config.admin_token.clone(),
            agents: states.clone(),
            owners: setup.owners.clone(),
            revoke_count: config.revoke,
            block_owner: config.block_owner,
        };
        let at = started + config.revoke_at;
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            c.run().await
        })
    });
    let mut recorder = agent::Recorder::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(rec) => recorder.merge(rec),
            Err(e) => recorder.error(format!("harness: agent task failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    let gw_cpu = match (gw_cpu0, pid.and_then(|p| cpu_secs(&p.to_string()))) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    memory.gateway_cpu_secs = gw_cpu;
    memory.generator_cpu_secs = cpu_secs("self").zip(gen_cpu0).map(|(b, a)| b - a);
    memory.gateway_cpu_us_per_call = gw_cpu
        .filter(|_| recorder.calls > 0)
        .map(|c| c * 1e6 / recorder.calls as f64);
    let revocation = match controller {
        Some(h) => match h.await {
            Ok(mut r) => {
                r.summarise();
                Some(r)
            }
            Err(e) => {
                recorder.error(format!("harness: controller failed: {e}"));
                None
            }
        },
        None => None,
    };
    let _ = stop_tx.send(true);
    let rss_series = match sampler {
        Some(h) => h.await.unwrap_or_default(),
        None => Vec::new(),
    };
    memory.rss_peak_kb = rss_series.iter().map(|(_, kb)| *kb).max();
    memory.rss_end_kb = sample();
    Ok(Report::build(
        recorder,
        elapsed,
        config.agents,
        setup.project,
        config.scenario(),
        setup_report,
        memory,
        revocation,
        &rss_series,
    ))
}

/// Creates one agent (as a run's setup would) and returns the gateway's raw answer
/// to its authenticated `tools/call list_projects`, for the bare baseline server.
pub async fn capture(config: &Config) -> Result<Vec<u8>, Error> {
    let base = loopback_base(&config.url)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let one = Config {
        agents: 1,
        owners: 1,
        ..config.clone()
    };
    let setup = admin::setup(&http, &base, &one).await?;
    let token = setup
        .agents
        .first()
        .map(|a| a.2.clone())
        .ok_or_else(|| Error::Setup("no agent was created".into()))?;
    let mcp = format!("{base}/mcp");
    let post = |body: serde_json::Value, session: Option<&str>| {
        let mut r = http
            .post(&mcp)
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", agent::PROTOCOL);
        }
        r.send()
    };
    let init = post(
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": agent::PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "agent-gateway-load", "version": env!("CARGO_PKG_VERSION")}}}),
        None,
    )
    .await?;
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Error::Setup(format!("initialize answered {}", init.status())))?;
    post(
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await?;
    let resp = post(
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                           "params": {"name": "list_projects", "arguments": {}}}),
        Some(&session),
    )
    .await?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?.to_vec();
    let ok = serde_json::from_slice::<serde_json::Value>(&bytes)
        .map(|v| v["result"]["isError"] == serde_json::json!(false))
        .unwrap_or(false);
    if status != 200 || !ok {
        return Err(Error::Setup(format!(
            "list_projects answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_accepted() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3:9/",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(loopback_base(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            loopback_base("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "https://127.0.0.1:8080",
            "http://0.0.0.0:8080",
            "http://127.0.0.1:8080/mcp",
            "not a url",
        ] {
            assert!(loopback_base(bad).is_err(), "{bad}");
        }
    }
}
