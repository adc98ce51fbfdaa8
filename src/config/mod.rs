//! Configuration: read once at start from the environment (flags may override), parsed
//! into types, and validated as a whole — every bad value is reported at once, each
//! naming its variable, and no secret is ever echoed.
//!
//! This file says what the configuration is; [`read`] reads and validates it
//! (`Config::from_env`, `Config::from_vars`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

mod read;

/// The gateway's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `GATEWAY_BIND`: where the HTTP server listens.
    pub bind: SocketAddr,
    /// `GATEWAY_DATABASE_URL`: the store.
    pub database: DatabaseUrl,
    /// `GATEWAY_ADMIN_TOKEN`: the admin bearer token. `None` on the embedded default
    /// means one is generated at first start, stored hashed and printed once.
    pub admin_token: Option<SecretString>,
    /// `GATEWAY_PUBLIC_URL`: how agents reach this gateway; used in setup text. When not
    /// set, `http://` plus the address actually bound.
    pub public_url: Url,
    /// Whether `public_url` was configured (else it follows the bound address).
    pub public_url_explicit: bool,
    /// `GATEWAY_TASKER`: which Tasker adapter serves the tools.
    pub tasker: TaskerKind,
    /// Bounds of Tasker calls.
    pub tasker_limits: TaskerLimits,
    /// `GATEWAY_RATE_PER_MINUTE` / `GATEWAY_RATE_BURST`: an agent's default rate limit.
    pub rate_per_minute: u32,
    /// See [`Config::rate_per_minute`].
    pub rate_burst: u32,
    /// `GATEWAY_MAX_BODY_BYTES`: the largest request body accepted.
    pub max_body_bytes: usize,
    /// `GATEWAY_REQUEST_TIMEOUT_SECS`: the longest any request may take.
    pub request_timeout: Duration,
    /// `GATEWAY_AGENT_IDLE_SECS`: an agent actor idle this long is stopped.
    pub agent_idle: Duration,
    /// `GATEWAY_MAX_STREAMS`: open `GET /mcp` streams on this replica, at most.
    pub max_streams: usize,
    /// `GATEWAY_MAX_STREAMS_PER_AGENT`: open `GET /mcp` streams of one agent, at most.
    pub max_streams_per_agent: usize,
    /// `GATEWAY_AUDIT_WRITERS`: audit writer actors.
    pub audit_writers: usize,
    /// `GATEWAY_AUDIT_MAX_BATCH`: the largest audit batch written at once.
    pub audit_max_batch: usize,
    /// `GATEWAY_AUDIT_MAX_DELAY_MS`: the longest a batch lingers for more rows.
    pub audit_max_delay: Duration,
    /// `GATEWAY_AUDIT_READ_DELAY_MS`: how long a batch of read rows, which no caller
    /// waits for, lingers for more.
    pub audit_read_delay: Duration,
    /// `GATEWAY_IDEMPOTENCY_TTL_HOURS`: how long a write's idempotency key is kept
    /// (at least 24 h).
    pub idempotency_ttl: chrono::Duration,
    /// `GATEWAY_ALLOWED_ORIGINS`: browser origins allowed to call `/mcp` (comma
    /// separated); empty means the public URL's origin. Requests without `Origin`
    /// (Codex, SDKs) are always allowed.
    pub allowed_origins: Vec<String>,
    /// `GATEWAY_LAUNCHER_SECRET`: the HMAC secret of Launcher's webhook; the webhook is
    /// off without it.
    pub launcher_secret: Option<SecretString>,
    /// `GATEWAY_LAUNCHER_URL` and `GATEWAY_LAUNCHER_TOKEN`: Launcher's access check;
    /// without them the gateway's user table (the admin API) decides entitlements.
    pub launcher: Option<(Url, SecretString)>,
    /// `GATEWAY_SESSION_STALE_SECS`: an open work session with neither a report nor a
    /// call for this long is `stale` (default 300, as Plane's agent runs).
    pub session_stale: Duration,
    /// `GATEWAY_ACTIVE_SECS`: an agent that made a call this recently is `active` on the
    /// live status (default 120); otherwise `idle`.
    pub active_window: Duration,
    /// `GATEWAY_RECONCILE_SECS`: how often standing changes are re-read from the store,
    /// catching any cross-replica revocation whose notification was missed.
    pub reconcile_every: Duration,
    /// `GATEWAY_LOG_FORMAT`: `text` or `json`.
    pub log_json: bool,
    /// `--demo`: seed the demo owner, projects and agent.
    pub demo: bool,
}

impl Config {
    /// Whether a write's intent row may be committed without waiting for the disk: the
    /// Tasker is the embedded tracker in the same Postgres database, so the commit of
    /// its change, which waits for the disk, makes the intent (committed before it, in
    /// the same write-ahead log) durable first. SQLite commits wait for the disk anyway;
    /// a Tasker elsewhere (Plane, nodedc) gets a flushed intent before it is called.
    pub fn tasker_commit_flushes_intents(&self) -> bool {
        matches!(self.tasker, TaskerKind::Embedded) && self.database.expose_postgres().is_some()
    }
}

/// Which Tasker adapter the gateway uses.
#[derive(Debug, Clone)]
pub enum TaskerKind {
    /// The built-in tracker, stored in the gateway's own database.
    Embedded,
    /// The Tasker's internal adapter namespace, over HTTP.
    Nodedc {
        /// `GATEWAY_TASKER_URL`: the Tasker's base URL.
        url: Url,
        /// `GATEWAY_TASKER_TOKEN`: the internal service token.
        token: SecretString,
    },
    /// Stock Plane's public REST API v1 (`tasker::plane`).
    Plane {
        /// `GATEWAY_PLANE_URL`: Plane's base URL (the API is under `/api/v1/`).
        url: Url,
        /// `GATEWAY_PLANE_WORKSPACE`: the workspace slug.
        workspace: String,
        /// `GATEWAY_PLANE_API_KEY`: the bot member's API key, sent as `X-Api-Key`.
        api_key: SecretString,
    },
}

/// How Tasker calls are pooled (see `tasker::pool`).
#[derive(Debug, Clone, Copy)]
pub struct TaskerLimits {
    /// `GATEWAY_TASKER_CONCURRENCY`: calls in flight at most.
    pub concurrency: usize,
    /// `GATEWAY_TASKER_TIMEOUT_SECS`: timeout of one attempt.
    pub timeout: Duration,
    /// `GATEWAY_TASKER_RETRIES`: retries of transient failures.
    pub retries: u32,
    /// `GATEWAY_TASKER_BUDGET_PER_MINUTE`: calls per minute, when the Tasker throttles
    /// (for Plane: HTTP requests per minute, 60 unless set, Plane's default throttle).
    pub budget_per_minute: Option<u32>,
}

/// The store's address. `Debug` and `Display` mask any password.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A SQLite file, created when missing.
    Sqlite(PathBuf),
    /// A Postgres connection URL.
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// Whether this is the embedded default engine.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }

    fn parse(raw: &str) -> Result<Self, String> {
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Url::parse(raw).map_err(|e| format!("not a valid Postgres URL: {e}"))?;
            Ok(DatabaseUrl::Postgres(SecretString::from(raw.to_owned())))
        } else if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(
                    "a sqlite: URL needs a file path, e.g. sqlite://data/gateway.db".into(),
                );
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else {
            Err("use postgres://… for Postgres or sqlite://PATH for SQLite".into())
        }
    }

    /// The Postgres URL, for connecting. Never log it.
    pub fn expose_postgres(&self) -> Option<&str> {
        match self {
            DatabaseUrl::Postgres(url) => Some(url.expose_secret()),
            DatabaseUrl::Sqlite(_) => None,
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match Url::parse(url.expose_secret()) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("****"));
                    }
                    write!(f, "{url}")
                }
                Err(_) => f.write_str("postgres://(unparseable)"),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Values given as command-line flags; each wins over its variable.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--bind`.
    pub bind: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--demo`.
    pub demo: bool,
    /// Validating for `serve` (which needs an admin credential), not for `migrate`.
    pub serving: bool,
}

/// One bad setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable (or flag) at fault.
    pub var: &'static str,
    /// What is wrong and what would be right. Never contains the value of a secret.
    pub message: String,
}

/// Every bad setting found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {}: {}", e.var, e.message)?;
        }
        Ok(())
    }
}

/// The range of a rate limit, calls per minute or burst: the defaults
/// (`GATEWAY_RATE_PER_MINUTE`, `GATEWAY_RATE_BURST`) and every per-agent limit.
pub const RATE_LIMITS: std::ops::RangeInclusive<u32> = 1..=1_000_000;

/// Default SQLite file of the embedded default.
pub const DEFAULT_DATABASE: &str = "sqlite://data/gateway.db";
