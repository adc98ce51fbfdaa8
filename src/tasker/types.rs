//! The adapter contract's data: what crosses the Tasker port, on the wire as JSON.
//! `docs/TASKER_ADAPTER_CONTRACT.md` documents every field.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who is acting: the agent, its owner, and the projects the gateway granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The agent.
    pub agent_id: Uuid,
    /// The agent's name.
    pub agent_name: String,
    /// Its owner (a Launcher user id).
    pub owner_id: Uuid,
    /// The owner's display name.
    pub owner_name: String,
    /// Project ids the agent may touch; anything else is `project_not_granted`.
    pub granted: Vec<String>,
    /// The agent's open work session (reporting mode), which a write names in the
    /// card's history. Optional in the contract: an adapter may ignore it.
    pub work_session: Option<Uuid>,
}

impl Actor {
    /// The gateway acting as itself, not as an agent (nil agent id, name
    /// `agent-gateway`): checking grants for `owner_id` (nil for the admin), or listing
    /// projects for an admin.
    pub fn gateway(owner_id: Uuid, owner_name: &str, granted: Vec<String>) -> Actor {
        Actor {
            agent_id: Uuid::nil(),
            agent_name: "agent-gateway".into(),
            owner_id,
            owner_name: owner_name.into(),
            granted,
            work_session: None,
        }
    }

    /// How history and comments name the actor.
    pub fn display(&self) -> String {
        format!("{} (on behalf of {})", self.agent_name, self.owner_name)
    }

    /// Whether `project_id` is granted.
    pub fn may(&self, project_id: &str) -> bool {
        self.granted.iter().any(|g| g == project_id)
    }
}

/// A project, briefly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectSummary {
    /// Id (what grants name).
    pub id: String,
    /// Short key, e.g. `WEB`.
    pub identifier: String,
    /// Name.
    pub name: String,
}

/// A workflow state with Plane's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Id.
    pub id: String,
    /// Name, unique in the project.
    pub name: String,
    /// `backlog`, `unstarted`, `started`, `completed`, `cancelled` or `triage`.
    pub group: String,
    /// New cards start here.
    pub is_default: bool,
}

/// A label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Label {
    /// Id.
    pub id: String,
    /// Name, unique in the project.
    pub name: String,
    /// Colour, `#rrggbb`.
    pub color: String,
}

/// A project member with Plane's role (20 admin, 15 member, 5 guest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Member {
    /// The user.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
    /// 20, 15 or 5.
    pub role: i64,
}

/// Plane's name of a project role: `admin` (20), `member` (15), `guest` (5); `None` for
/// any other number.
pub fn role_name(role: i64) -> Option<&'static str> {
    match role {
        20 => Some("admin"),
        15 => Some("member"),
        5 => Some("guest"),
        _ => None,
    }
}

/// A project one user is a member of, with the user's role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Membership {
    /// Id (what grants name).
    pub id: String,
    /// Short key, e.g. `WEB`.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// The user's role: 20, 15 or 5.
    pub role: i64,
}

/// Everything an agent needs to write valid cards in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectContext {
    /// The project.
    pub project: ProjectSummary,
    /// States in workflow order.
    pub states: Vec<State>,
    /// Labels.
    pub labels: Vec<Label>,
    /// Members.
    pub members: Vec<Member>,
}

/// Search filters; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardQuery {
    /// Only this (granted) project; all granted projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// State name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Label name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Assignee user id or display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Words in the name or description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size, 1..=100 (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A page of cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPage {
    /// Newest first.
    pub cards: Vec<CardSummary>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A card, briefly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    /// Id.
    pub id: String,
    /// `PROJ-12`.
    pub key: String,
    /// Project id.
    pub project_id: String,
    /// Title.
    pub name: String,
    /// State name.
    pub state: String,
    /// State group.
    pub state_group: String,
    /// `urgent`, `high`, `medium`, `low` or `none`.
    pub priority: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Assignees.
    pub assignees: Vec<Assignee>,
    /// Parent card key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<String>,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

/// An assignee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Assignee {
    /// The user.
    pub user_id: String,
    /// Display name.
    pub display_name: String,
}

/// A named structured block of a card ("acceptance criteria", "plan").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Block {
    /// Name.
    pub name: String,
    /// Content (Markdown).
    pub content: String,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Comment {
    /// Id.
    pub id: String,
    /// Body (Markdown).
    pub body: String,
    /// "AgentName (on behalf of Owner)", or a person.
    pub actor: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct HistoryEntry {
    /// Unix milliseconds.
    pub at: i64,
    /// "AgentName (on behalf of Owner)".
    pub actor: String,
    /// The field changed (`created`, `name`, `state`, `labels`, `block:plan`, …).
    pub field: String,
    /// The work session the change was made in, when the agent had one open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[sqlx(rename = "work_session_id")]
    pub work_session: Option<String>,
    /// Before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[sqlx(rename = "old_value")]
    pub old: Option<String>,
    /// After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[sqlx(rename = "new_value")]
    pub new: Option<String>,
}

/// A card in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDetail {
    /// The summary fields.
    #[serde(flatten)]
    pub card: CardSummary,
    /// Description (Markdown).
    pub description: String,
    /// Structured blocks, by name.
    pub blocks: Vec<Block>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Changes, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// A new card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCard {
    /// The (granted) project.
    pub project_id: String,
    /// Title.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Priority; `none` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// State name; the project's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Label names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Assignees: member user ids or display names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
    /// Parent card key or id, in the same project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<String>,
    /// Initial structured blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
}

/// Field changes; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardPatch {
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Parent card key or id; empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `YYYY-MM-DD`; empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`; empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<String>,
}

impl CardPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &CardPatch::default()
    }
}

/// An existing workspace member to add to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// The user.
    pub user_id: String,
    /// 20, 15 or 5.
    pub role: i64,
}

/// Priorities, as Plane spells them.
pub const PRIORITIES: [&str; 5] = ["urgent", "high", "medium", "low", "none"];
