//! A tool call, top to bottom, in one generic function ([`run`]):
//!
//! 1. **parse** the arguments into the tool's `Args` (a write's `idempotency_key` is
//!    taken out first);
//! 2. **admit**: the agent's actor decides (revoked? scope? project granted? rate?) and
//!    names who acts (`admission`);
//! 3. **claim** the idempotency key (writes): a replay returns the first result here
//!    (`idempotency`); a fresh claim writes the call's **intent** row, durable before
//!    the Tasker is called;
//! 4. **run** the tool: call the Tasker through its pool (`gw.tasker`), or the gateway's
//!    work sessions (reporting mode);
//! 5. **settle** the key with the Tasker's answer (`idempotency`); a Tasker error
//!    becomes a message for the model (`explain`);
//! 6. **audit**: one row per call, durable before a write is answered, queued for a
//!    read (`audit.rs` writes it);
//! 7. **answer** with the `CallToolResult`, carrying the stop notice while a stop of the
//!    agent's work session is pending (`notice`).

use serde_json::{json, Value};

use super::admission;
use super::error::McpError;
use super::explain::explain;
use super::idempotency::{self, Claim};
use super::limits;
use super::notice;
use super::tools::{self, Ctx, Tool, ToolError};
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::identity::AgentIdentity;
use crate::store::{AuditRow, Outcome};

/// One `tools/call`: who calls, and the request it came in.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The gateway core.
    pub gw: &'a Gateway,
    /// The authenticated agent.
    pub who: &'a AgentIdentity,
    /// The HTTP request id, for the audit row.
    pub request_id: &'a str,
}

/// What the audit row says beyond the outcome; filled in as the steps learn it.
#[derive(Debug, Default)]
struct Facts {
    project: Option<String>,
    target: Option<String>,
    key: Option<String>,
    replayed: bool,
    /// Whether the agent's actor admitted or refused the call (then it was charged).
    admitted: bool,
    /// The work session the call belongs to, once admission named it (or the tool
    /// started or ended one).
    session: Option<Option<uuid::Uuid>>,
}

impl Facts {
    /// The call's audit event (started when the call arrived, so its latency is the
    /// call's), with everything learnt so far. A call refused before admission named
    /// the session belongs to the session open now.
    fn event(&self, call: &Call<'_>, started: &AuditEvent) -> AuditEvent {
        let session = self.session.unwrap_or_else(|| {
            call.gw
                .supervisor
                .session(call.who.agent_id)
                .map(|mark| mark.id)
        });
        let mut event = started.clone().work_session(session);
        if let Some(project) = &self.project {
            event = event.project(project.clone());
        }
        if let Some(target) = &self.target {
            event = event.target(target.clone());
        }
        if let Some(key) = &self.key {
            event = event.idempotency_key(key.clone());
        }
        event
    }
}

/// Runs tool `T` for one call. Returns the `CallToolResult`, or why there is none.
pub async fn run<T: Tool>(call: &Call<'_>, arguments: Value) -> Result<Value, McpError> {
    let started = AuditEvent::start(call.request_id, T::SPEC.name)
        .agent(call.who.agent_id, call.who.owner_id);
    let mut facts = Facts::default();
    let mut result = steps::<T>(call, arguments, &mut facts, &started).await;
    if !facts.admitted {
        // Refused before admission (bad input): it still counts against the rate.
        if let Err(refused) =
            admission::charge(call.gw, call.who.agent_id, Some(T::SPEC.write)).await
        {
            result = Err(refused);
        }
    }
    // 6. Audit.
    let event = facts.event(call, &started);
    let row = match &result {
        Ok(_) => event.finish(
            Outcome::Allowed,
            facts
                .replayed
                .then(|| "replayed the first result".to_owned()),
        ),
        Err(error @ McpError::ToolRateLimited { streak, .. }) => event.finish(
            error.outcome(),
            Some(format!("{error} (refusal {streak} in a row)")),
        ),
        Err(error) => event.finish(error.outcome(), Some(error.to_string())),
    };
    if recorded(&result) {
        audit(call, row, T::SPEC.write).await?;
    }
    // 7. Answer.
    let output = result?;
    let summary = T::summary(&output);
    let structured = serde_json::to_value(&output).map_err(|e| {
        tracing::error!(error = %e, "a tool result could not be encoded");
        McpError::Unavailable("the result could not be encoded; retry".into())
    })?;
    let mut answer = json!({
        "content": [{"type": "text", "text": format!("{summary}\n{structured}")}],
        "structuredContent": structured,
        "isError": false
    });
    // A pending stop of the agent's work session, read now: the notice rides every
    // result until the session ends.
    if let Some(mark) = call
        .gw
        .supervisor
        .session(call.who.agent_id)
        .filter(|m| m.stop_requested)
    {
        notice::attach(&mut answer, &mark);
    }
    Ok(answer)
}

/// Steps 1 to 5.
async fn steps<T: Tool>(
    call: &Call<'_>,
    arguments: Value,
    facts: &mut Facts,
    started: &AuditEvent,
) -> Result<T::Output, McpError> {
    // 1. Parse: the key split off, every value within its limits, then typed.
    let (arguments, key) = idempotency::split_key(&T::SPEC, arguments)?;
    facts.key.clone_from(&key);
    limits::check(&arguments)?;
    // Only a write's key is claimed, so only a write needs its fingerprint.
    let fingerprint = key
        .is_some()
        .then(|| idempotency::fingerprint(T::SPEC.name, &arguments));
    let args: T::Args = serde_json::from_value(arguments).map_err(|e| {
        McpError::Rejected(format!(
            "Invalid arguments for {}: {e}. See its inputSchema.",
            T::SPEC.name
        ))
    })?;
    let target = T::target(&args);
    facts.project = target.project.map(str::to_owned);
    facts.target = target.card.or(target.project).map(str::to_owned);
    // 2. Admit.
    facts.admitted = true;
    let (actor, session) = admission::admit(call, &T::SPEC, target).await?;
    facts.session = Some(session.map(|mark| mark.id));
    // 3. Claim the key.
    let claim = match &key {
        Some(key) => match idempotency::claim(call, key, fingerprint.unwrap_or_default()).await? {
            Claim::Replay(first) => {
                facts.replayed = true;
                return serde_json::from_str(&first).map_err(|e| {
                    tracing::error!(error = %e, "a stored idempotent result is unreadable");
                    McpError::Unavailable(
                        "the first result of this idempotency_key cannot be read; use a new key"
                            .into(),
                    )
                });
            }
            Claim::Fresh(claim) => {
                // The intent, durable before the Tasker is called: no tracker change
                // without an audit row that names it, even if this process dies now.
                let intent = facts.event(call, started).finish(Outcome::Intent, None);
                let recorded = if call.gw.config.tasker_commit_flushes_intents() {
                    // The embedded tracker's flushed commit, later in the same
                    // database, makes this row durable before any change it names.
                    call.gw.auditor.record_committed(intent).await
                } else {
                    call.gw.auditor.record(intent).await
                };
                if let Err(e) = recorded {
                    tracing::error!(error = %e, "a write's intent row was not stored");
                    claim.abandon().await;
                    return Err(audit_unavailable());
                }
                Some(claim)
            }
        },
        None => None,
    };
    // 4. The Tasker, through its pool.
    let ctx = Ctx {
        call: *call,
        actor: &actor,
        key: key.as_deref().unwrap_or_default(),
    };
    let result = T::run(&ctx, args).await;
    if let Some(session) = result.as_ref().ok().and_then(T::session) {
        facts.session = Some(Some(session));
    }
    // 5. Settle.
    match (result, claim) {
        (Ok(output), Some(claim)) => {
            claim.finish(&output).await?;
            Ok(output)
        }
        (Ok(output), None) => Ok(output),
        (Err(error), claim) => {
            if let Some(claim) = claim {
                claim.abandon().await;
            }
            Err(match error {
                ToolError::Tasker(error) => explain(call, &T::SPEC, error).await,
                ToolError::Refused(error) => error,
            })
        }
    }
}

/// Whether a call's outcome gets an audit row: every one, except that of a streak of
/// refusals by the rate limit only the 1st, 2nd, 4th, 8th… are written (each says its
/// place in the streak), so an agent hammering at its limit cannot flood the log.
fn recorded<T>(result: &Result<T, McpError>) -> bool {
    match result {
        Err(McpError::ToolRateLimited { streak, .. }) => crate::audit::sampled(*streak),
        Ok(_) | Err(_) => true,
    }
}

/// Writes the call's audit row: durable before a write is answered; a read's row rides
/// the next batch (a lost read row is logged, never turned into an error).
async fn audit(call: &Call<'_>, row: AuditRow, write: bool) -> Result<(), McpError> {
    if write {
        call.gw.auditor.record(row).await.map_err(|e| {
            tracing::error!(error = %e, "a write's audit row was not stored");
            audit_unavailable()
        })
    } else {
        if let Err(e) = call.gw.auditor.record_later(row).await {
            tracing::warn!(error = %e, "read audit row not queued");
        }
        Ok(())
    }
}

/// What a write is told when its audit row could not be stored.
fn audit_unavailable() -> McpError {
    McpError::Unavailable(
        "the audit log is unavailable; retry with the same idempotency_key — the change, if made, is replayed, not repeated"
            .into(),
    )
}

/// A call of a tool that does not exist: audited as refused, answered with what exists.
pub async fn unknown_tool(call: &Call<'_>, name: &str) -> Result<Value, McpError> {
    // Not a tool, but a request: it counts against the rate.
    admission::charge(call.gw, call.who.agent_id, Some(false)).await?;
    let lowered = name.to_lowercase();
    let error = if ["delete", "archive", "remove", "destroy", "purge", "drop"]
        .iter()
        .any(|w| lowered.contains(w))
    {
        McpError::Denied(format!(
            "There is no {name} tool: deleting and archiving are never possible through this gateway. \
             To retire a card, move_card it to a completed or cancelled state, or add_comment to explain."
        ))
    } else {
        let names: Vec<&str> = tools::ALL.iter().map(|spec| spec.name).collect();
        McpError::InvalidParams(format!("Unknown tool: {name}. Tools: {}", names.join(", ")))
    };
    let row = AuditEvent::start(call.request_id, name)
        .agent(call.who.agent_id, call.who.owner_id)
        .finish(error.outcome(), Some(error.to_string()));
    audit(call, row, false).await?;
    Err(error)
}
