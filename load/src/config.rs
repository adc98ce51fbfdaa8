//! What one run is asked to do ([`Config`]), what can go wrong ([`Error`]), and the
//! check that the target is on loopback.

use std::fmt;
use std::time::Duration;

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
