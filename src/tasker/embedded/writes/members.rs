//! Adding a workspace member to a project.

use uuid::Uuid;

use super::*;
use crate::tasker::embedded::reads::{self, members};

pub(in crate::tasker::embedded) async fn add_member(
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
    let (_turn, mut tx) = t.begin().await?;
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
