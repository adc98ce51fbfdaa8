//! `agent-gateway migrate`: applies pending migrations and exits.

use clap::Args;

use crate::config::{Config, Overrides};
use crate::store;

/// Flags of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Overrides GATEWAY_DATABASE_URL.
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Runs the command.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let config = Config::from_env(Overrides {
        database_url: args.database_url,
        ..Overrides::default()
    })?;
    crate::telemetry::init(config.log_json);
    let store = store::connect(&config.database).await?;
    let pending = store.pending_migrations().await?;
    store.migrate().await?;
    println!(
        "{}: {pending} migration(s) applied; the store is current",
        config.database
    );
    Ok(())
}
