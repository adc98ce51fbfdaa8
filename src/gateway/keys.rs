//! Idempotency keys, claimed and settled in groups (group commit).
//!
//! Every keyed write claims its key before the Tasker is called and settles it after.
//! Alone, each is a statement, and every statement sent wakes a database backend, which
//! costs the gateway's core more than the statement costs the database. Here the claims
//! of all the calls waiting at one moment go to the store together, and so do the
//! settlements ([`gateway_actors::Batcher`]): under load one statement carries many
//! calls; with one call it runs alone at once. What each call is told is exactly what
//! claiming alone would tell it (`Store::idempotency_begin`).

use std::sync::Arc;

use gateway_actors::{BatchConfig, BatchRun, Batcher};

use crate::store::{IdempotencyClaim, IdempotencyState, Settlement, Store};

/// The store could not claim or settle a group (the error is logged once, with the
/// group's size; the calls are told to retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the idempotency store is unavailable")]
pub struct KeysUnavailable;

/// The key batchers of one gateway.
#[derive(Debug)]
pub struct Keys {
    claims: Batcher<IdempotencyClaim, Result<IdempotencyState, KeysUnavailable>>,
    settlements: Batcher<Settlement, Result<(), KeysUnavailable>>,
}

impl Keys {
    /// Starts the batchers over `store`.
    pub fn start(store: Arc<dyn Store>) -> Self {
        Self {
            claims: Batcher::start(
                "key-claims",
                Arc::new(Claims(Arc::clone(&store))),
                BatchConfig::default(),
            ),
            settlements: Batcher::start(
                "key-settlements",
                Arc::new(Settlements(store)),
                BatchConfig::default(),
            ),
        }
    }

    /// Claims a key for a call, or says what holds it.
    pub async fn claim(
        &self,
        claim: IdempotencyClaim,
    ) -> Result<IdempotencyState, KeysUnavailable> {
        self.claims.call(claim).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "an idempotency claim got no answer");
            Err(KeysUnavailable)
        })
    }

    /// Stores a finished call's response under its key.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), KeysUnavailable> {
        self.settlements.call(settlement).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "an idempotency settlement got no answer");
            Err(KeysUnavailable)
        })
    }
}

struct Claims(Arc<dyn Store>);

impl BatchRun<IdempotencyClaim, Result<IdempotencyState, KeysUnavailable>> for Claims {
    async fn run(
        &self,
        batch: Vec<IdempotencyClaim>,
    ) -> Vec<Result<IdempotencyState, KeysUnavailable>> {
        match self.0.idempotency_begin(&batch).await {
            Ok(states) => states.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::error!(error = %e, claims = batch.len(), "the idempotency store failed to claim keys");
                vec![Err(KeysUnavailable); batch.len()]
            }
        }
    }
}

struct Settlements(Arc<dyn Store>);

impl BatchRun<Settlement, Result<(), KeysUnavailable>> for Settlements {
    async fn run(&self, batch: Vec<Settlement>) -> Vec<Result<(), KeysUnavailable>> {
        let outcome = self.0.idempotency_finish(&batch).await.map_err(|e| {
            tracing::error!(error = %e, settlements = batch.len(), "the idempotency store failed to settle keys");
            KeysUnavailable
        });
        vec![outcome; batch.len()]
    }
}
