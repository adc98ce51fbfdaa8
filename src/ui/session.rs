//! The pages' cookie session: who is signed in, and the checks every state-changing
//! request passes. Signing in is `sign_in.rs`.
//!
//! The cookie (`agw_session`) is a random secret, `HttpOnly`, `SameSite=Strict`,
//! `Path=/ui`, `Secure` when the public URL is https; only its SHA-256 is stored. Every
//! state-changing request must carry the session's CSRF token (an HMAC of the cookie's
//! secret, so it needs no storage) and an `Origin` (or, failing that, `Referer`) of this
//! gateway.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use maud::html;
use rand::TryRngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::UiError;
use super::layout::{bare, Page};
use super::sign_in::LinkError;
use crate::gateway::Gateway;
use crate::store::{NewUiSession, UiPrincipal, UiSessionKind, User};

/// The session cookie's name.
pub const COOKIE: &str = "agw_session";
/// How long a page session lasts.
pub const SESSION_HOURS: i64 = 8;

/// A fresh random secret, 64 hex digits.
pub fn mint_secret() -> Result<String, LinkError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| LinkError::Internal("the OS random source failed".into()))?;
    Ok(hex::encode(bytes))
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The CSRF token of a session: HMAC-SHA256 of a fixed label under the cookie's secret.
fn csrf_of(secret: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"agent-gateway ui csrf v1");
    hex::encode(mac.finalize().into_bytes())
}

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub enum Who {
    /// The gateway admin.
    Admin,
    /// An owner (re-read on every request: a blocked owner is out at once).
    Owner(User),
}

/// A live page session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whose.
    pub who: Who,
    /// The token every state-changing request must carry.
    pub csrf: String,
    hash: [u8; 32],
}

fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Session {
    /// The session of these headers, if live.
    pub async fn of(gw: &Gateway, headers: &HeaderMap) -> Result<Option<Self>, UiError> {
        let Some(secret) = cookie_secret(headers) else {
            return Ok(None);
        };
        let hash = hash(secret);
        let who = match gw.store.ui_session(&hash, Utc::now()).await? {
            None => return Ok(None),
            Some(UiPrincipal::Admin) => Who::Admin,
            Some(UiPrincipal::Owner(user)) if !user.blocked => Who::Owner(user),
            Some(UiPrincipal::Owner(_)) => return Ok(None),
        };
        Ok(Some(Self {
            who,
            csrf: csrf_of(secret),
            hash,
        }))
    }

    /// Checks a state-changing request: it comes from this gateway's page (`Origin`, or
    /// `Referer` when a browser sent no `Origin`) and carries this session's token.
    pub fn check(&self, gw: &Gateway, headers: &HeaderMap, token: &str) -> Result<(), UiError> {
        same_origin(gw, headers)?;
        if bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes())) && !token.is_empty() {
            Ok(())
        } else {
            Err(UiError::Csrf(
                "the form's token does not match your session",
            ))
        }
    }
}

/// This gateway's origin (`scheme://host[:port]`) and the configured allowed origins.
pub(super) fn same_origin(gw: &Gateway, headers: &HeaderMap) -> Result<(), UiError> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            let referer = headers.get(header::REFERER)?.to_str().ok()?;
            let url = url::Url::parse(referer).ok()?;
            Some(url.origin().ascii_serialization())
        })
        .ok_or(UiError::Csrf("the browser sent neither Origin nor Referer"))?;
    let ours = gw.config.public_url.origin().ascii_serialization();
    let allowed = origin == ours
        || gw
            .config
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin);
    if allowed {
        Ok(())
    } else {
        Err(UiError::Csrf("it came from another origin"))
    }
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct AdminSession(pub Session);

/// A signed-in owner.
#[derive(Debug, Clone)]
pub struct OwnerSession(pub Session, pub User);

impl FromRequestParts<Gateway> for AdminSession {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, UiError> {
        match Session::of(gw, &parts.headers).await? {
            Some(s) if matches!(s.who, Who::Admin) => Ok(AdminSession(s)),
            Some(_) => Err(UiError::Forbidden(
                "this page is for the gateway admin; you are signed in as an owner".into(),
            )),
            None => Err(UiError::AdminSignIn),
        }
    }
}

impl FromRequestParts<Gateway> for OwnerSession {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, UiError> {
        match Session::of(gw, &parts.headers).await? {
            Some(s) => match s.who.clone() {
                Who::Owner(user) => Ok(OwnerSession(s, user)),
                Who::Admin => Err(UiError::Forbidden(
                    "this page is an owner's; as the admin, use /ui/admin (or create a sign-in link for the user)".into(),
                )),
            },
            None => Err(UiError::OwnerSignIn),
        }
    }
}

fn set_cookie(gw: &Gateway, secret: &str, max_age: i64) -> Result<HeaderValue, UiError> {
    let secure = if gw.config.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError::Internal(e.to_string()))
}

/// Starts a session of `kind`, answering with the cookie and a redirect to `to`.
pub(super) async fn start(
    gw: &Gateway,
    kind: UiSessionKind,
    to: &str,
) -> Result<Response, UiError> {
    let secret = mint_secret()?;
    let now = Utc::now();
    gw.store
        .create_ui_session(&NewUiSession {
            id: Uuid::now_v7(),
            kind,
            hash: hash(&secret),
            created_at: now,
            expires_at: now + Duration::hours(SESSION_HOURS),
        })
        .await?;
    let cookie = set_cookie(gw, &secret, SESSION_HOURS * 3600)?;
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /ui`: where a signed-in person belongs.
pub async fn home(State(gw): State<Gateway>, headers: HeaderMap) -> Result<Response, UiError> {
    Ok(match Session::of(&gw, &headers).await? {
        Some(Session {
            who: Who::Admin, ..
        }) => Redirect::to("/ui/admin").into_response(),
        Some(_) => Redirect::to("/ui/agents").into_response(),
        None => Redirect::to("/ui/admin/sign-in").into_response(),
    })
}

/// The CSRF token of a posted form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /ui/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    let admin = match Session::of(&gw, &headers).await? {
        Some(session) => {
            session.check(&gw, &headers, &form.csrf)?;
            gw.store.end_ui_session(&session.hash, Utc::now()).await?;
            matches!(session.who, Who::Admin)
        }
        None => false,
    };
    let mut response = Page(bare(
        "Signed out",
        html! {
            section.card.glass {
                h1 { "Signed out" }
                @if admin { p { a href="/ui/admin/sign-in" { "Sign in again" } } }
                @else { p { "Open a new sign-in link from the Tasker to come back." } }
            }
        },
    ))
    .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&gw, "", 0)?);
    Ok(response)
}
