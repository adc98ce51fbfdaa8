//! One card as the embedded tracker reads it back: its summary (lists and writes), a
//! page of summaries (`search_cards`) and its detail (`get_card` and the answer to every
//! card write).

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::super::{db_error, Sql};
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
    let summary = summary_of(&row, labels, assignees)?;
    Ok((summary, description))
}

/// A summary from its row ([`SUMMARY`]'s columns) and its labels and assignees.
fn summary_of(
    row: &AnyRow,
    labels: Vec<String>,
    assignees: Vec<Assignee>,
) -> TaskerResult<CardSummary> {
    let identifier: String = row.try_get("identifier").map_err(db_error)?;
    let sequence: i64 = row.try_get("sequence_id").map_err(db_error)?;
    Ok(CardSummary {
        id: row.try_get("id").map_err(db_error)?,
        key: format!("{identifier}-{sequence}"),
        project_id: row.try_get("project_id").map_err(db_error)?,
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
    })
}

/// The select list and joins of a card's summary row (the card, its project's
/// identifier, its state and its parent's key), with `$extra` columns, then `$rest`.
macro_rules! summary_row {
    ($extra:literal, $rest:literal) => {
        concat!(
            "SELECT c.id, c.project_id, c.sequence_id, c.name, c.priority, c.start_date, \
             c.target_date, c.updated_at, ",
            $extra,
            " p.identifier, s.name AS state, s.state_group, \
             (SELECT pp.identifier || '-' || CAST(pc.sequence_id AS TEXT) FROM tracker_cards pc \
              JOIN tracker_projects pp ON pp.id = pc.project_id WHERE pc.id = c.parent_id) AS parent \
             FROM tracker_cards c JOIN tracker_projects p ON p.id = c.project_id \
             JOIN tracker_states s ON s.id = c.state_id ",
            $rest
        )
    };
}

/// One card's summary row.
const SUMMARY: &str = summary_row!("", "WHERE c.id = $1");

/// [`SUMMARY`] with the description.
const SUMMARY_WITH_DESCRIPTION: &str = summary_row!("c.description,", "WHERE c.id = $1");

/// The summaries of the cards `ids`, in that order: three queries whatever their number
/// (the rows, their labels, their assignees), not three per card.
pub(in crate::tasker::embedded) async fn summaries(
    conn: &mut AnyConnection,
    ids: &[String],
) -> TaskerResult<Vec<CardSummary>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let among = |text: &str, tail: &str| {
        let mut sql = Sql::new(text);
        for (i, id) in ids.iter().enumerate() {
            sql.push(if i == 0 { "{}" } else { ", {}" }, id.clone());
        }
        sql.push_raw(tail);
        sql
    };
    let rows = among(summary_row!("", "WHERE c.id IN ("), ")")
        .query()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut labels: HashMap<String, Vec<String>> = HashMap::new();
    for row in among(
        "SELECT cl.card_id, l.name FROM tracker_card_labels cl \
         JOIN tracker_labels l ON l.id = cl.label_id WHERE cl.card_id IN (",
        ") ORDER BY cl.card_id, l.name",
    )
    .query()
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?
    {
        let card: String = row.try_get("card_id").map_err(db_error)?;
        labels
            .entry(card)
            .or_default()
            .push(row.try_get("name").map_err(db_error)?);
    }
    let mut assignees: HashMap<String, Vec<Assignee>> = HashMap::new();
    for row in among(
        "SELECT ca.card_id, ca.user_id, COALESCE(m.display_name, ca.user_id) AS display_name \
         FROM tracker_card_assignees ca JOIN tracker_cards c ON c.id = ca.card_id \
         LEFT JOIN tracker_members m ON m.user_id = ca.user_id AND m.project_id = c.project_id \
         WHERE ca.card_id IN (",
        ") ORDER BY ca.card_id, 3",
    )
    .query()
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?
    {
        let card: String = row.try_get("card_id").map_err(db_error)?;
        assignees.entry(card).or_default().push(Assignee {
            user_id: row.try_get("user_id").map_err(db_error)?,
            display_name: row.try_get("display_name").map_err(db_error)?,
        });
    }
    let mut by_id: HashMap<String, AnyRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_id.insert(row.try_get("id").map_err(db_error)?, row);
    }
    ids.iter()
        .map(|id| {
            let row = by_id
                .get(id)
                .ok_or_else(|| TaskerError::not_found(format!("card {id} does not exist")))?;
            summary_of(
                row,
                labels.remove(id).unwrap_or_default(),
                assignees.remove(id).unwrap_or_default(),
            )
        })
        .collect()
}

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
