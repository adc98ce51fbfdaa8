//! `agent-gateway tasker-check`: the conformance kit. Runs the adapter contract's checks
//! against any implementation and prints a pass/fail table; exits non-zero on a failure.

use clap::Args;
use secrecy::SecretString;

use crate::tasker::check::{run as run_checks, table, CheckTarget};

/// Flags of `tasker-check`.
#[derive(Debug, Args)]
pub struct TaskerCheckArgs {
    /// The Tasker's base URL (the contract prefix is added).
    #[arg(long)]
    pub url: url::Url,
    /// The environment variable holding the internal service token.
    #[arg(long)]
    pub token_env: String,
    /// A project the checks may create cards in.
    #[arg(long)]
    pub project: String,
    /// Another existing project, which the checking agent is not granted.
    #[arg(long)]
    pub other_project: String,
}

/// Runs the command.
pub async fn run(args: TaskerCheckArgs) -> anyhow::Result<()> {
    let token = std::env::var(&args.token_env).map_err(|_| {
        anyhow::anyhow!(
            "{} is not set; it must hold the internal service token",
            args.token_env
        )
    })?;
    let results = run_checks(CheckTarget {
        url: args.url,
        token: SecretString::from(token),
        project: args.project,
        other_project: args.other_project,
    })
    .await;
    print!("{}", table(&results));
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    if failed > 0 {
        anyhow::bail!("{failed} contract check(s) failed");
    }
    Ok(())
}
