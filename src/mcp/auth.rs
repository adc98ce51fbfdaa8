//! Who is calling `/mcp`: the [`Caller`] extractor checks the `Origin` (403), then the
//! bearer token (401, pointing at the RFC 9728 metadata), and yields the agent and the
//! request id. Like the REST side's `Principal`, every handler takes it as an argument;
//! none authenticates by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use moka::future::Cache;
use serde_json::Value;
use uuid::Uuid;

use super::error::{Era, McpError};
use super::transport::Mcp;
use crate::audit::AuditEvent;
use crate::http::extract::{bearer, request_id};
use crate::identity::{AgentIdentity, AuthError};

/// Counts refused requests per revoked agent over a sliding minute (a TTL cache, so
/// an agent that stops knocking leaves nothing behind).
#[derive(Debug)]
pub struct Refusals(Cache<Uuid, Arc<AtomicU64>>);

impl Refusals {
    /// An empty ledger (at most 100,000 agents tracked at once).
    pub fn new() -> Self {
        Self(
            Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        )
    }

    /// Counts one more refusal of `agent_id`; returns its number in the current minute.
    pub async fn count(&self, agent_id: Uuid) -> u64 {
        let counter = self
            .0
            .get_with(agent_id, async { Arc::new(AtomicU64::new(0)) })
            .await;
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Default for Refusals {
    fn default() -> Self {
        Self::new()
    }
}

/// An authenticated MCP request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The agent the bearer token belongs to.
    pub who: AgentIdentity,
    /// The request id (for logs and the audit row).
    pub request_id: String,
}

/// A refused `/mcp` request, answered as the transport answers it.
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub error: McpError,
    metadata_url: std::sync::Arc<str>,
}

impl Refused {
    /// The HTTP answer, with the request's id when the body had one.
    pub fn respond(self, id: Option<&Value>) -> Response {
        self.error.respond(
            Era::Sessions,
            id,
            &self.metadata_url,
            super::stateful::result,
        )
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        self.respond(None)
    }
}

impl FromRequestParts<Mcp> for Caller {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, mcp: &Mcp) -> Result<Self, Refused> {
        let refuse = |error| Refused {
            error,
            metadata_url: mcp.metadata_url.clone(),
        };
        let request_id = request_id(&parts.headers);
        if let Err(refused) = mcp.origins.check(&parts.headers) {
            tracing::warn!(%refused, "MCP request from a disallowed origin");
            return Err(refuse(McpError::Origin(refused.to_string())));
        }
        let presented = bearer(&parts.headers);
        match mcp.gw.auth.agent(presented).await {
            Ok(who) => Ok(Caller { who, request_id }),
            Err(AuthError::Store(e)) => {
                tracing::error!(error = %e, "authentication lookup failed");
                Err(refuse(McpError::Unavailable(
                    "the gateway cannot check tokens right now; retry shortly".into(),
                )))
            }
            Err(e @ AuthError::Revoked { agent_id, owner_id }) => {
                let nth = mcp.refusals.count(agent_id).await;
                // The 1st, 2nd, 4th, 8th… refusal of an agent in a minute is recorded.
                if crate::audit::sampled(nth) {
                    let row = AuditEvent::start(&request_id, "mcp.auth")
                        .agent(agent_id, owner_id)
                        .finish(
                            McpError::Revoked.outcome(),
                            Some(format!("{e} (refused request {nth} in this minute)")),
                        );
                    if let Err(e) = mcp.gw.auditor.record_later(row).await {
                        tracing::warn!(error = %e, "a refused token's audit row was not queued");
                    }
                }
                Err(refuse(McpError::Revoked))
            }
            Err(e @ (AuthError::Missing | AuthError::Invalid(_))) => {
                Err(refuse(McpError::Unauthorized {
                    presented: presented.is_some(),
                    message: e.to_string(),
                }))
            }
        }
    }
}
