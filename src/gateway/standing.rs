//! A user's standing: the `codex_agents` entitlement and the blocked flag, and what a
//! change does to the user's agents. The admin API and Launcher's webhook both change
//! standing only through here.
//!
//! The rule: losing standing (entitlement withdrawn, or blocked) disables every active
//! agent; regaining it re-enables exactly the agents it disabled. An agent revoked by
//! hand (or by annulment) stays revoked.
//!
//! Every change is one store transaction under the user's lock
//! ([`Store::write_standing`](crate::store::Store::write_standing)): the user, the change
//! rows, the agents and a Launcher event's id are written together or not at all. Each
//! fact (entitlement, blocked) carries the time it was last set; a Launcher event older
//! than that is recorded but changes nothing. Changes of one user are also serialised in
//! this process ([`UserLocks`]), so the fan-out to actors and replicas, which runs after
//! the commit, follows the order of the commits.

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use super::{Gateway, GatewayError};
use crate::launcher::webhook::EventKind;
use crate::replicas::Change;
use crate::store::{
    AgentMove, AgentStatus, CurrentUser, EntitlementChange, EventReceipt, StandingPlan,
    StandingRule, StandingWrite, StandingWritten, StoreError, User, UserUpsert,
};

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

/// One Launcher event, as the standing rule applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LauncherChange {
    /// The event's id, recorded with its effect.
    pub event_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The user.
    pub user_id: Uuid,
    /// The user's client.
    pub client_id: String,
    /// A new display name, when the event carries one.
    pub display_name: Option<String>,
    /// When it happened (Launcher's clock), or when it was received.
    pub occurred_at: DateTime<Utc>,
}

/// What became of a Launcher event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventApplied {
    /// Applied now (for an annulment of an unknown user: nothing to do).
    Applied,
    /// Recorded, but older than the last change of the fact it sets, which stands.
    Superseded {
        /// When that newer change happened.
        newer: DateTime<Utc>,
    },
    /// Its id was recorded before: nothing done.
    Duplicate,
}

/// How many stripes [`UserLocks`] has.
const STRIPES: usize = 64;

/// Per-user locks of this process, striped: two users may share a stripe, which only
/// serialises them.
#[derive(Debug)]
pub(crate) struct UserLocks([Mutex<()>; STRIPES]);

impl Default for UserLocks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| Mutex::new(())))
    }
}

impl UserLocks {
    async fn lock(&self, user: Uuid) -> MutexGuard<'_, ()> {
        // The remainder is below STRIPES, so the index is in range.
        let index = (user.as_u128() % STRIPES as u128) as usize;
        self.0[index].lock().await
    }
}

/// `granted`, `withdrawn`, `blocked`, `unblocked` between two (entitled, blocked) states.
fn diff(before: Option<(bool, bool)>, after: (bool, bool)) -> Vec<&'static str> {
    let (was_entitled, was_blocked) = before.unwrap_or((false, false));
    let mut changes = Vec::new();
    match (was_entitled, after.0) {
        (false, true) => changes.push("granted"),
        (true, false) => changes.push("withdrawn"),
        (true, true) | (false, false) => {}
    }
    match (was_blocked, after.1) {
        (false, true) => changes.push("blocked"),
        (true, false) => changes.push("unblocked"),
        (true, true) | (false, false) => {}
    }
    changes
}

/// The stamp of a fact that was set at `at`: never moved back.
fn later(current: Option<DateTime<Utc>>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(current.map_or(at, |c| c.max(at)))
}

/// The write for moving `before` to `upsert`: the change rows and the agent moves of the
/// standing rule; with `annul`, also every active or disabled agent revoked.
fn plan(
    before: Option<&User>,
    upsert: UserUpsert,
    stamps: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    annul: bool,
    record: &dyn Fn(&str) -> EntitlementChange,
) -> StandingWrite {
    let changes = diff(
        before.map(|u| (u.codex_agents, u.blocked)),
        (upsert.codex_agents, upsert.blocked),
    );
    let had = before.is_some_and(|u| u.codex_agents && !u.blocked);
    let has = upsert.codex_agents && !upsert.blocked;
    let mut moves = Vec::new();
    if had && !has {
        moves.push(AgentMove {
            from: vec![AgentStatus::Active],
            to: AgentStatus::Disabled,
            reason: format!("owner lost standing ({})", changes.join(", ")),
        });
    } else if !had && has && before.is_some() {
        moves.push(AgentMove {
            from: vec![AgentStatus::Disabled],
            to: AgentStatus::Active,
            reason: "owner standing restored".into(),
        });
    }
    let mut rows: Vec<EntitlementChange> = changes.iter().map(|c| record(c)).collect();
    if annul {
        moves.push(AgentMove {
            from: vec![AgentStatus::Active, AgentStatus::Disabled],
            to: AgentStatus::Revoked,
            reason: "owner annulled".into(),
        });
        rows.push(record("annulled"));
    }
    StandingWrite {
        user: upsert,
        entitlement_at: stamps.0,
        blocked_at: stamps.1,
        changes: rows,
        moves,
    }
}

/// What a Launcher event does to the user as it is.
fn event_plan(
    e: &LauncherChange,
    current: Option<&CurrentUser>,
    record: &dyn Fn(&str) -> EntitlementChange,
) -> StandingPlan {
    let before = current.map(|c| &c.user);
    let (ent_at, blk_at) = current.map_or((None, None), |c| (c.entitlement_at, c.blocked_at));
    let mut upsert = UserUpsert {
        id: e.user_id,
        client_id: e.client_id.clone(),
        display_name: e
            .display_name
            .clone()
            .or_else(|| before.map(|u| u.display_name.clone()))
            .unwrap_or_else(|| e.user_id.to_string()),
        codex_agents: before.is_some_and(|u| u.codex_agents),
        blocked: before.is_some_and(|u| u.blocked),
    };
    // The stamp of the fact this event sets; an older event does not override it.
    let (fact_at, stamps) = match e.kind {
        EventKind::UserAnnulled => {
            if before.is_none() {
                return StandingPlan::Nothing;
            }
            // Annulment is final: applied whatever its time.
            upsert.codex_agents = false;
            upsert.blocked = true;
            let stamps = (later(ent_at, e.occurred_at), later(blk_at, e.occurred_at));
            return StandingPlan::Write(plan(before, upsert, stamps, true, record));
        }
        EventKind::EntitlementGranted | EventKind::EntitlementWithdrawn => {
            upsert.codex_agents = e.kind == EventKind::EntitlementGranted;
            (ent_at, (Some(e.occurred_at), blk_at))
        }
        EventKind::UserBlocked | EventKind::UserUnblocked => {
            upsert.blocked = e.kind == EventKind::UserBlocked;
            (blk_at, (ent_at, Some(e.occurred_at)))
        }
    };
    match fact_at {
        Some(newer) if newer > e.occurred_at => StandingPlan::Superseded { newer },
        Some(_) | None => StandingPlan::Write(plan(before, upsert, stamps, false, record)),
    }
}

impl Gateway {
    /// Inserts or updates a user, records every entitlement change, and — when the user
    /// lost the entitlement or was blocked — puts that in force for all their agents.
    /// A fact that changes is stamped with the gateway's clock.
    pub async fn upsert_user(
        &self,
        upsert: UserUpsert,
        source: &str,
        detail: Option<String>,
    ) -> Result<UserChanges, GatewayError> {
        let now = Utc::now();
        let (id, client_id) = (upsert.id, upsert.client_id.clone());
        let record = |change: &str| EntitlementChange {
            at: now,
            user_id: id,
            client_id: client_id.clone(),
            change: change.to_owned(),
            source: source.to_owned(),
            detail: detail.clone(),
        };
        let rule = |current: Option<&CurrentUser>| {
            let before = current.map(|c| &c.user);
            let (ent_at, blk_at) =
                current.map_or((None, None), |c| (c.entitlement_at, c.blocked_at));
            let stamp = |was: Option<bool>, is: bool, at| match was {
                Some(was) if was == is => at,
                Some(_) | None => later(at, now),
            };
            let stamps = (
                stamp(before.map(|u| u.codex_agents), upsert.codex_agents, ent_at),
                stamp(before.map(|u| u.blocked), upsert.blocked, blk_at),
            );
            StandingPlan::Write(plan(before, upsert.clone(), stamps, false, &record))
        };
        let tightens = !upsert.codex_agents || upsert.blocked;
        match self.write_standing(id, tightens, None, &rule, now).await? {
            StandingWritten::Done {
                before,
                after: Some(user),
                ..
            } => Ok(UserChanges {
                changes: diff(
                    before.as_ref().map(|u| (u.codex_agents, u.blocked)),
                    (user.codex_agents, user.blocked),
                ),
                created: before.is_none(),
                user,
            }),
            StandingWritten::Done { after: None, .. } | StandingWritten::Duplicate => Err(
                GatewayError::Store(StoreError::Corrupt(format!("user {id} was not written"))),
            ),
        }
    }

    /// Applies one Launcher event: once (its id is recorded with its effect), and in
    /// order (an event older than the last change of the fact it sets is recorded but
    /// changes nothing). An annulment blocks the user, removes the entitlement and
    /// revokes every agent for good; for an unknown user it does nothing.
    pub async fn apply_launcher_event(
        &self,
        event: &LauncherChange,
        received_at: DateTime<Utc>,
    ) -> Result<EventApplied, GatewayError> {
        let detail = Some(format!("launcher event {}", event.event_id));
        let record = |change: &str| EntitlementChange {
            at: received_at,
            user_id: event.user_id,
            client_id: event.client_id.clone(),
            change: change.to_owned(),
            source: "launcher".to_owned(),
            detail: detail.clone(),
        };
        let rule = |current: Option<&CurrentUser>| event_plan(event, current, &record);
        let receipt = EventReceipt {
            id: event.event_id.clone(),
            occurred_at: event.occurred_at,
            received_at,
        };
        let tightens = match event.kind {
            EventKind::EntitlementWithdrawn | EventKind::UserBlocked | EventKind::UserAnnulled => {
                true
            }
            EventKind::EntitlementGranted | EventKind::UserUnblocked => false,
        };
        let written = self
            .write_standing(event.user_id, tightens, Some(&receipt), &rule, received_at)
            .await?;
        Ok(match written {
            StandingWritten::Duplicate => EventApplied::Duplicate,
            StandingWritten::Done {
                plan: StandingPlan::Superseded { newer },
                ..
            } => EventApplied::Superseded { newer },
            StandingWritten::Done {
                plan: StandingPlan::Nothing | StandingPlan::Write(_),
                ..
            } => EventApplied::Applied,
        })
    }

    /// Writes a change of standing in one transaction under the user's lock (here and
    /// in the store), then — after the commit, still under this process's lock, so the
    /// fan-outs of one user follow the order of the commits — puts it in force: the
    /// token cache, the actors, the other replicas, the cached entitlement answer.
    ///
    /// A change that `tightens` (the user ends up without standing whatever they had)
    /// is in force on this replica before the store is asked — calls refused, streams
    /// closed — and undone if the store then changed no agent or failed (fail closed).
    async fn write_standing(
        &self,
        user_id: Uuid,
        tightens: bool,
        event: Option<&EventReceipt>,
        rule: &StandingRule<'_>,
        now: DateTime<Utc>,
    ) -> Result<StandingWritten, GatewayError> {
        let _serialised = self.standing_locks.lock(user_id).await;
        let fanout = &self.authority.fanout;
        let disabled = Change::OwnerDisabled(user_id);
        if tightens {
            fanout.tighten_first(disabled);
        }
        let written = match self.store.write_standing(user_id, event, rule, now).await {
            Ok(written) => written,
            Err(e) => {
                if tightens {
                    fanout.reread(disabled);
                }
                return Err(e.into());
            }
        };
        let moved = match &written {
            StandingWritten::Done {
                plan: StandingPlan::Write(w),
                ..
            } => !w.moves.is_empty(),
            StandingWritten::Done { .. } | StandingWritten::Duplicate => false,
        };
        if tightens && !moved {
            // Nothing was disabled after all (already so, or a superseded event).
            fanout.reread(disabled);
        }
        if let StandingWritten::Done {
            plan: StandingPlan::Write(w),
            ..
        } = &written
        {
            let lost = w.moves.iter().any(|m| m.to != AgentStatus::Active);
            let restored = w.moves.iter().any(|m| m.to == AgentStatus::Active);
            if lost {
                self.authority
                    .fanout
                    .apply(Change::OwnerDisabled(user_id))
                    .await;
            } else if restored {
                self.authority
                    .fanout
                    .apply(Change::OwnerRestored(user_id))
                    .await;
            }
            // Any cached entitlement answer for this user is now stale.
            self.authority
                .entitlements
                .forget(user_id, &w.user.client_id)
                .await;
        }
        Ok(written)
    }
}
