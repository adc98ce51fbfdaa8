//! The HTTP side of the Plane adapter: Plane's URLs, the `X-Api-Key` header, the shared
//! request budget (one turn per request, and Plane's `X-RateLimit-*` headers and 429s
//! fed back into it), the `/work-items/` → `/issues/` fallback, and Plane's statuses as
//! the port's errors.
//!
//! Plane's behaviour followed here (makeplane/plane, `apps/api/plane/`):
//! * `api/rate_limit.py` — `ApiKeyRateThrottle`, 60/minute per key unless
//!   `API_KEY_RATE_LIMIT` says otherwise; an allowed request's answer carries
//!   `X-RateLimit-Remaining` and `X-RateLimit-Reset` (a Unix time, `api/views/base.py`
//!   `finalize_response`); a refused one is DRF's 429 with `Retry-After` in seconds;
//! * `api/views/base.py` — `handle_exception`: a missing object is 404
//!   `{"error": "The requested resource does not exist."}`, a bad payload 400;
//! * `api/urls/work_item.py` — `/work-items/` since v1.1.0, `/issues/` before (and still,
//!   as deprecated patterns). A server without `/work-items/` answers Django's plain 404
//!   page, not JSON: that is how the adapter tells the two apart.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gateway_actors::RequestBudget;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::tasker::pool::budget_exhausted;
use crate::tasker::{ErrorCode, TaskerError, TaskerResult};

/// The path segment standing for work items, replaced by `work-items` or `issues`.
pub const ITEMS: &str = "\u{0}items";

const UNKNOWN: u8 = 0;
const WORK_ITEMS: u8 = 1;
const ISSUES: u8 = 2;

/// Plane's API over HTTP, for one workspace.
#[derive(Clone)]
pub struct Http {
    http: reqwest::Client,
    /// `…/api/v1/`.
    api: Url,
    workspace: String,
    key: SecretString,
    budget: Arc<RequestBudget>,
    items: Arc<AtomicU8>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("api", &self.api.as_str())
            .field("workspace", &self.workspace)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// An answer: its status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: axum::body::Bytes,
}

impl Http {
    pub fn new(
        base: &Url,
        workspace: &str,
        key: SecretString,
        budget: Arc<RequestBudget>,
        timeout: Duration,
    ) -> TaskerResult<Self> {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let api = base
            .join("api/v1/")
            .map_err(|e| TaskerError::unavailable(format!("bad Plane URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TaskerError::unavailable(e.to_string()))?;
        Ok(Self {
            http,
            api,
            workspace: workspace.to_owned(),
            key,
            budget,
            items: Arc::new(AtomicU8::new(UNKNOWN)),
        })
    }

    /// `…/api/v1/` + `segments` (each percent-encoded as one segment), with a trailing
    /// slash as Django's URLs want, and `query`. `workspace` prefixes
    /// `workspaces/{slug}/`.
    fn url(&self, workspace: bool, segments: &[&str], query: &[(&str, &str)]) -> TaskerResult<Url> {
        let items = if self.items.load(Ordering::Relaxed) == ISSUES {
            "issues"
        } else {
            "work-items"
        };
        let mut url = self.api.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| TaskerError::unavailable("the Plane URL cannot take a path"))?;
            path.pop_if_empty();
            if workspace {
                path.extend(["workspaces", self.workspace.as_str()]);
            }
            path.extend(segments.iter().map(|s| if *s == ITEMS { items } else { s }));
            path.push("");
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends one request under the workspace and returns Plane's answer, whatever its
    /// status, after taking a budget turn and feeding the throttle headers back.
    pub async fn exchange(
        &self,
        deadline: Instant,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> TaskerResult<Answer> {
        self.exchange_in(true, deadline, method, segments, query, body)
            .await
    }

    pub async fn exchange_in(
        &self,
        workspace: bool,
        deadline: Instant,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> TaskerResult<Answer> {
        let answer = self
            .once(workspace, deadline, method.clone(), segments, query, body)
            .await?;
        let on_items = segments.contains(&ITEMS);
        if on_items && answer.status.is_success() {
            let _ = self.items.compare_exchange(
                UNKNOWN,
                WORK_ITEMS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        // A Plane older than v1.1.0 has no `/work-items/` route: Django's own 404 page,
        // not the API's JSON. Remember, and ask again under `/issues/`.
        let unrouted = answer.status == StatusCode::NOT_FOUND && !is_json(&answer.body);
        if on_items
            && unrouted
            && self
                .items
                .compare_exchange(UNKNOWN, ISSUES, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::info!(
                "this Plane has no /work-items/ routes (older than v1.1.0); using /issues/"
            );
            return self
                .once(workspace, deadline, method, segments, query, body)
                .await;
        }
        Ok(answer)
    }

    async fn once(
        &self,
        workspace: bool,
        deadline: Instant,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> TaskerResult<Answer> {
        let url = self.url(workspace, segments, query)?;
        let left = deadline.saturating_duration_since(Instant::now());
        self.budget.acquire(left).await.map_err(budget_exhausted)?;
        let mut req = self
            .http
            .request(method, url)
            .header("X-Api-Key", self.key.expose_secret());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "Plane could not be reached");
            TaskerError::unavailable("Plane could not be reached; retry shortly")
        })?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let remaining = header("x-ratelimit-remaining");
        let reset_in = header("x-ratelimit-reset").map(|at| {
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            Duration::from_secs(at.saturating_sub(now).max(1))
        });
        self.budget.observe(remaining, reset_in);
        let retry_after = header("retry-after").map(Duration::from_secs);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after.unwrap_or(Duration::from_secs(60));
            self.budget.pause(wait);
            return Err(TaskerError {
                retry_after_ms: Some(wait.as_millis() as u64),
                ..TaskerError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "Plane is throttling this gateway's API key; retry the same call with the same idempotency key in {} s",
                        wait.as_secs().max(1)
                    ),
                )
            });
        }
        let body = resp.bytes().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "reading Plane's answer failed");
            TaskerError::unavailable("reading Plane's answer failed; retry shortly")
        })?;
        Ok(Answer { status, body })
    }

    /// A request whose success is a `T`; any other status is the port's error.
    pub async fn json<T: DeserializeOwned>(
        &self,
        deadline: Instant,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> TaskerResult<T> {
        let answer = self
            .exchange(deadline, method, segments, query, body)
            .await?;
        parse(answer)
    }

    /// `GET` under the workspace.
    pub async fn get<T: DeserializeOwned>(
        &self,
        deadline: Instant,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> TaskerResult<T> {
        self.json(deadline, Method::GET, segments, query, None)
            .await
    }

    /// `GET` outside the workspace (`users/me/`).
    pub async fn get_root<T: DeserializeOwned>(
        &self,
        deadline: Instant,
        segments: &[&str],
    ) -> TaskerResult<T> {
        let answer = self
            .exchange_in(false, deadline, Method::GET, segments, &[], None)
            .await?;
        parse(answer)
    }
}

/// A successful answer as `T`, or Plane's status as the port's error.
pub fn parse<T: DeserializeOwned>(answer: Answer) -> TaskerResult<T> {
    if answer.status.is_success() {
        return serde_json::from_slice(&answer.body).map_err(|e| {
            tracing::warn!(error = %e, "Plane's answer does not parse");
            TaskerError::unavailable(
                "Plane's answer is not what its API v1 documents; retry shortly",
            )
        });
    }
    Err(error(answer.status, &answer.body))
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
}

/// What Plane said, briefly: its `error` or `detail`, else the body's first 300 bytes.
fn said(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v
            .get("error")
            .or_else(|| v.get("detail"))
            .and_then(|m| m.as_str().map(str::to_owned))
            .unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(300).collect()
}

/// Plane's status as the port's error.
pub fn error(status: StatusCode, body: &[u8]) -> TaskerError {
    match status {
        StatusCode::UNAUTHORIZED => TaskerError::new(
            ErrorCode::Unauthorized,
            "Plane refused the gateway's API key (GATEWAY_PLANE_API_KEY); the gateway's operator must set a valid key",
        ),
        StatusCode::FORBIDDEN => TaskerError::new(
            ErrorCode::ForbiddenOperation,
            format!(
                "Plane refused this to the gateway's bot user ({}); the gateway's operator must make the bot a member (role Member) of the project",
                said(body)
            ),
        ),
        StatusCode::NOT_FOUND if !is_json(body) => TaskerError::not_found(
            "Plane's API did not answer this path (a 404 page, not Plane's API); the gateway's operator must check GATEWAY_PLANE_URL (Plane's base URL, without /api/v1) and GATEWAY_PLANE_WORKSPACE",
        ),
        StatusCode::NOT_FOUND => TaskerError::not_found(
            "Plane has no such project or work item, or the gateway's bot user is not a member of its project",
        ),
        StatusCode::CONFLICT => TaskerError::new(
            ErrorCode::Conflict,
            format!("Plane reports a conflict: {}", said(body)),
        ),
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::URI_TOO_LONG
        | StatusCode::UNPROCESSABLE_ENTITY => TaskerError::new(
            ErrorCode::ValidationFailed,
            format!("Plane refused the input: {}", said(body)),
        ),
        s if s.is_server_error() => TaskerError::unavailable(format!("Plane failed ({s}); retry shortly")),
        s => TaskerError::unavailable(format!("Plane answered {s} unexpectedly; retry shortly")),
    }
}
