//! The pages' error: an HTML answer with the right status, never a stack of JSON.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use crate::gateway::{GatewayError, SessionError};
use crate::store::StoreError;

/// Why a page request was not served.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No (live) session: the admin is sent to the sign-in form.
    #[error("sign in as the gateway admin first")]
    AdminSignIn,
    /// No (live) owner session: the owner needs a sign-in link.
    #[error("your session has ended; open a new sign-in link from the Tasker (or ask the gateway admin for one)")]
    OwnerSignIn,
    /// A state-changing request failed the CSRF checks.
    #[error("this request did not come from this gateway's own page ({0}); reload the page and try again")]
    Csrf(&'static str),
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing (or not yours).
    #[error("{0}")]
    NotFound(String),
    /// The input is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// A one-time link was used, expired or never existed.
    #[error("this sign-in link was already used or has expired; ask for a new one")]
    LinkGone,
    /// A gateway operation failed.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The store failed.
    #[error("the gateway's store failed; retry shortly")]
    Store(#[from] StoreError),
    /// Anything else (logged, not shown).
    #[error("internal error")]
    Internal(String),
}

impl From<SessionError> for UiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unknown(_)
            | SessionError::NotYours(_)
            | SessionError::UnknownAgent(_) => UiError::NotFound(e.to_string()),
            SessionError::Ended { .. }
            | SessionError::StopPending(_)
            | SessionError::Invalid(_) => UiError::Invalid(e.to_string()),
            SessionError::Store(s) => UiError::Store(s),
            SessionError::Tasker(t) => UiError::Internal(t.to_string()),
        }
    }
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            UiError::AdminSignIn | UiError::OwnerSignIn => StatusCode::UNAUTHORIZED,
            UiError::Csrf(_) | UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            UiError::LinkGone => StatusCode::GONE,
            UiError::Gateway(e) => match e {
                GatewayError::NotEntitled(_)
                | GatewayError::OwnerBlocked(_)
                | GatewayError::NotMember(_) => StatusCode::FORBIDDEN,
                GatewayError::UnknownAgent(_) | GatewayError::UnknownOwner(_) => {
                    StatusCode::NOT_FOUND
                }
                GatewayError::Invalid(_)
                | GatewayError::UnknownProjects { .. }
                | GatewayError::Conflict(_) => StatusCode::UNPROCESSABLE_ENTITY,
                GatewayError::Tasker(_) | GatewayError::Launcher(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                GatewayError::Token(_) | GatewayError::Store(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            UiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match &self {
            UiError::AdminSignIn => return Redirect::to("/ui/admin/sign-in").into_response(),
            UiError::Internal(cause) => tracing::error!(%cause, "a page failed"),
            UiError::Store(e) => tracing::error!(error = %e, "a page's store call failed"),
            // The person's own doing, said on the page; nothing for the log.
            UiError::OwnerSignIn
            | UiError::Csrf(_)
            | UiError::Forbidden(_)
            | UiError::NotFound(_)
            | UiError::Invalid(_)
            | UiError::LinkGone => {}
            UiError::Gateway(e) => match e {
                GatewayError::Token(_)
                | GatewayError::Store(_)
                | GatewayError::Tasker(_)
                | GatewayError::Launcher(_) => {
                    tracing::error!(error = %e, "a page's gateway call failed");
                }
                GatewayError::NotEntitled(_)
                | GatewayError::OwnerBlocked(_)
                | GatewayError::NotMember(_)
                | GatewayError::UnknownAgent(_)
                | GatewayError::UnknownOwner(_)
                | GatewayError::Invalid(_)
                | GatewayError::UnknownProjects { .. }
                | GatewayError::Conflict(_) => {}
            },
        }
        let status = self.status();
        // A fragment: htmx swaps it where the action's answer goes; a full navigation
        // shows it as the page.
        let body = html! {
            div.alert.error role="alert" {
                strong { (status.canonical_reason().unwrap_or("Error")) ": " }
                (self.to_string())
                @if matches!(self, UiError::OwnerSignIn | UiError::LinkGone) {
                    " " a href="/ui/admin/sign-in" { "Gateway admin? Sign in here." }
                }
            }
        };
        let page = super::layout::bare("Agent Gateway", body);
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            super::layout::Page(page),
        )
            .into_response()
    }
}
