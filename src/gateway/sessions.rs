//! Reporting mode: the rules of work sessions, whichever door asks (the three MCP tools,
//! the admin and owner REST, the stale sweep).
//!
//! * An agent starts a session on a card it may report on (`sessions:write` in the
//!   card's project; the Tasker resolves the card). A second start while one is open
//!   ends the open one as `stopped` (outcome `abandoned`, recorded as `superseded`) and
//!   says so in the answer — an agent that forgot to finish loses nothing and is never
//!   stuck — except while a stop is pending: then it must finish first.
//! * Each change is written to the store (one transaction with its activity row), then
//!   put in force on this replica (the agent actor's session mark) and published to the
//!   others (`Change::SessionChanged`).
//! * `stale` is read, never stored (`store/sessions.rs`); the sweep only ends sessions
//!   that were asked to stop and then went silent (`stopping` → `stopped`).
//!
//! Longer than most files: the rules of the five operations (start, report, finish,
//! stop, sweep) are one state machine and read best together.
//! * What the gateway observed of a session is read from the audit rows that name it
//!   (`observed.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::observed::{compare, observed, reported, Observed, Reported};
use super::Gateway;
use crate::replicas::Change;
use crate::store::{
    ActivityRecord, AuditEntry, NewWorkSession, PlanStep, SessionEnd, SessionQuery, SessionReport,
    SessionState, StoreError, WorkSessionRecord,
};
use crate::tasker::{Actor, TaskerError};

/// Longest intent, note or summary, in characters.
pub const MAX_NOTE: usize = 2_000;
/// Most steps in a plan.
pub const MAX_STEPS: usize = 50;
/// Longest plan step, in characters.
pub const MAX_STEP: usize = 300;
/// Most audit rows read for a session's observed calls.
const MAX_OBSERVED_ROWS: u32 = 5_000;

/// Why a work-session operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session with this id exists.
    #[error("there is no work session {0}")]
    Unknown(Uuid),
    /// No agent with this id exists (or it is another owner's).
    #[error("there is no agent {0}")]
    UnknownAgent(Uuid),
    /// The session belongs to another agent.
    #[error("work session {0} is not this agent's")]
    NotYours(Uuid),
    /// The session has ended.
    #[error("work session {id} has already ended ({state})")]
    Ended {
        /// The session.
        id: Uuid,
        /// How it ended.
        state: &'static str,
    },
    /// A stop is pending: the agent must finish the open session before starting another.
    #[error("work session {0} was asked to stop; finish it with finish_work_session before starting another")]
    StopPending(Uuid),
    /// An input is invalid; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The Tasker refused or failed (resolving the card).
    #[error("{0}")]
    Tasker(TaskerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session as shown: the stored record with its effective state (`stale` when open and
/// silent past the stale interval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The session.
    pub id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// The card it is on.
    pub card: String,
    /// The one-line intent.
    pub intent: String,
    /// The plan.
    pub plan: Vec<PlanStep>,
    /// `in_progress`, `awaiting`, `stopping`, `stale`, `completed`, `failed` or `stopped`.
    pub state: String,
    /// `completed`, `failed` or `abandoned`, when the agent finished it.
    pub outcome: Option<String>,
    /// The closing summary, or why the gateway ended it.
    pub summary: Option<String>,
    /// The comment the summary was posted as.
    pub comment_id: Option<String>,
    /// The pending or honoured stop request.
    pub stop: Option<StopRequest>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// The agent's last report.
    pub last_report_at: DateTime<Utc>,
    /// The last call the gateway saw in it.
    pub last_call_at: Option<DateTime<Utc>>,
    /// Ended.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A stop request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    /// When.
    pub requested_at: DateTime<Utc>,
    /// `admin` or `owner`.
    pub requested_by: String,
    /// Why.
    pub reason: String,
}

/// A session in full: activities, what the agent reported, and what the gateway saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionDetail {
    /// The session.
    #[serde(flatten)]
    pub session: SessionView,
    /// Its activities, oldest first.
    pub activities: Vec<ActivityRecord>,
    /// Reported by the agent, by kind.
    pub reported: Reported,
    /// Observed by the gateway, from the audit log.
    pub observed: Observed,
    /// "reported: 3 actions; observed: 5 writes on OPS-12, 1 denial".
    pub comparison: String,
    /// The calls made in the session (audit rows, oldest first; intent rows left out).
    pub calls: Vec<AuditEntry>,
}

/// A checked finish, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// The session.
    pub id: Uuid,
    /// Its card.
    pub card: String,
    /// How it ends.
    pub end: SessionEnd,
}

/// A started session, and the one it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The new session.
    #[serde(flatten)]
    pub session: SessionView,
    /// The open session this start ended, if any.
    pub superseded: Option<Uuid>,
}

impl Gateway {
    /// Starts a work session for `actor` on `card` (resolved by the Tasker within the
    /// projects where the agent holds `sessions:write`).
    pub async fn start_work_session(
        &self,
        actor: &Actor,
        card: &str,
        intent: &str,
        plan: &[String],
    ) -> Result<Started, SessionError> {
        let intent = one_line(intent, "intent")?;
        let plan = plan
            .iter()
            .map(|s| {
                step(s).map(|step| PlanStep {
                    step: step.to_owned(),
                    done: false,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_plan(&plan)?;
        if let Some(open) = self.store.open_session(actor.agent_id).await? {
            if open.stop_requested_at.is_some() {
                return Err(SessionError::StopPending(open.id));
            }
        }
        let card = self.resolve_card(actor, card).await?;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let (record, superseded) = self
            .store
            .start_session(
                &NewWorkSession {
                    id,
                    agent_id: actor.agent_id,
                    owner_id: actor.owner_id,
                    card,
                    intent,
                    plan,
                },
                &SessionEnd {
                    state: SessionState::Stopped,
                    outcome: Some("abandoned".into()),
                    note: format!("superseded by work session {id}"),
                    kind: "superseded",
                },
                now,
            )
            .await?;
        self.put_in_force(actor.agent_id, Some(&record)).await;
        Ok(Started {
            session: self.view(&record, now),
            superseded,
        })
    }

    /// Records a report on the agent's open session `id`.
    pub async fn update_work_session(
        &self,
        actor: &Actor,
        id: Uuid,
        kind: &str,
        note: &str,
        plan: Option<Vec<PlanStep>>,
        card: Option<&str>,
    ) -> Result<SessionView, SessionError> {
        if !["thought", "action", "elicitation"].contains(&kind) {
            return Err(SessionError::Invalid(format!(
                "kind must be thought, action or elicitation, not {kind:?}"
            )));
        }
        let note = one_line(note, "note")?;
        if let Some(plan) = &plan {
            for s in plan {
                step(&s.step)?;
            }
            check_plan(plan)?;
        }
        let card = match card {
            Some(card) => Some(self.resolve_card(actor, card).await?),
            None => None,
        };
        let now = Utc::now();
        let report = SessionReport {
            kind: kind.to_owned(),
            note,
            plan,
            card,
        };
        match self
            .store
            .report_session(actor.agent_id, id, &report, now)
            .await?
        {
            Some(record) => {
                if report.card.is_some() {
                    self.put_in_force(actor.agent_id, Some(&record)).await;
                }
                Ok(self.view(&record, now))
            }
            None => Err(self.why_not_open(actor.agent_id, id).await),
        }
    }

    /// Checks a finish of the agent's open session `id` with `outcome` (`completed`,
    /// `failed` or `abandoned`) and a summary, before anything is done: the session is
    /// open and the agent's. The summary comment, if any, is posted between this and
    /// [`Gateway::finish_work_session`], while the session is still open, so it belongs
    /// to the session like every other call.
    pub async fn prepare_finish(
        &self,
        actor: &Actor,
        id: Uuid,
        outcome: &str,
        summary: &str,
    ) -> Result<Finish, SessionError> {
        let state = match outcome {
            "completed" => SessionState::Completed,
            "failed" => SessionState::Failed,
            "abandoned" => SessionState::Stopped,
            other => {
                return Err(SessionError::Invalid(format!(
                    "outcome must be completed, failed or abandoned, not {other:?}"
                )))
            }
        };
        let summary = text(summary, "summary")?;
        match self.store.open_session(actor.agent_id).await? {
            Some(open) if open.id == id => Ok(Finish {
                id,
                card: open.card,
                end: SessionEnd {
                    state,
                    outcome: Some(outcome.to_owned()),
                    note: summary,
                    kind: "finished",
                },
            }),
            _ => Err(self.why_not_open(actor.agent_id, id).await),
        }
    }

    /// Finishes the session as `finish` says.
    pub async fn finish_work_session(
        &self,
        actor: &Actor,
        finish: &Finish,
        comment_id: Option<&str>,
    ) -> Result<SessionView, SessionError> {
        let now = Utc::now();
        match self
            .store
            .end_session(Some(actor.agent_id), finish.id, &finish.end, now)
            .await?
        {
            Some(record) => {
                self.put_in_force(actor.agent_id, None).await;
                if let Some(comment_id) = comment_id {
                    self.store
                        .set_session_comment(finish.id, comment_id)
                        .await?;
                }
                let mut view = self.view(&record, now);
                view.comment_id = comment_id.map(str::to_owned);
                Ok(view)
            }
            None => Err(self.why_not_open(actor.agent_id, finish.id).await),
        }
    }

    /// Asks the open session `id` to stop (`by`: `admin` or `owner`). When `owner` is
    /// given, only a session of that owner's agents can be asked.
    pub async fn request_session_stop(
        &self,
        id: Uuid,
        owner: Option<Uuid>,
        by: &str,
        reason: &str,
    ) -> Result<SessionView, SessionError> {
        let reason = one_line(reason, "reason")?;
        let now = Utc::now();
        let Some((current, _)) = self.store.get_session(id).await? else {
            return Err(SessionError::Unknown(id));
        };
        if owner.is_some_and(|o| o != current.owner_id) {
            return Err(SessionError::Unknown(id));
        }
        match self.store.request_stop(id, by, &reason, now).await? {
            Some(record) => {
                self.put_in_force(record.agent_id, Some(&record)).await;
                Ok(self.view(&record, now))
            }
            None => Err(SessionError::Ended {
                id,
                state: current.state.as_str(),
            }),
        }
    }

    /// Sets whether the agent's tracker writes are refused while a stop of its work
    /// session is pending (with `owner`, only for that owner's agent).
    pub async fn set_stop_refuses_writes(
        &self,
        agent_id: Uuid,
        owner: Option<Uuid>,
        on: bool,
    ) -> Result<(), SessionError> {
        let agent = self.store.get_agent(agent_id).await?;
        if agent.is_none_or(|a| owner.is_some_and(|o| o != a.owner_id)) {
            return Err(SessionError::UnknownAgent(agent_id));
        }
        self.store.set_stop_refuses_writes(agent_id, on).await?;
        self.authority
            .fanout
            .apply(Change::AgentChanged(agent_id))
            .await;
        Ok(())
    }

    /// One session in full; with `owner`, only a session of that owner's agents.
    pub async fn work_session(
        &self,
        id: Uuid,
        owner: Option<Uuid>,
    ) -> Result<SessionDetail, SessionError> {
        let Some((record, activities)) = self.store.get_session(id).await? else {
            return Err(SessionError::Unknown(id));
        };
        if owner.is_some_and(|o| o != record.owner_id) {
            return Err(SessionError::Unknown(id));
        }
        self.auditor.flush().await;
        let calls: Vec<AuditEntry> = self
            .store
            .session_calls(id, MAX_OBSERVED_ROWS)
            .await?
            .into_iter()
            .filter(|c| c.outcome != "intent")
            .collect();
        let reported = reported(&activities);
        let observed = observed(&calls);
        Ok(SessionDetail {
            session: self.view(&record, Utc::now()),
            comparison: compare(&reported, &observed),
            activities,
            reported,
            observed,
            calls,
        })
    }

    /// One page of sessions, newest first.
    pub async fn work_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Vec<SessionView>, SessionError> {
        let now = Utc::now();
        Ok(self
            .store
            .list_sessions(query)
            .await?
            .iter()
            .map(|r| self.view(r, now))
            .collect())
    }

    /// The cut-off before which an open, silent session is stale.
    pub fn stale_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.config.session_stale)
            .unwrap_or_else(|_| chrono::Duration::seconds(300))
    }

    /// Ends every session that was asked to stop and then went stale; returns how many.
    /// Run periodically by every replica (ending is idempotent in the store).
    pub async fn sweep_work_sessions(&self) -> Result<usize, SessionError> {
        let now = Utc::now();
        let cut = self.stale_before(now);
        let mut ended = 0;
        for open in self.store.open_sessions().await? {
            if open.state != SessionState::Stopping || open.last_activity() >= cut {
                continue;
            }
            let end = SessionEnd {
                state: SessionState::Stopped,
                outcome: None,
                note: "stopped: a stop was requested and the agent went silent".into(),
                kind: "stopped",
            };
            if let Some(record) = self.store.end_session(None, open.id, &end, now).await? {
                self.put_in_force(record.agent_id, None).await;
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// A record as shown at `now`.
    pub fn view(&self, r: &WorkSessionRecord, now: DateTime<Utc>) -> SessionView {
        // A silent session asked to stop stays `stopping` until the sweep ends it.
        let state = if r.is_open()
            && r.state != SessionState::Stopping
            && r.last_activity() < self.stale_before(now)
        {
            "stale"
        } else {
            r.state.as_str()
        };
        SessionView {
            id: r.id,
            agent_id: r.agent_id,
            owner_id: r.owner_id,
            card: r.card.clone(),
            intent: r.intent.clone(),
            plan: r.plan.clone(),
            state: state.to_owned(),
            outcome: r.outcome.clone(),
            summary: r.summary.clone(),
            comment_id: r.comment_id.clone(),
            stop: r.stop_requested_at.map(|at| StopRequest {
                requested_at: at,
                requested_by: r.stop_requested_by.clone().unwrap_or_default(),
                reason: r.stop_reason.clone().unwrap_or_default(),
            }),
            started_at: r.started_at,
            last_report_at: r.reported_at,
            last_call_at: r.last_call_at,
            ended_at: r.ended_at,
        }
    }

    /// The card's key, as the Tasker knows it, if the agent may report on it.
    async fn resolve_card(&self, actor: &Actor, card: &str) -> Result<String, SessionError> {
        self.tasker
            .get_card(actor, card)
            .await
            .map(|c| c.card.key)
            .map_err(SessionError::Tasker)
    }

    /// Why a report on `id` found no open session of this agent.
    async fn why_not_open(&self, agent_id: Uuid, id: Uuid) -> SessionError {
        match self.store.get_session(id).await {
            Ok(None) => SessionError::Unknown(id),
            Ok(Some((s, _))) if s.agent_id != agent_id => SessionError::NotYours(id),
            Ok(Some((s, _))) => SessionError::Ended {
                id,
                state: s.state.as_str(),
            },
            Err(e) => SessionError::Store(e),
        }
    }

    /// Puts a session change in force: this replica's actor at once, the others through
    /// the fan-out.
    async fn put_in_force(&self, agent_id: Uuid, open: Option<&WorkSessionRecord>) {
        self.supervisor
            .set_session(agent_id, open.map(WorkSessionRecord::mark));
        self.authority
            .fanout
            .publish(Change::SessionChanged(agent_id))
            .await;
    }
}

/// A non-empty text of at most [`MAX_NOTE`] characters.
fn text(raw: &str, field: &str) -> Result<String, SessionError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(SessionError::Invalid(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > MAX_NOTE {
        return Err(SessionError::Invalid(format!(
            "{field} is longer than {MAX_NOTE} characters; shorten it"
        )));
    }
    Ok(trimmed.to_owned())
}

/// [`text`], on one line (line breaks become spaces).
fn one_line(raw: &str, field: &str) -> Result<String, SessionError> {
    text(raw, field).map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn step(raw: &str) -> Result<&str, SessionError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > MAX_STEP {
        return Err(SessionError::Invalid(format!(
            "each plan step must have 1 to {MAX_STEP} characters"
        )));
    }
    Ok(s)
}

fn check_plan(plan: &[PlanStep]) -> Result<(), SessionError> {
    if plan.len() > MAX_STEPS {
        return Err(SessionError::Invalid(format!(
            "a plan has at most {MAX_STEPS} steps"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded_and_one_line() {
        assert_eq!(
            one_line(" fix\nthe  login ", "intent").unwrap(),
            "fix the login"
        );
        assert!(matches!(
            one_line("  ", "intent"),
            Err(SessionError::Invalid(_))
        ));
        assert!(matches!(
            text(&"x".repeat(MAX_NOTE + 1), "summary"),
            Err(SessionError::Invalid(_))
        ));
        assert!(step(&"s".repeat(MAX_STEP + 1)).is_err());
    }
}
