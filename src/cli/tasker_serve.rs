//! `agent-gateway tasker-serve`: serves the embedded tracker over the adapter contract
//! (`/api/internal/nodedc/agent/...`) — the reference implementation for the Tasker
//! team and the peer of the `nodedc` client in tests.

use std::sync::Arc;

use clap::Args;
use secrecy::ExposeSecret;

use crate::config::{Config, Overrides};
use crate::store;
use crate::tasker::embedded::{default_states, EmbeddedTasker, NewProject};
use crate::tasker::http::{router, ContractState};
use crate::token::TokenHash;

/// Flags of `tasker-serve`.
#[derive(Debug, Args)]
pub struct TaskerServeArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub bind: String,
    /// Overrides GATEWAY_DATABASE_URL (the embedded tracker lives in this database).
    #[arg(long)]
    pub database_url: Option<String>,
    /// The environment variable holding the internal service token.
    #[arg(long, default_value = "GATEWAY_TASKER_TOKEN")]
    pub token_env: String,
    /// Create two projects for `tasker-check` and print their ids as JSON.
    #[arg(long)]
    pub seed_check_projects: bool,
}

/// Runs the command.
pub async fn run(args: TaskerServeArgs) -> anyhow::Result<()> {
    let token = std::env::var(&args.token_env)
        .ok()
        .filter(|t| t.len() >= 16)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} must hold the internal service token (16 characters or more)",
                args.token_env
            )
        })?;
    let config = Config::from_env(Overrides {
        database_url: args.database_url,
        ..Overrides::default()
    })?;
    crate::telemetry::init(config.log_json);
    let store = store::connect(&config.database).await?;
    store.migrate().await?;
    let embedded = EmbeddedTasker::connect(&config.database, Arc::clone(&store)).await?;
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    if args.seed_check_projects {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6].to_uppercase();
        let mut ids = Vec::new();
        for name in ["CHK", "CHO"] {
            let project = embedded
                .create_project(&NewProject {
                    identifier: format!("{name}{suffix}"),
                    name: format!("Conformance {name}"),
                    states: default_states(),
                    labels: vec![("bug".into(), "#e5484d".into())],
                    members: vec![(uuid::Uuid::new_v4(), "Check Member".into(), 15)],
                })
                .await?;
            ids.push(project.id);
        }
        println!(
            "{}",
            serde_json::json!({"project": ids[0], "other_project": ids[1]})
        );
    }
    println!(
        "tasker contract served on http://{addr}/{}",
        crate::tasker::nodedc::PREFIX
    );
    let state = ContractState {
        tasker: Arc::new(embedded),
        token: TokenHash::of(secrecy::SecretString::from(token).expose_secret()),
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
