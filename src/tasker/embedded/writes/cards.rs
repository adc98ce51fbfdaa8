//! Writes to a card's own fields: create, patch, move to a state.

use sqlx::AnyConnection;
use uuid::Uuid;

use super::blocks::upsert_block;
use super::grouped::Prepared;
use super::resolve::{check_date, check_priority, label_ids, member_ids, parent_id};
use super::*;
use crate::tasker::embedded::reads::{self, resolve_card};

pub(in crate::tasker::embedded) async fn create_card(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    input: &NewCard,
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    check_text("name", &input.name, MAX_NAME, true)?;
    check_text(
        "description",
        input.description.as_deref().unwrap_or(""),
        MAX_TEXT,
        false,
    )?;
    let priority = check_priority(input.priority.as_deref().unwrap_or("none"))?;
    let start = check_date("start_date", input.start_date.as_deref().unwrap_or(""))?;
    let target = check_date("target_date", input.target_date.as_deref().unwrap_or(""))?;
    for b in &input.blocks {
        check_text("blocks.name", &b.name, 64, true)?;
        check_text("blocks.content", &b.content, MAX_TEXT, false)?;
    }
    let fp = fingerprint("create_card", &input.project_id, input);
    if let Some(grouped) = t.grouped.as_ref().filter(|_| Prepared::fits(input)) {
        // A plain create on Postgres runs with the others queued now (`grouped`). Its
        // project and state are resolved here; if they do not resolve, the lone path
        // below answers (a replay first, as always, then the same error).
        let mut conn = t.pool.acquire().await.map_err(db_error)?;
        let facts = t.facts(&mut conn, actor, &input.project_id).await;
        drop(conn);
        let state = facts.as_ref().ok().and_then(|facts| match &input.state {
            Some(name) => facts.state_named(name).ok().cloned(),
            None => facts.default_state().ok().cloned(),
        });
        if let (Ok(facts), Some(state)) = (facts, state) {
            let create = Prepared {
                actor: actor.clone(),
                key: key.to_owned(),
                fp,
                facts,
                state,
                name: input.name.trim().to_owned(),
                description: input.description.clone().unwrap_or_default(),
                priority,
                start,
                target,
            };
            // One agent's creates go to one batcher: the same key twice at once runs
            // in one group or in two in turn, so the second replays the first.
            let route = actor.agent_id.as_u64_pair().0;
            return grouped.call_routed(route, create).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "a grouped create got no answer");
                Err(TaskerError::unavailable(
                    "the tracker could not tell whether the card was created; retry with the same idempotency key",
                ))
            });
        }
    }
    // Everything the create needs is read and checked first, on one connection, outside
    // the transaction: a replay, an unknown project, state, label, assignee or parent
    // is answered without taking a card number. On SQLite the write turn is taken before
    // the connection, as everywhere else: a writer waiting for its turn holds no
    // connection the writer in its turn could need.
    let _turn = t.gate.turn().await;
    let mut conn = t.pool.acquire().await.map_err(db_error)?;
    if let Some(done) = replay(&mut conn, actor, key, &fp).await? {
        return Ok(done);
    }
    let facts = t.facts(&mut conn, actor, &input.project_id).await?;
    let project = &facts.project;
    let state = match &input.state {
        Some(name) => facts.state_named(name)?,
        None => facts.default_state()?,
    }
    .id
    .clone();
    let label_ids = label_ids(&mut conn, &project.id, &input.labels).await?;
    let assignees = member_ids(&mut conn, &project.id, &input.assignees).await?;
    let parent = match &input.parent {
        Some(p) => Some(parent_id(&mut conn, actor, &project.id, p).await?),
        None => None,
    };
    // The card's number. On Postgres it is taken in a statement of its own, like a
    // sequence: the project's row is locked for that statement only, not for the whole
    // create, which serialised every create in a project (a few hundred a second); a
    // create that fails after this leaves a gap in the project's numbers. SQLite has one
    // writer at a time anyway: there it is taken inside the transaction, without gaps.
    let early = if t.sqlite {
        None
    } else {
        Some(next_sequence(&mut conn, &project.id, NUMBER_COMMITTED_LAZILY).await?)
    };
    let mut tx = if t.sqlite {
        sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await
    } else {
        sqlx::Connection::begin(&mut *conn).await
    }
    .map_err(db_error)?;
    let sequence = match early {
        Some(sequence) => sequence,
        None => next_sequence(&mut tx, &project.id, NUMBER).await?,
    };
    let id = Uuid::now_v7().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO tracker_cards (id, project_id, sequence_id, name, description, priority, state_id, parent_id, \
         start_date, target_date, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&id)
    .bind(&project.id)
    .bind(sequence)
    .bind(input.name.trim())
    .bind(input.description.as_deref().unwrap_or(""))
    .bind(&priority)
    .bind(&state)
    .bind(parent)
    .bind(start)
    .bind(target)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    insert_links(&mut tx, "tracker_card_labels", "label_id", &id, &label_ids).await?;
    insert_links(
        &mut tx,
        "tracker_card_assignees",
        "user_id",
        &id,
        &assignees,
    )
    .await?;
    for b in &input.blocks {
        upsert_block(&mut tx, &id, b.name.trim(), &b.content).await?;
    }
    let key_text = format!("{}-{}", project.identifier, sequence);
    let created = history(&mut tx, &id, actor, "created", None, Some(&key_text)).await?;
    let known = Known {
        no_labels: label_ids.is_empty(),
        no_assignees: assignees.is_empty(),
        no_blocks: input.blocks.is_empty(),
        // Created in this transaction: nobody can have commented yet.
        no_comments: true,
        history: Some(vec![created]),
    };
    answer_and_commit(tx, actor, (key, &fp), &id, known).await
}

/// Takes the project's next card number (inside the create's transaction, on SQLite).
const NUMBER: &str = "UPDATE tracker_projects SET next_sequence = next_sequence + 1 \
     WHERE id = $1 RETURNING next_sequence - 1 AS seq";

/// Takes the project's next card number in a statement of its own, committed without
/// waiting for the disk (Postgres only). The project's row stays locked until the
/// statement commits, and a commit that waits for its WAL flush made every create in a
/// project wait for the previous one's flush: one create per flush, ~450 a second with
/// 16 agents. The number needs no flush of its own: the card that uses it commits
/// later, synchronously, and a flush writes the WAL up to that commit, this one
/// included. A crash can lose only a number no card has.
const NUMBER_COMMITTED_LAZILY: &str =
    "UPDATE tracker_projects SET next_sequence = next_sequence + 1 \
     FROM (SELECT set_config('synchronous_commit', 'off', true)) AS lazily \
     WHERE id = $1 RETURNING next_sequence - 1 AS seq";

/// Takes the project's next card number with `statement`.
async fn next_sequence(
    conn: &mut AnyConnection,
    project_id: &str,
    statement: &str,
) -> TaskerResult<i64> {
    sqlx::query(statement)
        .bind(project_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get("seq"))
        .map_err(db_error)
}

pub(in crate::tasker::embedded) async fn update_card(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    patch: &CardPatch,
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    if patch.is_empty() {
        return Err(TaskerError::invalid(
            "patch",
            "nothing to change: give at least one of name, description, priority, parent, start_date, target_date",
            vec![],
        ));
    }
    let fp = fingerprint("update_card", card, patch);
    let (_turn, mut tx) = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let before = detail(&mut tx, &id).await?;
    let project_id = before.card.project_id.clone();
    if let Some(name) = &patch.name {
        check_text("name", name, MAX_NAME, true)?;
        set_field(&mut tx, &id, "name", Some(name.trim())).await?;
        history(
            &mut tx,
            &id,
            actor,
            "name",
            Some(&before.card.name),
            Some(name.trim()),
        )
        .await?;
    }
    if let Some(description) = &patch.description {
        check_text("description", description, MAX_TEXT, false)?;
        set_field(&mut tx, &id, "description", Some(description)).await?;
        history(&mut tx, &id, actor, "description", None, None).await?;
    }
    if let Some(priority) = &patch.priority {
        let p = check_priority(priority)?;
        set_field(&mut tx, &id, "priority", Some(&p)).await?;
        history(
            &mut tx,
            &id,
            actor,
            "priority",
            Some(&before.card.priority),
            Some(&p),
        )
        .await?;
    }
    if let Some(parent) = &patch.parent {
        let new = if parent.trim().is_empty() {
            None
        } else {
            let pid = parent_id(&mut tx, actor, &project_id, parent).await?;
            if pid == id {
                return Err(TaskerError::invalid(
                    "parent",
                    "a card cannot be its own parent",
                    vec![],
                ));
            }
            Some(pid)
        };
        set_field(&mut tx, &id, "parent_id", new.as_deref()).await?;
        history(
            &mut tx,
            &id,
            actor,
            "parent",
            before.card.parent.as_deref(),
            Some(parent.trim()),
        )
        .await?;
    }
    for (field, value, old) in [
        ("start_date", &patch.start_date, &before.card.start_date),
        ("target_date", &patch.target_date, &before.card.target_date),
    ] {
        if let Some(value) = value {
            let date = check_date(field, value)?;
            set_field(&mut tx, &id, field, date.as_deref()).await?;
            history(&mut tx, &id, actor, field, old.as_deref(), date.as_deref()).await?;
        }
    }
    finish(tx, actor, key, &fp, &id).await
}

/// Sets one column of a card. `column` is one of a fixed set, never input.
async fn set_field(
    conn: &mut AnyConnection,
    id: &str,
    column: &'static str,
    value: Option<&str>,
) -> TaskerResult<()> {
    debug_assert!([
        "name",
        "description",
        "priority",
        "parent_id",
        "start_date",
        "target_date",
        "state_id"
    ]
    .contains(&column));
    sqlx::query(&format!(
        "UPDATE tracker_cards SET {column} = $2 WHERE id = $1"
    ))
    .bind(id)
    .bind(value)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(in crate::tasker::embedded) async fn move_card(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    state: &str,
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    let fp = fingerprint("move_card", card, &state);
    let (_turn, mut tx) = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let before = reads::summary(&mut tx, &id).await?;
    let facts = t.facts(&mut tx, actor, &before.project_id).await?;
    let to = facts.state_named(state)?;
    set_field(&mut tx, &id, "state_id", Some(&to.id)).await?;
    history(
        &mut tx,
        &id,
        actor,
        "state",
        Some(&before.state),
        Some(&to.name),
    )
    .await?;
    finish(tx, actor, key, &fp, &id).await
}
