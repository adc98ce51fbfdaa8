//! An agent's lifecycle: creation (owner standing, grants checked against the Tasker,
//! first token) and revocation.

use std::collections::BTreeSet;

use chrono::Utc;
use uuid::Uuid;

use super::{Gateway, GatewayError};
use crate::config::RATE_LIMITS;
use crate::replicas::Change;
use crate::scopes::Scope;
use crate::store::{Agent, AgentStatus, GrantRecord, NewAgent};
use crate::tasker::{Actor, ProjectSummary};
use crate::token::{Token, TokenKind};

/// A request to create an agent.
#[derive(Debug, Clone)]
pub struct CreateAgent {
    /// Its owner.
    pub owner_id: Uuid,
    /// Its name.
    pub name: String,
    /// Granted projects and scopes.
    pub grants: Vec<(String, Vec<String>)>,
    /// Per-agent rate, calls per minute; within [`RATE_LIMITS`].
    pub rate_per_minute: Option<u32>,
    /// Per-agent burst; within [`RATE_LIMITS`].
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

impl Gateway {
    /// Creates an agent and its first token, after checking the owner's standing.
    pub async fn create_agent(&self, request: CreateAgent) -> Result<CreatedAgent, GatewayError> {
        let name = request.name.trim().to_owned();
        validate_name(&name)?;
        let grants = validate_grants(request.grants)?;
        validate_rate("rate_per_minute", request.rate_per_minute)?;
        validate_rate("rate_burst", request.rate_burst)?;
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
            .authority
            .entitlements
            .may_use_agents(&owner)
            .await
            .map_err(GatewayError::Launcher)?;
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

    /// Refuses grants of projects the Tasker does not know, naming the ones it does.
    async fn check_projects(&self, grants: &[GrantRecord]) -> Result<(), GatewayError> {
        let asked: Vec<String> = grants.iter().map(|g| g.project_id.clone()).collect();
        let gateway = Actor::gateway(Uuid::nil(), "gateway admin", asked.clone());
        let found = self
            .tasker
            .projects(&gateway)
            .await
            .map_err(GatewayError::Tasker)?;
        let unknown: Vec<&str> = asked
            .iter()
            .filter(|id| !found.iter().any(|p| &p.id == *id))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let known = self
            .tasker
            .all_projects()
            .await
            .map_err(GatewayError::Tasker)?;
        Err(GatewayError::UnknownProjects {
            unknown: unknown.join(", "),
            known: describe(&known),
        })
    }

    /// Refuses grants of projects the owner is not a member of.
    async fn check_membership(
        &self,
        owner_id: Uuid,
        grants: &[GrantRecord],
    ) -> Result<(), GatewayError> {
        for grant in grants {
            let actor = Actor::gateway(owner_id, "owner", vec![grant.project_id.clone()]);
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

    /// The agent, if it exists and belongs to `owner`: what an owner may see and act on
    /// (the owner API and the owner's pages).
    pub async fn owned_agent(
        &self,
        owner: Uuid,
        agent_id: Uuid,
    ) -> Result<Option<Agent>, crate::store::StoreError> {
        Ok(self
            .store
            .get_agent(agent_id)
            .await?
            .filter(|a| a.owner_id == owner))
    }

    /// [`Gateway::revoke_agent`] with the caller's audit row `event`, durable before this
    /// returns: on success it names the agent and its owner, with `note` as its reason; on
    /// failure it says why. The outer error is the audit log's, the inner the
    /// revocation's (the admin and owner APIs and pages all revoke through here).
    pub async fn revoke_agent_audited(
        &self,
        event: crate::audit::AuditEvent,
        agent_id: Uuid,
        reason: &str,
        note: Option<String>,
    ) -> Result<Result<Agent, GatewayError>, gateway_actors::WriteError> {
        let result = self.revoke_agent(agent_id, reason).await;
        let row = match &result {
            Ok(agent) => event
                .agent(agent.id, agent.owner_id)
                .finish(crate::store::Outcome::Allowed, note),
            Err(e) => event.finish(e.outcome(), Some(e.to_string())),
        };
        self.auditor.record(row).await?;
        Ok(result)
    }

    /// Revokes an agent by hand. In force on this replica — its calls refused, its
    /// streams closed — from before the store is written (fail closed; undone if the
    /// store write fails), and durable and published to the other replicas when this
    /// returns.
    pub async fn revoke_agent(&self, agent_id: Uuid, reason: &str) -> Result<Agent, GatewayError> {
        let change = Change::AgentRevoked(agent_id);
        let fanout = &self.authority.fanout;
        fanout.tighten_first(change);
        let stored = self
            .store
            .set_agent_status(agent_id, AgentStatus::Revoked, reason, Utc::now())
            .await;
        match stored {
            Ok(Some(agent)) => {
                fanout.apply(change).await;
                Ok(agent)
            }
            Ok(None) => Err(GatewayError::UnknownAgent(agent_id)),
            Err(e) => {
                fanout.reread(change);
                Err(e.into())
            }
        }
    }
}

/// The projects an admin may grant, for the unknown-projects message.
fn describe(known: &[ProjectSummary]) -> String {
    if known.is_empty() {
        return "none; create a project in the Tasker first".into();
    }
    known
        .iter()
        .map(|p| format!("{} ({})", p.id, p.identifier))
        .collect::<Vec<_>>()
        .join(", ")
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

/// A per-agent rate limit, when given, is in the range the defaults are held to.
fn validate_rate(field: &str, value: Option<u32>) -> Result<(), GatewayError> {
    match value {
        Some(v) if !RATE_LIMITS.contains(&v) => Err(GatewayError::Invalid(format!(
            "{field} must be from {} to {} when given (got {v}); omit it or send null for the \
             gateway default",
            RATE_LIMITS.start(),
            RATE_LIMITS.end()
        ))),
        Some(_) | None => Ok(()),
    }
}

/// At least one grant, project ids of 1 to 64 characters, none twice, known scopes.
fn validate_grants(
    requested: Vec<(String, Vec<String>)>,
) -> Result<Vec<GrantRecord>, GatewayError> {
    if requested.is_empty() {
        return Err(GatewayError::Invalid(
            "grants must name at least one project: an agent without projects can do nothing"
                .into(),
        ));
    }
    let mut grants = Vec::with_capacity(requested.len());
    let mut seen = BTreeSet::new();
    for (project_id, scopes) in requested {
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
    Ok(grants)
}
