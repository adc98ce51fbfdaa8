//! A tool call, in a straight line: the agent's actor admits it (revoked? scope?
//! project? rate?), a write claims its idempotency key, the Tasker is called through its
//! pool, the result is recorded, and the audit row is written — durable before a write
//! is answered; a read's row rides the next batch.

use gateway_actors::{ActorError, Admission, AdmitRequest, DenyReason};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::tools::{Admit, Spec, Target, Tool};
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::identity::AgentIdentity;
use crate::store::{IdempotencyClaim, IdempotencyState, Outcome};
use crate::tasker::{Actor, ErrorCode, Tasker, TaskerError, TaskerResult};

/// Why a call did not produce the tool's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A tool error, written for the model: what was wrong and what to do instead.
    Tool {
        /// The text the model reads.
        message: String,
        /// Denied by policy, or failed on the way.
        outcome: Outcome,
    },
    /// The agent lacks the scope (HTTP 403, `insufficient_scope`).
    Scope {
        /// The scope needed.
        scope: &'static str,
        /// The explanation.
        message: String,
    },
    /// The agent was revoked while the call was on its way (HTTP 401).
    Revoked,
    /// A protocol-level error (JSON-RPC error object).
    Rpc {
        /// JSON-RPC code.
        code: i64,
        /// Message.
        message: String,
    },
    /// The gateway cannot serve the call now (HTTP 503); retrying is safe.
    Unavailable(String),
}

impl Failure {
    fn tool(message: impl Into<String>) -> Self {
        Failure::Tool {
            message: message.into(),
            outcome: Outcome::Failed,
        }
    }

    fn denied(message: impl Into<String>) -> Self {
        Failure::Tool {
            message: message.into(),
            outcome: Outcome::Denied,
        }
    }
}

/// Idempotency leases: an in-flight claim older than this may be taken over by the
/// same call (its holder crashed).
const LEASE: chrono::Duration = chrono::Duration::minutes(2);

struct Call<'a> {
    gw: &'a Gateway,
    who: &'a AgentIdentity,
    spec: &'static Spec,
    key: String,
    fingerprint: [u8; 32],
    claimed: bool,
    replayed: bool,
    project: Option<String>,
    target: Option<String>,
}

/// Runs one `tools/call`. Returns the `CallToolResult`, or why there is none.
pub async fn call_tool(
    gw: &Gateway,
    who: &AgentIdentity,
    request_id: &str,
    name: &str,
    arguments: Value,
) -> Result<Value, Failure> {
    let event = AuditEvent::start(request_id, name).agent(who.agent_id, who.owner_id);
    let Some(tool) = Tool::parse(name) else {
        let failure = unknown_tool(name);
        let reason = match &failure {
            Failure::Tool { message, .. } | Failure::Rpc { message, .. } => message.clone(),
            _ => String::new(),
        };
        let _ = gw
            .auditor
            .record_later(event.finish(Outcome::Denied, Some(reason)))
            .await;
        return Err(failure);
    };
    let spec = tool.spec();
    let (arguments, key) = match split_key(spec, arguments) {
        Ok(split) => split,
        Err(failure) => {
            let _ = gw
                .auditor
                .record_later(event.finish(Outcome::Failed, Some(format!("{failure:?}"))))
                .await;
            return Err(failure);
        }
    };
    let mut call = Call {
        gw,
        who,
        spec,
        fingerprint: fingerprint(name, &arguments),
        key,
        claimed: false,
        replayed: false,
        project: None,
        target: None,
    };
    let result = tool.run(arguments, &mut call).await;
    let mut event = event;
    if let Some(p) = &call.project {
        event = event.project(p.clone());
    }
    if let Some(t) = &call.target {
        event = event.target(t.clone());
    }
    if spec.write {
        event = event.idempotency_key(call.key.clone());
    }
    let row = match &result {
        Ok(_) => event.finish(
            Outcome::Allowed,
            call.replayed
                .then(|| "replayed the first result".to_owned()),
        ),
        Err(Failure::Tool { message, outcome }) => event.finish(*outcome, Some(message.clone())),
        Err(Failure::Scope { message, .. }) => event.finish(Outcome::Denied, Some(message.clone())),
        Err(Failure::Revoked) => event.finish(Outcome::Denied, Some("revoked".into())),
        Err(Failure::Rpc { message, .. } | Failure::Unavailable(message)) => {
            event.finish(Outcome::Failed, Some(message.clone()))
        }
    };
    if spec.write {
        // A write is answered only once its audit row is durable.
        gw.auditor.record(row).await.map_err(|e| {
            Failure::Unavailable(format!(
                "the audit log is unavailable ({e}); retry with the same idempotency_key — the change, if made, is replayed, not repeated"
            ))
        })?;
    } else if let Err(e) = gw.auditor.record_later(row).await {
        tracing::warn!(error = %e, "read audit row not queued");
    }
    let (structured, summary) = result?;
    let text = format!(
        "{summary}\n{}",
        serde_json::to_string(&structured).unwrap_or_default()
    );
    Ok(json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": false
    }))
}

/// A tool error result, as MCP wants input and business errors reported.
pub fn tool_error(message: &str) -> Value {
    json!({"content": [{"type": "text", "text": message}], "isError": true})
}

fn unknown_tool(name: &str) -> Failure {
    let lowered = name.to_lowercase();
    if ["delete", "archive", "remove", "destroy", "purge", "drop"]
        .iter()
        .any(|w| lowered.contains(w))
    {
        return Failure::denied(format!(
            "There is no {name} tool: deleting and archiving are never possible through this gateway. \
             To retire a card, move_card it to a completed or cancelled state, or add_comment to explain."
        ));
    }
    let names: Vec<&str> = Tool::ALL.iter().map(|t| t.spec().name).collect();
    Failure::Rpc {
        code: super::jsonrpc::INVALID_PARAMS,
        message: format!("Unknown tool: {name}. Tools: {}", names.join(", ")),
    }
}

/// Separates a write's idempotency key from its arguments.
fn split_key(spec: &Spec, arguments: Value) -> Result<(Value, String), Failure> {
    let mut arguments = match arguments {
        Value::Null => json!({}),
        Value::Object(map) => Value::Object(map),
        _ => {
            return Err(Failure::Rpc {
                code: super::jsonrpc::INVALID_PARAMS,
                message: "tool arguments must be a JSON object".into(),
            })
        }
    };
    if !spec.write {
        return Ok((arguments, String::new()));
    }
    let key = arguments
        .as_object_mut()
        .and_then(|m| m.remove("idempotency_key"));
    match key {
        Some(Value::String(k)) if !k.trim().is_empty() && k.len() <= 200 => Ok((arguments, k)),
        _ => Err(Failure::tool(format!(
            "{} writes, so it needs \"idempotency_key\": a fresh unique string (1-200 chars) per intended change, reused only to retry that same call.",
            spec.name
        ))),
    }
}

/// SHA-256 of the tool name and its arguments (keys sorted, key excluded).
fn fingerprint(name: &str, arguments: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(
        serde_json::to_string(arguments)
            .unwrap_or_default()
            .as_bytes(),
    );
    hasher.finalize().into()
}

impl Call<'_> {
    fn actor(&self, granted: Vec<String>) -> Actor {
        Actor {
            agent_id: self.who.agent_id,
            agent_name: self.who.agent_name.clone(),
            owner_id: self.who.owner_id,
            owner_name: self.who.owner_name.clone(),
            granted,
        }
    }

    /// `id (IDENT)` for each granted project, for messages.
    async fn describe(&self, ids: Vec<String>) -> String {
        match self.gw.tasker.projects(&self.actor(ids.clone())).await {
            Ok(projects) if !projects.is_empty() => projects
                .iter()
                .map(|p| format!("{} ({})", p.id, p.identifier))
                .collect::<Vec<_>>()
                .join(", "),
            _ => ids.join(", "),
        }
    }

    async fn explain(&self, e: TaskerError) -> Failure {
        let valid = if e.valid.is_empty() {
            String::new()
        } else {
            format!(" Valid values: {}.", e.valid.join(", "))
        };
        match e.code {
            ErrorCode::ProjectNotGranted => {
                let projects = self.describe(e.valid.clone()).await;
                Failure::denied(format!(
                    "That is outside the projects where this agent may use {}. Use one of: {projects}. Find cards with search_cards.",
                    self.spec.name
                ))
            }
            ErrorCode::ValidationFailed => {
                Failure::tool(format!("{}.{valid}", e.message.trim_end_matches('.')))
            }
            ErrorCode::NotFound => {
                Failure::tool(format!("{} Check the key with search_cards.", e.message))
            }
            ErrorCode::Conflict => Failure::tool(format!(
                "{} Use a new idempotency_key for a new change.",
                e.message
            )),
            ErrorCode::ForbiddenOperation => Failure::denied(e.message),
            ErrorCode::RateLimited | ErrorCode::Unavailable => {
                let wait = e
                    .retry_after_ms
                    .map(|ms| format!(" in {} s", ms.div_ceil(1000)))
                    .unwrap_or_default();
                Failure::tool(format!(
                    "The tracker is unavailable ({}). Retry{wait}{}.",
                    e.message,
                    if self.spec.write {
                        " with the same idempotency_key"
                    } else {
                        ""
                    }
                ))
            }
            ErrorCode::Unauthorized => {
                tracing::error!("the Tasker refused the gateway's service token");
                Failure::Unavailable(
                    "the tracker refused the gateway; an operator must fix its service token"
                        .into(),
                )
            }
        }
    }
}

impl Admit for Call<'_> {
    type Error = Failure;

    fn parse<T: serde::de::DeserializeOwned>(&mut self, args: Value) -> Result<T, Failure> {
        serde_json::from_value(args).map_err(|e| {
            Failure::tool(format!(
                "Invalid arguments for {}: {e}. See its inputSchema.",
                self.spec.name
            ))
        })
    }

    async fn admit(&mut self, spec: &Spec, target: Target<'_>) -> Result<Actor, Failure> {
        self.project = target.project.map(str::to_owned);
        self.target = target.card.or(target.project).map(str::to_owned);
        let request = AdmitRequest {
            scope: spec.scope.as_str().to_owned(),
            project_id: self.project.clone(),
            rate_limited: true,
        };
        let verdict = self
            .gw
            .supervisor
            .admit(self.who.agent_id, request)
            .await
            .map_err(|e| match e {
                ActorError::Overloaded => Failure::Unavailable(
                    "this agent has too many calls in flight; retry shortly".into(),
                ),
                other => Failure::Unavailable(format!(
                    "the agent runtime could not admit the call ({other}); retry shortly"
                )),
            })?;
        match verdict {
            None | Some(Admission::Denied(DenyReason::Revoked)) => Err(Failure::Revoked),
            Some(Admission::Allowed { projects }) => Ok(self.actor(projects)),
            Some(Admission::Denied(DenyReason::Unverified)) => {
                Err(Failure::denied("This agent's status is being re-checked; retry in a second."))
            }
            Some(Admission::Denied(DenyReason::RateLimited { retry_after })) => Err(Failure::denied(format!(
                "Rate limit reached for this agent. Retry after {} s{}.",
                retry_after.as_secs_f64().ceil() as u64,
                if spec.write { " with the same idempotency_key" } else { "" }
            ))),
            Some(Admission::Denied(DenyReason::ProjectNotGranted { project_id, granted })) => {
                let projects = self.describe(granted).await;
                Err(Failure::denied(format!(
                    "Project {project_id} is not granted to this agent. Use one of: {projects}."
                )))
            }
            Some(Admission::Denied(DenyReason::MissingScope { scope, held })) => Err(Failure::Scope {
                scope: spec.scope.as_str(),
                message: format!(
                    "{} needs scope {scope}{}, which this agent does not hold (it holds: {}). Ask the agent's owner to grant it.",
                    spec.name,
                    self.project.as_deref().map(|p| format!(" in project {p}")).unwrap_or_default(),
                    if held.is_empty() { "none".to_owned() } else { held.join(", ") }
                ),
            }),
        }
    }

    async fn claim(&mut self) -> Result<Option<Value>, Failure> {
        let now = chrono::Utc::now();
        let claim = IdempotencyClaim {
            agent_id: self.who.agent_id,
            key: self.key.clone(),
            fingerprint: self.fingerprint,
            now,
            expires_at: now + self.gw.config.idempotency_ttl,
            stale_before: now - LEASE,
        };
        let state = self.gw.store.idempotency_begin(&claim).await.map_err(|e| {
            Failure::Unavailable(format!(
                "the idempotency store is unavailable ({e}); retry with the same idempotency_key"
            ))
        })?;
        match state {
            IdempotencyState::Claimed => {
                self.claimed = true;
                Ok(None)
            }
            IdempotencyState::Replay(stored) => {
                self.replayed = true;
                serde_json::from_str(&stored)
                    .map(Some)
                    .map_err(|e| Failure::Unavailable(format!("the stored result is unreadable: {e}")))
            }
            IdempotencyState::InFlight => Err(Failure::tool(format!(
                "A call with idempotency_key {:?} is still in progress. Retry in a few seconds with the same key to get its result.",
                self.key
            ))),
            IdempotencyState::Mismatch => Err(Failure::tool(format!(
                "idempotency_key {:?} was already used for a different call. Use a new key for a new change; reuse a key only to retry the identical call.",
                self.key
            ))),
        }
    }

    fn tasker(&self) -> &dyn Tasker {
        self.gw.tasker.as_ref()
    }

    fn key(&self) -> &str {
        &self.key
    }

    async fn settle(&mut self, result: TaskerResult<Value>) -> Result<Value, Failure> {
        match result {
            Ok(value) => {
                if self.claimed {
                    let stored = serde_json::to_string(&value).unwrap_or_default();
                    self.gw
                        .store
                        .idempotency_finish(self.who.agent_id, &self.key, &stored)
                        .await
                        .map_err(|e| {
                            Failure::Unavailable(format!(
                                "the change was made but its result could not be stored ({e}); retry with the same idempotency_key"
                            ))
                        })?;
                }
                Ok(value)
            }
            Err(e) => {
                if self.claimed {
                    // Nothing to replay: free the key. A retry re-sends the same key to
                    // the Tasker, which returns its first result if it did make the change.
                    if let Err(err) = self
                        .gw
                        .store
                        .idempotency_abandon(self.who.agent_id, &self.key)
                        .await
                    {
                        tracing::warn!(error = %err, "could not release an idempotency key; it frees itself after the lease");
                    }
                }
                Err(self.explain(e).await)
            }
        }
    }
}
