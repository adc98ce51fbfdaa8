//! Reading the configuration: every `GATEWAY_*` variable parsed, defaulted and checked,
//! with all problems collected before any is reported.

use std::collections::HashMap;
use std::fmt;

use super::*;

struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn raw(&self, var: &str) -> Option<&str> {
        self.vars
            .get(var)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn fail(&mut self, var: &'static str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            var,
            message: message.into(),
        });
    }

    /// Parses `var` as a number in `min..=max`, or returns `default`.
    fn number<T>(&mut self, var: &'static str, default: T, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.raw(var) else {
            return default;
        };
        match raw.trim().parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            Ok(_) | Err(_) => {
                self.fail(
                    var,
                    format!("expected a whole number from {min} to {max}, got {raw:?}"),
                );
                default
            }
        }
    }
}

impl Config {
    /// Reads the process environment plus flag overrides.
    pub fn from_env(overrides: Overrides) -> Result<Self, ConfigErrors> {
        Self::from_vars(&std::env::vars().collect(), overrides)
    }

    /// Parses and validates a set of variables. Pure, so tests need no process env.
    pub fn from_vars(
        vars: &HashMap<String, String>,
        overrides: Overrides,
    ) -> Result<Self, ConfigErrors> {
        let mut r = Reader {
            vars,
            errors: Vec::new(),
        };
        let default_bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let bind_raw = overrides
            .bind
            .clone()
            .or_else(|| r.raw("GATEWAY_BIND").map(str::to_owned));
        let bind = match bind_raw {
            None => default_bind,
            Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
                r.fail(
                    "GATEWAY_BIND",
                    format!("expected HOST:PORT such as 127.0.0.1:8080, got {raw:?}"),
                );
                default_bind
            }),
        };

        let db_raw = overrides
            .database_url
            .clone()
            .or_else(|| r.raw("GATEWAY_DATABASE_URL").map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let database = DatabaseUrl::parse(db_raw.trim()).unwrap_or_else(|message| {
            // The URL may carry a password: say what is wrong, not what it was.
            r.fail("GATEWAY_DATABASE_URL", message);
            DatabaseUrl::Sqlite(PathBuf::from("data/gateway.db"))
        });

        let admin_token = r
            .raw("GATEWAY_ADMIN_TOKEN")
            .map(|t| SecretString::from(t.trim().to_owned()));
        if let Some(token) = &admin_token {
            if token.expose_secret().len() < 32 {
                r.fail(
                    "GATEWAY_ADMIN_TOKEN",
                    "must be at least 32 characters (try: openssl rand -hex 32)",
                );
            }
        } else if overrides.serving && !database.is_sqlite() {
            r.fail(
                "GATEWAY_ADMIN_TOKEN",
                "is required with Postgres; only the embedded SQLite default generates one",
            );
        }

        let public_raw = overrides
            .public_url
            .clone()
            .or_else(|| r.raw("GATEWAY_PUBLIC_URL").map(str::to_owned))
            .unwrap_or_else(|| format!("http://{bind}"));
        let public_url = match Url::parse(public_raw.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            Ok(_) | Err(_) => {
                r.fail("GATEWAY_PUBLIC_URL", format!("expected an http(s) URL such as https://gateway.example.com, got {public_raw:?}"));
                None
            }
        };

        let tasker = match r.raw("GATEWAY_TASKER").map(str::trim) {
            None | Some("embedded") => TaskerKind::Embedded,
            Some("nodedc") => {
                let url = match r.raw("GATEWAY_TASKER_URL").map(|u| Url::parse(u.trim())) {
                    Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => Some(url),
                    Some(_) => {
                        r.fail(
                            "GATEWAY_TASKER_URL",
                            "expected the Tasker's http(s) base URL",
                        );
                        None
                    }
                    None => {
                        r.fail(
                            "GATEWAY_TASKER_URL",
                            "is required with GATEWAY_TASKER=nodedc",
                        );
                        None
                    }
                };
                let token = r
                    .raw("GATEWAY_TASKER_TOKEN")
                    .map(|t| SecretString::from(t.trim().to_owned()));
                if token.is_none() {
                    r.fail(
                        "GATEWAY_TASKER_TOKEN",
                        "is required with GATEWAY_TASKER=nodedc (the internal service token)",
                    );
                }
                match (url, token) {
                    (Some(url), Some(token)) => TaskerKind::Nodedc { url, token },
                    _ => TaskerKind::Embedded,
                }
            }
            Some("plane") => plane(&mut r),
            Some(other) => {
                r.fail(
                    "GATEWAY_TASKER",
                    format!("unknown Tasker adapter {other:?}; use embedded, nodedc or plane"),
                );
                TaskerKind::Embedded
            }
        };
        // Plane throttles an API key at 60 requests a minute unless its operator set
        // API_KEY_RATE_LIMIT; the budget follows that default.
        let default_budget = match tasker {
            TaskerKind::Plane { .. } => 60,
            _ => 0,
        };
        let budget = r.number(
            "GATEWAY_TASKER_BUDGET_PER_MINUTE",
            default_budget,
            0,
            1_000_000,
        );
        let tasker_limits = TaskerLimits {
            concurrency: r.number("GATEWAY_TASKER_CONCURRENCY", 16usize, 1, 1024),
            timeout: Duration::from_secs(r.number("GATEWAY_TASKER_TIMEOUT_SECS", 8u64, 1, 300)),
            retries: r.number("GATEWAY_TASKER_RETRIES", 2u32, 0, 10),
            budget_per_minute: (budget > 0).then_some(budget),
        };

        let (rate_min, rate_max) = (*RATE_LIMITS.start(), *RATE_LIMITS.end());
        let rate_per_minute = r.number("GATEWAY_RATE_PER_MINUTE", 120u32, rate_min, rate_max);
        let rate_burst = r.number("GATEWAY_RATE_BURST", 30u32, rate_min, rate_max);
        let max_body_bytes = r.number("GATEWAY_MAX_BODY_BYTES", 1usize << 20, 1024, 64 << 20);
        let request_timeout =
            Duration::from_secs(r.number("GATEWAY_REQUEST_TIMEOUT_SECS", 30u64, 1, 3600));
        let agent_idle =
            Duration::from_secs(r.number("GATEWAY_AGENT_IDLE_SECS", 300u64, 1, 86_400));
        let max_streams = r.number("GATEWAY_MAX_STREAMS", 20_000usize, 1, 1_000_000);
        let max_streams_per_agent = r.number("GATEWAY_MAX_STREAMS_PER_AGENT", 4usize, 1, 64);
        // SQLite takes one writer at a time, whose connection then keeps its page cache
        // warm from batch to batch; Postgres inserts two batches side by side.
        let audit_writers_default = if database.is_sqlite() { 1usize } else { 2 };
        let audit_writers = r.number("GATEWAY_AUDIT_WRITERS", audit_writers_default, 1, 64);
        let audit_max_batch = r.number("GATEWAY_AUDIT_MAX_BATCH", 512usize, 1, 10_000);
        let audit_max_delay =
            Duration::from_millis(r.number("GATEWAY_AUDIT_MAX_DELAY_MS", 1u64, 0, 1000));
        let audit_read_delay =
            Duration::from_millis(r.number("GATEWAY_AUDIT_READ_DELAY_MS", 20u64, 0, 1000));
        let idempotency_ttl =
            chrono::Duration::hours(r.number("GATEWAY_IDEMPOTENCY_TTL_HOURS", 24i64, 24, 24 * 90));
        let mut allowed_origins: Vec<String> = Vec::new();
        if let Some(raw) = r.raw("GATEWAY_ALLOWED_ORIGINS").map(str::to_owned) {
            for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                match crate::mcp::origin::parse(origin) {
                    Ok(o) => allowed_origins.push(o),
                    Err(why) => r.fail(
                        "GATEWAY_ALLOWED_ORIGINS",
                        format!(
                            "{origin:?} is not an origin ({why}); write each as scheme://host[:port], \
                             such as https://tasker.example.com"
                        ),
                    ),
                }
            }
        }
        let launcher_secret = r
            .raw("GATEWAY_LAUNCHER_SECRET")
            .map(|t| SecretString::from(t.trim().to_owned()));
        if launcher_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 32)
        {
            r.fail("GATEWAY_LAUNCHER_SECRET", "must be at least 32 characters");
        }
        let launcher = match (
            r.raw("GATEWAY_LAUNCHER_URL").map(str::to_owned),
            r.raw("GATEWAY_LAUNCHER_TOKEN").map(str::to_owned),
        ) {
            (None, None) => None,
            (Some(url), Some(token)) => match Url::parse(url.trim()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {
                    Some((url, SecretString::from(token.trim().to_owned())))
                }
                _ => {
                    r.fail(
                        "GATEWAY_LAUNCHER_URL",
                        "expected Launcher's http(s) base URL",
                    );
                    None
                }
            },
            (Some(_), None) => {
                r.fail(
                    "GATEWAY_LAUNCHER_TOKEN",
                    "is required with GATEWAY_LAUNCHER_URL",
                );
                None
            }
            (None, Some(_)) => {
                r.fail(
                    "GATEWAY_LAUNCHER_URL",
                    "is required with GATEWAY_LAUNCHER_TOKEN",
                );
                None
            }
        };
        let session_stale =
            Duration::from_secs(r.number("GATEWAY_SESSION_STALE_SECS", 300u64, 1, 86_400));
        let active_window = Duration::from_secs(r.number("GATEWAY_ACTIVE_SECS", 120u64, 1, 86_400));
        let reconcile_every =
            Duration::from_secs(r.number("GATEWAY_RECONCILE_SECS", 10u64, 1, 3600));
        let log_json = match r.raw("GATEWAY_LOG_FORMAT").map(str::trim) {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                r.fail(
                    "GATEWAY_LOG_FORMAT",
                    format!("expected text or json, got {other:?}"),
                );
                false
            }
        };

        let (Some(public_url), true) = (public_url, r.errors.is_empty()) else {
            return Err(ConfigErrors(r.errors));
        };
        // A tool call must be able to finish every Tasker attempt inside the request
        // timeout, or it would be cut off with its idempotency key still in flight.
        let worst = tasker_limits.timeout.as_secs() * (u64::from(tasker_limits.retries) + 1) + 2;
        if worst >= request_timeout.as_secs() {
            r.fail(
                "GATEWAY_TASKER_TIMEOUT_SECS",
                format!(
                    "{}s × {} attempts (GATEWAY_TASKER_RETRIES + 1) plus backoff must stay under GATEWAY_REQUEST_TIMEOUT_SECS ({}s)",
                    tasker_limits.timeout.as_secs(),
                    tasker_limits.retries + 1,
                    request_timeout.as_secs()
                ),
            );
        }
        let public_url_explicit =
            overrides.public_url.is_some() || r.raw("GATEWAY_PUBLIC_URL").is_some();
        Ok(Config {
            bind,
            database,
            admin_token,
            public_url,
            public_url_explicit,
            tasker,
            tasker_limits,
            rate_per_minute,
            rate_burst,
            max_body_bytes,
            request_timeout,
            agent_idle,
            max_streams,
            max_streams_per_agent,
            audit_writers,
            audit_max_batch,
            audit_max_delay,
            audit_read_delay,
            idempotency_ttl,
            allowed_origins,
            reconcile_every,
            session_stale,
            active_window,
            launcher_secret,
            launcher,
            log_json,
            demo: overrides.demo,
        })
    }
}

/// `GATEWAY_TASKER=plane`: Plane's base URL, the workspace slug and the API key, each
/// required and checked; the key is never echoed.
fn plane(r: &mut Reader<'_>) -> TaskerKind {
    let url = match r.raw("GATEWAY_PLANE_URL").map(|u| Url::parse(u.trim())) {
        Some(Ok(url)) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
        Some(_) => {
            r.fail(
                "GATEWAY_PLANE_URL",
                "expected Plane's http(s) base URL, such as https://plane.example.com (the API is under /api/v1/)",
            );
            None
        }
        None => {
            r.fail(
                "GATEWAY_PLANE_URL",
                "is required with GATEWAY_TASKER=plane (Plane's base URL)",
            );
            None
        }
    };
    let workspace = r
        .raw("GATEWAY_PLANE_WORKSPACE")
        .map(|w| w.trim().to_owned());
    match &workspace {
        None => r.fail(
            "GATEWAY_PLANE_WORKSPACE",
            "is required with GATEWAY_TASKER=plane (the workspace slug, as in https://plane.example.com/<slug>/projects)",
        ),
        Some(w)
            if !w
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            r.fail(
                "GATEWAY_PLANE_WORKSPACE",
                format!("{w:?} is not a workspace slug; use the slug from Plane's URL (letters, digits, '-' and '_')"),
            )
        }
        Some(_) => {}
    }
    let api_key = r
        .raw("GATEWAY_PLANE_API_KEY")
        .map(|k| SecretString::from(k.trim().to_owned()));
    if api_key.is_none() {
        r.fail(
            "GATEWAY_PLANE_API_KEY",
            "is required with GATEWAY_TASKER=plane (an API key of a dedicated bot member: Profile settings → Personal access tokens)",
        );
    }
    match (url, workspace, api_key) {
        (Some(url), Some(workspace), Some(api_key)) => TaskerKind::Plane {
            url,
            workspace,
            api_key,
        },
        _ => TaskerKind::Embedded,
    }
}
