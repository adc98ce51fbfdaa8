//! The gateway's core: the parts every front door (admin API, owner API, MCP) shares, and
//! the operations that must happen the same way whichever door asks — creating an agent,
//! revoking it, changing a user's standing.
//!
//! Revocation order matters and lives only here: the store first (so any replica or
//! any actor started later loads the new status), then the token cache (so no cached
//! lookup admits the token), then the supervisor (so running actors and open streams
//! refuse at once). When [`Gateway::revoke_agent`] returns, the next call with the token
//! fails on this replica.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use gateway_actors::{AgentProfile, Grant, ProfileLoader, RateSpec, Supervisor};
use uuid::Uuid;

use crate::audit::Auditor;
use crate::config::Config;
use crate::identity::Authenticator;
use crate::launcher::{LauncherClient, SharedEntitlements};
use crate::replicas::{Change, Fanout};
use crate::scopes::Scope;
use crate::store::{
    Agent, AgentStatus, EntitlementChange, GrantRecord, NewAgent, Store, StoreError, User,
    UserUpsert,
};
use crate::tasker::embedded::EmbeddedTasker;
use crate::tasker::{Actor, Tasker, TaskerError};
use crate::token::{Token, TokenError, TokenHash, TokenKind};

/// Everything a request handler may touch. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
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
    /// The admin token's hash.
    pub admin_token: TokenHash,
    /// The Tasker, behind its call pool.
    pub tasker: Arc<dyn Tasker>,
    /// The embedded tracker, when it is the Tasker (for project setup and the demo).
    pub embedded: Option<EmbeddedTasker>,
    /// Applies standing changes here and on every other replica.
    pub fanout: Fanout,
    /// Who may use Codex agents (the user table, or Launcher's access check).
    pub entitlements: SharedEntitlements,
    /// Launcher's access check, when configured (its cache is invalidated by events).
    pub launcher_client: Option<LauncherClient>,
}

/// Why a gateway operation was refused.
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
    /// Minting a token failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(rule) => {
                GatewayError::Conflict(format!("already exists ({rule})"))
            }
            other => GatewayError::Store(other),
        }
    }
}

/// A request to create an agent.
#[derive(Debug, Clone)]
pub struct CreateAgent {
    /// Its owner.
    pub owner_id: Uuid,
    /// Its name.
    pub name: String,
    /// Granted projects and scopes.
    pub grants: Vec<(String, Vec<String>)>,
    /// Per-agent rate, calls per minute.
    pub rate_per_minute: Option<u32>,
    /// Per-agent burst.
    pub rate_burst: Option<u32>,
    /// Grant only projects the owner is a member of (the owner API's rule).
    pub members_only: bool,
}

/// A created agent and its token, which is never available again.
#[derive(Debug)]
pub struct CreatedAgent {
    /// The agent.
    pub agent: Agent,
    /// Its token.
    pub token: Token,
}

/// What changed in a user's standing, for the audit log and the revocation path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChanges {
    /// The user after the change.
    pub user: User,
    /// Whether the user did not exist before.
    pub created: bool,
    /// `granted`, `withdrawn`, `blocked`, `unblocked`, in that order.
    pub changes: Vec<&'static str>,
}

impl Gateway {
    /// Creates an agent and its first token, after checking the owner's standing.
    pub async fn create_agent(&self, request: CreateAgent) -> Result<CreatedAgent, GatewayError> {
        let name = request.name.trim().to_owned();
        validate_name(&name)?;
        if request.grants.is_empty() {
            return Err(GatewayError::Invalid(
                "grants must name at least one project: an agent without projects can do nothing"
                    .into(),
            ));
        }
        let mut grants = Vec::with_capacity(request.grants.len());
        let mut seen = BTreeSet::new();
        for (project_id, scopes) in request.grants {
            let project_id = project_id.trim().to_owned();
            if project_id.is_empty() || project_id.len() > 64 {
                return Err(GatewayError::Invalid(
                    "project_id must be 1 to 64 characters".into(),
                ));
            }
            if !seen.insert(project_id.clone()) {
                return Err(GatewayError::Invalid(format!(
                    "project {project_id} is granted twice"
                )));
            }
            grants.push(GrantRecord {
                project_id,
                scopes: Scope::parse_set(&scopes).map_err(GatewayError::Invalid)?,
            });
        }
        self.check_projects(&grants).await?;
        if request.members_only {
            self.check_membership(request.owner_id, &grants).await?;
        }
        let owner = self
            .store
            .get_user(request.owner_id)
            .await?
            .ok_or(GatewayError::UnknownOwner(request.owner_id))?;
        if owner.blocked {
            return Err(GatewayError::OwnerBlocked(owner.id));
        }
        let entitled = self
            .entitlements
            .may_use_agents(&owner)
            .await
            .map_err(|e| GatewayError::Tasker(TaskerError::unavailable(e.to_string())))?;
        // Both must agree: Launcher's answer now, and the projection that every later
        // authentication reads (kept current by Launcher's events).
        if !entitled || !owner.codex_agents {
            return Err(GatewayError::NotEntitled(owner.id));
        }
        let token = Token::mint(TokenKind::Agent)?;
        let agent = self
            .store
            .create_agent(&NewAgent {
                id: Uuid::now_v7(),
                owner_id: owner.id,
                name,
                grants,
                rate_per_minute: request.rate_per_minute,
                rate_burst: request.rate_burst,
                token_id: Uuid::now_v7(),
                token_hash: token.hash().0,
                token_display: token.display(),
                created_at: Utc::now(),
            })
            .await?;
        Ok(CreatedAgent { agent, token })
    }

    /// Refuses grants of projects the Tasker does not know.
    async fn check_projects(&self, grants: &[GrantRecord]) -> Result<(), GatewayError> {
        let asked: Vec<String> = grants.iter().map(|g| g.project_id.clone()).collect();
        let gateway = Actor {
            agent_id: Uuid::nil(),
            agent_name: "agent-gateway".into(),
            owner_id: Uuid::nil(),
            owner_name: "gateway admin".into(),
            granted: asked.clone(),
        };
        let found = self
            .tasker
            .projects(&gateway)
            .await
            .map_err(GatewayError::Tasker)?;
        let unknown: Vec<&String> = asked
            .iter()
            .filter(|id| !found.iter().any(|p| &p.id == *id))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let known = match &self.embedded {
            Some(embedded) => embedded
                .all_projects()
                .await
                .map_err(GatewayError::Tasker)?
                .iter()
                .map(|p| format!("{} ({})", p.id, p.identifier))
                .collect::<Vec<_>>()
                .join(", "),
            None => "ask the Tasker's project settings for the project id".into(),
        };
        Err(GatewayError::UnknownProjects {
            unknown: unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            known,
        })
    }

    /// Refuses grants of projects the owner is not a member of.
    async fn check_membership(
        &self,
        owner_id: Uuid,
        grants: &[GrantRecord],
    ) -> Result<(), GatewayError> {
        for grant in grants {
            let actor = Actor {
                agent_id: Uuid::nil(),
                agent_name: "agent-gateway".into(),
                owner_id,
                owner_name: "owner".into(),
                granted: vec![grant.project_id.clone()],
            };
            let context = self
                .tasker
                .project_context(&actor, &grant.project_id)
                .await
                .map_err(GatewayError::Tasker)?;
            if !context
                .members
                .iter()
                .any(|m| m.user_id == owner_id.to_string())
            {
                return Err(GatewayError::NotMember(grant.project_id.clone()));
            }
        }
        Ok(())
    }

    /// Revokes an agent by hand. In force on this replica when this returns.
    pub async fn revoke_agent(&self, agent_id: Uuid, reason: &str) -> Result<Agent, GatewayError> {
        let agent = self
            .store
            .set_agent_status(agent_id, AgentStatus::Revoked, reason, Utc::now())
            .await?
            .ok_or(GatewayError::UnknownAgent(agent_id))?;
        self.fanout.apply(Change::AgentRevoked(agent_id)).await;
        Ok(agent)
    }

    /// Inserts or updates a user, records every entitlement change, and — when the user
    /// lost the entitlement or was blocked — puts that in force for all their agents.
    pub async fn upsert_user(
        &self,
        upsert: UserUpsert,
        source: &str,
        detail: Option<String>,
    ) -> Result<UserChanges, GatewayError> {
        let now = Utc::now();
        let (before, user) = self.store.upsert_user(&upsert, now).await?;
        let was_entitled = before.as_ref().is_some_and(|u| u.codex_agents);
        let was_blocked = before.as_ref().is_some_and(|u| u.blocked);
        let mut changes = Vec::new();
        match (was_entitled, user.codex_agents) {
            (false, true) => changes.push("granted"),
            (true, false) => changes.push("withdrawn"),
            _ => {}
        }
        match (was_blocked, user.blocked) {
            (false, true) => changes.push("blocked"),
            (true, false) => changes.push("unblocked"),
            _ => {}
        }
        for change in &changes {
            self.store
                .record_entitlement_change(&EntitlementChange {
                    at: now,
                    user_id: user.id,
                    client_id: user.client_id.clone(),
                    change: (*change).to_owned(),
                    source: source.to_owned(),
                    detail: detail.clone(),
                })
                .await?;
        }
        // The rule: losing standing (entitlement withdrawn, or blocked) disables every
        // active agent; regaining it re-enables exactly the agents it disabled. An agent
        // revoked by hand (or by annulment) stays revoked.
        let had = before
            .as_ref()
            .is_some_and(|u| u.codex_agents && !u.blocked);
        let has = user.codex_agents && !user.blocked;
        if had && !has {
            let reason = format!("owner lost standing ({})", changes.join(", "));
            self.store
                .set_owner_agents_status(
                    user.id,
                    &[AgentStatus::Active],
                    AgentStatus::Disabled,
                    &reason,
                    now,
                )
                .await?;
            self.fanout.apply(Change::OwnerDisabled(user.id)).await;
        } else if !had && has && before.is_some() {
            self.store
                .set_owner_agents_status(
                    user.id,
                    &[AgentStatus::Disabled],
                    AgentStatus::Active,
                    "owner standing restored",
                    now,
                )
                .await?;
            self.fanout.apply(Change::OwnerRestored(user.id)).await;
        }
        Ok(UserChanges {
            created: before.is_none(),
            user,
            changes,
        })
    }

    /// Annuls a user (Launcher deleted them): blocked, entitlement gone, every agent
    /// revoked for good.
    pub async fn annul_user(
        &self,
        user_id: Uuid,
        source: &str,
        detail: Option<String>,
    ) -> Result<Option<UserChanges>, GatewayError> {
        let Some(user) = self.store.get_user(user_id).await? else {
            return Ok(None);
        };
        let changes = self
            .upsert_user(
                UserUpsert {
                    id: user.id,
                    client_id: user.client_id.clone(),
                    display_name: user.display_name.clone(),
                    codex_agents: false,
                    blocked: true,
                },
                source,
                detail.clone(),
            )
            .await?;
        let now = Utc::now();
        self.store
            .set_owner_agents_status(
                user_id,
                &[AgentStatus::Active, AgentStatus::Disabled],
                AgentStatus::Revoked,
                "owner annulled",
                now,
            )
            .await?;
        self.store
            .record_entitlement_change(&EntitlementChange {
                at: now,
                user_id,
                client_id: user.client_id,
                change: "annulled".into(),
                source: source.to_owned(),
                detail,
            })
            .await?;
        self.fanout.apply(Change::OwnerDisabled(user_id)).await;
        Ok(Some(changes))
    }

    /// Loads profiles for the agent actors from the store.
    pub fn profile_loader(store: Arc<dyn Store>, default_rate: RateSpec) -> Arc<dyn ProfileLoader> {
        Arc::new(StoreProfiles {
            store,
            default_rate,
        })
    }
}

fn validate_name(name: &str) -> Result<(), GatewayError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(GatewayError::Invalid(
            "name must be 1 to 64 characters of letters, digits, space, '-', '_' or '.'".into(),
        ))
    }
}

struct StoreProfiles {
    store: Arc<dyn Store>,
    default_rate: RateSpec,
}

impl ProfileLoader for StoreProfiles {
    fn load(&self, agent_id: Uuid) -> BoxFuture<'_, Result<Option<AgentProfile>, String>> {
        Box::pin(async move {
            let Some(record) = self
                .store
                .agent_profile(agent_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let agent = record.agent;
            let rate = RateSpec {
                per_minute: agent
                    .rate_per_minute
                    .and_then(NonZeroU32::new)
                    .unwrap_or(self.default_rate.per_minute),
                burst: agent
                    .rate_burst
                    .and_then(NonZeroU32::new)
                    .unwrap_or(self.default_rate.burst),
            };
            Ok(Some(AgentProfile {
                agent_id: agent.id,
                owner_id: agent.owner_id,
                name: agent.name,
                active: agent.status == AgentStatus::Active
                    && !record.owner.blocked
                    && record.owner.codex_agents,
                grants: agent
                    .grants
                    .into_iter()
                    .map(|g| Grant {
                        project_id: g.project_id,
                        scopes: g.scopes.into_iter().collect(),
                    })
                    .collect(),
                rate,
            }))
        })
    }
}
