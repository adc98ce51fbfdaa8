//! The validation Plane skips, and Plane's ids shown as names.
//!
//! Plane's `IssueSerializer.validate` (`apps/api/plane/api/serializers/issue.py`)
//! silently drops an assignee who is not an active project member with role ≥ 15, and a
//! label of another project; an unknown state is a bare 400. The adapter resolves every
//! name against the project first and refuses what would not stick, listing the valid
//! values, as the contract's §8 asks.

use super::catalog::ProjectData;
use super::wire;
use crate::tasker::*;

impl ProjectData {
    /// A state by name (case-insensitive).
    pub fn state_named(&self, name: &str) -> TaskerResult<&wire::State> {
        let name = name.trim();
        self.states
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                TaskerError::invalid(
                    "state",
                    format!(
                        "no state {name:?} in project {}; use one of the listed state names",
                        self.project.identifier
                    ),
                    self.states.iter().map(|s| s.name.clone()).collect(),
                )
            })
    }

    /// The state new work items start in: Plane's `default`, else the first.
    pub fn default_state(&self) -> Option<&wire::State> {
        self.states
            .iter()
            .find(|s| s.default)
            .or(self.states.first())
    }

    /// Label ids of `names` (case-insensitive, duplicates collapsed).
    pub fn label_ids(&self, field: &str, names: &[String]) -> TaskerResult<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        for name in names {
            let label = self
                .labels
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    TaskerError::invalid(
                        field,
                        format!("no label {name:?} in project {}; use one of the listed label names (Plane would silently drop it)", self.project.identifier),
                        self.labels.iter().map(|l| l.name.clone()).collect(),
                    )
                })?;
            if !ids.contains(&label.id) {
                ids.push(label.id.clone());
            }
        }
        Ok(ids)
    }

    /// The members Plane lets be assigned: role member or admin (≥ 15).
    fn assignable(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.role >= 15)
    }

    /// User ids of `who` (user ids, or display names case-insensitive).
    pub fn assignee_ids(&self, who: &[String]) -> TaskerResult<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        for w in who {
            let w = w.trim();
            let member = self
                .assignable()
                .find(|m| m.user_id == w)
                .or_else(|| self.assignable().find(|m| m.display_name.eq_ignore_ascii_case(w)))
                .ok_or_else(|| {
                    TaskerError::invalid(
                        "assignees",
                        format!("{w:?} is not a member of project {} who can be assigned (role member or admin); use one of the listed members (Plane would silently drop it)", self.project.identifier),
                        self.assignable()
                            .map(|m| format!("{} ({})", m.display_name, m.user_id))
                            .collect(),
                    )
                })?;
            if !ids.contains(&member.user_id) {
                ids.push(member.user_id.clone());
            }
        }
        Ok(ids)
    }

    /// One member (or the user id, when Plane names someone the project no longer has).
    pub fn assignee(&self, user_id: &str) -> Assignee {
        let display_name = self
            .members
            .iter()
            .find(|m| m.user_id == user_id)
            .map_or_else(|| user_id.to_owned(), |m| m.display_name.clone());
        Assignee {
            user_id: user_id.to_owned(),
            display_name,
        }
    }

    /// `IDENT-N`.
    pub fn key(&self, sequence_id: i64) -> String {
        format!("{}-{sequence_id}", self.project.identifier)
    }

    /// A work item as the port's summary.
    pub fn card(&self, issue: &wire::Issue) -> CardSummary {
        let state = issue
            .state
            .as_deref()
            .and_then(|id| self.states.iter().find(|s| s.id == id));
        let mut labels: Vec<String> = issue
            .labels
            .iter()
            .map(|id| {
                self.labels
                    .iter()
                    .find(|l| &l.id == id)
                    .map_or_else(|| id.clone(), |l| l.name.clone())
            })
            .collect();
        labels.sort();
        let mut assignees: Vec<Assignee> =
            issue.assignees.iter().map(|id| self.assignee(id)).collect();
        assignees.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        CardSummary {
            id: issue.id.clone(),
            key: self.key(issue.sequence_id),
            project_id: issue.project.clone(),
            name: issue.name.clone(),
            state: state.map(|s| s.name.clone()).unwrap_or_default(),
            state_group: state.map(|s| s.group.clone()).unwrap_or_default(),
            priority: issue.priority.clone().unwrap_or_else(|| "none".into()),
            labels,
            assignees,
            parent: issue.parent.as_ref().map(|p| match p {
                wire::Parent::Lite { sequence_id } => self.key(*sequence_id),
                wire::Parent::Id(id) => id.clone(),
            }),
            start_date: issue.start_date.clone(),
            target_date: issue.target_date.clone(),
            updated_at: wire::millis(issue.updated_at.as_deref()),
        }
    }

    /// The project context of the port.
    pub fn context(&self) -> ProjectContext {
        let default = self.default_state().map(|s| s.id.clone());
        ProjectContext {
            project: self.summary(),
            states: self
                .states
                .iter()
                .map(|s| State {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    group: s.group.clone(),
                    is_default: Some(&s.id) == default.as_ref(),
                })
                .collect(),
            labels: self
                .labels
                .iter()
                .map(|l| Label {
                    id: l.id.clone(),
                    name: l.name.clone(),
                    color: l.color.clone(),
                })
                .collect(),
            members: self.members.clone(),
        }
    }
}

/// A priority, trimmed and lowercased, or `validation_failed` listing the five.
pub fn priority(value: &str) -> TaskerResult<String> {
    let p = value.trim().to_ascii_lowercase();
    if PRIORITIES.contains(&p.as_str()) {
        Ok(p)
    } else {
        Err(TaskerError::invalid(
            "priority",
            format!(
                "priority {value:?} is not one of Plane's; use urgent, high, medium, low or none"
            ),
            PRIORITIES.iter().map(|p| (*p).to_owned()).collect(),
        ))
    }
}

/// A date `YYYY-MM-DD`; `""` clears it (`None`) where `clearable`.
pub fn date(field: &str, value: &str) -> TaskerResult<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|_| Some(v.to_owned()))
        .map_err(|_| {
            TaskerError::invalid(
                field,
                format!(
                    "{field} must be a date YYYY-MM-DD, such as 2025-03-01, or \"\" to clear it"
                ),
                vec![],
            )
        })
}

/// A name: 1-255 bytes after trimming (Plane's `Issue.name` is 255 characters).
pub fn name(value: &str) -> TaskerResult<String> {
    let v = value.trim();
    if v.is_empty() || v.len() > 255 {
        return Err(TaskerError::invalid(
            "name",
            "a card name is 1-255 bytes; give a short title",
            vec![],
        ));
    }
    Ok(v.to_owned())
}

/// Text of at most 100 000 bytes (a description, a block, a comment).
pub fn text(field: &str, value: &str) -> TaskerResult<()> {
    if value.len() > 100_000 {
        return Err(TaskerError::invalid(
            field,
            format!("{field} is at most 100000 bytes; shorten it"),
            vec![],
        ));
    }
    Ok(())
}
