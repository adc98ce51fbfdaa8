//! `agent-gateway tasker-serve`: serves the embedded tracker over the adapter contract
//! (`/api/internal/nodedc/agent/...`) — the reference implementation for the Tasker
//! team and the peer of the `nodedc` client in tests. With `GATEWAY_TASKER=plane` it
//! serves the `plane` adapter instead, in front of that Plane, so `tasker-check` can be
//! run against a real Plane (on scratch projects: the kit creates cards).

use std::sync::Arc;

use clap::Args;
use secrecy::ExposeSecret;

use crate::config::{Config, Overrides, TaskerKind};
use crate::store;
use crate::tasker::embedded::{default_states, EmbeddedTasker, NewProject};
use crate::tasker::http::{router, ContractState};
use crate::tasker::plane::{PlaneConfig, PlaneTasker};
use crate::tasker::pool::PooledTasker;
use crate::tasker::Tasker;
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
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    let tasker: Arc<dyn Tasker> = match &config.tasker {
        TaskerKind::Plane {
            url,
            workspace,
            api_key,
        } => {
            if args.seed_check_projects {
                anyhow::bail!("--seed-check-projects needs the embedded tracker; with GATEWAY_TASKER=plane, make two scratch projects in Plane with the bot as a member and pass their ids to tasker-check");
            }
            // Calls queue for Plane's budget up to 25 s, under tasker-check's 30 s.
            let timeout = std::time::Duration::from_secs(25);
            let budget = Arc::new(gateway_actors::RequestBudget::new(
                config
                    .tasker_limits
                    .budget_per_minute
                    .and_then(std::num::NonZeroU32::new),
            ));
            let plane = PlaneConfig {
                url: url.clone(),
                workspace: workspace.clone(),
                api_key: api_key.clone(),
            };
            let adapter = PlaneTasker::new(&plane, Arc::clone(&budget), timeout)?;
            let calls = gateway_actors::CallConfig {
                timeout,
                retries: 0,
                ..gateway_actors::CallConfig::default()
            };
            Arc::new(PooledTasker::metered(Arc::new(adapter), calls, budget))
        }
        _ => {
            let store = store::connect(&config.database).await?;
            store.migrate().await?;
            let embedded = EmbeddedTasker::connect(&config.database, Arc::clone(&store)).await?;
            if args.seed_check_projects {
                seed(&embedded).await?;
            }
            Arc::new(embedded)
        }
    };
    println!(
        "tasker contract served on http://{addr}/{}",
        crate::tasker::nodedc::PREFIX
    );
    let state = ContractState {
        tasker,
        token: TokenHash::of(secrecy::SecretString::from(token).expose_secret()),
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Two projects for `tasker-check`, their ids printed as JSON.
async fn seed(embedded: &EmbeddedTasker) -> anyhow::Result<()> {
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
    Ok(())
}
