//! The user listing: one page of users with their agents counted by status, read in one
//! statement (`SqlStore::list_users`), never one query per user.

use serde::Serialize;
use uuid::Uuid;

use super::User;

/// A page request over the users, ordered by id, descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Only this Launcher client's users.
    pub client_id: Option<String>,
    /// Only users whose id sorts below this one (the previous page's last id).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// A user with how many agents they own in each status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UserSummary {
    /// The user.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub user: User,
    /// Agents that may work.
    pub agents_active: i64,
    /// Agents disabled because the user lost standing (re-enabled when it returns).
    pub agents_disabled: i64,
    /// Agents revoked by hand (final).
    pub agents_revoked: i64,
}

/// The statement of a page; `filter` is the engine's [`Dialect::USER_FILTER`](super::shared::Dialect::USER_FILTER).
pub(super) fn list_users_sql(filter: &str) -> String {
    format!(
        "SELECT u.*, \
         COUNT(CASE WHEN a.status = 'active' THEN 1 END) AS agents_active, \
         COUNT(CASE WHEN a.status = 'disabled' THEN 1 END) AS agents_disabled, \
         COUNT(CASE WHEN a.status = 'revoked' THEN 1 END) AS agents_revoked \
         FROM users u LEFT JOIN agents a ON a.owner_id = u.id WHERE {filter} \
         GROUP BY u.id ORDER BY u.id DESC LIMIT $3"
    )
}
