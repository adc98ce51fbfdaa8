//! The `agent-gateway-load` binary: parse the command line, run the load, print the
//! table, optionally write the JSON report. The admin token is read only from
//! `GATEWAY_ADMIN_TOKEN`, never from the command line (it would show in `ps`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent_gateway_load::{run, Config};
use clap::Parser;

/// Load a running Agent Gateway on loopback with simulated MCP agents.
#[derive(Debug, Parser)]
#[command(name = "agent-gateway-load", version)]
struct Args {
    /// The gateway's base URL; must be loopback (127.0.0.0/8, ::1, localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Simulated agents, each one MCP session with one request in flight.
    #[arg(long, default_value_t = 10)]
    agents: usize,
    /// Length of the measured phase, seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The most requests sent in all (the run stops at whichever bound comes first).
    #[arg(long, default_value_t = 100_000)]
    max_requests: u64,
    /// Share of tool calls that are writes (create_card), 0 to 100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    writes: u8,
    /// The project to work in (id or identifier); the first the Tasker lists if absent.
    #[arg(long)]
    project: Option<String>,
    /// rate_per_minute and rate_burst of each created agent (1 to 1,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    agent_rate: u32,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Ok(admin_token) = std::env::var("GATEWAY_ADMIN_TOKEN") else {
        eprintln!("agent-gateway-load: set GATEWAY_ADMIN_TOKEN to the gateway's admin token");
        return ExitCode::FAILURE;
    };
    let config = Config {
        url: args.url,
        admin_token,
        agents: args.agents,
        duration: Duration::from_secs(args.duration),
        max_requests: args.max_requests,
        writes_percent: args.writes,
        project: args.project,
        agent_rate: args.agent_rate,
    };
    let report = match run(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agent-gateway-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{report}");
    if let Some(path) = args.json {
        if let Err(e) = std::fs::write(&path, report.to_json()) {
            eprintln!("agent-gateway-load: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
