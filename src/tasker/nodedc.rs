//! The `nodedc` adapter: an HTTP client of the internal adapter contract
//! (`docs/TASKER_ADAPTER_CONTRACT.md`) that the Tasker (Plane fork) serves under
//! `/api/internal/nodedc/agent/`. The gateway's own `tasker-serve` serves the same
//! contract, so this client is tested over a real socket.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;
use uuid::Uuid;

use super::*;

/// The contract's path prefix.
pub const PREFIX: &str = "api/internal/nodedc/agent/";

/// Header names of the contract. Every call names the acting agent and its owner.
pub mod headers {
    /// The agent's id.
    pub const AGENT_ID: &str = "x-nodedc-agent-id";
    /// The agent's name.
    pub const AGENT_NAME: &str = "x-nodedc-agent-name";
    /// The owner's user id.
    pub const OWNER_ID: &str = "x-nodedc-owner-id";
    /// The owner's display name.
    pub const OWNER_NAME: &str = "x-nodedc-owner-name";
    /// Comma-separated ids of the projects the gateway granted.
    pub const GRANTED: &str = "x-nodedc-granted-projects";
    /// The write's idempotency key.
    pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
    /// The agent's open work session (optional): the card's history names it.
    pub const WORK_SESSION: &str = "x-nodedc-work-session";
}

/// An HTTP client of the contract.
#[derive(Debug, Clone)]
pub struct NodedcTasker {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
}

impl NodedcTasker {
    /// A client of the Tasker at `base` (its origin; the contract prefix is added).
    pub fn new(base: &Url, token: SecretString, timeout: Duration) -> TaskerResult<Self> {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let base = base
            .join(PREFIX)
            .map_err(|e| TaskerError::unavailable(format!("bad Tasker URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TaskerError::unavailable(e.to_string()))?;
        Ok(Self { http, base, token })
    }

    /// The URL of `segments` under the contract prefix, each segment percent-encoded
    /// by the `url` crate (never formatted into a string), with `query` appended.
    /// Callers check every id first ([`check_id`]): `.` and `..` would be dropped.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> TaskerResult<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| TaskerError::unavailable("the Tasker URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    fn request(
        &self,
        method: Method,
        url: Url,
        actor: &Actor,
        key: Option<&str>,
    ) -> TaskerResult<RequestBuilder> {
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header(headers::AGENT_ID, actor.agent_id.to_string())
            .header(headers::AGENT_NAME, encode_header(&actor.agent_name))
            .header(headers::OWNER_ID, actor.owner_id.to_string())
            .header(headers::OWNER_NAME, encode_header(&actor.owner_name))
            .header(headers::GRANTED, actor.granted.join(","));
        if let Some(session) = actor.work_session {
            req = req.header(headers::WORK_SESSION, session.to_string());
        }
        if let Some(key) = key {
            check_key(key)?;
            req = req.header(headers::IDEMPOTENCY_KEY, key);
        }
        Ok(req)
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> TaskerResult<T> {
        // A request that cannot be built (a header or URL value it cannot carry) fails
        // the same way on every retry: the input is at fault, not the Tasker.
        let req = req.build().map_err(|e| {
            tracing::warn!(error = %e.without_url(), "a Tasker request could not be built");
            TaskerError::new(
                ErrorCode::ValidationFailed,
                "a value of this call cannot be sent to the Tasker (it holds control characters or is too long); remove them and retry",
            )
        })?;
        let resp = self.http.execute(req).await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "the Tasker could not be reached");
            TaskerError::unavailable("the Tasker could not be reached; retry shortly")
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|s| s * 1000);
        let body = resp.bytes().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "reading the Tasker's answer failed");
            TaskerError::unavailable("reading the Tasker's answer failed; retry shortly")
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                tracing::warn!(error = %e, "the Tasker's answer does not parse");
                TaskerError::unavailable(
                    "the Tasker's answer is not what the contract says; retry shortly",
                )
            });
        }
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: TaskerError,
        }
        let mut error = serde_json::from_slice::<Envelope>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| bare_status(status));
        if error.retry_after_ms.is_none() {
            error.retry_after_ms = retry_after;
        }
        Err(error)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        actor: &Actor,
    ) -> TaskerResult<T> {
        let url = self.url(segments, query)?;
        self.send(self.request(Method::GET, url, actor, None)?)
            .await
    }

    async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        actor: &Actor,
        key: &str,
        body: &impl Serialize,
    ) -> TaskerResult<T> {
        let url = self.url(segments, &[])?;
        self.send(self.request(method, url, actor, Some(key))?.json(body))
            .await
    }
}

/// The error of an answer without the contract's envelope. A request too large for the
/// Tasker (or a proxy in front of it) is the input's fault and not retried; 429 is
/// `rate_limited`; anything else is `unavailable` (§9).
fn bare_status(status: StatusCode) -> TaskerError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::URI_TOO_LONG
        | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => TaskerError::new(
            ErrorCode::ValidationFailed,
            "the request is too large for the Tasker; shorten the text and retry",
        ),
        StatusCode::TOO_MANY_REQUESTS => {
            TaskerError::new(ErrorCode::RateLimited, "the Tasker is throttling requests")
        }
        s if s.is_server_error() => TaskerError::unavailable(format!("the Tasker failed ({s})")),
        s => TaskerError::unavailable(format!("the Tasker answered {s} outside the contract")),
    }
}

/// Header values must be visible ASCII; names may not be. Percent-encode the rest.
fn encode_header(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[derive(serde::Deserialize)]
struct Projects {
    projects: Vec<ProjectSummary>,
}

#[derive(serde::Deserialize)]
struct Members {
    members: Vec<Member>,
}

#[derive(serde::Deserialize)]
struct Memberships {
    projects: Vec<Membership>,
}

#[async_trait]
impl Tasker for NodedcTasker {
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
        let ids = actor.granted.join(",");
        let page: Projects = self.get(&["projects"], &[("ids", &ids)], actor).await?;
        Ok(page.projects)
    }

    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
        let gateway = Actor::gateway(Uuid::nil(), "gateway admin", Vec::new());
        let page: Projects = self.get(&["projects", "all"], &[], &gateway).await?;
        Ok(page.projects)
    }

    async fn project_members(&self, project_id: &str) -> TaskerResult<Vec<Member>> {
        let project = check_id("project_id", project_id)?;
        let gateway = Actor::gateway(Uuid::nil(), "gateway admin", Vec::new());
        let page: Members = self
            .get(&["projects", project, "members"], &[], &gateway)
            .await?;
        Ok(page.members)
    }

    async fn projects_of_member(&self, user_id: &str) -> TaskerResult<Vec<Membership>> {
        let user = check_id("user_id", user_id)?;
        let gateway = Actor::gateway(Uuid::nil(), "gateway owner", Vec::new());
        let page: Memberships = self
            .get(&["members", user, "projects"], &[], &gateway)
            .await?;
        Ok(page.projects)
    }

    async fn project_context(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<ProjectContext> {
        let project = check_id("project_id", project_id)?;
        self.get(&["projects", project, "context"], &[], actor)
            .await
    }

    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage> {
        check_query(query)?;
        let limit = query.limit.map(|l| l.to_string());
        let pairs: Vec<(&str, &str)> = [
            ("project_id", query.project_id.as_deref()),
            ("state", query.state.as_deref()),
            ("label", query.label.as_deref()),
            ("assignee", query.assignee.as_deref()),
            ("text", query.text.as_deref()),
            ("cursor", query.cursor.as_deref()),
            ("limit", limit.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        self.get(&["cards"], &pairs, actor).await
    }

    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail> {
        let card = check_id("card", card)?;
        self.get(&["cards", card], &[], actor).await
    }

    async fn create_card(
        &self,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail> {
        self.write(Method::POST, &["cards"], actor, key, input)
            .await
    }

    async fn update_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail> {
        let card = check_id("card", card)?;
        self.write(Method::PATCH, &["cards", card], actor, key, patch)
            .await
    }

    async fn move_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail> {
        let card = check_id("card", card)?;
        let body = serde_json::json!({ "state": state });
        self.write(Method::POST, &["cards", card, "state"], actor, key, &body)
            .await
    }

    async fn add_comment(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        let card = check_id("card", card)?;
        let body = serde_json::json!({ "body": body });
        self.write(
            Method::POST,
            &["cards", card, "comments"],
            actor,
            key,
            &body,
        )
        .await
    }

    async fn set_labels(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        labels: &[String],
    ) -> TaskerResult<CardDetail> {
        let card = check_id("card", card)?;
        let body = serde_json::json!({ "labels": labels });
        self.write(Method::PUT, &["cards", card, "labels"], actor, key, &body)
            .await
    }

    async fn assign(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail> {
        let card = check_id("card", card)?;
        let body = serde_json::json!({ "assignees": assignees });
        self.write(
            Method::PUT,
            &["cards", card, "assignees"],
            actor,
            key,
            &body,
        )
        .await
    }

    async fn update_block(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        block: &str,
        content: &str,
    ) -> TaskerResult<CardDetail> {
        let card = check_id("card", card)?;
        let block = check_block_name(block)?;
        let body = serde_json::json!({ "content": content });
        self.write(
            Method::PUT,
            &["cards", card, "blocks", block],
            actor,
            key,
            &body,
        )
        .await
    }

    async fn add_member(
        &self,
        actor: &Actor,
        key: &str,
        project_id: &str,
        member: &NewMember,
    ) -> TaskerResult<Member> {
        let project = check_id("project_id", project_id)?;
        self.write(
            Method::POST,
            &["projects", project, "members"],
            actor,
            key,
            member,
        )
        .await
    }
}
