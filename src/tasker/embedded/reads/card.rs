//! One card as the embedded tracker reads it back: its summary (lists and writes) and
//! its detail (`get_card` and the answer to every card write).

use sqlx::{AnyConnection, Row};

use super::super::db_error;
use crate::tasker::*;

/// One card's summary fields.
pub(in crate::tasker::embedded) async fn summary(
    conn: &mut AnyConnection,
    id: &str,
) -> TaskerResult<CardSummary> {
    Ok(summary_with(conn, id, false, &Known::default()).await?.0)
}

/// What a caller knows of a card, so that reading it back does not ask: what a card this
/// very transaction created has none of, and its history, which the transaction wrote
/// (nobody else can have added to it before the commit).
/// Each round trip to Postgres costs a wake-up of another process, which on this
/// project's benchmark machine was most of a write's CPU (docs/PERFORMANCE.md).
#[derive(Debug, Default, Clone)]
pub(in crate::tasker::embedded) struct Known {
    /// No labels.
    pub no_labels: bool,
    /// No assignees.
    pub no_assignees: bool,
    /// No blocks.
    pub no_blocks: bool,
    /// No comments.
    pub no_comments: bool,
    /// The card's whole history, when this transaction wrote all of it.
    pub history: Option<Vec<HistoryEntry>>,
}

/// The card's summary and, `with_description`, its description, read in the same query.
async fn summary_with(
    conn: &mut AnyConnection,
    id: &str,
    with_description: bool,
    known: &Known,
) -> TaskerResult<(CardSummary, Option<String>)> {
    let query = if with_description {
        SUMMARY_WITH_DESCRIPTION
    } else {
        SUMMARY
    };
    let row = sqlx::query(query)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| TaskerError::not_found(format!("card {id} does not exist")))?;
    let description = if with_description {
        Some(row.try_get("description").map_err(db_error)?)
    } else {
        None
    };
    let labels = if known.no_labels {
        Vec::new()
    } else {
        sqlx::query(
        "SELECT l.name FROM tracker_card_labels cl JOIN tracker_labels l ON l.id = cl.label_id WHERE cl.card_id = $1 ORDER BY l.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?
    .iter()
    .map(|r| r.try_get("name"))
    .collect::<Result<Vec<String>, _>>()
    .map_err(db_error)?
    };
    let project_id: String = row.try_get("project_id").map_err(db_error)?;
    let assignees = if known.no_assignees {
        Vec::new()
    } else {
        sqlx::query_as::<_, Assignee>(
        "SELECT ca.user_id, COALESCE(m.display_name, ca.user_id) AS display_name FROM tracker_card_assignees ca \
         LEFT JOIN tracker_members m ON m.user_id = ca.user_id AND m.project_id = $2 WHERE ca.card_id = $1 ORDER BY 2",
    )
    .bind(id)
    .bind(&project_id)
    .fetch_all(&mut *conn).await.map_err(db_error)?
    };
    let identifier: String = row.try_get("identifier").map_err(db_error)?;
    let sequence: i64 = row.try_get("sequence_id").map_err(db_error)?;
    let summary = CardSummary {
        id: row.try_get("id").map_err(db_error)?,
        key: format!("{identifier}-{sequence}"),
        project_id,
        name: row.try_get("name").map_err(db_error)?,
        state: row.try_get("state").map_err(db_error)?,
        state_group: row.try_get("state_group").map_err(db_error)?,
        priority: row.try_get("priority").map_err(db_error)?,
        labels,
        assignees,
        parent: row.try_get("parent").map_err(db_error)?,
        start_date: row.try_get("start_date").map_err(db_error)?,
        target_date: row.try_get("target_date").map_err(db_error)?,
        updated_at: row.try_get("updated_at").map_err(db_error)?,
    };
    Ok((summary, description))
}

/// A card's summary row: the card, its project's identifier, its state and its parent's key.
const SUMMARY: &str =
    "SELECT c.id, c.project_id, c.sequence_id, c.name, c.priority, c.start_date, c.target_date, c.updated_at, \
     p.identifier, s.name AS state, s.state_group, \
     (SELECT pp.identifier || '-' || CAST(pc.sequence_id AS TEXT) FROM tracker_cards pc \
      JOIN tracker_projects pp ON pp.id = pc.project_id WHERE pc.id = c.parent_id) AS parent \
     FROM tracker_cards c JOIN tracker_projects p ON p.id = c.project_id \
     JOIN tracker_states s ON s.id = c.state_id WHERE c.id = $1";

/// [`SUMMARY`] with the description.
const SUMMARY_WITH_DESCRIPTION: &str =
    "SELECT c.id, c.project_id, c.sequence_id, c.name, c.priority, c.start_date, c.target_date, c.updated_at, \
     c.description, p.identifier, s.name AS state, s.state_group, \
     (SELECT pp.identifier || '-' || CAST(pc.sequence_id AS TEXT) FROM tracker_cards pc \
      JOIN tracker_projects pp ON pp.id = pc.project_id WHERE pc.id = c.parent_id) AS parent \
     FROM tracker_cards c JOIN tracker_projects p ON p.id = c.project_id \
     JOIN tracker_states s ON s.id = c.state_id WHERE c.id = $1";

/// One card in full.
pub(in crate::tasker::embedded) async fn detail(
    conn: &mut AnyConnection,
    id: &str,
) -> TaskerResult<CardDetail> {
    detail_with(conn, id, Known::default()).await
}

/// One card in full, without asking for what `known` says it has none of.
pub(in crate::tasker::embedded) async fn detail_with(
    conn: &mut AnyConnection,
    id: &str,
    known: Known,
) -> TaskerResult<CardDetail> {
    let (card, description) = summary_with(conn, id, true, &known).await?;
    let description = description.unwrap_or_default();
    let blocks = if known.no_blocks {
        Vec::new()
    } else {
        sqlx::query_as::<_, Block>(
            "SELECT name, content FROM tracker_blocks WHERE card_id = $1 ORDER BY name",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?
    };
    let comments = if known.no_comments {
        Vec::new()
    } else {
        sqlx::query_as::<_, Comment>("SELECT id, body, actor, created_at FROM tracker_comments WHERE card_id = $1 ORDER BY created_at, id")
            .bind(id)
            .fetch_all(&mut *conn).await.map_err(db_error)?
    };
    let history = match known.history {
        Some(history) => history,
        None => sqlx::query_as::<_, HistoryEntry>("SELECT at, actor, field, old_value, new_value, work_session_id FROM tracker_history WHERE card_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&mut *conn).await.map_err(db_error)?,
    };
    Ok(CardDetail {
        card,
        description,
        blocks,
        comments,
        history,
    })
}
