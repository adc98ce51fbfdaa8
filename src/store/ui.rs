//! Browser sessions of the built-in pages (`/ui`) and one-time sign-in links (issue 16).
//!
//! A separate trait, a supertrait of [`Store`](super::Store), so the pages' storage is one
//! file and the shared store implementation is untouched. Only SHA-256 hashes of the
//! secrets are stored (`migrations/<engine>/0008_ui_sessions.sql`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

use super::shared::{Dialect, SqlStore};
use super::{StoreError, StoreResult, User};

/// Whose a page session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiSessionKind {
    /// The gateway administrator (signed in with the admin token).
    Admin,
    /// An owner (signed in with a one-time link).
    Owner(Uuid),
}

/// A live page session's principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiPrincipal {
    /// The gateway administrator.
    Admin,
    /// An owner, as stored now.
    Owner(User),
}

/// A new page session.
#[derive(Debug, Clone)]
pub struct NewUiSession {
    /// Its id.
    pub id: Uuid,
    /// Whose.
    pub kind: UiSessionKind,
    /// SHA-256 of the cookie's secret.
    pub hash: [u8; 32],
    /// When.
    pub created_at: DateTime<Utc>,
    /// Until when.
    pub expires_at: DateTime<Utc>,
}

/// A new one-time sign-in link.
#[derive(Debug, Clone)]
pub struct NewSignInLink {
    /// Its id.
    pub id: Uuid,
    /// The owner it signs in.
    pub user_id: Uuid,
    /// SHA-256 of the link's secret.
    pub hash: [u8; 32],
    /// When.
    pub created_at: DateTime<Utc>,
    /// Until when.
    pub expires_at: DateTime<Utc>,
}

/// Page sessions and sign-in links.
#[async_trait]
pub trait UiStore: Send + Sync {
    /// Stores a sign-in link (its hash).
    async fn create_sign_in_link(&self, link: &NewSignInLink) -> StoreResult<()>;
    /// Uses a link: marks it used and returns its user, only if it was unused and
    /// unexpired. Atomic: of two concurrent uses, one wins.
    async fn use_sign_in_link(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// Stores a page session (its hash).
    async fn create_ui_session(&self, session: &NewUiSession) -> StoreResult<()>;
    /// A live (unexpired, not signed out) session, by its secret's hash.
    async fn ui_session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UiPrincipal>>;
    /// Ends a session (sign out).
    async fn end_ui_session(&self, hash: &[u8; 32], now: DateTime<Utc>) -> StoreResult<()>;
}

#[async_trait]
impl<DB> UiStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
    for<'r> User: FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    async fn create_sign_in_link(&self, l: &NewSignInLink) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        sqlx::query(
            "INSERT INTO ui_sign_in_links (id, user_id, hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(l.id)
        .bind(l.user_id)
        .bind(l.hash.as_slice())
        .bind(l.created_at)
        .bind(l.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn use_sign_in_link(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        // The update is the use: of two concurrent uses, only one changes the row.
        let _turn = self.gate.turn().await;
        let done = sqlx::query(
            "UPDATE ui_sign_in_links SET used_at = $2 \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        if DB::rows_affected(&done) != 1 {
            return Ok(None);
        }
        Ok(sqlx::query_as(
            "SELECT u.* FROM ui_sign_in_links l JOIN users u ON u.id = l.user_id WHERE l.hash = $1",
        )
        .bind(hash.as_slice())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn create_ui_session(&self, s: &NewUiSession) -> StoreResult<()> {
        let (kind, user) = match s.kind {
            UiSessionKind::Admin => ("admin", None),
            UiSessionKind::Owner(id) => ("owner", Some(id)),
        };
        let _turn = self.gate.turn().await;
        sqlx::query(
            "INSERT INTO ui_sessions (id, kind, user_id, hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id)
        .bind(kind)
        .bind(user)
        .bind(s.hash.as_slice())
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn ui_session(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UiPrincipal>> {
        let kind: Option<(String,)> = sqlx::query_as(
            "SELECT kind FROM ui_sessions \
             WHERE hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(hash.as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match kind.as_ref().map(|(k,)| k.as_str()) {
            None => Ok(None),
            Some("admin") => Ok(Some(UiPrincipal::Admin)),
            Some(_) => {
                let user: Option<User> = sqlx::query_as(
                    "SELECT u.* FROM ui_sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.hash = $1",
                )
                .bind(hash.as_slice())
                .fetch_optional(&self.pool)
                .await?;
                Ok(user.map(UiPrincipal::Owner))
            }
        }
    }

    async fn end_ui_session(&self, hash: &[u8; 32], now: DateTime<Utc>) -> StoreResult<()> {
        let _turn = self.gate.turn().await;
        sqlx::query(
            "UPDATE ui_sessions SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
