//! Plane's JSON, as its public API v1 sends it (makeplane/plane, `apps/api/plane/api/`):
//! only the fields the adapter reads; Plane sends many more, and unknown fields are
//! ignored.

use serde::Deserialize;

/// A page of a list endpoint (`plane/utils/paginator.py`, `BasePaginator.paginate`):
/// `cursor` is `per_page:page:is_prev`; `next_page_results` says whether another page
/// follows.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub results: Vec<T>,
    #[serde(default)]
    pub next_page_results: bool,
}

/// `ProjectSerializer` (`api/serializers/project.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    pub id: String,
    pub identifier: String,
    pub name: String,
}

/// `StateSerializer` (`api/serializers/state.py`, every model field).
#[derive(Debug, Clone, Deserialize)]
pub struct State {
    pub id: String,
    pub name: String,
    pub group: String,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub sequence: f64,
}

/// `LabelSerializer` (`api/serializers/issue.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub color: String,
}

/// `UserLiteSerializer` (`api/serializers/user.py`), the project members list and
/// `users/me/`; the workspace members list adds `role` (`api/views/member.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub role: Option<i64>,
}

impl User {
    /// The name people see: the display name, else first and last name, else the id.
    pub fn name(&self) -> String {
        let full = format!("{} {}", self.first_name, self.last_name);
        let name = [self.display_name.trim(), full.trim()]
            .into_iter()
            .find(|n| !n.is_empty())
            .unwrap_or(&self.id)
            .to_owned();
        name
    }
}

/// A work item's parent: an id, or with `expand=parent` an `IssueLiteSerializer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Parent {
    Lite { sequence_id: i64 },
    Id(String),
}

/// `IssueSerializer` (`api/serializers/issue.py`): `state` and `project` are ids;
/// `assignees` and `labels` are lists of ids.
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description_html: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub parent: Option<Parent>,
    pub sequence_id: i64,
    pub project: String,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub target_date: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
}

/// `IssueCommentSerializer` (`api/serializers/issue.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct IssueComment {
    pub id: String,
    #[serde(default)]
    pub comment_html: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// `IssueActivitySerializer` (`api/serializers/issue.py`, the `IssueActivity` model).
#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub verb: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub old_value: Option<String>,
    #[serde(default)]
    pub new_value: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
}

/// Plane's answer to a create whose `external_id`/`external_source` pair exists
/// (`IssueListCreateAPIEndpoint.post`, `IssueCommentListCreateAPIEndpoint.post`): 409
/// with the existing id.
#[derive(Debug, Deserialize)]
pub struct Duplicate {
    pub id: String,
}

/// Unix milliseconds of an ISO 8601 time as Plane sends it; 0 when absent or unreadable.
pub fn millis(at: Option<&str>) -> i64 {
    at.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}
