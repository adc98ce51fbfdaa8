//! A user's standing: the `codex_agents` entitlement and the blocked flag, and what a
//! change does to the user's agents. The admin API and Launcher's webhook both change
//! standing only through here.
//!
//! The rule: losing standing (entitlement withdrawn, or blocked) disables every active
//! agent; regaining it re-enables exactly the agents it disabled. An agent revoked by
//! hand (or by annulment) stays revoked.

use chrono::Utc;
use uuid::Uuid;

use super::{Gateway, GatewayError};
use crate::replicas::Change;
use crate::store::{AgentStatus, EntitlementChange, User, UserUpsert};

/// What changed in a user's standing, for the audit log and the revocation path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChanges {
    /// The user after the change.
    pub user: User,
    /// Whether the user did not exist before.
    pub created: bool,
    /// `granted`, `withdrawn`, `blocked`, `unblocked`, in that order.
    pub changes: Vec<&'static str>,
}

impl Gateway {
    /// Inserts or updates a user, records every entitlement change, and — when the user
    /// lost the entitlement or was blocked — puts that in force for all their agents.
    pub async fn upsert_user(
        &self,
        upsert: UserUpsert,
        source: &str,
        detail: Option<String>,
    ) -> Result<UserChanges, GatewayError> {
        let now = Utc::now();
        let (before, user) = self.store.upsert_user(&upsert, now).await?;
        let was_entitled = before.as_ref().is_some_and(|u| u.codex_agents);
        let was_blocked = before.as_ref().is_some_and(|u| u.blocked);
        let mut changes = Vec::new();
        match (was_entitled, user.codex_agents) {
            (false, true) => changes.push("granted"),
            (true, false) => changes.push("withdrawn"),
            _ => {}
        }
        match (was_blocked, user.blocked) {
            (false, true) => changes.push("blocked"),
            (true, false) => changes.push("unblocked"),
            _ => {}
        }
        for change in &changes {
            self.store
                .record_entitlement_change(&EntitlementChange {
                    at: now,
                    user_id: user.id,
                    client_id: user.client_id.clone(),
                    change: (*change).to_owned(),
                    source: source.to_owned(),
                    detail: detail.clone(),
                })
                .await?;
        }
        let had = before
            .as_ref()
            .is_some_and(|u| u.codex_agents && !u.blocked);
        let has = user.codex_agents && !user.blocked;
        if had && !has {
            let reason = format!("owner lost standing ({})", changes.join(", "));
            self.store
                .set_owner_agents_status(
                    user.id,
                    &[AgentStatus::Active],
                    AgentStatus::Disabled,
                    &reason,
                    now,
                )
                .await?;
            self.authority
                .fanout
                .apply(Change::OwnerDisabled(user.id))
                .await;
        } else if !had && has && before.is_some() {
            self.store
                .set_owner_agents_status(
                    user.id,
                    &[AgentStatus::Disabled],
                    AgentStatus::Active,
                    "owner standing restored",
                    now,
                )
                .await?;
            self.authority
                .fanout
                .apply(Change::OwnerRestored(user.id))
                .await;
        }
        // Any cached entitlement answer for this user is now stale.
        self.authority
            .entitlements
            .forget(user.id, &user.client_id)
            .await;
        Ok(UserChanges {
            created: before.is_none(),
            user,
            changes,
        })
    }

    /// Annuls a user (Launcher deleted them): blocked, entitlement gone, every agent
    /// revoked for good.
    pub async fn annul_user(
        &self,
        user_id: Uuid,
        source: &str,
        detail: Option<String>,
    ) -> Result<Option<UserChanges>, GatewayError> {
        let Some(user) = self.store.get_user(user_id).await? else {
            return Ok(None);
        };
        let changes = self
            .upsert_user(
                UserUpsert {
                    id: user.id,
                    client_id: user.client_id.clone(),
                    display_name: user.display_name.clone(),
                    codex_agents: false,
                    blocked: true,
                },
                source,
                detail.clone(),
            )
            .await?;
        let now = Utc::now();
        self.store
            .set_owner_agents_status(
                user_id,
                &[AgentStatus::Active, AgentStatus::Disabled],
                AgentStatus::Revoked,
                "owner annulled",
                now,
            )
            .await?;
        self.store
            .record_entitlement_change(&EntitlementChange {
                at: now,
                user_id,
                client_id: user.client_id,
                change: "annulled".into(),
                source: source.to_owned(),
                detail,
            })
            .await?;
        self.authority
            .fanout
            .apply(Change::OwnerDisabled(user_id))
            .await;
        Ok(Some(changes))
    }
}
