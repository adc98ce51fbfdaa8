//! NODE.DC Agent Gateway: lets local coding agents (Codex CLI, any MCP client) work on the
//! team's tracker through a narrow, audited endpoint.
//!
//! Follow a request through the tree:
//!
//! * [`http`] — where requests enter: the router, its layers and the REST endpoints;
//! * [`identity`] — a bearer token becomes an agent (format check, hash lookup, cache);
//! * [`gateway`] — the core every front door shares: create, revoke, user standing;
//!   the agent actors (crate `gateway-actors`, in `actors/`) decide admission;
//! * [`launcher`] — entitlements (Launcher's access check) and its signed webhook;
//! * [`replicas`] — revocations applied here and, over `LISTEN/NOTIFY`, everywhere;
//! * [`audit`] — where audit rows are written (batching writer pool, durable acks);
//! * [`events`] — the live-event hub the built-in pages stream from;
//! * [`ui`] — the built-in pages (`/ui/agents`, `/ui/admin`): HTML, SSE, sign-in;
//! * [`store`] — the store interface and its Postgres and SQLite engines;
//! * [`token`] — token minting, format and hashing;
//! * [`scopes`] — the permissions an agent can hold;
//! * [`demo`] — the demo seed of the embedded default;
//! * [`config`] — configuration from the environment, validated as a whole;
//! * [`app`] — assembles all of the above into a running server;
//! * [`cli`] — one file per subcommand (`serve`, `migrate`).

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod demo;
pub mod events;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod launcher;
pub mod mcp;
pub mod replicas;
pub mod scopes;
pub mod store;
pub mod tasker;
pub mod telemetry;
pub mod token;
pub mod ui;
