//! Adding a comment to a card.

use super::*;
use crate::tasker::embedded::reads::resolve_card;

pub(in crate::tasker::embedded) async fn add_comment(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    body: &str,
) -> TaskerResult<Comment> {
    check_key(key)?;
    check_text("body", body, MAX_TEXT, true)?;
    let fp = fingerprint("add_comment", card, &body);
    let (_turn, mut tx) = t.begin().await?;
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
