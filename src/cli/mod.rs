//! The command line: one file per subcommand, `main.rs` only dispatches.

pub mod admin;
pub mod migrate;
pub mod serve;
pub mod tasker_check;
pub mod tasker_serve;

use clap::{Parser, Subcommand};

/// NODE.DC Agent Gateway.
#[derive(Debug, Parser)]
#[command(name = "agent-gateway", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (migrates the store first unless --skip-migrate).
    Serve(serve::ServeArgs),
    /// Apply pending store migrations and exit.
    Migrate(migrate::MigrateArgs),
    /// Serve the embedded tracker over the Tasker adapter contract.
    TaskerServe(tasker_serve::TaskerServeArgs),
    /// Run the adapter contract's conformance checks against a Tasker.
    TaskerCheck(tasker_check::TaskerCheckArgs),
    /// Operate a running gateway over its admin API (projects, users, agents, audit).
    Admin(admin::AdminArgs),
}
