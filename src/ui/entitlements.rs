//! Entitlements on the admin page: per user and per client, a round toggle for
//! `codex_agents` and one for blocked. Flipping one first shows its effect ("disables 3
//! agents") and asks for a reason; the change goes through the gateway's standing rule
//! (the same as `PUT /api/v1/admin/users/{id}`) and is audited.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::error::UiError;
use super::layout::{toggle, OnFlip, Page};
use super::session::AdminSession;
use super::view::{field, form_pairs};
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::store::{Outcome, UserQuery, UserSummary, UserUpsert};

/// The most users the page lists (and a client toggle changes at once).
const MAX_USERS: u32 = 500;

/// Which toggle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The `codex_agents` entitlement.
    CodexAgents,
    /// Blocked.
    Blocked,
}

impl Field {
    fn parse(raw: &str) -> Result<Self, UiError> {
        match raw {
            "codex_agents" => Ok(Field::CodexAgents),
            "blocked" => Ok(Field::Blocked),
            _ => Err(UiError::Invalid(
                "field must be codex_agents or blocked".into(),
            )),
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Field::CodexAgents => "codex_agents",
            Field::Blocked => "blocked",
        }
    }
}

/// Every user, with agent counts.
pub async fn users(gw: &Gateway, client: Option<&str>) -> Result<Vec<UserSummary>, UiError> {
    Ok(gw
        .store
        .list_users(&UserQuery {
            client_id: client.map(str::to_owned),
            before: None,
            limit: MAX_USERS,
        })
        .await?)
}

fn switch(scope: &str, id: &str, field: Field, on: bool, label: &str) -> Markup {
    let vals = serde_json::json!({"scope": scope, "id": id, "field": field.as_str()}).to_string();
    toggle(
        "on",
        label,
        on,
        Some(OnFlip {
            url: "/ui/admin/entitlements/confirm",
            vals: &vals,
            target: "#entitlement-confirm",
        }),
    )
}

/// The entitlements section.
pub fn section(users: &[UserSummary]) -> Markup {
    let mut clients: Vec<&str> = users.iter().map(|u| u.user.client_id.as_str()).collect();
    clients.sort_unstable();
    clients.dedup();
    html! {
        section.card.glass #entitlements aria-labelledby="entitlements-title" {
            h2 #entitlements-title { "Entitlements" }
            div #entitlement-confirm {}
            h3 { "Per client" }
            table.dense aria-label="Entitlements per client" {
                thead { tr { th scope="col" { "Client" } th scope="col" { "Users" } th scope="col" { "Codex agents" } th scope="col" { "Blocked" } } }
                tbody {
                    @for c in &clients {
                        @let of: Vec<&UserSummary> = users.iter().filter(|u| u.user.client_id == *c).collect();
                        tr {
                            td { code { (c) } }
                            td { (of.len()) }
                            td { (switch("client", c, Field::CodexAgents, of.iter().all(|u| u.user.codex_agents), &format!("Codex agents for every user of client {c}"))) }
                            td { (switch("client", c, Field::Blocked, of.iter().all(|u| u.user.blocked), &format!("Block every user of client {c}"))) }
                        }
                    }
                }
            }
            h3 { "Per user" }
            table.dense aria-label="Entitlements per user" {
                thead { tr { th scope="col" { "User" } th scope="col" { "Client" } th scope="col" { "Agents" } th scope="col" { "Codex agents" } th scope="col" { "Blocked" } } }
                tbody {
                    @for u in users {
                        @let id = u.user.id.to_string();
                        tr data-user=(id) {
                            td { (u.user.display_name) br; code.small { (id) } }
                            td { code { (u.user.client_id) } }
                            td { (u.agents_active) " active · " (u.agents_disabled) " disabled · " (u.agents_revoked) " revoked" }
                            td { (switch("user", &id, Field::CodexAgents, u.user.codex_agents, &format!("Codex agents for {}", u.user.display_name))) }
                            td { (switch("user", &id, Field::Blocked, u.user.blocked, &format!("Block {}", u.user.display_name))) }
                        }
                    }
                }
            }
        }
    }
}

/// What a toggle asks.
#[derive(Debug, Deserialize)]
pub struct Ask {
    scope: String,
    id: String,
    field: String,
    #[serde(default)]
    on: Option<String>,
}

async fn targets(gw: &Gateway, scope: &str, id: &str) -> Result<Vec<UserSummary>, UiError> {
    match scope {
        "user" => {
            let id = Uuid::parse_str(id).map_err(|_| UiError::Invalid("not a user id".into()))?;
            Ok(users(gw, None)
                .await?
                .into_iter()
                .filter(|u| u.user.id == id)
                .collect())
        }
        "client" => users(gw, Some(id)).await,
        _ => Err(UiError::Invalid("scope must be user or client".into())),
    }
}

/// Whether a user may use agents after setting `field` to `on`.
fn standing_after(u: &UserSummary, field: Field, on: bool) -> bool {
    match field {
        Field::CodexAgents => on && !u.user.blocked,
        Field::Blocked => !on && u.user.codex_agents,
    }
}

/// `GET /ui/admin/entitlements/confirm` (htmx): the effect of a toggle, and a reason.
pub async fn confirm(
    AdminSession(session): AdminSession,
    State(gw): State<Gateway>,
    Query(ask): Query<Ask>,
) -> Result<Page, UiError> {
    let field = Field::parse(&ask.field)?;
    let on = ask.on.is_some();
    let targets = targets(&gw, &ask.scope, &ask.id).await?;
    if targets.is_empty() {
        return Err(UiError::NotFound("no such user or client".into()));
    }
    let disables: i64 = targets
        .iter()
        .filter(|u| u.user.codex_agents && !u.user.blocked && !standing_after(u, field, on))
        .map(|u| u.agents_active)
        .sum();
    let restores: i64 = targets
        .iter()
        .filter(|u| (u.user.blocked || !u.user.codex_agents) && standing_after(u, field, on))
        .map(|u| u.agents_disabled)
        .sum();
    let what = match (field, on) {
        (Field::CodexAgents, true) => "Grant Codex agents",
        (Field::CodexAgents, false) => "Withdraw Codex agents",
        (Field::Blocked, true) => "Block",
        (Field::Blocked, false) => "Unblock",
    };
    let whom = if ask.scope == "client" {
        format!("every user of client {} ({} users)", ask.id, targets.len())
    } else {
        targets
            .first()
            .map(|u| u.user.display_name.clone())
            .unwrap_or_default()
    };
    Ok(Page(html! {
        dialog.glass open data-auto-modal aria-labelledby="confirm-title" {
            form method="post" action="/ui/admin/entitlements" {
                h3 #confirm-title { (what) ": " (whom) "?" }
                p.effect role="status" {
                    @if disables > 0 { strong { "This disables " (disables) " agent" @if disables != 1 { "s" } "." } " Their tokens stop working at once; they come back if access is restored. " }
                    @if restores > 0 { strong { "This re-enables " (restores) " agent" @if restores != 1 { "s" } "." } " " }
                    @if disables == 0 && restores == 0 { "No agent changes status." }
                }
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="scope" value=(ask.scope);
                input type="hidden" name="id" value=(ask.id);
                input type="hidden" name="field" value=(field.as_str());
                input type="hidden" name="on" value=(on);
                label for="confirm-reason" { "Reason (kept in the audit log)" }
                input #confirm-reason name="reason" maxlength="500" required[disables > 0 || on && field == Field::Blocked];
                div.row {
                    a.button.ghost href="/ui/admin#entitlements" { "Cancel" }
                    button.primary type="submit" { "Confirm" }
                }
            }
        }
    }))
}

/// `POST /ui/admin/entitlements`: applies a confirmed toggle to each target user.
pub async fn apply(
    AdminSession(session): AdminSession,
    State(gw): State<Gateway>,
    crate::http::extract::RequestId(request_id): crate::http::extract::RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = form_pairs(&body);
    session.check(&gw, &headers, field(&form, "csrf"))?;
    let which = Field::parse(field(&form, "field"))?;
    let on = field(&form, "on") == "true";
    let reason: String = field(&form, "reason").trim().chars().take(500).collect();
    for u in targets(&gw, field(&form, "scope"), field(&form, "id")).await? {
        let before = u.user.clone();
        let mut upsert = UserUpsert {
            id: before.id,
            client_id: before.client_id.clone(),
            display_name: before.display_name.clone(),
            codex_agents: before.codex_agents,
            blocked: before.blocked,
        };
        match which {
            Field::CodexAgents => upsert.codex_agents = on,
            Field::Blocked => upsert.blocked = on,
        }
        let loses = before.codex_agents && !before.blocked && !standing_after(&u, which, on);
        if loses && reason.is_empty() {
            return Err(UiError::Invalid(
                "give a reason for withdrawing access: it is kept in the audit log".into(),
            ));
        }
        let detail = format!(
            "admin page, request {request_id}{}",
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        );
        let event = AuditEvent::start(&request_id, "admin.user.upsert")
            .owner(before.id)
            .target(before.id.to_string());
        let result = gw.upsert_user(upsert, "admin", Some(detail)).await;
        let (outcome, why) = match &result {
            Ok(c) if c.changes.is_empty() => (Outcome::Allowed, None),
            Ok(c) => (
                Outcome::Allowed,
                Some(format!(
                    "{} — {}",
                    c.changes.join(", "),
                    if reason.is_empty() {
                        "no reason given"
                    } else {
                        &reason
                    }
                )),
            ),
            Err(e) => (e.outcome(), Some(e.to_string())),
        };
        gw.auditor
            .record(event.finish(outcome, why))
            .await
            .map_err(|e| UiError::Internal(e.to_string()))?;
        result?;
    }
    Ok(Redirect::to("/ui/admin#entitlements").into_response())
}
