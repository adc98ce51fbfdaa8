//! The conformance kit (`agent-gateway tasker-check`): runs the contract's checks
//! against any implementation of the adapter namespace and reports pass or fail per
//! check. It acts as a synthetic agent granted one project (`--project`), and uses a
//! second, existing project (`--other-project`) that it is *not* granted.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

use super::nodedc::{headers, NodedcTasker, PREFIX};
use super::*;

/// Where and as whom the checks run.
#[derive(Debug, Clone)]
pub struct CheckTarget {
    /// The Tasker's base URL.
    pub url: Url,
    /// The internal service token.
    pub token: SecretString,
    /// A project the checks may write cards to.
    pub project: String,
    /// An existing project the checking agent is not granted.
    pub other_project: String,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What was checked.
    pub name: &'static str,
    /// `Ok(detail)` or `Err(what went wrong)`.
    pub outcome: Result<String, String>,
}

struct Kit {
    client: NodedcTasker,
    raw: reqwest::Client,
    target: CheckTarget,
    actor: Actor,
    run: String,
}

fn expect_code<T: std::fmt::Debug>(
    r: TaskerResult<T>,
    code: ErrorCode,
) -> Result<TaskerError, String> {
    match r {
        Err(e) if e.code == code => Ok(e),
        Err(e) => Err(format!(
            "expected {}, got {}: {}",
            code.as_str(),
            e.code.as_str(),
            e.message
        )),
        Ok(v) => Err(format!("expected {}, got success: {v:?}", code.as_str())),
    }
}

impl Kit {
    fn key(&self, what: &str) -> String {
        format!("check-{}-{what}", self.run)
    }

    async fn card(&self, what: &str) -> Result<CardDetail, String> {
        let input = NewCard {
            project_id: self.target.project.clone(),
            name: format!("conformance {what} {}", self.run),
            ..NewCard::default()
        };
        self.client
            .create_card(&self.actor, &self.key(what), &input)
            .await
            .map_err(|e| e.to_string())
    }

    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: bool,
    ) -> Result<(u16, serde_json::Value), String> {
        let url = self
            .target
            .url
            .join(PREFIX)
            .and_then(|u| u.join(path))
            .map_err(|e| e.to_string())?;
        let mut req = self
            .raw
            .request(method, url)
            .header(headers::AGENT_ID, self.actor.agent_id.to_string())
            .header(headers::AGENT_NAME, "conformance-kit")
            .header(headers::OWNER_ID, self.actor.owner_id.to_string())
            .header(headers::OWNER_NAME, "conformance")
            .header(headers::GRANTED, self.target.project.clone())
            .header(headers::IDEMPOTENCY_KEY, self.key(path));
        if auth {
            req = req.bearer_auth(self.target.token.expose_secret());
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    async fn service_token_required(&self) -> Result<String, String> {
        let (status, body) = self
            .raw(
                reqwest::Method::GET,
                &format!("projects/{}/context", self.target.project),
                false,
            )
            .await?;
        match (status, body["error"]["code"].as_str()) {
            (401, Some("unauthorized")) => Ok("401 unauthorized without the service token".into()),
            other => Err(format!("expected 401 unauthorized, got {other:?}")),
        }
    }

    async fn granted_project_visible(&self) -> Result<String, String> {
        let projects = self
            .client
            .projects(&self.actor)
            .await
            .map_err(|e| e.to_string())?;
        if projects.len() == 1 && projects[0].id == self.target.project {
            Ok(format!("{} ({})", projects[0].identifier, projects[0].id))
        } else {
            Err(format!(
                "expected exactly the granted project, got {projects:?}"
            ))
        }
    }

    async fn all_projects_listed(&self) -> Result<String, String> {
        let projects = self
            .client
            .all_projects()
            .await
            .map_err(|e| e.to_string())?;
        for wanted in [&self.target.project, &self.target.other_project] {
            if !projects.iter().any(|p| &p.id == wanted) {
                return Err(format!("project {wanted} is missing from {projects:?}"));
            }
        }
        if !projects.is_sorted_by(|a, b| a.identifier <= b.identifier) {
            return Err("projects are not ordered by identifier".into());
        }
        Ok(format!(
            "{} projects, ordered by identifier",
            projects.len()
        ))
    }

    async fn context_is_complete(&self) -> Result<String, String> {
        let ctx = self
            .client
            .project_context(&self.actor, &self.target.project)
            .await
            .map_err(|e| e.to_string())?;
        let groups = [
            "backlog",
            "unstarted",
            "started",
            "completed",
            "cancelled",
            "triage",
        ];
        if ctx.states.iter().filter(|s| s.is_default).count() != 1 {
            return Err("exactly one state must be the default".into());
        }
        if let Some(bad) = ctx
            .states
            .iter()
            .find(|s| !groups.contains(&s.group.as_str()))
        {
            return Err(format!(
                "state {} has unknown group {}",
                bad.name, bad.group
            ));
        }
        if let Some(bad) = ctx.members.iter().find(|m| ![5, 15, 20].contains(&m.role)) {
            return Err(format!(
                "member {} has role {} (expected 20, 15 or 5)",
                bad.display_name, bad.role
            ));
        }
        Ok(format!(
            "{} states, {} labels, {} members",
            ctx.states.len(),
            ctx.labels.len(),
            ctx.members.len()
        ))
    }

    async fn ungranted_project_refused(&self) -> Result<String, String> {
        let other = &self.target.other_project;
        let e = expect_code(
            self.client.project_context(&self.actor, other).await,
            ErrorCode::ProjectNotGranted,
        )?;
        if !e.valid.contains(&self.target.project) {
            return Err("project_not_granted must list the granted projects in `valid`".into());
        }
        let input = NewCard {
            project_id: other.clone(),
            name: "must not exist".into(),
            ..NewCard::default()
        };
        expect_code(
            self.client
                .create_card(&self.actor, &self.key("ungranted"), &input)
                .await,
            ErrorCode::ProjectNotGranted,
        )?;
        let q = CardQuery {
            project_id: Some(other.clone()),
            ..CardQuery::default()
        };
        expect_code(
            self.client.search_cards(&self.actor, &q).await,
            ErrorCode::ProjectNotGranted,
        )?;
        // A card of the other project, made by an agent granted there, is refused by key.
        let there = Actor {
            granted: vec![other.clone()],
            ..self.actor.clone()
        };
        let input = NewCard {
            project_id: other.clone(),
            name: format!("conformance other {}", self.run),
            ..NewCard::default()
        };
        let card = self
            .client
            .create_card(&there, &self.key("other"), &input)
            .await
            .map_err(|e| e.to_string())?;
        expect_code(
            self.client.get_card(&self.actor, &card.card.key).await,
            ErrorCode::ProjectNotGranted,
        )?;
        Ok("refused by id, in search, on create and by card key".into())
    }

    async fn delete_and_archive_refused(&self) -> Result<String, String> {
        let card = self.card("delete").await?;
        let key = &card.card.key;
        for (method, path) in [
            (reqwest::Method::DELETE, format!("cards/{key}")),
            (reqwest::Method::POST, format!("cards/{key}/archive")),
            (reqwest::Method::DELETE, format!("cards/{key}/comments")),
            (
                reqwest::Method::DELETE,
                format!("projects/{}", self.target.project),
            ),
            (
                reqwest::Method::POST,
                format!("projects/{}/archive", self.target.project),
            ),
        ] {
            let (status, body) = self.raw(method.clone(), &path, true).await?;
            if body["error"]["code"] != "forbidden_operation" {
                return Err(format!(
                    "{method} {path}: expected forbidden_operation, got {status} {body}"
                ));
            }
        }
        self.client
            .get_card(&self.actor, key)
            .await
            .map_err(|e| format!("the card is gone: {e}"))?;
        Ok("DELETE and archive refused on cards, comments and projects; the card remains".into())
    }

    async fn invalid_values_list_valid_ones(&self) -> Result<String, String> {
        let card = self.card("invalid").await?;
        let key = &card.card.key;
        let e = expect_code(
            self.client
                .move_card(&self.actor, &self.key("bad-state"), key, "No Such State")
                .await,
            ErrorCode::ValidationFailed,
        )?;
        if e.valid.is_empty() {
            return Err("an unknown state must list the valid state names".into());
        }
        let labels = vec!["no-such-label".to_owned()];
        let e2 = expect_code(
            self.client
                .set_labels(&self.actor, &self.key("bad-label"), key, &labels)
                .await,
            ErrorCode::ValidationFailed,
        )?;
        let who = vec!["no-such-member".to_owned()];
        let e3 = expect_code(
            self.client
                .assign(&self.actor, &self.key("bad-assignee"), key, &who)
                .await,
            ErrorCode::ValidationFailed,
        )?;
        let e4 = expect_code(
            self.client
                .update_card(
                    &self.actor,
                    &self.key("bad-priority"),
                    key,
                    &CardPatch {
                        priority: Some("whenever".into()),
                        ..CardPatch::default()
                    },
                )
                .await,
            ErrorCode::ValidationFailed,
        )?;
        if e4.valid.is_empty() {
            return Err("an unknown priority must list the valid priorities".into());
        }
        Ok(format!(
            "state → {} valid, label → {} valid, assignee → {} valid",
            e.valid.len(),
            e2.valid.len(),
            e3.valid.len()
        ))
    }

    async fn idempotent_retry_returns_the_same_card(&self) -> Result<String, String> {
        let first = self.card("idem").await?;
        let again = self.card("idem").await?;
        if first.card.id != again.card.id {
            return Err(format!(
                "a retry created a second card: {} and {}",
                first.card.key, again.card.key
            ));
        }
        let changed = NewCard {
            project_id: self.target.project.clone(),
            name: "a different card".into(),
            ..NewCard::default()
        };
        expect_code(
            self.client
                .create_card(&self.actor, &self.key("idem"), &changed)
                .await,
            ErrorCode::Conflict,
        )?;
        let c1 = self
            .client
            .add_comment(
                &self.actor,
                &self.key("idem-comment"),
                &first.card.key,
                "hello",
            )
            .await
            .map_err(|e| e.to_string())?;
        let c2 = self
            .client
            .add_comment(
                &self.actor,
                &self.key("idem-comment"),
                &first.card.key,
                "hello",
            )
            .await
            .map_err(|e| e.to_string())?;
        if c1.id != c2.id {
            return Err("a retried comment was added twice".into());
        }
        Ok(format!(
            "{} returned twice; other input under the same key is a conflict",
            first.card.key
        ))
    }

    async fn writes_are_recorded_with_the_agent(&self) -> Result<String, String> {
        let card = self.card("history").await?;
        let key = &card.card.key;
        let ctx = self
            .client
            .project_context(&self.actor, &self.target.project)
            .await
            .map_err(|e| e.to_string())?;
        let state = ctx
            .states
            .iter()
            .find(|s| !s.is_default)
            .ok_or("the project needs two states")?;
        self.client
            .move_card(&self.actor, &self.key("history-move"), key, &state.name)
            .await
            .map_err(|e| e.to_string())?;
        let after = self
            .client
            .update_block(
                &self.actor,
                &self.key("history-block"),
                key,
                "plan",
                "1. check",
            )
            .await
            .map_err(|e| e.to_string())?;
        if after.card.state != state.name {
            return Err(format!(
                "moved to {} but the card is in {}",
                state.name, after.card.state
            ));
        }
        if !after
            .blocks
            .iter()
            .any(|b| b.name == "plan" && b.content == "1. check")
        {
            return Err("the block was not stored".into());
        }
        if after.history.is_empty() {
            return Err("writes must appear in the card's history".into());
        }
        Ok(format!("{} history entries", after.history.len()))
    }

    async fn pagination_is_complete(&self) -> Result<String, String> {
        let mut made = Vec::new();
        for i in 0..7 {
            made.push(self.card(&format!("page-{i}")).await?.card.id);
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..1000 {
            let q = CardQuery {
                project_id: Some(self.target.project.clone()),
                text: Some(self.run.clone()),
                cursor: cursor.clone(),
                limit: Some(3),
                ..CardQuery::default()
            };
            let page = self
                .client
                .search_cards(&self.actor, &q)
                .await
                .map_err(|e| e.to_string())?;
            if page.cards.len() > 3 {
                return Err(format!("a page of limit 3 had {} cards", page.cards.len()));
            }
            seen.extend(page.cards.into_iter().map(|c| c.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != seen.len() {
            return Err("a card appeared on two pages".into());
        }
        if let Some(missing) = made.iter().find(|id| !seen.contains(id)) {
            return Err(format!("card {missing} never appeared while paging"));
        }
        Ok(format!(
            "{} cards over pages of 3, none missing or repeated",
            seen.len()
        ))
    }
}

/// Runs every check. Never panics; each failure is reported in its row.
pub async fn run(mut target: CheckTarget) -> Vec<CheckResult> {
    if !target.url.path().ends_with('/') {
        let path = format!("{}/", target.url.path());
        target.url.set_path(&path);
    }
    let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let client = match NodedcTasker::new(&target.url, target.token.clone(), Duration::from_secs(30))
    {
        Ok(c) => c,
        Err(e) => {
            return vec![CheckResult {
                name: "client",
                outcome: Err(e.to_string()),
            }]
        }
    };
    let kit = Kit {
        client,
        raw: reqwest::Client::new(),
        actor: Actor {
            agent_id: Uuid::new_v4(),
            agent_name: "conformance-kit".into(),
            owner_id: Uuid::new_v4(),
            owner_name: "conformance".into(),
            granted: vec![target.project.clone()],
        },
        target,
        run,
    };
    vec![
        CheckResult {
            name: "service token required",
            outcome: kit.service_token_required().await,
        },
        CheckResult {
            name: "granted project listed",
            outcome: kit.granted_project_visible().await,
        },
        CheckResult {
            name: "all projects listed",
            outcome: kit.all_projects_listed().await,
        },
        CheckResult {
            name: "project context complete",
            outcome: kit.context_is_complete().await,
        },
        CheckResult {
            name: "ungranted project refused",
            outcome: kit.ungranted_project_refused().await,
        },
        CheckResult {
            name: "delete and archive refused",
            outcome: kit.delete_and_archive_refused().await,
        },
        CheckResult {
            name: "invalid values list valid ones",
            outcome: kit.invalid_values_list_valid_ones().await,
        },
        CheckResult {
            name: "idempotent retry, same card",
            outcome: kit.idempotent_retry_returns_the_same_card().await,
        },
        CheckResult {
            name: "writes recorded in history",
            outcome: kit.writes_are_recorded_with_the_agent().await,
        },
        CheckResult {
            name: "pagination complete",
            outcome: kit.pagination_is_complete().await,
        },
    ]
}

/// A pass/fail table.
pub fn table(results: &[CheckResult]) -> String {
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in results {
        let (mark, detail) = match &r.outcome {
            Ok(d) => ("PASS", d.as_str()),
            Err(e) => ("FAIL", e.as_str()),
        };
        out.push_str(&format!("{mark}  {:width$}  {detail}\n", r.name));
    }
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    out.push_str(&format!(
        "{} checks, {} passed, {} failed\n",
        results.len(),
        results.len() - failed,
        failed
    ));
    out
}
