//! Writing work items and comments, idempotently and attributed.
//!
//! **Idempotency.** A create carries `external_source = agent-gateway` and an
//! `external_id` derived from the agent and its idempotency key ([`external_id`]). Plane
//! answers a second create with the same pair with 409 and the existing id
//! (`IssueListCreateAPIEndpoint.post`, `IssueCommentListCreateAPIEndpoint.post` in
//! `apps/api/plane/api/views/issue.py`): the adapter reads that item and answers with it,
//! as the first answer — or `conflict` when its name differs (the key was used for
//! another card). Before it re-sends a create it already sent once (a retry after a
//! timeout), it looks the pair up (`GET …/work-items/?external_id=&external_source=`).
//! Changes (`PATCH`) set absolute values, so re-sending one changes nothing more.
//!
//! **Attribution.** Plane records the API key's user as the actor of every change. The
//! adapter writes the agent and its owner into what Plane keeps: the description's
//! footer on create, each comment's footer (`text.rs`), and the `external_source`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::client::{parse, ITEMS};
use super::text::{comment_html, description_html, footer};
use super::{resolve, wire, PlaneTasker};
use crate::tasker::*;

/// The `external_source` of everything the gateway creates in Plane.
pub const EXTERNAL_SOURCE: &str = "agent-gateway";

/// The `external_id` of a write: SHA-256 of what it is, the agent and its key, in hex.
/// Per agent, as the contract's keys are.
pub fn external_id(what: &str, actor: &Actor, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{what}\n{}\n{key}", actor.agent_id).as_bytes());
    hex::encode(h.finalize())
}

impl PlaneTasker {
    /// Creates a work item, or returns the one this agent already created with `key`.
    pub(super) async fn create(
        &self,
        d: Instant,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail> {
        check_key(key)?;
        let project = self.granted_project(d, actor, &input.project_id).await?;
        let name = resolve::name(&input.name)?;
        let mut body = Map::new();
        for refresh in [false, true] {
            let data = self.catalog.project(d, &project, refresh).await?;
            match self.create_body(d, actor, &data, &name, input).await {
                Ok(b) => {
                    body = b;
                    break;
                }
                Err(e) if e.code == ErrorCode::ValidationFailed && !refresh => continue,
                Err(e) => return Err(e),
            }
        }
        let ext = external_id("card", actor, key);
        body.insert("external_id".into(), json!(ext));
        body.insert("external_source".into(), json!(EXTERNAL_SOURCE));
        let items = ["projects", project.id.as_str(), ITEMS];
        let retry = !self.first_send(&ext);
        if retry {
            let found = self
                .http
                .exchange(
                    d,
                    Method::GET,
                    &items,
                    &[
                        ("external_id", &ext),
                        ("external_source", EXTERNAL_SOURCE),
                        ("expand", "parent"),
                    ],
                    None,
                )
                .await?;
            if found.status != StatusCode::NOT_FOUND {
                let existing: wire::Issue = parse(found)?;
                return self.replay(d, &project, existing, &name).await;
            }
        }
        let answer = self
            .http
            .exchange(d, Method::POST, &items, &[], Some(&Value::Object(body)))
            .await?;
        if answer.status == StatusCode::CONFLICT {
            let dup: wire::Duplicate = serde_json::from_slice(&answer.body).map_err(|_| {
                TaskerError::unavailable(
                    "Plane's 409 did not name the existing work item; retry shortly",
                )
            })?;
            let existing: wire::Issue = self
                .http
                .get(
                    d,
                    &["projects", &project.id, ITEMS, &dup.id],
                    &[("expand", "parent")],
                )
                .await?;
            return self.replay(d, &project, existing, &name).await;
        }
        let created: wire::Issue = parse(answer)?;
        // Plane answers a create without `expand`: read it back with its parent's key.
        let created: wire::Issue = self
            .http
            .get(
                d,
                &["projects", &project.id, ITEMS, &created.id],
                &[("expand", "parent")],
            )
            .await?;
        let data = self.catalog.project(d, &project, false).await?;
        self.detail(d, &data, &created).await
    }

    /// Whether this is the first time this create is sent (remembered for the retries).
    fn first_send(&self, ext: &str) -> bool {
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sent.len() > 100_000 {
            sent.clear();
        }
        sent.insert(ext.to_owned())
    }

    /// The answer to a create Plane already has: that work item, unless `name` differs.
    async fn replay(
        &self,
        d: Instant,
        project: &wire::Project,
        existing: wire::Issue,
        name: &str,
    ) -> TaskerResult<CardDetail> {
        let data = self.catalog.project(d, project, false).await?;
        if existing.name != name {
            return Err(TaskerError::new(
                ErrorCode::Conflict,
                format!("this idempotency key already created {} with another name; use a fresh key for a new card", data.key(existing.sequence_id)),
            ));
        }
        self.detail(d, &data, &existing).await
    }

    async fn create_body(
        &self,
        d: Instant,
        actor: &Actor,
        data: &super::catalog::ProjectData,
        name: &str,
        input: &NewCard,
    ) -> TaskerResult<Map<String, Value>> {
        let mut body = Map::new();
        body.insert("name".into(), json!(name));
        let text = input.description.clone().unwrap_or_default();
        resolve::text("description", &text)?;
        for b in &input.blocks {
            check_block_name(&b.name).map_err(|e| TaskerError {
                field: Some("blocks.name".into()),
                ..e
            })?;
            resolve::text("blocks.content", &b.content)?;
        }
        let mut blocks: Vec<Block> = Vec::new();
        for b in &input.blocks {
            blocks.retain(|x| x.name != b.name.trim());
            blocks.push(Block {
                name: b.name.trim().to_owned(),
                content: b.content.clone(),
            });
        }
        body.insert(
            "description_html".into(),
            json!(description_html(&text, &blocks, &footer(actor, true))),
        );
        let priority = resolve::priority(input.priority.as_deref().unwrap_or("none"))?;
        body.insert("priority".into(), json!(priority));
        let state = match &input.state {
            Some(s) => Some(data.state_named(s)?),
            None => data.default_state(),
        };
        if let Some(s) = state {
            body.insert("state".into(), json!(s.id));
        }
        if !input.labels.is_empty() {
            body.insert(
                "labels".into(),
                json!(data.label_ids("labels", &input.labels)?),
            );
        }
        if !input.assignees.is_empty() {
            body.insert(
                "assignees".into(),
                json!(data.assignee_ids(&input.assignees)?),
            );
        }
        if let Some(parent) = input.parent.as_deref().filter(|p| !p.trim().is_empty()) {
            body.insert(
                "parent".into(),
                json!(self.parent(d, actor, data, parent).await?),
            );
        }
        for (field, value) in [
            ("start_date", &input.start_date),
            ("target_date", &input.target_date),
        ] {
            if let Some(v) = value {
                body.insert(field.into(), json!(resolve::date(field, v)?));
            }
        }
        Ok(body)
    }

    /// The id of a parent card, which must be in the same project.
    pub(super) async fn parent(
        &self,
        d: Instant,
        actor: &Actor,
        data: &super::catalog::ProjectData,
        parent: &str,
    ) -> TaskerResult<String> {
        let (pdata, p) = self.find(d, actor, parent).await?;
        if pdata.project.id != data.project.id {
            return Err(TaskerError::invalid(
                "parent",
                format!(
                    "the parent must be a card of project {}",
                    data.project.identifier
                ),
                vec![],
            ));
        }
        Ok(p.id)
    }

    /// Adds a comment, or returns the one this agent already added with `key`.
    pub(super) async fn comment_on(
        &self,
        d: Instant,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        check_key(key)?;
        if body.trim().is_empty() {
            return Err(TaskerError::invalid(
                "body",
                "a comment needs some text",
                vec![],
            ));
        }
        resolve::text("body", body)?;
        let (data, issue) = self.find(d, actor, card).await?;
        let comments = [
            "projects",
            data.project.id.as_str(),
            ITEMS,
            issue.id.as_str(),
            "comments",
        ];
        let ext = external_id("comment", actor, key);
        let payload = json!({
            "comment_html": comment_html(body, &footer(actor, false)),
            "external_id": ext,
            "external_source": EXTERNAL_SOURCE,
        });
        let answer = self
            .http
            .exchange(d, Method::POST, &comments, &[], Some(&payload))
            .await?;
        let made: wire::IssueComment = if answer.status == StatusCode::CONFLICT {
            let dup: wire::Duplicate = serde_json::from_slice(&answer.body).map_err(|_| {
                TaskerError::unavailable(
                    "Plane's 409 did not name the existing comment; retry shortly",
                )
            })?;
            let mut path = comments.to_vec();
            path.push(&dup.id);
            let existing: wire::IssueComment = self.http.get(d, &path, &[]).await.map_err(|e| {
                if e.code == ErrorCode::NotFound {
                    TaskerError::new(ErrorCode::Conflict, "this idempotency key already added a comment to another card; use a fresh key")
                } else {
                    e
                }
            })?;
            let (first, _) =
                super::text::read_comment(existing.comment_html.as_deref().unwrap_or(""));
            if first != body.trim_end() {
                return Err(TaskerError::new(
                    ErrorCode::Conflict,
                    "this idempotency key already added another comment; use a fresh key",
                ));
            }
            existing
        } else {
            parse(answer)?
        };
        Ok(self.comment(d, &made).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_per_agent_key_and_kind_and_the_key_is_never_shown() {
        let a = Actor::gateway(uuid::Uuid::nil(), "o", vec![]);
        let b = Actor {
            agent_id: uuid::Uuid::new_v4(),
            ..a.clone()
        };
        let id = external_id("card", &a, "k");
        assert_eq!(id.len(), 64);
        assert_eq!(id, external_id("card", &a, "k"));
        assert_ne!(id, external_id("card", &b, "k"));
        assert_ne!(id, external_id("comment", &a, "k"));
        assert_ne!(id, external_id("card", &a, "k2"));
        let config = super::super::PlaneConfig {
            url: url::Url::parse("https://plane.example.com").unwrap_or_else(|_| unreachable!()),
            workspace: "acme".into(),
            api_key: secrecy::SecretString::from("plane_api_secret_value"),
        };
        assert!(!format!("{config:?}").contains("secret_value"));
    }
}
