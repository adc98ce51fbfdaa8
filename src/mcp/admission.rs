//! Step 2 of a tool call: the agent's actor admits it (revoked? scope? project granted?
//! rate?) and names who acts, confined to the projects where the scope is held. The
//! actor decides; this file only asks it and words its refusals for the model.

use gateway_actors::{ActorError, Admission, AdmitRequest, DenyReason, SessionMark};
use uuid::Uuid;

use super::error::McpError;
use super::pipeline::Call;
use super::tools::{Spec, Target};
use crate::gateway::Gateway;
use crate::tasker::Actor;

/// Charges one request of the agent against its rate limit and checks its standing: every
/// authenticated message counts (`initialize`, `ping`, `tools/list`, notifications, a
/// stream, a DELETE, and a tool call that fails before its admission). `tool` is `Some`
/// (whether it writes) for a tool call, whose refusal is a tool error for the model;
/// any other request is refused with 429.
pub async fn charge(gw: &Gateway, agent_id: Uuid, tool: Option<bool>) -> Result<(), McpError> {
    let verdict = gw
        .supervisor
        .admit(agent_id, AdmitRequest::any())
        .await
        .map_err(runtime)?;
    match verdict {
        Some(Admission::Allowed { .. }) => Ok(()),
        None | Some(Admission::Denied(DenyReason::Revoked)) => Err(McpError::Revoked),
        Some(Admission::Denied(DenyReason::RateLimited {
            retry_after,
            streak,
        })) => {
            let retry_after_secs = retry_after.as_secs_f64().ceil() as u64;
            Err(match tool {
                Some(write) => McpError::ToolRateLimited {
                    retry_after_secs,
                    streak,
                    write,
                },
                None => McpError::RateLimited(retry_after_secs),
            })
        }
        Some(Admission::Denied(
            DenyReason::ProjectNotGranted { .. }
            | DenyReason::MissingScope { .. }
            | DenyReason::StopRequested { .. },
        )) => Err(McpError::Unavailable(
            "this agent's status is being re-checked; retry in a second".into(),
        )),
    }
}

/// An actor that could not answer: retry later; the detail goes to the log.
fn runtime(e: ActorError) -> McpError {
    match e {
        ActorError::Overloaded => {
            McpError::Unavailable("this agent has too many calls in flight; retry shortly".into())
        }
        other => {
            tracing::error!(error = %other, "the agent runtime could not admit a call");
            McpError::Unavailable(
                "the agent runtime could not admit the call; retry shortly".into(),
            )
        }
    }
}

/// Asks the agent's actor to admit a call of `spec` on `target`. Names who acts and the
/// agent's open work session, which the call belongs to.
pub async fn admit(
    call: &Call<'_>,
    spec: &Spec,
    target: Target<'_>,
) -> Result<(Actor, Option<SessionMark>), McpError> {
    let request = AdmitRequest {
        scope: Some(spec.scope.as_str().to_owned()),
        project_id: target.project.map(str::to_owned),
        rate_limited: true,
        tracker_write: spec.writes_tracker(),
    };
    let verdict = call
        .gw
        .supervisor
        .admit(call.who.agent_id, request)
        .await
        .map_err(runtime)?;
    match verdict {
        None | Some(Admission::Denied(DenyReason::Revoked)) => Err(McpError::Revoked),
        Some(Admission::Allowed { projects, session }) => {
            let mut actor = actor(call, projects);
            actor.work_session = session.as_ref().map(|s| s.id);
            Ok((actor, session))
        }
        Some(Admission::Denied(DenyReason::StopRequested { session })) => {
            Err(McpError::Denied(format!(
                "{} This agent's setting refuses tracker writes until the session is finished.",
                super::notice::stop_notice(&session)
            )))
        }
        Some(Admission::Denied(DenyReason::RateLimited {
            retry_after,
            streak,
        })) => Err(McpError::ToolRateLimited {
            retry_after_secs: retry_after.as_secs_f64().ceil() as u64,
            streak,
            write: spec.write,
        }),
        Some(Admission::Denied(DenyReason::ProjectNotGranted {
            project_id,
            granted,
        })) => Err(McpError::Denied(format!(
            "Project {project_id} is not granted to this agent. Use one of: {}.",
            describe(call, granted).await
        ))),
        Some(Admission::Denied(DenyReason::MissingScope { scope, held })) => {
            Err(McpError::Scope {
                scope: spec.scope.as_str(),
                message: format!(
                    "{} needs scope {scope}{}, which this agent does not hold (it holds: {}). Ask the agent's owner to grant it.",
                    spec.name,
                    target
                        .project
                        .map(|p| format!(" in project {p}"))
                        .unwrap_or_default(),
                    if held.is_empty() {
                        "none".to_owned()
                    } else {
                        held.join(", ")
                    }
                ),
            })
        }
    }
}

/// Who acts: the agent, on behalf of its owner, within `granted`.
fn actor(call: &Call<'_>, granted: Vec<String>) -> Actor {
    Actor {
        agent_id: call.who.agent_id,
        agent_name: call.who.agent_name.clone(),
        owner_id: call.who.owner_id,
        owner_name: call.who.owner_name.clone(),
        granted,
        work_session: None,
    }
}

/// `id (IDENT)` for each of `ids`, for messages (the bare ids if the Tasker cannot say).
pub async fn describe(call: &Call<'_>, ids: Vec<String>) -> String {
    match call.gw.tasker.projects(&actor(call, ids.clone())).await {
        Ok(projects) if !projects.is_empty() => projects
            .iter()
            .map(|p| format!("{} ({})", p.id, p.identifier))
            .collect::<Vec<_>>()
            .join(", "),
        _ => ids.join(", "),
    }
}
