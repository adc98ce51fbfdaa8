//! The audit log on the admin page: filters (agent, outcome, action, since), a page at
//! a time, and the same rows exported as CSV or JSON Lines.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::error::UiError;
use super::layout::{shell, Header, Page};
use super::session::AdminSession;
use crate::gateway::Gateway;
use crate::store::{AuditEntry, AuditQuery};

/// Rows per page on screen.
const PAGE: usize = 100;
/// The most rows one export holds (a bigger log: narrow the filters, or page the API).
const MAX_EXPORT: usize = 100_000;
/// Rows read from the store per round trip.
const CHUNK: u32 = 500;

/// The filters (all optional; empty strings mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    agent_id: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DDTHH:MM` (a datetime-local input) or RFC 3339, UTC.
    #[serde(default)]
    since: String,
    #[serde(default)]
    before: Option<i64>,
    #[serde(default)]
    format: String,
}

impl Filters {
    fn agent(&self) -> Result<Option<Uuid>, UiError> {
        match self.agent_id.trim() {
            "" => Ok(None),
            raw => Uuid::parse_str(raw)
                .map(Some)
                .map_err(|_| UiError::Invalid("agent must be an agent id (a UUID)".into())),
        }
    }

    fn since(&self) -> Result<Option<DateTime<Utc>>, UiError> {
        let raw = self.since.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
            .map(|t| Some(t.and_utc()))
            .map_err(|_| UiError::Invalid("since must be a date and time (UTC)".into()))
    }

    fn keeps(&self, e: &AuditEntry) -> bool {
        (self.outcome.is_empty() || e.outcome == self.outcome)
            && (self.action.trim().is_empty() || e.action.contains(self.action.trim()))
    }
}

/// Up to `want` rows matching `f`, newest first, starting below `before`; and the id to
/// continue from, when there may be more.
async fn rows(
    gw: &Gateway,
    f: &Filters,
    want: usize,
) -> Result<(Vec<AuditEntry>, Option<i64>), UiError> {
    let (agent_id, since) = (f.agent()?, f.since()?);
    let mut before = f.before;
    let mut out = Vec::new();
    loop {
        let chunk = gw
            .audit_log(&AuditQuery {
                agent_id,
                since,
                before,
                limit: CHUNK,
            })
            .await?;
        let done = chunk.len() < CHUNK as usize;
        before = chunk.last().map(|e| e.id);
        for e in chunk {
            if f.keeps(&e) {
                out.push(e);
                if out.len() == want {
                    return Ok((out, before.filter(|_| !done)));
                }
            }
        }
        if done {
            return Ok((out, None));
        }
    }
}

/// `GET /ui/admin/audit`.
pub async fn page(
    AdminSession(session): AdminSession,
    State(gw): State<Gateway>,
    Query(f): Query<Filters>,
) -> Result<Page, UiError> {
    let (rows, _) = rows(&gw, &f, PAGE + 1).await?;
    let more = rows.len() > PAGE;
    let shown = &rows[..rows.len().min(PAGE)];
    let next = more.then(|| shown.last().map(|e| e.id)).flatten();
    let query = |format: &str, before: Option<i64>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("agent_id", &f.agent_id)
            .append_pair("outcome", &f.outcome)
            .append_pair("action", &f.action)
            .append_pair("since", &f.since);
        if !format.is_empty() {
            q.append_pair("format", format);
        }
        if let Some(b) = before {
            q.append_pair("before", &b.to_string());
        }
        q.finish()
    };
    let header = Header {
        who: "Gateway admin",
        csrf: &session.csrf,
        active: "audit",
        admin: true,
    };
    let body = html! {
        header.page-head { h1 { "Audit log" } }
        section.card.glass {
            form.filters method="get" action="/ui/admin/audit" aria-label="Filter the audit log" {
                label { "Agent id " input name="agent_id" value=(f.agent_id) size="36" placeholder="any"; }
                label { "Outcome "
                    select name="outcome" {
                        @for o in ["", "allowed", "denied", "failed", "intent"] {
                            option value=(o) selected[f.outcome == o] { (if o.is_empty() { "any" } else { o }) }
                        }
                    }
                }
                label { "Action contains " input name="action" value=(f.action) placeholder="e.g. revoke"; }
                label { "Since (UTC) " input type="datetime-local" name="since" value=(f.since); }
                button.primary type="submit" { "Filter" }
                a.button.ghost href={"/ui/admin/audit/export?" (query("csv", None))} download { "Export CSV" }
                a.button.ghost href={"/ui/admin/audit/export?" (query("jsonl", None))} download { "Export JSON Lines" }
            }
            (super::view::audit_table(shown, Utc::now(), true))
            @if let Some(n) = next { p { a href={"/ui/admin/audit?" (query("", Some(n)))} { "Older rows →" } } }
        }
    };
    Ok(Page(shell("Audit log", &header, body)))
}

fn csv_field(text: &str) -> String {
    // Quote always; a leading =, +, - or @ is prefixed so a spreadsheet does not run it.
    let safe = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}

/// `GET /ui/admin/audit/export?format=csv|jsonl&…filters`.
pub async fn export(
    AdminSession(_): AdminSession,
    State(gw): State<Gateway>,
    Query(f): Query<Filters>,
) -> Result<Response, UiError> {
    let (rows, _) = rows(&gw, &f, MAX_EXPORT).await?;
    let (body, content_type, ext) = match f.format.as_str() {
        "jsonl" => {
            let mut out = String::new();
            for r in &rows {
                out.push_str(
                    &serde_json::to_string(r).map_err(|e| UiError::Internal(e.to_string()))?,
                );
                out.push('\n');
            }
            (out, "application/x-ndjson", "jsonl")
        }
        "csv" | "" => {
            let mut out = String::from(
                "id,at,request_id,agent_id,owner_id,action,project_id,target,outcome,reason,idempotency_key,latency_us\n",
            );
            for r in &rows {
                let cells = [
                    r.id.to_string(),
                    r.at.to_rfc3339(),
                    r.request_id.clone(),
                    r.agent_id.map(|a| a.to_string()).unwrap_or_default(),
                    r.owner_id.map(|a| a.to_string()).unwrap_or_default(),
                    r.action.clone(),
                    r.project_id.clone().unwrap_or_default(),
                    r.target.clone().unwrap_or_default(),
                    r.outcome.clone(),
                    r.reason.clone().unwrap_or_default(),
                    r.idempotency_key.clone().unwrap_or_default(),
                    r.latency_us.to_string(),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
            (out, "text/csv; charset=utf-8", "csv")
        }
        _ => return Err(UiError::Invalid("format must be csv or jsonl".into())),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let name = format!(
        "attachment; filename=\"audit-{}.{ext}\"",
        Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
