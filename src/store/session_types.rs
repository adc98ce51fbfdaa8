//! The records of work sessions (reporting mode), as the store keeps and returns them:
//! the stored state, the plan, a session with its last call, an activity, and what a
//! start, a report, an end and a query carry. The statements are in `sessions.rs`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A session's stored state, in Plane's agent-run words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Working.
    InProgress,
    /// Waiting for a person (after an `elicitation`), until the next report.
    Awaiting,
    /// Asked to stop; until the agent finishes it or goes stale.
    Stopping,
    /// Finished as completed.
    Completed,
    /// Finished as failed.
    Failed,
    /// Finished as abandoned, superseded, or stopped on request.
    Stopped,
}

impl SessionState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionState::InProgress => "in_progress",
            SessionState::Awaiting => "awaiting",
            SessionState::Stopping => "stopping",
            SessionState::Completed => "completed",
            SessionState::Failed => "failed",
            SessionState::Stopped => "stopped",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            SessionState::InProgress,
            SessionState::Awaiting,
            SessionState::Stopping,
            SessionState::Completed,
            SessionState::Failed,
            SessionState::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// One step of a session's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// What the step is.
    pub step: String,
    /// Whether it is done.
    #[serde(default)]
    pub done: bool,
}

/// A work session as stored, with the time of the last call the gateway saw in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkSessionRecord {
    /// The session.
    pub id: Uuid,
    /// The agent reporting it.
    pub agent_id: Uuid,
    /// The agent's owner.
    pub owner_id: Uuid,
    /// The card it is on now.
    pub card: String,
    /// The one-line intent given at the start.
    pub intent: String,
    /// The plan, with steps ticked.
    pub plan: Vec<PlanStep>,
    /// The stored state.
    pub state: SessionState,
    /// `completed`, `failed` or `abandoned`, once finished by the agent.
    pub outcome: Option<String>,
    /// The agent's closing summary.
    pub summary: Option<String>,
    /// The comment the summary was posted as.
    pub comment_id: Option<String>,
    /// When a stop was asked for.
    pub stop_requested_at: Option<DateTime<Utc>>,
    /// Who asked (`admin` or the owner's id).
    pub stop_requested_by: Option<String>,
    /// Why.
    pub stop_reason: Option<String>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// The agent's last report.
    pub reported_at: DateTime<Utc>,
    /// Ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The last call the gateway saw while it was open (from the audit log).
    pub last_call_at: Option<DateTime<Utc>>,
}

impl WorkSessionRecord {
    /// The later of the last report and the last call.
    pub fn last_activity(&self) -> DateTime<Utc> {
        self.last_call_at
            .map_or(self.reported_at, |c| c.max(self.reported_at))
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }

    /// What the agent's actor keeps of it.
    pub fn mark(&self) -> gateway_actors::SessionMark {
        gateway_actors::SessionMark {
            id: self.id,
            card: self.card.clone(),
            stop_requested: self.stop_requested_at.is_some(),
        }
    }
}

/// One reported or recorded activity of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ActivityRecord {
    /// Monotonic id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `started`, `thought`, `action`, `elicitation`, `card_switched`, `stop_requested`,
    /// `finished`, `stopped` or `superseded`.
    pub kind: String,
    /// What the agent (or the gateway, for recorded ones) said.
    pub note: String,
    /// The card, when the activity names one.
    pub card: Option<String>,
}

/// A new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkSession {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// The agent.
    pub agent_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// The card.
    pub card: String,
    /// The intent.
    pub intent: String,
    /// The plan.
    pub plan: Vec<PlanStep>,
}

/// A report on an open session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// `thought`, `action` or `elicitation`.
    pub kind: String,
    /// The note.
    pub note: String,
    /// A new plan, replacing the old one.
    pub plan: Option<Vec<PlanStep>>,
    /// A switch to another card.
    pub card: Option<String>,
}

/// How a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// The state it ends in.
    pub state: SessionState,
    /// The agent's outcome, when the agent ended it.
    pub outcome: Option<String>,
    /// The summary (agent) or why (gateway).
    pub note: String,
    /// The activity kind recorded: `finished`, `stopped` or `superseded`.
    pub kind: &'static str,
}

/// A page request over sessions, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only this agent's.
    pub agent_id: Option<Uuid>,
    /// Only this owner's agents'.
    pub owner_id: Option<Uuid>,
    /// Only in this stored state; `Open` and `Stale` are read as described above.
    pub state: Option<StateFilter>,
    /// Only on this card.
    pub card: Option<String>,
    /// Only sessions started before this one (the previous page's last id).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// A state filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// One stored state.
    Is(SessionState),
    /// Open (not ended), whatever its state.
    Open,
    /// Open, and silent since the cut-off.
    Stale(DateTime<Utc>),
}
