//! Launcher, the NODE.DC SSO that owns users and the `codex_agents` entitlement.
//!
//! * [`Entitlements`] — the port: "may user U of client C use Codex agents?";
//!   [`Embedded`] answers from the gateway's own user table (the admin API is the
//!   stand-in for Launcher), [`LauncherClient`] asks Launcher's access check, cached
//!   briefly with moka;
//! * [`webhook`] — `POST /api/v1/launcher/events`: Launcher's signed events (entitlement
//!   granted or withdrawn, user blocked, unblocked or annulled), applied through the
//!   same path as a revoke.
//!
//! The contract is `docs/LAUNCHER_CONTRACT.md`.

pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

use crate::store::User;

/// Why the entitlement could not be checked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the Launcher access check failed: {0}")]
pub struct LauncherError(pub String);

/// The entitlement port.
#[async_trait]
pub trait Entitlements: Send + Sync + std::fmt::Debug + 'static {
    /// Whether `user` may use Codex agents now.
    async fn may_use_agents(&self, user: &User) -> Result<bool, LauncherError>;
    /// Forgets anything remembered about `user_id` of `client_id`: their standing just
    /// changed (a Launcher event, or the admin API), so the next check asks afresh.
    async fn forget(&self, user_id: Uuid, client_id: &str);
}

/// The embedded default: the user table, kept by the admin API.
#[derive(Debug, Clone, Copy, Default)]
pub struct Embedded;

#[async_trait]
impl Entitlements for Embedded {
    async fn may_use_agents(&self, user: &User) -> Result<bool, LauncherError> {
        Ok(user.codex_agents && !user.blocked)
    }

    async fn forget(&self, _user_id: Uuid, _client_id: &str) {
        // The user table is read afresh on every check; nothing is remembered.
    }
}

/// Launcher's access check over HTTP:
/// `GET {base}/api/v1/access/check?user_id=&client_id=&module=codex_agents` →
/// `{"allowed": bool}`, cached for a short TTL (invalidated by webhook events).
#[derive(Debug, Clone)]
pub struct LauncherClient {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
    cache: Cache<(Uuid, String), bool>,
}

impl LauncherClient {
    /// A client of Launcher at `base`, caching answers for `ttl`.
    pub fn new(base: Url, token: SecretString, ttl: Duration) -> Result<Self, LauncherError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| LauncherError(e.to_string()))?;
        Ok(Self {
            http,
            base,
            token,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        })
    }

    async fn ask(&self, user: &User) -> Result<bool, LauncherError> {
        let mut url = self
            .base
            .join("api/v1/access/check")
            .map_err(|e| LauncherError(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("user_id", &user.id.to_string())
            .append_pair("client_id", &user.client_id)
            .append_pair("module", "codex_agents");
        #[derive(serde::Deserialize)]
        struct Answer {
            allowed: bool,
        }
        let resp = self
            .http
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| LauncherError(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(LauncherError(format!(
                "Launcher answered {}",
                resp.status()
            )));
        }
        let answer: Answer = resp
            .json()
            .await
            .map_err(|e| LauncherError(e.without_url().to_string()))?;
        Ok(answer.allowed)
    }
}

#[async_trait]
impl Entitlements for LauncherClient {
    async fn may_use_agents(&self, user: &User) -> Result<bool, LauncherError> {
        if user.blocked {
            return Ok(false);
        }
        let key = (user.id, user.client_id.clone());
        if let Some(answer) = self.cache.get(&key).await {
            return Ok(answer);
        }
        let answer = self.ask(user).await?;
        self.cache.insert(key, answer).await;
        Ok(answer)
    }

    async fn forget(&self, user_id: Uuid, client_id: &str) {
        self.cache
            .invalidate(&(user_id, client_id.to_owned()))
            .await;
    }
}

/// The configured entitlement port.
pub type SharedEntitlements = Arc<dyn Entitlements>;
