//! `agent-gateway serve`: runs the gateway until SIGINT/SIGTERM, then drains.

use clap::Args;

use crate::app::Application;
use crate::config::{Config, Overrides};

/// Flags of `serve`; each overrides its environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Overrides GATEWAY_BIND.
    #[arg(long)]
    pub bind: Option<String>,
    /// Overrides GATEWAY_DATABASE_URL.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Overrides GATEWAY_PUBLIC_URL.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Seed the demo owner, projects and agent even on a non-empty store.
    #[arg(long)]
    pub demo: bool,
    /// Do not apply migrations at start (run `agent-gateway migrate` instead).
    #[arg(long)]
    pub skip_migrate: bool,
}

/// Runs the command.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_env(Overrides {
        bind: args.bind,
        database_url: args.database_url,
        public_url: args.public_url,
        demo: args.demo,
    })?;
    crate::telemetry::init(config.log_json);
    let app = Application::build(config, !args.skip_migrate).await?;
    let addr = app.local_addr()?;
    let gw = app.gateway().clone();
    println!(
        "NODE.DC Agent Gateway listening on http://{addr} (store: {})",
        gw.config.database
    );
    if let Some(token) = &app.announcements.admin_token {
        println!();
        println!("Generated admin token (shown once; only its hash is stored):");
        println!("  export GATEWAY_ADMIN_TOKEN={}", token.expose());
    }
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; draining");
}
