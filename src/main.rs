//! The `agent-gateway` binary: parse the command line, run one subcommand.

use std::process::ExitCode;

use agent_gateway::cli::{self, Cli, Command};
use clap::Parser;

/// mimalloc: the read path allocates many small, short-lived buffers (JSON values,
/// headers); glibc's malloc was about a tenth of its CPU (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args).await,
        Command::Migrate(args) => cli::migrate::run(args).await,
        Command::TaskerServe(args) => cli::tasker_serve::run(args).await,
        Command::TaskerCheck(args) => cli::tasker_check::run(args).await,
        Command::Admin(args) => return cli::admin::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agent-gateway: {error:#}");
            ExitCode::FAILURE
        }
    }
}
