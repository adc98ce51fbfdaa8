//! Assembles the gateway from a configuration: store, migrations, admin credential,
//! actor runtime, audit writers, background tasks and the HTTP server. Built from a
//! config plus a listener, so tests bind port 0 and learn the address.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use gateway_actors::{
    CallConfig, RateSpec, RequestBudget, Supervisor, SupervisorConfig, WriterConfig,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::audit::Auditor;
use crate::config::{Config, TaskerKind};
use crate::gateway::{self, Authority, Gateway};
use crate::identity::Authenticator;
use crate::launcher::{self, LauncherClient, LauncherError, SharedEntitlements};
use crate::mcp::origin::OriginPolicy;
use crate::mcp::session::Sessions;
use crate::mcp::{Mcp, McpParts};
use crate::replicas::Fanout;
use crate::store::{self, Store, StoreError};
use crate::tasker::embedded::EmbeddedTasker;
use crate::tasker::nodedc::NodedcTasker;
use crate::tasker::plane::{PlaneConfig, PlaneTasker};
use crate::tasker::pool::PooledTasker;
use crate::tasker::{ProjectsCache, Tasker};
use crate::token::{Token, TokenError, TokenHash};

mod secrets;

use secrets::{admin_credential, session_key, ADMIN_TOKEN_SETTING, SESSION_KEY_SETTING};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store failed (connect, migrate, bootstrap).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Minting a token failed.
    #[error("token: {0}")]
    Token(#[from] TokenError),
    /// The Tasker adapter could not be set up.
    #[error("tasker: {0}")]
    Tasker(#[from] crate::tasker::TaskerError),
    /// The stored admin token hash is unreadable.
    #[error("the stored admin token hash is corrupt; delete the `{ADMIN_TOKEN_SETTING}` setting to generate a new one")]
    AdminHash,
    /// The stored key that signs MCP session ids is missing or unreadable.
    #[error("the stored MCP session key is missing or corrupt (not 64 hex digits); delete the `{SESSION_KEY_SETTING}` setting and restart every replica to generate a new one (open MCP sessions will have to reconnect)")]
    SessionKey,
    /// The Launcher client could not be built.
    #[error("the Launcher client could not be built ({0}); check GATEWAY_LAUNCHER_URL and GATEWAY_LAUNCHER_TOKEN")]
    Launcher(LauncherError),
}

/// Things worth telling the person who started the gateway, once.
#[derive(Debug, Default)]
pub struct Announcements {
    /// A freshly generated admin token (embedded default, first start).
    pub admin_token: Option<Token>,
}

/// A built, not yet serving, gateway.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    gateway: Gateway,
    /// The embedded tracker, when it is the Tasker (the demo seed creates projects in it).
    embedded: Option<EmbeddedTasker>,
    fanout: Fanout,
    mcp: Mcp,
    closing: tokio::sync::watch::Sender<bool>,
    /// What to print at start.
    pub announcements: Announcements,
}

impl Application {
    /// Connects and migrates the store, prepares the admin credential, starts the actor
    /// runtime, and binds `config.bind`.
    pub async fn build(mut config: Config, migrate: bool) -> Result<Self, StartError> {
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        if !config.public_url_explicit {
            // Follow the address actually bound (port 0 picks one).
            let bound = listener.local_addr().map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
            if let Ok(url) = url::Url::parse(&format!("http://{bound}/")) {
                config.public_url = url;
            }
        }
        if config.allowed_origins.is_empty() {
            config
                .allowed_origins
                .extend(crate::mcp::origin::normalise(config.public_url.as_str()));
        }
        let store = store::connect(&config.database).await?;
        if migrate {
            store.migrate().await?;
        }
        let mut announcements = Announcements::default();
        let admin_token = admin_credential(&config, store.as_ref(), &mut announcements).await?;
        let session_key = session_key(store.as_ref()).await?;
        let Assembled {
            gateway,
            embedded,
            fanout,
        } = assemble(config, store, admin_token).await?;
        let (closing, closing_rx) = tokio::sync::watch::channel(false);
        let mcp = Mcp::new(McpParts {
            closing: closing_rx,
            refusals: Arc::new(crate::mcp::auth::Refusals::new()),
            streams: Arc::new(crate::mcp::stream::Streams::new(
                gateway.config.max_streams,
                gateway.config.max_streams_per_agent,
            )),
            sessions: Arc::new(Sessions::new(session_key).map_err(|_| StartError::SessionKey)?),
            origins: Arc::new(OriginPolicy::new(gateway.config.allowed_origins.clone())),
            metadata_url: gateway
                .config
                .public_url
                .join(".well-known/oauth-protected-resource")
                .map(|u| Arc::from(u.as_str()))
                .unwrap_or_else(|_| Arc::from("")),
            gw: gateway.clone(),
        });
        Ok(Self {
            listener,
            gateway,
            embedded,
            fanout,
            mcp,
            closing,
            announcements,
        })
    }

    /// The bound address (useful when `GATEWAY_BIND` asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The assembled core, for commands that act before serving (the demo seed).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The embedded tracker, when `GATEWAY_TASKER=embedded` (for the demo seed, which
    /// creates projects, something the Tasker port does not offer).
    pub fn embedded(&self) -> Option<&EmbeddedTasker> {
        self.embedded.as_ref()
    }

    /// Serves until `shutdown` completes, then drains: in-flight requests finish, queued
    /// audit rows are flushed, actors stop.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let gateway = self.gateway.clone();
        let background = spawn_background(&gateway, &self.fanout);
        let router = crate::http::router(gateway.clone(), self.mcp);
        let closing = self.closing;
        let shutdown = async move {
            shutdown.await;
            // Open MCP streams end, so the drain does not wait for clients to leave.
            closing.send_replace(true);
        };
        // Routes made ready once: served as the router itself, axum would rebuild the
        // route table for every connection (about 50 kB each; heaptrack, PERFORMANCE.md).
        let service = router.with_state(()).into_make_service();
        let result = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        for task in background {
            task.abort();
        }
        if let Err(e) = gateway.auth.flush_usage().await {
            tracing::warn!(error = %e, "could not record token usage at shutdown");
        }
        gateway.auditor.shutdown().await;
        gateway.supervisor.shutdown().await;
        result
    }
}

/// What [`assemble`] wires: the core, and the parts of it only `app.rs` touches.
struct Assembled {
    gateway: Gateway,
    embedded: Option<EmbeddedTasker>,
    fanout: Fanout,
}

/// Wires the runtime around a store.
async fn assemble(
    config: Config,
    store: Arc<dyn Store>,
    admin_token: TokenHash,
) -> Result<Assembled, StartError> {
    let default_rate = RateSpec {
        per_minute: NonZeroU32::new(config.rate_per_minute).unwrap_or(NonZeroU32::MIN),
        burst: NonZeroU32::new(config.rate_burst).unwrap_or(NonZeroU32::MIN),
    };
    let supervisor = Supervisor::new(
        gateway::profile_loader(Arc::clone(&store), default_rate),
        SupervisorConfig {
            idle_timeout: config.agent_idle,
            ..SupervisorConfig::default()
        },
    );
    let live = match config.database.expose_postgres() {
        Some(_) => crate::events::Hub::new().with_relay(crate::events::relay::Outbox::new()),
        None => crate::events::Hub::new(),
    };
    let auditor = Auditor::start_live(
        Arc::clone(&store),
        WriterConfig {
            writers: config.audit_writers,
            max_batch: config.audit_max_batch,
            max_delay: config.audit_max_delay,
            lazy_delay: config.audit_read_delay,
            ..WriterConfig::default()
        },
        live,
    );
    let auth = Authenticator::new(Arc::clone(&store), 100_000, Duration::from_secs(60));
    let limits = config.tasker_limits;
    // One request budget for the Tasker, owned by the call pool. Plane's adapter meters
    // each HTTP request against it (one port call may send several).
    let budget = Arc::new(RequestBudget::new(
        limits.budget_per_minute.and_then(NonZeroU32::new),
    ));
    let mut metered = false;
    let (adapter, embedded): (Arc<dyn Tasker>, Option<EmbeddedTasker>) = match &config.tasker {
        TaskerKind::Embedded => {
            let embedded = EmbeddedTasker::connect(&config.database, Arc::clone(&store)).await?;
            (Arc::new(embedded.clone()), Some(embedded))
        }
        TaskerKind::Nodedc { url, token } => (
            // The HTTP client's own timeout is a backstop a little longer than the call
            // pool's per-attempt timeout, so a stalled Tasker is reported as "did not
            // answer in time", not as unreachable.
            Arc::new(NodedcTasker::new(
                url,
                token.clone(),
                config.tasker_limits.timeout + Duration::from_millis(500),
            )?),
            None,
        ),
        TaskerKind::Plane {
            url,
            workspace,
            api_key,
        } => {
            metered = true;
            let plane = PlaneConfig {
                url: url.clone(),
                workspace: workspace.clone(),
                api_key: api_key.clone(),
            };
            (
                Arc::new(PlaneTasker::new(
                    &plane,
                    Arc::clone(&budget),
                    limits.timeout,
                )?),
                None,
            )
        }
    };
    let calls = CallConfig {
        workers: limits.concurrency,
        timeout: limits.timeout,
        retries: limits.retries,
        budget_per_minute: limits.budget_per_minute.and_then(NonZeroU32::new),
        ..CallConfig::default()
    };
    let pooled: Arc<dyn Tasker> = Arc::new(if metered {
        PooledTasker::metered(adapter, calls, budget)
    } else {
        PooledTasker::new(adapter, calls)
    });
    // The embedded tracker's project list is answered from memory (`tasker/cache.rs`).
    let tasker: Arc<dyn Tasker> = match &embedded {
        Some(e) => Arc::new(ProjectsCache::new(pooled, e.changes())),
        None => pooled,
    };
    let fanout = Fanout::new(
        &config.database,
        auth.clone(),
        supervisor.clone(),
        Arc::clone(&store),
    )
    .await
    .map_err(|e| StartError::Store(StoreError::Database(e)))?;
    let entitlements: SharedEntitlements = match &config.launcher {
        Some((url, token)) => Arc::new(
            LauncherClient::new(url.clone(), token.clone(), Duration::from_secs(30))
                .map_err(StartError::Launcher)?,
        ),
        None => Arc::new(launcher::Embedded),
    };
    let gateway = Gateway::new(
        Arc::new(config),
        store,
        supervisor,
        auditor,
        auth,
        tasker,
        Authority {
            admin_token,
            entitlements,
            fanout: fanout.clone(),
        },
    );
    Ok(Assembled {
        gateway,
        embedded,
        fanout,
    })
}

/// Periodic upkeep: token usage, expired idempotency keys, work sessions asked to stop
/// that went silent.
fn spawn_background(gateway: &Gateway, fanout: &Fanout) -> Vec<JoinHandle<()>> {
    let usage = {
        let auth = gateway.auth.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Err(e) = auth.flush_usage().await {
                    tracing::warn!(error = %e, "could not record token usage");
                }
            }
        })
    };
    let purge = {
        let store = Arc::clone(&gateway.store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tick.tick().await;
                match store.purge_idempotency(chrono::Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "expired idempotency keys removed"),
                    Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
                }
            }
        })
    };
    let sweep = {
        let gw = gateway.clone();
        // Often enough that a stopped session ends within a quarter of the interval.
        let every = (gw.config.session_stale / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(15));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match gw.sweep_work_sessions().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        ended = n,
                        "work sessions asked to stop and silent ended as stopped"
                    ),
                    Err(e) => tracing::warn!(error = %e, "could not sweep work sessions"),
                }
            }
        })
    };
    let mut tasks = vec![usage, purge, sweep];
    tasks.extend(fanout.spawn(Arc::clone(&gateway.store), gateway.config.reconcile_every));
    tasks.extend(crate::events::relay::spawn(
        gateway.auditor.live(),
        &gateway.config.database,
    ));
    tasks
}
