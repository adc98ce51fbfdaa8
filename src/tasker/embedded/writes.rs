//! Writes of the embedded tracker. Each runs in one transaction that also records the
//! change in the card's history (who: "AgentName (on behalf of Owner)") and the
//! idempotency record: a retry with the same key and input returns the first response
//! and changes nothing; the same key with other input is a `conflict`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::reads::{self, detail, labels, members, resolve_card, states};
use super::{db_error, now_ms, EmbeddedTasker};
use crate::tasker::*;

const MAX_NAME: usize = 255;
const MAX_TEXT: usize = 100_000;

fn fingerprint(op: &str, target: &str, input: &impl Serialize) -> String {
    let body = serde_json::to_string(&(op, target, input)).unwrap_or_default();
    hex::encode(Sha256::digest(body.as_bytes()))
}

fn check_key(key: &str) -> TaskerResult<()> {
    if key.is_empty() || key.len() > 200 {
        return Err(TaskerError::invalid(
            "idempotency_key",
            "every write needs an idempotency key of 1 to 200 characters",
            vec![],
        ));
    }
    Ok(())
}

/// The stored response of an earlier call with this key, if any.
async fn replay<T: DeserializeOwned>(
    conn: &mut AnyConnection,
    actor: &Actor,
    key: &str,
    fp: &str,
) -> TaskerResult<Option<T>> {
    let row = sqlx::query(
        "SELECT fingerprint, response FROM tracker_requests WHERE agent_id = $1 AND key = $2",
    )
    .bind(actor.agent_id.to_string())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let Some(row) = row else { return Ok(None) };
    let stored: String = row.try_get("fingerprint").map_err(db_error)?;
    if stored != fp {
        return Err(TaskerError::new(
            ErrorCode::Conflict,
            format!("idempotency key {key:?} was already used for a different request; use a new key for a new change"),
        ));
    }
    let response: String = row.try_get("response").map_err(db_error)?;
    serde_json::from_str(&response)
        .map(Some)
        .map_err(|e| TaskerError::unavailable(format!("stored response unreadable: {e}")))
}

async fn remember(
    conn: &mut AnyConnection,
    actor: &Actor,
    key: &str,
    fp: &str,
    out: &impl Serialize,
) -> TaskerResult<()> {
    let response =
        serde_json::to_string(out).map_err(|e| TaskerError::unavailable(e.to_string()))?;
    sqlx::query("INSERT INTO tracker_requests (agent_id, key, fingerprint, response, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(actor.agent_id.to_string())
        .bind(key)
        .bind(fp)
        .bind(response)
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn history(
    conn: &mut AnyConnection,
    card_id: &str,
    actor: &Actor,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> TaskerResult<()> {
    sqlx::query(
        "INSERT INTO tracker_history (id, card_id, at, actor, agent_id, owner_id, field, old_value, new_value) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(card_id)
    .bind(now_ms())
    .bind(actor.display())
    .bind(actor.agent_id.to_string())
    .bind(actor.owner_id.to_string())
    .bind(field)
    .bind(old)
    .bind(new)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Ends a card write: bumps `updated_at`, reads the card back, records the response
/// under the idempotency key, commits.
async fn finish(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    key: &str,
    fp: &str,
    card_id: &str,
) -> TaskerResult<CardDetail> {
    touch(&mut tx, card_id).await?;
    let out = detail(&mut tx, card_id).await?;
    remember(&mut tx, actor, key, fp, &out).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(out)
}

/// Replaces a card's links in `table` (labels or assignees) with `ids`. `table` and
/// `column` come from a fixed set, never from input.
async fn replace_links(
    conn: &mut AnyConnection,
    table: &'static str,
    column: &'static str,
    card_id: &str,
    ids: &[(String, String)],
) -> TaskerResult<()> {
    sqlx::query(&format!("DELETE FROM {table} WHERE card_id = $1"))
        .bind(card_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (id, _) in ids {
        sqlx::query(&format!(
            "INSERT INTO {table} (card_id, {column}) VALUES ($1, $2)"
        ))
        .bind(card_id)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn touch(conn: &mut AnyConnection, card_id: &str) -> TaskerResult<()> {
    sqlx::query("UPDATE tracker_cards SET updated_at = $2 WHERE id = $1")
        .bind(card_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> TaskerResult<()> {
    if required && value.trim().is_empty() {
        return Err(TaskerError::invalid(
            field,
            format!("{field} must not be empty"),
            vec![],
        ));
    }
    if value.len() > max {
        return Err(TaskerError::invalid(
            field,
            format!("{field} is longer than {max} bytes"),
            vec![],
        ));
    }
    Ok(())
}

fn check_priority(priority: &str) -> TaskerResult<String> {
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
fn check_date(field: &str, value: &str) -> TaskerResult<Option<String>> {
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

async fn card_project(conn: &mut AnyConnection, card_id: &str) -> TaskerResult<String> {
    sqlx::query("SELECT project_id FROM tracker_cards WHERE id = $1")
        .bind(card_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get("project_id"))
        .map_err(db_error)
}

async fn state_id(
    conn: &mut AnyConnection,
    project_id: &str,
    name: &str,
) -> TaskerResult<(String, String)> {
    let all = states(conn, project_id).await?;
    all.iter()
        .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
        .map(|s| (s.id.clone(), s.name.clone()))
        .ok_or_else(|| {
            TaskerError::invalid(
                "state",
                format!("no state {name:?} in this project; use one of the listed state names"),
                all.iter().map(|s| s.name.clone()).collect(),
            )
        })
}

async fn label_ids(
    conn: &mut AnyConnection,
    project_id: &str,
    names: &[String],
) -> TaskerResult<Vec<(String, String)>> {
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

async fn member_ids(
    conn: &mut AnyConnection,
    project_id: &str,
    who: &[String],
) -> TaskerResult<Vec<(String, String)>> {
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

async fn parent_id(
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

pub(super) async fn create_card(
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
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let project = reads::project(&mut tx, actor, &input.project_id).await?;
    let state = match &input.state {
        Some(name) => state_id(&mut tx, &project.id, name).await?.0,
        None => states(&mut tx, &project.id)
            .await?
            .into_iter()
            .find(|s| s.is_default)
            .map(|s| s.id)
            .ok_or_else(|| TaskerError::unavailable("the project has no default state"))?,
    };
    let label_ids = label_ids(&mut tx, &project.id, &input.labels).await?;
    let assignees = member_ids(&mut tx, &project.id, &input.assignees).await?;
    let parent = match &input.parent {
        Some(p) => Some(parent_id(&mut tx, actor, &project.id, p).await?),
        None => None,
    };
    let sequence: i64 = sqlx::query("UPDATE tracker_projects SET next_sequence = next_sequence + 1 WHERE id = $1 RETURNING next_sequence - 1 AS seq")
        .bind(&project.id)
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get("seq"))
        .map_err(db_error)?;
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
    replace_links(&mut tx, "tracker_card_labels", "label_id", &id, &label_ids).await?;
    replace_links(
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
    history(&mut tx, &id, actor, "created", None, Some(&key_text)).await?;
    finish(tx, actor, key, &fp, &id).await
}

pub(super) async fn update_card(
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
    let mut tx = t.begin().await?;
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

pub(super) async fn move_card(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    state: &str,
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    let fp = fingerprint("move_card", card, &state);
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let before = reads::summary(&mut tx, &id).await?;
    let (state_id, state_name) = state_id(&mut tx, &before.project_id, state).await?;
    set_field(&mut tx, &id, "state_id", Some(&state_id)).await?;
    history(
        &mut tx,
        &id,
        actor,
        "state",
        Some(&before.state),
        Some(&state_name),
    )
    .await?;
    finish(tx, actor, key, &fp, &id).await
}

pub(super) async fn add_comment(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    body: &str,
) -> TaskerResult<Comment> {
    check_key(key)?;
    check_text("body", body, MAX_TEXT, true)?;
    let fp = fingerprint("add_comment", card, &body);
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let comment = Comment {
        id: Uuid::now_v7().to_string(),
        body: body.to_owned(),
        actor: actor.display(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO tracker_comments (id, card_id, body, actor, agent_id, owner_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&comment.id)
    .bind(&id)
    .bind(&comment.body)
    .bind(&comment.actor)
    .bind(actor.agent_id.to_string())
    .bind(actor.owner_id.to_string())
    .bind(comment.created_at)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    history(&mut tx, &id, actor, "comment", None, Some(&comment.id)).await?;
    touch(&mut tx, &id).await?;
    remember(&mut tx, actor, key, &fp, &comment).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(comment)
}

pub(super) async fn set_labels(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    names: &[String],
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    let fp = fingerprint("set_labels", card, &names);
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let before = reads::summary(&mut tx, &id).await?;
    let wanted = label_ids(&mut tx, &before.project_id, names).await?;
    replace_links(&mut tx, "tracker_card_labels", "label_id", &id, &wanted).await?;
    let new: Vec<String> = wanted.into_iter().map(|(_, n)| n).collect();
    history(
        &mut tx,
        &id,
        actor,
        "labels",
        Some(&before.labels.join(", ")),
        Some(&new.join(", ")),
    )
    .await?;
    finish(tx, actor, key, &fp, &id).await
}

pub(super) async fn assign(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    who: &[String],
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    let fp = fingerprint("assign", card, &who);
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let before = reads::summary(&mut tx, &id).await?;
    let wanted = member_ids(&mut tx, &before.project_id, who).await?;
    replace_links(&mut tx, "tracker_card_assignees", "user_id", &id, &wanted).await?;
    let old: Vec<&str> = before
        .assignees
        .iter()
        .map(|a| a.display_name.as_str())
        .collect();
    let new: Vec<&str> = wanted.iter().map(|(_, n)| n.as_str()).collect();
    history(
        &mut tx,
        &id,
        actor,
        "assignees",
        Some(&old.join(", ")),
        Some(&new.join(", ")),
    )
    .await?;
    finish(tx, actor, key, &fp, &id).await
}

async fn upsert_block(
    conn: &mut AnyConnection,
    card_id: &str,
    name: &str,
    content: &str,
) -> TaskerResult<Option<String>> {
    let old: Option<String> =
        sqlx::query("SELECT content FROM tracker_blocks WHERE card_id = $1 AND name = $2")
            .bind(card_id)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?
            .map(|r| r.try_get("content"))
            .transpose()
            .map_err(db_error)?;
    let sql = if old.is_some() {
        "UPDATE tracker_blocks SET content = $3, updated_at = $4 WHERE card_id = $1 AND name = $2"
    } else {
        "INSERT INTO tracker_blocks (card_id, name, content, updated_at) VALUES ($1, $2, $3, $4)"
    };
    sqlx::query(sql)
        .bind(card_id)
        .bind(name)
        .bind(content)
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(old)
}

pub(super) async fn update_block(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    block: &str,
    content: &str,
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    check_text("block", block, 64, true)?;
    check_text("content", content, MAX_TEXT, false)?;
    let fp = fingerprint("update_block", card, &(block, content));
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let block = block.trim();
    upsert_block(&mut tx, &id, block, content).await?;
    history(&mut tx, &id, actor, &format!("block:{block}"), None, None).await?;
    finish(tx, actor, key, &fp, &id).await
}

pub(super) async fn add_member(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    project_id: &str,
    member: &NewMember,
) -> TaskerResult<Member> {
    check_key(key)?;
    if ![5, 15, 20].contains(&member.role) {
        return Err(TaskerError::invalid(
            "role",
            "role must be 20 (admin), 15 (member) or 5 (guest)",
            vec!["20".into(), "15".into(), "5".into()],
        ));
    }
    // "Existing workspace member": the embedded workspace is the gateway's user table.
    let user_id = Uuid::parse_str(member.user_id.trim()).map_err(|_| {
        TaskerError::invalid(
            "user_id",
            "user_id must be a workspace user's id (a UUID)",
            vec![],
        )
    })?;
    let user = t
        .store
        .get_user(user_id)
        .await
        .map_err(|e| TaskerError::unavailable(e.to_string()))?
        .ok_or_else(|| TaskerError::not_found(format!("no workspace member {user_id} exists")))?;
    let (user, name) = (user.id.to_string(), user.display_name);
    let fp = fingerprint("add_member", project_id, member);
    let mut tx = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let project = reads::project(&mut tx, actor, project_id).await?;
    let existing = members(&mut tx, &project.id).await?;
    if let Some(m) = existing.iter().find(|m| m.user_id == user) {
        let m = m.clone();
        remember(&mut tx, actor, key, &fp, &m).await?;
        tx.commit().await.map_err(db_error)?;
        return Ok(m);
    }
    sqlx::query("INSERT INTO tracker_members (project_id, user_id, display_name, role) VALUES ($1, $2, $3, $4)")
        .bind(&project.id)
        .bind(&user)
        .bind(&name)
        .bind(member.role)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let out = Member {
        user_id: user,
        display_name: name,
        role: member.role,
    };
    remember(&mut tx, actor, key, &fp, &out).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(out)
}
