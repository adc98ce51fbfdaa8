//! The demo seed: on the embedded default, a first start on an empty store (or
//! `serve --demo`) creates one entitled owner, two projects in the embedded tracker, and
//! one agent granted to the first of them — and says, once, how to connect Codex to it.

use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::gateway::{CreateAgent, Gateway, GatewayError};
use crate::scopes::Scope;
use crate::store::{Outcome, UserUpsert};
use crate::tasker::embedded::{default_states, EmbeddedTasker, NewProject};
use crate::tasker::Tasker;
use crate::token::Token;

/// What the seed made.
#[derive(Debug)]
pub struct Demo {
    /// The owner.
    pub owner_id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// The agent's token: printed once, then only its hash exists.
    pub token: Token,
    /// The granted project's identifier.
    pub granted: String,
    /// The other project's identifier.
    pub other: String,
}

/// Seeds the demo; its projects are created in `embedded`, which must be the gateway's
/// Tasker. Identifiers get a numeric suffix when `--demo` runs on a store that already
/// has them.
pub async fn seed(gw: &Gateway, embedded: &EmbeddedTasker) -> Result<Demo, GatewayError> {
    let owner_id = Uuid::now_v7();
    let owner_name = "Demo Owner";
    gw.upsert_user(
        UserUpsert {
            id: owner_id,
            client_id: "demo".into(),
            display_name: owner_name.into(),
            codex_agents: true,
            blocked: false,
        },
        "admin",
        Some("demo seed".into()),
    )
    .await?;
    let taken: Vec<String> = embedded
        .all_projects()
        .await
        .map_err(GatewayError::Tasker)?
        .into_iter()
        .map(|p| p.identifier)
        .collect();
    let free = |base: &str| {
        (1..)
            .map(|n| {
                if n == 1 {
                    base.to_owned()
                } else {
                    format!("{base}{n}")
                }
            })
            .find(|id| !taken.contains(id))
            .unwrap_or_else(|| base.to_owned())
    };
    let mut projects = Vec::new();
    for (identifier, name) in [(free("WEB"), "Website"), (free("OPS"), "Operations")] {
        let project = embedded
            .create_project(&NewProject {
                identifier,
                name: name.into(),
                states: default_states(),
                labels: vec![
                    ("bug".into(), "#e5484d".into()),
                    ("feature".into(), "#3e63dd".into()),
                    ("docs".into(), "#30a46c".into()),
                ],
                members: vec![(owner_id, owner_name.into(), 20)],
            })
            .await
            .map_err(GatewayError::Tasker)?;
        projects.push(project);
    }
    let created = gw
        .create_agent(CreateAgent {
            owner_id,
            name: "demo-codex".into(),
            grants: vec![(
                projects[0].id.to_string(),
                Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            )],
            rate_per_minute: None,
            rate_burst: None,
            members_only: false,
        })
        .await?;
    let row = AuditEvent::start("demo-seed", "admin.demo.seed")
        .agent(created.agent.id, owner_id)
        .project(projects[0].id.to_string())
        .finish(Outcome::Allowed, None);
    if let Err(e) = gw.auditor.record(row).await {
        tracing::warn!(error = %e, "could not audit the demo seed");
    }
    Ok(Demo {
        owner_id,
        agent_id: created.agent.id,
        token: created.token,
        granted: projects[0].identifier.clone(),
        other: projects[1].identifier.clone(),
    })
}
