//! Revocation events: what [`crate::Supervisor::revoke`] puts in force on the actors
//! they concern.
//!
//! Across replicas the service feeds the same call from Postgres `LISTEN/NOTIFY`, so an
//! actor never needs to know where an event came from.

use uuid::Uuid;

/// A change that takes effect on every actor it concerns, at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// One agent was revoked (by hand or by the owner): refuse it from now on.
    Agent(Uuid),
    /// Every agent of this owner was disabled (entitlement withdrawn, owner blocked or
    /// annulled).
    Owner(Uuid),
    /// The agent's grants, scopes or limits changed: reload its profile.
    Reload(Uuid),
}

impl Revocation {
    /// Whether this event concerns the agent `agent_id` owned by `owner_id`.
    pub fn concerns(&self, agent_id: Uuid, owner_id: Uuid) -> bool {
        match *self {
            Revocation::Agent(id) | Revocation::Reload(id) => id == agent_id,
            Revocation::Owner(id) => id == owner_id,
        }
    }
}
