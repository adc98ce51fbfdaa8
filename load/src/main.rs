//! The `agent-gateway-load` binary. Without a subcommand: run the load, print the
//! table, optionally write the JSON report, the SVG plot and the table to files.
//! `capture`, `baseline` and `summary` are the pieces `scripts/bench` puts together.
//! The admin token is read only from `GATEWAY_ADMIN_TOKEN`, never from the command
//! line (it would show in `ps`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent_gateway_load::{baseline, capture, run, summary, svg, Config};
use clap::{Args, Parser, Subcommand};

/// Load a running Agent Gateway on loopback with simulated MCP agents.
#[derive(Debug, Parser)]
#[command(
    name = "agent-gateway-load",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create one agent and save the gateway's raw answer to its `tools/call
    /// list_projects` (the bytes the baseline serves).
    Capture {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The project (id or identifier); the first listed if absent.
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the captured bytes from a bare axum server (`POST /mcp`).
    Baseline {
        #[arg(long, default_value = "127.0.0.1:8099")]
        bind: SocketAddr,
        /// The file written by `capture`.
        #[arg(long)]
        body: PathBuf,
    },
    /// Compare the scenario reports of a results directory with the targets.
    Summary {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The gateway's base URL; must be loopback (127.0.0.0/8, ::1, localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Simulated agents, each one MCP session with one request in flight.
    #[arg(long, default_value_t = 10)]
    agents: usize,
    /// Length of the measured phase, seconds (after every agent has connected).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The most requests sent in all (the run stops at whichever bound comes first).
    #[arg(long, default_value_t = 100_000)]
    max_requests: u64,
    /// Share of tool calls that are writes (create_card), 0 to 100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    writes: u8,
    /// Share of tool calls that are work-session reports (start, update ×2,
    /// finish), 0 to 100; with --writes at most 100.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    sessions: u8,
    /// The reads, taken in turn (comma-separated): list_projects, search_cards,
    /// get_project_context.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "list_projects,search_cards"
    )]
    reads: Vec<String>,
    /// The project to work in (id or identifier); the first the Tasker lists if absent.
    #[arg(long)]
    project: Option<String>,
    /// rate_per_minute and rate_burst of each created agent (1 to 1,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    agent_rate: u32,
    /// Owners the agents are spread over.
    #[arg(long, default_value_t = 1)]
    owners: usize,
    /// Agents created at once through the admin API.
    #[arg(long, default_value_t = 16)]
    create_concurrency: usize,
    /// Agents in their handshake at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Each agent holds a GET /mcp stream open.
    #[arg(long)]
    streams: bool,
    /// Tool calls per second offered by all agents together (open loop); absent:
    /// back to back.
    #[arg(long)]
    rate: Option<f64>,
    /// Agents to revoke during the run.
    #[arg(long, default_value_t = 0)]
    revoke: usize,
    /// When the revocations start, seconds into the measured phase.
    #[arg(long, default_value_t = 1.0)]
    revoke_at: f64,
    /// Block the last owner after the revocations (needs --owners 2 or more).
    #[arg(long)]
    block_owner: bool,
    /// Another replica (same database) for the cross-replica propagation.
    #[arg(long)]
    replica_url: Option<String>,
    /// The gateway's process id, for its RSS (/proc/<pid>/status).
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// The target is the bare `baseline` server: no admin setup, no streams.
    #[arg(long)]
    baseline: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the plot (throughput, p50/p99 over time) as SVG to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the table to this file as well.
    #[arg(long)]
    table: Option<PathBuf>,
    /// The title of the plot.
    #[arg(long, default_value = "agent-gateway-load")]
    title: String,
}

fn admin_token() -> Option<String> {
    std::env::var("GATEWAY_ADMIN_TOKEN").ok()
}

fn write(path: &PathBuf, text: &[u8]) -> bool {
    match std::fs::write(path, text) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("agent-gateway-load: writing {}: {e}", path.display());
            false
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::Baseline { bind, body }) => {
            let answer = match std::fs::read(&body) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("agent-gateway-load: reading {}: {e}", body.display());
                    return ExitCode::FAILURE;
                }
            };
            let served = baseline::serve(bind, answer, |a| {
                eprintln!("agent-gateway-load baseline: serving POST http://{a}/mcp");
            })
            .await;
            if let Err(e) = served {
                eprintln!("agent-gateway-load baseline: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Some(Cmd::Summary { dir }) => {
            let lines = summary::lines(&dir);
            let text = format!("{}\n{}", summary::scenarios(&dir), summary::table(&lines));
            print!("{text}");
            let json = serde_json::to_string_pretty(&lines).unwrap_or_default();
            if !write(&dir.join("summary.json"), json.as_bytes())
                || !write(&dir.join("summary.txt"), text.as_bytes())
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Some(Cmd::Capture { url, project, out }) => {
            let Some(token) = admin_token() else {
                eprintln!(
                    "agent-gateway-load: set GATEWAY_ADMIN_TOKEN to the gateway's admin token"
                );
                return ExitCode::FAILURE;
            };
            let config = Config {
                project,
                ..Config::new(url, token)
            };
            match capture(&config).await {
                Ok(bytes) => {
                    if write(&out, &bytes) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("agent-gateway-load capture: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => run_load(cli.run).await,
    }
}

async fn run_load(args: RunArgs) -> ExitCode {
    let admin_token = match (admin_token(), args.baseline) {
        (Some(t), _) => t,
        (None, true) => String::new(),
        (None, false) => {
            eprintln!("agent-gateway-load: set GATEWAY_ADMIN_TOKEN to the gateway's admin token");
            return ExitCode::FAILURE;
        }
    };
    let config = Config {
        agents: args.agents,
        duration: Duration::from_secs(args.duration),
        max_requests: args.max_requests,
        writes_percent: args.writes,
        sessions_percent: args.sessions,
        read_tools: args.reads,
        project: args.project,
        agent_rate: args.agent_rate,
        owners: args.owners,
        create_concurrency: args.create_concurrency,
        connect_concurrency: args.connect_concurrency,
        streams: args.streams,
        rate: args.rate,
        revoke: args.revoke,
        revoke_at: Duration::from_secs_f64(args.revoke_at.max(0.0)),
        block_owner: args.block_owner,
        replica_url: args.replica_url,
        gateway_pid: args.gateway_pid,
        baseline: args.baseline,
        ..Config::new(args.url, admin_token)
    };
    let report = match run(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agent-gateway-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table = report.to_string();
    print!("{table}");
    let mut ok = true;
    if let Some(path) = &args.json {
        ok &= write(path, report.to_json().as_bytes());
    }
    if let Some(path) = &args.svg {
        ok &= write(path, svg::plot(&report, &args.title).as_bytes());
    }
    if let Some(path) = &args.table {
        ok &= write(path, table.as_bytes());
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
