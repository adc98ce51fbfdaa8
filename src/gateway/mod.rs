//! The gateway's core: the parts every front door (admin API, owner API, MCP, Launcher's
//! webhook) shares, and the operations that must happen the same way whichever door
//! asks. It holds ports, never concrete adapters: the Tasker is `dyn Tasker`, Launcher is
//! `dyn Entitlements`.
//!
//! * [`agents`] — creating an agent (owner standing, grants, first token) and revoking it;
//! * [`standing`] — a user's standing (entitlement, blocked, annulled) and what it does to
//!   their agents;
//! * [`profiles`] — the store-backed `ProfileLoader` the agent actors load from;
//! * [`sessions`] — work sessions (reporting mode): start, report, finish, stop, the
//!   stale sweep; [`observed`] — what the agent reported beside what the gateway saw;
//! * [`status`] — the live-status snapshot, from the actors and the store.
//!
//! Revocation order matters and lives only here: first in force on this replica (the
//! token cache forgets, the running actors refuse, open streams close — fail closed,
//! undone if the store write then fails), then the store (so any replica or any actor
//! started later loads the new status), then again here (for an actor started in
//! between) and the other replicas. When [`Gateway::revoke_agent`] returns, the next
//! call with the token fails on this replica.

mod agents;
mod keys;
mod observed;
mod profiles;
mod sessions;
mod standing;
mod status;

use std::sync::Arc;

use gateway_actors::Supervisor;
use uuid::Uuid;

use crate::audit::Auditor;
use crate::config::Config;
use crate::identity::Authenticator;
use crate::launcher::{LauncherError, SharedEntitlements};
use crate::replicas::Fanout;
use crate::store::{Outcome, Store, StoreError};
use crate::tasker::{Tasker, TaskerError};
use crate::token::{TokenError, TokenHash};

pub use agents::{CreateAgent, CreatedAgent};
pub use keys::{Keys, KeysUnavailable};
pub use observed::{Observed, Reported, WritesOn};
pub use profiles::profile_loader;
pub use sessions::{Finish, SessionDetail, SessionError, SessionView, Started, StopRequest};
pub use standing::{EventApplied, LauncherChange, UserChanges};
pub use status::{AgentStatusView, Counters, StatusSnapshot, Thresholds, Totals};

/// Everything a request handler may touch. Cheap to clone: one shared pointer, since
/// every request's extractors take a copy (a profile showed the field-by-field clone).
#[derive(Debug, Clone)]
pub struct Gateway(Arc<Parts>);

impl std::ops::Deref for Gateway {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What a [`Gateway`] holds.
///
/// The six public fields are what the MCP layer reads directly; who may act (the
/// [`Authority`]) is reached only through the gateway's operations.
#[derive(Debug)]
pub struct Parts {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The agent actor runtime.
    pub supervisor: Supervisor,
    /// The audit writer pool.
    pub auditor: Auditor,
    /// Token → agent.
    pub auth: Authenticator,
    /// The Tasker, behind its call pool.
    pub tasker: Arc<dyn Tasker>,
    /// Idempotency keys, claimed and settled in groups.
    pub keys: Keys,
    authority: Authority,
    /// Serialises standing changes of one user in this process (`standing.rs`).
    standing_locks: Arc<standing::UserLocks>,
}

/// Who may act, and how a change in that is put in force: the admin credential, the
/// entitlement port, and the fan-out of standing changes to this and every replica.
#[derive(Debug, Clone)]
pub struct Authority {
    /// The admin token's hash.
    pub admin_token: TokenHash,
    /// Who may use Codex agents (the user table, or Launcher's access check).
    pub entitlements: SharedEntitlements,
    /// Applies standing changes here and on every other replica.
    pub fanout: Fanout,
}

impl Gateway {
    /// The core, from its parts (assembled by `app.rs`).
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        supervisor: Supervisor,
        auditor: Auditor,
        auth: Authenticator,
        tasker: Arc<dyn Tasker>,
        authority: Authority,
    ) -> Self {
        Self(Arc::new(Parts {
            config,
            keys: Keys::start(Arc::clone(&store)),
            store,
            supervisor,
            auditor,
            auth,
            tasker,
            authority,
            standing_locks: Arc::default(),
        }))
    }

    /// A page of the audit log, with every row of a call answered before this one
    /// (read rows linger for their batch; they are flushed first).
    pub async fn audit_log(
        &self,
        query: &crate::store::AuditQuery,
    ) -> Result<Vec<crate::store::AuditEntry>, crate::store::StoreError> {
        self.auditor.flush().await;
        self.store.list_audit(query).await
    }

    /// Whether `presented` is the admin token (constant-time comparison of hashes).
    pub fn is_admin_token(&self, presented: &str) -> bool {
        self.authority
            .admin_token
            .matches(&TokenHash::of(presented).0)
    }
}

/// Why a gateway operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The named owner does not exist.
    #[error("no user {0} exists; create it first with PUT /api/v1/admin/users/{{id}}")]
    UnknownOwner(Uuid),
    /// The owner does not hold the `codex_agents` entitlement.
    #[error("user {0} does not hold the codex_agents entitlement")]
    NotEntitled(Uuid),
    /// The owner is blocked.
    #[error("user {0} is blocked")]
    OwnerBlocked(Uuid),
    /// The input is invalid; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// A uniqueness rule was broken.
    #[error("{0}")]
    Conflict(String),
    /// No such agent.
    #[error("no agent {0} exists")]
    UnknownAgent(Uuid),
    /// A granted project does not exist in the Tasker.
    #[error("unknown project(s): {unknown}; known projects: {known}")]
    UnknownProjects {
        /// The ids that do not exist.
        unknown: String,
        /// What exists (as far as the Tasker tells).
        known: String,
    },
    /// The owner is not a member of a project they tried to grant.
    #[error("you are not a member of project {0}; grant only projects you belong to")]
    NotMember(String),
    /// The Tasker could not be asked.
    #[error("the Tasker could not be reached: {0}")]
    Tasker(TaskerError),
    /// Launcher's access check could not be asked, so the owner's entitlement is unknown.
    #[error("{0}; retry shortly, and if it persists check that Launcher is up and GATEWAY_LAUNCHER_URL points at it")]
    Launcher(LauncherError),
    /// Minting a token failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl GatewayError {
    /// The audit outcome of an operation that failed with this error. One rule for
    /// every audited REST action:
    ///
    /// * [`Outcome::Denied`] — policy refused the principal: the owner is not entitled,
    ///   is blocked, or is not a member of a project they tried to grant;
    /// * [`Outcome::Failed`] — everything else: the request itself could not be carried
    ///   out, either because its input was wrong (invalid, unknown owner, agent or
    ///   project, a conflict) or because a dependency failed (store, Tasker, Launcher,
    ///   token minting).
    ///
    /// This is the same split as the MCP tool calls' (policy → denied, bad input and
    /// upstream errors → failed).
    pub fn outcome(&self) -> Outcome {
        match self {
            GatewayError::NotEntitled(_)
            | GatewayError::OwnerBlocked(_)
            | GatewayError::NotMember(_) => Outcome::Denied,
            GatewayError::UnknownOwner(_)
            | GatewayError::Invalid(_)
            | GatewayError::Conflict(_)
            | GatewayError::UnknownAgent(_)
            | GatewayError::UnknownProjects { .. }
            | GatewayError::Tasker(_)
            | GatewayError::Launcher(_)
            | GatewayError::Token(_)
            | GatewayError::Store(_) => Outcome::Failed,
        }
    }
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(rule) => {
                GatewayError::Conflict(format!("already exists ({rule})"))
            }
            other @ (StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Corrupt(_)) => {
                GatewayError::Store(other)
            }
        }
    }
}
