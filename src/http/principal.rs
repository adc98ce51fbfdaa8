//! Who is calling the REST API: the gateway admin (`GATEWAY_ADMIN_TOKEN`) or an owner
//! (an `ndcown_` session token the admin API issued for a Launcher user).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;

use super::error::ApiError;
use super::extract::bearer;
use crate::gateway::Gateway;
use crate::store::User;
use crate::token::{verify_format, TokenKind};

/// An authenticated REST caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The gateway administrator.
    Admin,
    /// An owner acting on their own agents.
    Owner(User),
}

impl Principal {
    /// Whether this caller may see or act on agents of `owner_id`.
    pub fn may_manage(&self, owner_id: uuid::Uuid) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Owner(user) => user.id == owner_id,
        }
    }
}

/// An owner (and only an owner: the owner API is not the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(pub User);

impl FromRequestParts<Gateway> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, Self::Rejection> {
        let presented = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized(
                "send Authorization: Bearer <admin token or owner session token>",
            )
        })?;
        if gw.is_admin_token(presented) {
            return Ok(Principal::Admin);
        }
        let hash = verify_format(TokenKind::Owner, presented)
            .map_err(|_| ApiError::unauthorized("the token is not valid"))?;
        let user = gw
            .store
            .owner_by_session(&hash.0, Utc::now())
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("the owner session is unknown, expired or revoked")
            })?;
        if user.blocked {
            return Err(ApiError::Forbidden {
                code: "owner_blocked",
                message: "this user is blocked".into(),
            });
        }
        Ok(Principal::Owner(user))
    }
}

impl FromRequestParts<Gateway> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, Self::Rejection> {
        match Principal::from_request_parts(parts, gw).await? {
            Principal::Owner(user) => Ok(Owner(user)),
            Principal::Admin => Err(ApiError::Forbidden {
                code: "owner_only",
                message: "the owner API acts as one owner; use an owner session token (admins use /api/v1/admin)".into(),
            }),
        }
    }
}
