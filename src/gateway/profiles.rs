//! The agent actors' [`ProfileLoader`], backed by the store: an agent's grants, rate
//! limit, standing (its status, and its owner's entitlement and blocked flag) and its
//! open work session's mark.

use std::num::NonZeroU32;
use std::sync::Arc;

use futures::future::BoxFuture;
use gateway_actors::{AgentProfile, Grant, ProfileLoader, RateSpec};
use uuid::Uuid;

use crate::store::{AgentStatus, Store};

/// Loads profiles for the agent actors from `store`; agents without their own rate get
/// `default_rate`.
pub fn profile_loader(store: Arc<dyn Store>, default_rate: RateSpec) -> Arc<dyn ProfileLoader> {
    Arc::new(StoreProfiles {
        store,
        default_rate,
    })
}

struct StoreProfiles {
    store: Arc<dyn Store>,
    default_rate: RateSpec,
}

impl ProfileLoader for StoreProfiles {
    fn load(&self, agent_id: Uuid) -> BoxFuture<'_, Result<Option<AgentProfile>, String>> {
        Box::pin(async move {
            let Some(record) = self
                .store
                .agent_profile(agent_id)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let session = self
                .store
                .open_session(agent_id)
                .await
                .map_err(|e| e.to_string())?
                .map(|s| s.mark());
            let agent = record.agent;
            let rate = RateSpec {
                per_minute: agent
                    .rate_per_minute
                    .and_then(NonZeroU32::new)
                    .unwrap_or(self.default_rate.per_minute),
                burst: agent
                    .rate_burst
                    .and_then(NonZeroU32::new)
                    .unwrap_or(self.default_rate.burst),
            };
            Ok(Some(AgentProfile {
                agent_id: agent.id,
                owner_id: agent.owner_id,
                name: agent.name,
                active: agent.status == AgentStatus::Active
                    && !record.owner.blocked
                    && record.owner.codex_agents,
                grants: agent
                    .grants
                    .into_iter()
                    .map(|g| Grant {
                        project_id: g.project_id,
                        scopes: g.scopes.into_iter().collect(),
                    })
                    .collect(),
                rate,
                session,
                stop_refuses_writes: agent.stop_refuses_writes,
            }))
        })
    }
}
