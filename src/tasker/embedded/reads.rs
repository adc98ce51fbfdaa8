//! Reads of the embedded tracker. Every read is confined to the actor's granted projects.

use sqlx::{AnyConnection, AnyPool, Row};

use super::{db_error, Sql};
use crate::tasker::*;

mod card;

pub(super) use card::{detail, detail_with, summaries, summary, Known};

/// The granted projects that exist.
pub(super) async fn projects(pool: &AnyPool, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
    if actor.granted.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT id, identifier, name FROM tracker_projects WHERE id IN (");
    for (i, id) in actor.granted.iter().enumerate() {
        sql.push(if i == 0 { "{}" } else { ", {}" }, id.clone());
    }
    sql.push_raw(") ORDER BY identifier");
    let rows = sql.query().fetch_all(pool).await.map_err(db_error)?;
    rows.iter()
        .map(|r| sqlx::FromRow::from_row(r).map_err(db_error))
        .collect()
}

/// A granted project, or `project_not_granted` / `not_found`.
pub(super) async fn project(
    conn: &mut AnyConnection,
    actor: &Actor,
    project_id: &str,
) -> TaskerResult<ProjectSummary> {
    if !actor.may(project_id) {
        return Err(TaskerError::not_granted(project_id, &actor.granted));
    }
    sqlx::query_as("SELECT id, identifier, name FROM tracker_projects WHERE id = $1")
        .bind(project_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| TaskerError::not_found(format!("project {project_id} does not exist")))
}

pub(super) async fn states(conn: &mut AnyConnection, project_id: &str) -> TaskerResult<Vec<State>> {
    let rows = sqlx::query(
        "SELECT id, name, state_group, is_default FROM tracker_states WHERE project_id = $1 ORDER BY position",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            Ok(State {
                id: r.try_get("id").map_err(db_error)?,
                name: r.try_get("name").map_err(db_error)?,
                group: r.try_get("state_group").map_err(db_error)?,
                is_default: r.try_get::<i64, _>("is_default").map_err(db_error)? == 1,
            })
        })
        .collect()
}

pub(super) async fn labels(conn: &mut AnyConnection, project_id: &str) -> TaskerResult<Vec<Label>> {
    sqlx::query_as("SELECT id, name, color FROM tracker_labels WHERE project_id = $1 ORDER BY name")
        .bind(project_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)
}

pub(super) async fn members(
    conn: &mut AnyConnection,
    project_id: &str,
) -> TaskerResult<Vec<Member>> {
    sqlx::query_as(
        "SELECT user_id, display_name, role FROM tracker_members WHERE project_id = $1 ORDER BY display_name",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)
}

/// States, labels and members of a granted project.
pub(super) async fn context(
    conn: &mut AnyConnection,
    actor: &Actor,
    project_id: &str,
) -> TaskerResult<ProjectContext> {
    let project = project(conn, actor, project_id).await?;
    Ok(ProjectContext {
        states: states(conn, &project.id).await?,
        labels: labels(conn, &project.id).await?,
        members: members(conn, &project.id).await?,
        project,
    })
}

/// A card reference (`WEB-12` or an id) → the card's id, if it is in a granted project.
pub(super) async fn resolve_card(
    conn: &mut AnyConnection,
    actor: &Actor,
    card: &str,
) -> TaskerResult<String> {
    let card = card.trim();
    // A key is `IDENT-N`; an id is a UUID, whose last group may be all digits too (about
    // one id in 280), so a UUID is never read as a key.
    let key = card
        .rsplit_once('-')
        .filter(|_| uuid::Uuid::try_parse(card).is_err())
        .and_then(|(p, n)| n.parse::<i64>().ok().map(|n| (p, n)));
    let row = match key {
        Some((identifier, sequence)) if !identifier.is_empty() => sqlx::query(
            "SELECT c.id, c.project_id FROM tracker_cards c JOIN tracker_projects p ON p.id = c.project_id \
             WHERE UPPER(p.identifier) = UPPER($1) AND c.sequence_id = $2",
        )
        .bind(identifier)
        .bind(sequence)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?,
        _ => sqlx::query("SELECT id, project_id FROM tracker_cards WHERE id = $1")
            .bind(card)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?,
    };
    let row = row.ok_or_else(|| {
        TaskerError::not_found(format!(
            "no card {card} exists; use a key such as WEB-12 from search_cards"
        ))
    })?;
    let project_id: String = row.try_get("project_id").map_err(db_error)?;
    if !actor.may(&project_id) {
        return Err(TaskerError::not_granted(&project_id, &actor.granted));
    }
    row.try_get("id").map_err(db_error)
}

/// Cards matching the query in granted projects, newest first.
pub(super) async fn search(
    conn: &mut AnyConnection,
    actor: &Actor,
    q: &CardQuery,
) -> TaskerResult<CardPage> {
    check_query(q)?;
    let limit = i64::from(q.limit.unwrap_or(25));
    if !(1..=100).contains(&limit) {
        return Err(TaskerError::invalid(
            "limit",
            "limit must be from 1 to 100",
            vec![],
        ));
    }
    let scope: Vec<String> = match &q.project_id {
        Some(p) => vec![project(conn, actor, p).await?.id],
        None => actor.granted.clone(),
    };
    if scope.is_empty() {
        return Ok(CardPage {
            cards: Vec::new(),
            next_cursor: None,
        });
    }
    if let (Some(project_id), Some(state)) = (&q.project_id, &q.state) {
        let names: Vec<String> = states(conn, project_id)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(state)) {
            return Err(TaskerError::invalid(
                "state",
                format!("no state {state:?} in this project"),
                names,
            ));
        }
    }
    if let (Some(project_id), Some(label)) = (&q.project_id, &q.label) {
        let names: Vec<String> = labels(conn, project_id)
            .await?
            .into_iter()
            .map(|l| l.name)
            .collect();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(label)) {
            return Err(TaskerError::invalid(
                "label",
                format!("no label {label:?} in this project"),
                names,
            ));
        }
    }
    let mut sql = Sql::new("SELECT c.id FROM tracker_cards c JOIN tracker_states s ON s.id = c.state_id WHERE c.project_id IN (");
    for (i, id) in scope.iter().enumerate() {
        sql.push(if i == 0 { "{}" } else { ", {}" }, id.clone());
    }
    sql.push_raw(")");
    if let Some(state) = &q.state {
        sql.push(" AND LOWER(s.name) = LOWER({})", state.clone());
    }
    if let Some(label) = &q.label {
        sql.push(
            " AND EXISTS (SELECT 1 FROM tracker_card_labels cl JOIN tracker_labels l ON l.id = cl.label_id \
             WHERE cl.card_id = c.id AND LOWER(l.name) = LOWER({}))",
            label.clone(),
        );
    }
    if let Some(assignee) = &q.assignee {
        sql.push(
            " AND EXISTS (SELECT 1 FROM tracker_card_assignees ca JOIN tracker_members m \
             ON m.user_id = ca.user_id AND m.project_id = c.project_id \
             WHERE ca.card_id = c.id AND (ca.user_id = {0} OR LOWER(m.display_name) = LOWER({0})))",
            assignee.clone(),
        );
    }
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        // `%`, `_` and the escape character itself match literally.
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        sql.push(
            " AND (LOWER(c.name) LIKE {0} ESCAPE '\\' OR LOWER(c.description) LIKE {0} ESCAPE '\\')",
            format!("%{escaped}%"),
        );
    }
    if let Some(cursor) = &q.cursor {
        sql.push(" AND c.id < {}", cursor.clone());
    }
    sql.push_raw(&format!(" ORDER BY c.id DESC LIMIT {}", limit + 1));
    let rows = sql.query().fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()
        .map_err(db_error)?;
    let more = ids.len() as i64 > limit;
    ids.truncate(limit as usize);
    let cards = summaries(conn, &ids).await?;
    Ok(CardPage {
        next_cursor: if more { ids.last().cloned() } else { None },
        cards,
    })
}

/// The members of any project (the gateway's own read: not confined to grants), or
/// `not_found`.
pub(super) async fn project_members(
    conn: &mut AnyConnection,
    project_id: &str,
) -> TaskerResult<Vec<Member>> {
    let project = check_id("project_id", project_id)?;
    let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM tracker_projects WHERE id = $1")
        .bind(project)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if exists.is_none() {
        return Err(TaskerError::not_found(format!(
            "project {project} does not exist"
        )));
    }
    members(conn, project).await
}

/// The projects a user is a member of, with the user's role, in one query.
pub(super) async fn projects_of_member(
    pool: &AnyPool,
    user_id: &str,
) -> TaskerResult<Vec<Membership>> {
    sqlx::query_as(
        "SELECT p.id, p.identifier, p.name, m.role FROM tracker_members m \
         JOIN tracker_projects p ON p.id = m.project_id WHERE m.user_id = $1 ORDER BY p.identifier",
    )
    .bind(user_id.trim())
    .fetch_all(pool)
    .await
    .map_err(db_error)
}
