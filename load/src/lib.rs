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
mod answer;
pub mod baseline;
mod config;
mod procfs;
mod recorder;
mod report;
mod revoke;
pub mod summary;
pub mod svg;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{loopback_base, Config, Error};
pub use procfs::{cpu_secs, rss_kb};
pub use report::{stats_ms, Memory, MsStats, OpStats, Report, Second, Setup};
pub use revoke::{RevocationEvent, RevocationReport};

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
    let mut recorder = recorder::Recorder::default();
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
