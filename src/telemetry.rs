//! Logging: `tracing` to stderr, as text or JSON; the filter comes from `RUST_LOG`
//! (default `info`). Tokens and secrets are never logged: types that hold them have no
//! `Display` and a masking `Debug`. Colours only when stderr is a terminal: a log file
//! or a collector gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call twice (the second call does nothing).
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
