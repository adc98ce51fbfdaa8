//! Signing in to the pages without handing a token to a script.
//!
//! * Owner: `POST /api/v1/admin/users/{id}/sign-in-link` (the Tasker's backend, or an
//!   admin) gives a one-time link `/ui/sign-in#link=…`, valid for minutes. The secret is
//!   in the fragment, so it never reaches a server log or a `Referer`; the page posts it
//!   (a prefetcher that only GETs cannot use it up), the gateway marks it used, and sets
//!   the session cookie (`session.rs`).
//! * Admin: `/ui/admin/sign-in` takes the admin token once and sets the cookie.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::error::UiError;
use super::layout::{bare, Page};
use super::session::{hash, mint_secret, same_origin, start};
use crate::audit::AuditEvent;
use crate::gateway::Gateway;
use crate::http::extract::RequestId;
use crate::store::{NewSignInLink, Outcome, StoreError, UiSessionKind};

/// Why a secret or a sign-in link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random source or the public URL failed (logged, not shown to a person).
    #[error("{0}")]
    Internal(String),
}

impl From<LinkError> for UiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Store(e) => UiError::Store(e),
            LinkError::Internal(detail) => UiError::Internal(detail),
        }
    }
}

/// A one-time sign-in link for `user_id`, valid `ttl` (the admin API's endpoint calls it).
pub async fn issue_link(
    gw: &Gateway,
    user_id: Uuid,
    ttl: Duration,
) -> Result<(String, chrono::DateTime<Utc>), LinkError> {
    let secret = mint_secret()?;
    let now = Utc::now();
    let expires_at = now + ttl;
    gw.store
        .create_sign_in_link(&NewSignInLink {
            id: Uuid::now_v7(),
            user_id,
            hash: hash(&secret),
            created_at: now,
            expires_at,
        })
        .await?;
    let base = gw
        .config
        .public_url
        .join("ui/sign-in")
        .map_err(|e| LinkError::Internal(e.to_string()))?;
    Ok((format!("{base}#link={secret}"), expires_at))
}

/// `GET /ui/sign-in`: the page a link opens. Its script posts the fragment's secret.
pub async fn link_page() -> Page {
    Page(bare(
        "Sign in",
        html! {
            section.card.glass {
                h1 { "Signing you in…" }
                form #link-form method="post" action="/ui/sign-in" data-autosubmit="link" {
                    input type="hidden" name="link" value="";
                    noscript { p { "This page needs JavaScript to read the link." } }
                    button type="submit" { "Continue" }
                }
                p.muted { "A sign-in link works once and for a few minutes." }
            }
        },
    ))
}

/// The posted link.
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    link: String,
}

/// `POST /ui/sign-in`: uses the link once, then sets the owner's session cookie.
pub async fn use_link(
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, UiError> {
    same_origin(&gw, &headers)?;
    let secret = form.link.trim();
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UiError::LinkGone);
    }
    let Some(user) = gw.store.use_sign_in_link(&hash(secret), Utc::now()).await? else {
        return Err(UiError::LinkGone);
    };
    let user_id = user.id;
    let event = AuditEvent::start(&request_id, "ui.owner.sign_in").owner(user_id);
    if user.blocked {
        gw.auditor
            .record(event.finish(Outcome::Denied, Some("the user is blocked".into())))
            .await
            .map_err(|e| UiError::Internal(e.to_string()))?;
        return Err(UiError::Forbidden("this user is blocked".into()));
    }
    gw.auditor
        .record(event.finish(Outcome::Allowed, None))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    start(&gw, UiSessionKind::Owner(user_id), "/ui/agents").await
}

fn admin_form_page(error: Option<&str>) -> Page {
    Page(bare(
        "Admin sign-in",
        html! {
            section.card.glass {
                h1 { "Gateway admin" }
                @if let Some(error) = error { div.alert.error role="alert" { (error) } }
                form method="post" action="/ui/admin/sign-in" {
                    label for="admin-token" { "Admin token" }
                    input #admin-token type="password" name="token" autocomplete="off" required
                        placeholder="ndcadm_… or your GATEWAY_ADMIN_TOKEN";
                    p.muted { "Pasted once: the page keeps a session cookie, never the token." }
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    ))
}

/// `GET /ui/admin/sign-in`.
pub async fn admin_form() -> Page {
    admin_form_page(None)
}

/// The posted admin token.
#[derive(Debug, Deserialize)]
pub struct AdminForm {
    token: String,
}

/// `POST /ui/admin/sign-in`.
pub async fn admin_sign_in(
    State(gw): State<Gateway>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    Form(form): Form<AdminForm>,
) -> Result<Response, UiError> {
    same_origin(&gw, &headers)?;
    let ok = gw.is_admin_token(form.token.trim());
    let row = AuditEvent::start(&request_id, "ui.admin.sign_in").finish(
        if ok {
            Outcome::Allowed
        } else {
            Outcome::Denied
        },
        (!ok).then(|| "wrong admin token".to_owned()),
    );
    gw.auditor
        .record(row)
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    if !ok {
        tracing::warn!("admin page sign-in with a wrong token");
        let mut response = admin_form_page(Some("That is not the admin token.")).into_response();
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(response);
    }
    start(&gw, UiSessionKind::Admin, "/ui/admin").await
}
