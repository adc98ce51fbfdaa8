//! Setting a card's named structured blocks.

use sqlx::{AnyConnection, Row};

use super::*;
use crate::tasker::embedded::reads::resolve_card;

pub(super) async fn upsert_block(
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

pub(in crate::tasker::embedded) async fn update_block(
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
    let (_turn, mut tx) = t.begin().await?;
    if let Some(done) = replay(&mut tx, actor, key, &fp).await? {
        return Ok(done);
    }
    let id = resolve_card(&mut tx, actor, card).await?;
    let block = block.trim();
    upsert_block(&mut tx, &id, block, content).await?;
    history(&mut tx, &id, actor, &format!("block:{block}"), None, None).await?;
    finish(tx, actor, key, &fp, &id).await
}
