//! The built-in pages: server-rendered HTML (maud) with htmx and its SSE extension, every
//! asset compiled into the binary.
//!
//! * [`sign_in`] — signing in (one-time owner links, the admin token pasted once);
//!   [`session`] — the cookie session, CSRF checks, sign-out;
//! * [`owner`] — `/ui/agents`, the owner's "Codex agents" card; [`pairing`] — the
//!   pairing panel; [`drawer`] — an agent's recent calls and work sessions;
//! * [`admin`] — `/ui/admin`, the live-status page; [`entitlements`] — the toggles;
//!   [`audit_log`] — the audit log and its export;
//! * [`live`] — the pages' SSE streams, fed by [`crate::events::Hub`];
//! * [`view`] — rendering shared by pages (liveness in words, agent rows);
//!   [`snapshot`] — what a page renders from, refreshed only on events;
//! * [`layout`] — the page shell and the round toggle; [`assets`] — CSS and scripts;
//! * [`error`] — the pages' error type.

pub mod admin;
pub mod assets;
pub mod audit_log;
pub mod drawer;
pub mod entitlements;
pub mod error;
pub mod layout;
pub mod live;
pub mod owner;
pub mod pairing;
pub mod session;
pub mod sign_in;
pub mod snapshot;
pub mod view;

use axum::routing::{get, post};
use axum::Router;

use crate::gateway::Gateway;

/// Every `/ui` route; `closing` ends the pages' streams at shutdown.
pub fn routes(closing: tokio::sync::watch::Receiver<bool>) -> Router<Gateway> {
    Router::new()
        .route("/ui", get(session::home))
        .route("/ui/", get(session::home))
        .route("/ui/assets/{name}", get(assets::serve))
        .route(
            "/ui/sign-in",
            get(sign_in::link_page).post(sign_in::use_link),
        )
        .route("/ui/sign-out", post(session::sign_out))
        .route(
            "/ui/admin/sign-in",
            get(sign_in::admin_form).post(sign_in::admin_sign_in),
        )
        .route("/ui/agents", get(owner::page).post(owner::create))
        .route("/ui/agents/stream", get(live::owner_stream))
        .route("/ui/agents/{agent_id}", get(drawer::owner_drawer))
        .route("/ui/agents/{agent_id}/revoke", post(owner::revoke))
        .route("/ui/agents/{agent_id}/setup", get(pairing::owner_setup))
        .route(
            "/ui/work-sessions/{session_id}/stop",
            post(drawer::stop_session),
        )
        .route("/ui/admin", get(admin::page))
        .route("/ui/admin/stream", get(live::admin_stream))
        .route("/ui/admin/agents/{agent_id}", get(drawer::admin_timeline))
        .route("/ui/admin/agents/{agent_id}/revoke", post(admin::revoke))
        .route("/ui/admin/entitlements/confirm", get(entitlements::confirm))
        .route("/ui/admin/entitlements", post(entitlements::apply))
        .route("/ui/admin/audit", get(audit_log::page))
        .route("/ui/admin/audit/export", get(audit_log::export))
        .layer(axum::Extension(live::Closing(closing)))
}
