//! `PUT/GET /api/v1/admin/users/{user_id}`: the embedded stand-in for Launcher; and
//! `GET /api/v1/admin/users`: the users, a page at a time, with their agents counted.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Admin;
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Path, Query, RequestId};
use crate::store::{Outcome, User, UserQuery, UserSummary, UserUpsert};

/// The body of a user upsert. Every field is required: PUT replaces.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertUser {
    display_name: String,
    client_id: String,
    codex_agents: bool,
    blocked: bool,
}

/// Inserts or updates a user; 201 when created, 200 when updated.
pub async fn upsert(
    _: Admin,
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    Path(user_id): Path<Uuid>,
    Json(body): Json<UpsertUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let display_name = body.display_name.trim().to_owned();
    let client_id = body.client_id.trim().to_owned();
    if display_name.is_empty()
        || display_name.len() > 200
        || client_id.is_empty()
        || client_id.len() > 200
    {
        return Err(ApiError::Unprocessable {
            code: "validation_failed",
            message: "display_name and client_id must be 1 to 200 characters".into(),
        });
    }
    let event = AuditEvent::start(&request_id, "admin.user.upsert")
        .owner(user_id)
        .target(user_id.to_string());
    let upsert = UserUpsert {
        id: user_id,
        client_id,
        display_name,
        codex_agents: body.codex_agents,
        blocked: body.blocked,
    };
    let result = gw
        .upsert_user(upsert, "admin", Some(format!("request {request_id}")))
        .await;
    let (outcome, reason) = match &result {
        Ok(c) if c.changes.is_empty() => (Outcome::Allowed, None),
        Ok(c) => (Outcome::Allowed, Some(c.changes.join(", "))),
        Err(e) => (e.outcome(), Some(e.to_string())),
    };
    gw.auditor.record(event.finish(outcome, reason)).await?;
    let changes = result?;
    let status = if changes.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(changes.user)))
}

/// One user.
pub async fn get(
    _: Admin,
    State(gw): State<Gateway>,
    Path(user_id): Path<Uuid>,
) -> Result<Json<User>, ApiError> {
    gw.store
        .get_user(user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no user {user_id} exists")))
}

/// Filters and cursor of the user list (the audit log's names: `before`, `limit`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    client_id: Option<String>,
    before: Option<Uuid>,
    limit: Option<u32>,
}

/// A page of users.
#[derive(Debug, Serialize)]
pub struct UserPage {
    items: Vec<UserSummary>,
    /// Pass as `before` to get the next page; `null` on the last page.
    next_before: Option<Uuid>,
}

/// Lists users ordered by id, descending, with their agents counted by status.
pub async fn list(
    _: Admin,
    State(gw): State<Gateway>,
    Query(p): Query<ListParams>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = super::page_limit(p.limit)?;
    let items = gw
        .store
        .list_users(&UserQuery {
            client_id: p.client_id.map(|c| c.trim().to_owned()),
            before: p.before,
            limit,
        })
        .await?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|u| u.user.id))
        .flatten();
    Ok(Json(UserPage { items, next_before }))
}
