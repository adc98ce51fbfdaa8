//! `agent-gateway-load`: a load harness for a *running* Agent Gateway on loopback.
//!
//! It creates its own owner and `N` agents through the admin API (with a high rate
//! limit, so the gateway is measured rather than its limiter), then has every
//! simulated agent speak MCP over `/mcp` — `initialize`, `notifications/initialized`,
//! `tools/list`, then a mix of reads (`list_projects`, `search_cards`) and keyed
//! writes (`create_card`) — until the duration or the request budget runs out.
//! [`run`] returns a [`Report`]: latency percentiles per operation and errors by kind.

mod admin;
mod agent;
mod report;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::{OpStats, Report};

/// What one run does. Every bound is enforced: the run stops at `duration` or after
/// `max_requests` requests, whichever comes first.
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
    /// The project to work in, by id or identifier; the first listed when `None`.
    pub project: Option<String>,
    /// `rate_per_minute` and `rate_burst` given to each agent (1 to 1,000,000).
    pub agent_rate: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("admin_token", &"<redacted>")
            .field("agents", &self.agents)
            .field("duration", &self.duration)
            .field("max_requests", &self.max_requests)
            .field("writes_percent", &self.writes_percent)
            .field("project", &self.project)
            .field("agent_rate", &self.agent_rate)
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
    deadline: Instant,
    max: u64,
    sent: AtomicU64,
}

impl Budget {
    /// Takes a ticket for one more request; `false` once the run is over.
    pub(crate) fn take(&self) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        self.sent.fetch_add(1, Ordering::Relaxed) < self.max
    }
}

/// Runs the load: setup through the admin API, then `agents` simulated agents until
/// a bound is reached. Returns the report of the measured phase.
pub async fn run(config: Config) -> Result<Report, Error> {
    let base = loopback_base(&config.url)?;
    if config.agents == 0 || config.max_requests == 0 || config.duration.is_zero() {
        return Err(Error::Config(
            "--agents, --duration and --max-requests must be at least 1".into(),
        ));
    }
    if config.writes_percent > 100 {
        return Err(Error::Config("--writes is a percentage, 0 to 100".into()));
    }
    if !(1..=1_000_000).contains(&config.agent_rate) {
        return Err(Error::Config("--agent-rate is 1 to 1,000,000".into()));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let setup = admin::setup(&http, &base, &config).await?;

    let budget = Arc::new(Budget {
        deadline: Instant::now() + config.duration,
        max: config.max_requests,
        sent: AtomicU64::new(0),
    });
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in setup.tokens.into_iter().enumerate() {
        let sim = agent::SimAgent {
            http: http.clone(),
            mcp: format!("{base}/mcp"),
            token,
            project: setup.project.clone(),
            writes_percent: config.writes_percent,
            budget: budget.clone(),
            index: i,
        };
        tasks.spawn(sim.run());
    }
    let mut recorder = agent::Recorder::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(rec) => recorder.merge(rec),
            Err(e) => recorder.error(format!("harness: agent task failed: {e}")),
        }
    }
    Ok(Report::build(
        recorder,
        started.elapsed(),
        config.agents,
        setup.project,
    ))
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
