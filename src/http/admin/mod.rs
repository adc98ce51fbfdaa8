//! The admin REST API (`/api/v1/admin/...`), behind the `GATEWAY_ADMIN_TOKEN` bearer.
//! Every mutation writes a durable audit row before it answers.

mod agents;
mod audit;
mod projects;
mod sessions;
mod sign_in;
mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::Router;

use super::error::ApiError;
use super::extract::bearer;
use crate::gateway::Gateway;

/// The admin routes.
pub fn routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/api/v1/admin/users/{user_id}",
            put(users::upsert).get(users::get),
        )
        .route(
            "/api/v1/admin/agents",
            post(agents::create).get(agents::list),
        )
        .route("/api/v1/admin/agents/{agent_id}", get(agents::get))
        .route(
            "/api/v1/admin/agents/{agent_id}/revoke",
            post(agents::revoke),
        )
        .route("/api/v1/admin/audit", get(audit::list))
        .route("/api/v1/admin/projects", get(projects::list))
        .route(
            "/api/v1/admin/projects/{project_id}/members",
            get(projects::members),
        )
        .route("/api/v1/admin/users", get(users::list))
        .route(
            "/api/v1/admin/users/{user_id}/sessions",
            post(sessions::issue),
        )
        .route(
            "/api/v1/admin/users/{user_id}/sign-in-link",
            post(sign_in::issue),
        )
}

/// Proof that the request carries the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<Gateway> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Gateway,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("the admin API needs Authorization: Bearer <admin token>")
        })?;
        if gateway.is_admin_token(presented) {
            Ok(Admin)
        } else {
            tracing::warn!("admin API call with a wrong token");
            Err(ApiError::unauthorized("the admin token is not valid"))
        }
    }
}

/// The largest page of a paginated admin list, in rows.
const MAX_PAGE: u32 = 500;

/// A paginated list's `limit`: 100 when absent, `400 bad_request` outside 1..=[`MAX_PAGE`].
/// The user a sign-in (an owner session or a one-time link) is issued for: it must
/// exist and not be blocked.
pub(crate) async fn signable_user(
    gw: &Gateway,
    user_id: uuid::Uuid,
) -> Result<crate::store::User, ApiError> {
    let user = gw
        .store
        .get_user(user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {user_id} exists")))?;
    if user.blocked {
        return Err(ApiError::Forbidden {
            code: "owner_blocked",
            message: format!("user {user_id} is blocked"),
        });
    }
    Ok(user)
}

pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    Ok(limit)
}
