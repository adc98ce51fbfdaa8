//! The `plane` adapter: the Tasker port over stock Plane's public REST API v1
//! (`/api/v1/workspaces/{slug}/…`, `X-Api-Key`), so the gateway can stand in front of
//! any Plane instance (`GATEWAY_TASKER=plane`). `docs/TASKER_ADAPTER_CONTRACT.md`
//! ("Stock Plane") says how each port operation maps onto Plane, and
//! `docs/DECISIONS.md` why.
//!
//! * [`client`] — HTTP: URLs, the API key, the shared request budget and Plane's
//!   throttle headers, `/work-items/` or `/issues/`, statuses as errors;
//! * [`wire`] — Plane's JSON;
//! * [`catalog`] — projects, states, labels and members, kept for 30 s;
//! * [`resolve`] — names checked against the project (what Plane silently drops);
//! * [`text`] — descriptions, blocks, comments and the attribution footer in HTML;
//! * [`cards`] — reading: find, detail with history, search;
//! * [`writes`] — creating work items and comments, idempotently;
//! * [`changes`] — changing work items.
//!
//! The adapter only ever sends `GET`, `POST` and `PATCH`, and never to an `archive`
//! path: the port has no delete or archive, and nothing here builds one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gateway_actors::RequestBudget;
use secrecy::SecretString;
use serde_json::{json, Map};
use tokio::time::Instant;
use url::Url;

mod cards;
mod catalog;
mod changes;
mod client;
mod resolve;
mod text;
mod wire;
mod writes;

pub use cards::{GATEWAY_ACTOR, MAX_SCAN};
pub use catalog::TTL;
pub use writes::{external_id, EXTERNAL_SOURCE};

use super::*;

/// Where the adapter finds Plane. `Debug` never shows the key.
#[derive(Clone)]
pub struct PlaneConfig {
    /// Plane's base URL; the API is under `api/v1/`.
    pub url: Url,
    /// The workspace slug.
    pub workspace: String,
    /// The API key of the gateway's bot member.
    pub api_key: SecretString,
}

impl std::fmt::Debug for PlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaneConfig")
            .field("url", &self.url.as_str())
            .field("workspace", &self.workspace)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// The Tasker port over Plane's API v1.
#[derive(Debug)]
pub struct PlaneTasker {
    http: client::Http,
    catalog: catalog::Catalog,
    timeout: Duration,
    /// Creates already sent once: a second send is a retry, and looks first.
    sent: Mutex<HashSet<String>>,
}

impl PlaneTasker {
    /// An adapter of the Plane at `config`, metering every request against `budget`.
    /// `timeout` is one call's time (the pool's per-attempt timeout): a request waits
    /// for its budget turn only while that allows.
    pub fn new(
        config: &PlaneConfig,
        budget: Arc<RequestBudget>,
        timeout: Duration,
    ) -> TaskerResult<Self> {
        let http = client::Http::new(
            &config.url,
            &config.workspace,
            config.api_key.clone(),
            budget,
            timeout + Duration::from_millis(500),
        )?;
        Ok(Self {
            catalog: catalog::Catalog::new(http.clone()),
            http,
            timeout,
            sent: Mutex::new(HashSet::new()),
        })
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout.saturating_sub(Duration::from_millis(250))
    }
}

#[async_trait]
impl Tasker for PlaneTasker {
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
        let projects = self.catalog.projects(self.deadline(), false).await?;
        Ok(projects
            .iter()
            .filter(|p| actor.may(&p.id))
            .map(catalog::summary)
            .collect())
    }

    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
        let projects = self.catalog.projects(self.deadline(), true).await?;
        Ok(projects.iter().map(catalog::summary).collect())
    }

    async fn project_members(&self, project_id: &str) -> TaskerResult<Vec<Member>> {
        let d = self.deadline();
        let id = check_id("project_id", project_id)?;
        let project = self.catalog.find_project(d, id).await?.ok_or_else(|| {
            TaskerError::not_found(format!(
                "no project {id} visible to the gateway's bot user in this Plane workspace"
            ))
        })?;
        self.catalog.members(d, &project, false).await
    }

    async fn projects_of_member(&self, user_id: &str) -> TaskerResult<Vec<Membership>> {
        // Plane's API has no "projects of a user": every visible project's members are
        // read (kept for 30 s), one request per project.
        let d = self.deadline();
        let user = check_id("user_id", user_id)?;
        let mut out = Vec::new();
        for p in self.catalog.projects(d, false).await?.iter() {
            let data = self.catalog.project(d, p, false).await?;
            if let Some(m) = data.members.iter().find(|m| m.user_id == user) {
                out.push(Membership {
                    id: p.id.clone(),
                    identifier: p.identifier.clone(),
                    name: p.name.clone(),
                    role: m.role,
                });
            }
        }
        Ok(out)
    }

    async fn project_context(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<ProjectContext> {
        let d = self.deadline();
        let project = self.granted_project(d, actor, project_id).await?;
        Ok(self.catalog.project(d, &project, false).await?.context())
    }

    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage> {
        self.search(self.deadline(), actor, query).await
    }

    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail> {
        let d = self.deadline();
        let (data, issue) = self.find(d, actor, card).await?;
        self.detail(d, &data, &issue).await
    }

    async fn create_card(
        &self,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail> {
        self.create(self.deadline(), actor, key, input).await
    }

    async fn update_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail> {
        let d = self.deadline();
        let body = self.patch_body(d, actor, card, patch).await?;
        let description = patch.description.clone();
        self.change(d, actor, key, card, move |_, issue| {
            let mut body = body.clone();
            if let Some(text) = &description {
                body.insert(
                    "description_html".into(),
                    json!(Self::rewrite(actor, issue, Some(text), None)),
                );
            }
            Ok(body)
        })
        .await
    }

    async fn move_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail> {
        self.change(self.deadline(), actor, key, card, |data, _| {
            let mut body = Map::new();
            body.insert("state".into(), json!(data.state_named(state)?.id));
            Ok(body)
        })
        .await
    }

    async fn add_comment(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        self.comment_on(self.deadline(), actor, key, card, body)
            .await
    }

    async fn set_labels(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        labels: &[String],
    ) -> TaskerResult<CardDetail> {
        self.change(self.deadline(), actor, key, card, |data, _| {
            let mut body = Map::new();
            body.insert("labels".into(), json!(data.label_ids("labels", labels)?));
            Ok(body)
        })
        .await
    }

    async fn assign(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail> {
        let wanted = std::sync::Mutex::new(Vec::new());
        let after = self
            .change(self.deadline(), actor, key, card, |data, _| {
                let ids = data.assignee_ids(assignees)?;
                *wanted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = ids.clone();
                let mut body = Map::new();
                body.insert("assignees".into(), json!(ids));
                Ok(body)
            })
            .await?;
        // Plane drops an assignee who is a guest of this project though a member of the
        // workspace (the API does not show project roles): say so rather than succeed.
        let wanted = wanted
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dropped: Vec<&String> = wanted
            .iter()
            .filter(|id| !after.card.assignees.iter().any(|a| &a.user_id == *id))
            .collect();
        if !dropped.is_empty() {
            return Err(TaskerError::invalid(
                "assignees",
                format!(
                    "Plane did not assign {dropped:?} (not a member with role Member or Admin of this project); {} is now assigned to {:?}",
                    after.card.key,
                    after.card.assignees.iter().map(|a| a.display_name.as_str()).collect::<Vec<_>>()
                ),
                after.card.assignees.iter().map(|a| format!("{} ({})", a.display_name, a.user_id)).collect(),
            ));
        }
        Ok(after)
    }

    async fn update_block(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        block: &str,
        content: &str,
    ) -> TaskerResult<CardDetail> {
        let name = check_block_name(block)?.to_owned();
        resolve::text("content", content)?;
        self.change(self.deadline(), actor, key, card, |_, issue| {
            let mut body = Map::new();
            body.insert(
                "description_html".into(),
                json!(Self::rewrite(actor, issue, None, Some((&name, content)))),
            );
            Ok(body)
        })
        .await
    }

    async fn add_member(
        &self,
        _actor: &Actor,
        _key: &str,
        _project_id: &str,
        _member: &NewMember,
    ) -> TaskerResult<Member> {
        Err(TaskerError::new(
            ErrorCode::ForbiddenOperation,
            "on stock Plane the gateway does not add project members (it would need a project admin's API key); ask a project admin to add them in Plane",
        ))
    }
}
