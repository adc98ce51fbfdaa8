//! Checks and look-ups shared by the writes: values (priority, dates) and names
//! resolved to ids within the card's project (labels, members, parent card; a state is
//! resolved by the project's facts, `facts.rs`).

use sqlx::{AnyConnection, Row};

use super::super::db_error;
use super::super::reads::{labels, members, resolve_card};
use crate::tasker::*;

pub(super) fn check_priority(priority: &str) -> TaskerResult<String> {
    let p = priority.trim().to_lowercase();
    if PRIORITIES.contains(&p.as_str()) {
        Ok(p)
    } else {
        Err(TaskerError::invalid(
            "priority",
            format!("unknown priority {priority:?}"),
            PRIORITIES.iter().map(|s| (*s).to_owned()).collect(),
        ))
    }
}

/// `None` clears (empty string); otherwise a valid `YYYY-MM-DD`.
pub(super) fn check_date(field: &str, value: &str) -> TaskerResult<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| Some(d.format("%Y-%m-%d").to_string()))
        .map_err(|_| {
            TaskerError::invalid(
                field,
                format!("{field} must be a date as YYYY-MM-DD, got {value:?}"),
                vec![],
            )
        })
}

pub(in crate::tasker::embedded) async fn card_project(
    conn: &mut AnyConnection,
    card_id: &str,
) -> TaskerResult<String> {
    sqlx::query("SELECT project_id FROM tracker_cards WHERE id = $1")
        .bind(card_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get("project_id"))
        .map_err(db_error)
}

pub(in crate::tasker::embedded) async fn label_ids(
    conn: &mut AnyConnection,
    project_id: &str,
    names: &[String],
) -> TaskerResult<Vec<(String, String)>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let all = labels(conn, project_id).await?;
    let mut out = Vec::new();
    for name in names {
        let label = all
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                TaskerError::invalid(
                    "labels",
                    format!("no label {name:?} in this project; use existing label names"),
                    all.iter().map(|l| l.name.clone()).collect(),
                )
            })?;
        if !out.iter().any(|(id, _)| id == &label.id) {
            out.push((label.id.clone(), label.name.clone()));
        }
    }
    Ok(out)
}

pub(in crate::tasker::embedded) async fn member_ids(
    conn: &mut AnyConnection,
    project_id: &str,
    who: &[String],
) -> TaskerResult<Vec<(String, String)>> {
    if who.is_empty() {
        return Ok(Vec::new());
    }
    let all = members(conn, project_id).await?;
    let mut out = Vec::new();
    for w in who {
        let w = w.trim();
        let m = all
            .iter()
            .find(|m| m.user_id == w || m.display_name.eq_ignore_ascii_case(w))
            .ok_or_else(|| {
                TaskerError::invalid(
                    "assignees",
                    format!("{w:?} is not a member of this project; assign project members only"),
                    all.iter()
                        .map(|m| format!("{} ({})", m.display_name, m.user_id))
                        .collect(),
                )
            })?;
        if !out.iter().any(|(id, _)| id == &m.user_id) {
            out.push((m.user_id.clone(), m.display_name.clone()));
        }
    }
    Ok(out)
}

pub(in crate::tasker::embedded) async fn parent_id(
    conn: &mut AnyConnection,
    actor: &Actor,
    project_id: &str,
    parent: &str,
) -> TaskerResult<String> {
    let id = resolve_card(conn, actor, parent).await?;
    if card_project(conn, &id).await? != project_id {
        return Err(TaskerError::invalid(
            "parent",
            "the parent card must be in the same project",
            vec![],
        ));
    }
    Ok(id)
}
