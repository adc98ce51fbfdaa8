//! The conformance kit (`agent-gateway tasker-check`): runs the contract's checks
//! against any implementation of the adapter namespace and reports pass or fail per
//! check. It acts as a synthetic agent granted one project (`--project`), and uses a
//! second, existing project (`--other-project`) that it is *not* granted.
//!
//! This file runs the kit and holds its plumbing; the checks are in [`confinement`]
//! (token, listings, grants, no delete or archive), [`members`] (the gateway's membership
//! reads) and [`writes`] (values, idempotency, history, pagination).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

mod confinement;
mod members;
mod writes;

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
            work_session: None,
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
            name: "members listed",
            outcome: kit.members_listed().await,
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
