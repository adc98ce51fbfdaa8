//! `GET /api/v1/admin/audit`: the audit log, newest first, paginated by id.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Admin;
use crate::gateway::Gateway;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Query};
use crate::store::{AuditEntry, AuditQuery};

/// Filters and cursor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    agent_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// A page of the audit log.
#[derive(Debug, Serialize)]
pub struct AuditPage {
    items: Vec<AuditEntry>,
    /// Pass as `before` to get the next (older) page; `null` on the last page.
    next_before: Option<i64>,
}

/// The largest page.
const MAX_LIMIT: u32 = 500;

/// Lists audit rows, newest first.
pub async fn list(
    _: Admin,
    State(gw): State<Gateway>,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_LIMIT}"
        )));
    }
    let items = gw
        .store
        .list_audit(&AuditQuery {
            agent_id: p.agent_id,
            since: p.since,
            before: p.before,
            limit,
        })
        .await?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage { items, next_before }))
}
