//! Writes of the embedded tracker. Each runs in one transaction that also records the
//! change in the card's history (who: "AgentName (on behalf of Owner)") and the
//! idempotency record: a retry with the same key and input returns the first response
//! and changes nothing; the same key with other input is a `conflict`.
//!
//! This file holds that shared machinery (key check, fingerprint, replay and remember,
//! history, finish, link replacement, text limits); the writes live by what they write:
//! [`cards`] (create, patch, move), [`comments`], [`links`] (labels, assignees),
//! [`blocks`] (structured blocks) and [`members`] (project membership), with the
//! name-to-id look-ups they share in [`resolve`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

mod blocks;
mod cards;
mod comments;
pub(super) mod grouped;
mod links;
mod members;
mod resolve;

use super::reads::{detail, detail_with, Known};
use super::{db_error, now_ms, EmbeddedTasker};
use crate::tasker::*;

pub(super) use blocks::update_block;
pub(super) use cards::{create_card, move_card, update_card};
pub(super) use comments::add_comment;
pub(super) use links::{assign, set_labels};
pub(super) use members::add_member;

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
    let response: String = row.try_get("response").map_err(db_error)?;
    stored_answer(key, fp, &stored, &response).map(Some)
}

/// The answer to a write whose key was used before: its first answer if the request
/// is the same (`fp` is `stored`), else a conflict.
fn stored_answer<T: DeserializeOwned>(
    key: &str,
    fp: &str,
    stored: &str,
    response: &str,
) -> TaskerResult<T> {
    if stored != fp {
        return Err(TaskerError::new(
            ErrorCode::Conflict,
            format!("idempotency key {key:?} was already used for a different request; use a new key for a new change"),
        ));
    }
    serde_json::from_str(response)
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

/// Records one change of a card in its history; returns the entry as a read gives it.
async fn history(
    conn: &mut AnyConnection,
    card_id: &str,
    actor: &Actor,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> TaskerResult<HistoryEntry> {
    let entry = HistoryEntry {
        at: now_ms(),
        actor: actor.display(),
        field: field.to_owned(),
        work_session: actor.work_session.map(|s| s.to_string()),
        old: old.map(str::to_owned),
        new: new.map(str::to_owned),
    };
    sqlx::query(
        "INSERT INTO tracker_history (id, card_id, at, actor, agent_id, owner_id, field, old_value, new_value, work_session_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(card_id)
    .bind(entry.at)
    .bind(entry.actor.as_str())
    .bind(actor.agent_id.to_string())
    .bind(actor.owner_id.to_string())
    .bind(field)
    .bind(old)
    .bind(new)
    .bind(entry.work_session.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(entry)
}

/// Ends a card write: bumps `updated_at`, reads the card back, records the response
/// under the idempotency key, commits.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    key: &str,
    fp: &str,
    card_id: &str,
) -> TaskerResult<CardDetail> {
    touch(&mut tx, card_id).await?;
    answer_and_commit(tx, actor, (key, fp), card_id, Known::default()).await
}

/// Ends a card write without touching `updated_at` (a create's is already its
/// `created_at`): reads the card back without asking for what `known` says it has not,
/// records the response under the idempotency key, commits.
async fn answer_and_commit(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    (key, fp): (&str, &str),
    card_id: &str,
    known: Known,
) -> TaskerResult<CardDetail> {
    let out = detail_with(&mut tx, card_id, known).await?;
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
    insert_links(conn, table, column, card_id, ids).await
}

/// Links a card to `ids` in `table` (labels or assignees); for a card that has none.
async fn insert_links(
    conn: &mut AnyConnection,
    table: &'static str,
    column: &'static str,
    card_id: &str,
    ids: &[(String, String)],
) -> TaskerResult<()> {
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
