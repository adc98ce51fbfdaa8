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

/// The largest page, in bytes of row text: a page stops early (with `next_before` set)
/// rather than grow past it. Rows are bounded when written (`audit::bounded`), so even
/// old rows written before that bound cannot make one answer huge.
const MAX_PAGE_BYTES: usize = 1 << 20;

/// Lists audit rows, newest first.
pub async fn list(
    _: Admin,
    State(gw): State<Gateway>,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = super::page_limit(p.limit)?;
    let mut items = gw
        .audit_log(&AuditQuery {
            agent_id: p.agent_id,
            since: p.since,
            before: p.before,
            limit,
        })
        .await?;
    let full = items.len() == limit as usize;
    let kept = within_budget(&items);
    let cut = kept < items.len();
    items.truncate(kept);
    let next_before = (full || cut).then(|| items.last().map(|e| e.id)).flatten();
    Ok(Json(AuditPage { items, next_before }))
}

/// How many of `items` fit in [`MAX_PAGE_BYTES`] (at least one, so paging advances).
fn within_budget(items: &[AuditEntry]) -> usize {
    let mut used = 0usize;
    for (i, entry) in items.iter().enumerate() {
        used += serde_json::to_vec(entry).map_or(usize::MAX / 2, |v| v.len());
        if used > MAX_PAGE_BYTES && i > 0 {
            return i;
        }
    }
    items.len()
}
