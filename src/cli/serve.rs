//! `agent-gateway serve`: runs the gateway until SIGINT/SIGTERM, then drains.

use clap::Args;

/// Prints a line to stdout, ignoring a closed stdout: the gateway must not stop
/// because whoever started it stopped reading.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

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
        serving: true,
    })?;
    crate::telemetry::init(config.log_json);
    let app = Application::build(config, !args.skip_migrate).await?;
    let addr = app.local_addr()?;
    let gw = app.gateway().clone();
    say!(
        "NODE.DC Agent Gateway listening on http://{addr} (store: {})",
        gw.config.database
    );
    if let Some(token) = &app.announcements.admin_token {
        say!();
        say!("Generated admin token (shown once; only its hash is stored):");
        say!("  export GATEWAY_ADMIN_TOKEN={}", token.expose());
    }
    // The demo needs the embedded tracker; `--demo` says so if it is absent.
    let empty = gw.config.database.is_sqlite() && gw.store.count_users().await? == 0;
    if gw.config.demo || empty {
        match app.embedded() {
            Some(embedded) => {
                let demo = crate::demo::seed(&gw, embedded).await?;
                print_demo(&gw, &demo);
                print_pages(&gw, &demo).await;
            }
            None if gw.config.demo => {
                anyhow::bail!("the demo needs the embedded tracker (GATEWAY_TASKER=embedded)")
            }
            None => {}
        }
    }
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The setup text of the demo agent. The token appears here once and nowhere else.
fn print_demo(gw: &crate::gateway::Gateway, demo: &crate::demo::Demo) {
    let mcp = gw
        .config
        .public_url
        .join("mcp")
        .map(|u| u.to_string())
        .unwrap_or_default();
    let me = gw
        .config
        .public_url
        .join("api/v1/agent/me")
        .map(|u| u.to_string())
        .unwrap_or_default();
    say!();
    say!(
        "Demo seeded: owner {} with projects {} and {};",
        demo.owner_id,
        demo.granted,
        demo.other
    );
    say!(
        "agent demo-codex ({}) is granted {} with every scope.",
        demo.agent_id,
        demo.granted
    );
    say!();
    say!("Its token (shown once; only its hash is stored):");
    say!("  export NODEDC_AGENT_TOKEN={}", demo.token.expose());
    say!();
    say!("Check it:");
    say!("  curl -H \"Authorization: Bearer $NODEDC_AGENT_TOKEN\" {me}");
    say!();
    say!("Codex CLI setup (MCP endpoint {mcp}):");
    say!("  codex mcp add nodedc --url {mcp} --bearer-token-env-var NODEDC_AGENT_TOKEN");
    say!("or in ~/.codex/config.toml:");
    say!("  [mcp_servers.nodedc]");
    say!("  url = \"{mcp}\"");
    say!("  bearer_token_env_var = \"NODEDC_AGENT_TOKEN\"");
    say!();
}

/// Where the built-in pages are, and a one-time sign-in link for the demo owner.
async fn print_pages(gw: &crate::gateway::Gateway, demo: &crate::demo::Demo) {
    let admin = gw
        .config
        .public_url
        .join("ui/admin")
        .map(|u| u.to_string())
        .unwrap_or_default();
    say!("Pages:");
    say!("  admin live status: {admin}  (sign in with the admin token)");
    match crate::ui::sign_in::issue_link(gw, demo.owner_id, chrono::Duration::minutes(30)).await {
        Ok((link, _)) => {
            say!("  the demo owner's Codex agents card (one-time link, valid 30 min):");
            say!("    {link}");
        }
        Err(e) => tracing::warn!(error = %e, "could not create the demo owner's sign-in link"),
    }
    say!(
        "  a new link: POST /api/v1/admin/users/{}/sign-in-link",
        demo.owner_id
    );
    say!();
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
