//! Replacing a card's label and assignee sets.

use super::resolve::{label_ids, member_ids};
use super::*;
use crate::tasker::embedded::reads::{self, resolve_card};

pub(in crate::tasker::embedded) async fn set_labels(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    names: &[String],
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    let fp = fingerprint("set_labels", card, &names);
    let (_turn, mut tx) = t.begin().await?;
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

pub(in crate::tasker::embedded) async fn assign(
    t: &EmbeddedTasker,
    actor: &Actor,
    key: &str,
    card: &str,
    who: &[String],
) -> TaskerResult<CardDetail> {
    check_key(key)?;
    let fp = fingerprint("assign", card, &who);
    let (_turn, mut tx) = t.begin().await?;
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
