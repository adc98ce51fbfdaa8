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

    fn request(
        &self,
        method: Method,
        path: &str,
        actor: &Actor,
        key: Option<&str>,
    ) -> TaskerResult<RequestBuilder> {
        let url = self
            .base
            .join(path)
            .map_err(|e| TaskerError::unavailable(format!("bad path {path}: {e}")))?;
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
            .header(headers::AGENT_ID, actor.agent_id.to_string())
            .header(headers::AGENT_NAME, encode_header(&actor.agent_name))
            .header(headers::OWNER_ID, actor.owner_id.to_string())
            .header(headers::OWNER_NAME, encode_header(&actor.owner_name))
            .header(headers::GRANTED, actor.granted.join(","));
        if let Some(key) = key {
            req = req.header(headers::IDEMPOTENCY_KEY, key);
        }
        Ok(req)
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> TaskerResult<T> {
        let resp = req.send().await.map_err(|e| {
            TaskerError::unavailable(format!(
                "the Tasker could not be reached: {}",
                e.without_url()
            ))
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|s| s * 1000);
        let body = resp.bytes().await.map_err(|e| {
            TaskerError::unavailable(format!(
                "reading the Tasker's answer failed: {}",
                e.without_url()
            ))
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                TaskerError::unavailable(format!(
                    "the Tasker's answer is not what the contract says: {e}"
                ))
            });
        }
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: TaskerError,
        }
        let mut error = serde_json::from_slice::<Envelope>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    TaskerError::new(ErrorCode::RateLimited, "the Tasker is throttling requests")
                }
                s if s.is_server_error() => {
                    TaskerError::unavailable(format!("the Tasker failed ({s})"))
                }
                s => TaskerError::unavailable(format!(
                    "the Tasker answered {s} outside the contract"
                )),
            });
        if error.retry_after_ms.is_none() {
            error.retry_after_ms = retry_after;
        }
        Err(error)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, actor: &Actor) -> TaskerResult<T> {
        self.send(self.request(Method::GET, path, actor, None)?)
            .await
    }

    async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        actor: &Actor,
        key: &str,
        body: &impl Serialize,
    ) -> TaskerResult<T> {
        self.send(self.request(method, path, actor, Some(key))?.json(body))
            .await
    }
}

/// Header values must be visible ASCII; names may not be. Percent-encode the rest.
fn encode_header(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A path segment, escaped.
fn seg(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[derive(serde::Deserialize)]
struct Projects {
    projects: Vec<ProjectSummary>,
}

#[async_trait]
impl Tasker for NodedcTasker {
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
        let path = format!("projects?ids={}", seg(&actor.granted.join(",")));
        Ok(self.get::<Projects>(&path, actor).await?.projects)
    }

    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
        let gateway = Actor::gateway(Uuid::nil(), "gateway admin", Vec::new());
        Ok(self
            .get::<Projects>("projects/all", &gateway)
            .await?
            .projects)
    }

    async fn project_context(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<ProjectContext> {
        self.get(&format!("projects/{}/context", seg(project_id)), actor)
            .await
    }

    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage> {
        let mut url =
            Url::parse("http://x/cards").map_err(|e| TaskerError::unavailable(e.to_string()))?;
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in [
                ("project_id", &query.project_id),
                ("state", &query.state),
                ("label", &query.label),
                ("assignee", &query.assignee),
                ("text", &query.text),
                ("cursor", &query.cursor),
            ] {
                if let Some(v) = v {
                    pairs.append_pair(k, v);
                }
            }
            if let Some(limit) = query.limit {
                pairs.append_pair("limit", &limit.to_string());
            }
        }
        let path = format!("cards?{}", url.query().unwrap_or_default());
        self.get(&path, actor).await
    }

    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail> {
        self.get(&format!("cards/{}", seg(card)), actor).await
    }

    async fn create_card(
        &self,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail> {
        self.write(Method::POST, "cards", actor, key, input).await
    }

    async fn update_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail> {
        self.write(
            Method::PATCH,
            &format!("cards/{}", seg(card)),
            actor,
            key,
            patch,
        )
        .await
    }

    async fn move_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail> {
        let body = serde_json::json!({ "state": state });
        self.write(
            Method::POST,
            &format!("cards/{}/state", seg(card)),
            actor,
            key,
            &body,
        )
        .await
    }

    async fn add_comment(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        let body = serde_json::json!({ "body": body });
        self.write(
            Method::POST,
            &format!("cards/{}/comments", seg(card)),
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
        let body = serde_json::json!({ "labels": labels });
        self.write(
            Method::PUT,
            &format!("cards/{}/labels", seg(card)),
            actor,
            key,
            &body,
        )
        .await
    }

    async fn assign(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail> {
        let body = serde_json::json!({ "assignees": assignees });
        self.write(
            Method::PUT,
            &format!("cards/{}/assignees", seg(card)),
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
        let body = serde_json::json!({ "content": content });
        self.write(
            Method::PUT,
            &format!("cards/{}/blocks/{}", seg(card), seg(block)),
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
        self.write(
            Method::POST,
            &format!("projects/{}/members", seg(project_id)),
            actor,
            key,
            member,
        )
        .await
    }
}
