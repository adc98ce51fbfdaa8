//! `GET /mcp`: the session revisions' SSE stream, and the bound on how many are open.
//!
//! The gateway sends no server-to-client messages yet (its tool list does not change
//! during a session), so a stream carries keep-alives until the client leaves, the
//! gateway shuts down, or the agent loses its standing — which closes it at once. Open
//! streams are bounded per agent (`GATEWAY_MAX_STREAMS_PER_AGENT`) and per replica
//! (`GATEWAY_MAX_STREAMS`): one more is answered 429, so no agent can hold every
//! connection the server has.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use futures::stream;
use uuid::Uuid;

use super::auth::{Caller, Refused};
use super::error::{Era, McpError};
use super::transport::{session_request, Mcp};

/// The open streams of this replica.
#[derive(Debug)]
pub struct Streams {
    total: AtomicUsize,
    per_agent: DashMap<Uuid, usize>,
    max_total: usize,
    max_per_agent: usize,
}

/// One open stream's place; released when dropped.
#[derive(Debug)]
pub struct Slot {
    streams: Arc<Streams>,
    agent_id: Uuid,
}

impl Streams {
    /// At most `max_total` streams, `max_per_agent` of one agent.
    pub fn new(max_total: usize, max_per_agent: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            per_agent: DashMap::new(),
            max_total,
            max_per_agent,
        }
    }

    /// Takes a place for one more stream of `agent_id`, or says why there is none.
    pub fn open(self: &Arc<Self>, agent_id: Uuid) -> Result<Slot, McpError> {
        let mut held = self.per_agent.entry(agent_id).or_insert(0);
        if *held >= self.max_per_agent {
            return Err(McpError::TooManyStreams(format!(
                "this agent already holds {} open streams, the most allowed; close one (DELETE the session or end the request) before opening another",
                *held
            )));
        }
        let taken = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(McpError::TooManyStreams(
                "the gateway holds as many open streams as it allows; retry later".into(),
            ));
        }
        *held += 1;
        Ok(Slot {
            streams: Arc::clone(self),
            agent_id,
        })
    }

    /// Open streams in total.
    pub fn open_count(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.streams.total.fetch_sub(1, Ordering::AcqRel);
        self.streams
            .per_agent
            .remove_if_mut(&self.agent_id, |_, held| {
                *held = held.saturating_sub(1);
                *held == 0
            });
    }
}

/// `GET /mcp`: an SSE stream for server-to-client messages. The gateway sends none yet
/// (its tool list does not change during a session), so the stream carries keep-alives
/// until the client leaves — or until the agent is revoked, which closes it at once.
pub async fn get(
    State(mcp): State<Mcp>,
    headers: HeaderMap,
    caller: Result<Caller, Refused>,
) -> Response {
    let caller = match session_request(&mcp, &headers, caller).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let who = &caller.who;
    let revoked = match mcp.gw.supervisor.watch_revoked(who.agent_id).await {
        Ok(Some(revoked)) => revoked,
        Ok(None) => return mcp.respond(Era::Sessions, None, McpError::Revoked),
        Err(e) => {
            tracing::error!(error = %e, "the agent runtime could not open a stream");
            return mcp.respond(
                Era::Sessions,
                None,
                McpError::Unavailable("the agent runtime is unavailable; retry shortly".into()),
            );
        }
    };
    if *revoked.borrow() {
        return mcp.respond(Era::Sessions, None, McpError::Revoked);
    }
    let slot = match mcp.streams.open(who.agent_id) {
        Ok(slot) => slot,
        Err(error) => return mcp.respond(Era::Sessions, None, error),
    };
    let supervisor = mcp.gw.supervisor.clone();
    let agent_id = who.agent_id;
    let closing = mcp.closing.clone();
    // The slot rides in the stream's state: dropped, with the stream, when it ends.
    let stream = stream::unfold(Some((revoked, slot)), move |state| {
        let supervisor = supervisor.clone();
        let mut closing = closing.clone();
        async move {
            let (mut revoked, _slot) = state?;
            loop {
                let changed = tokio::select! {
                    changed = revoked.wait_for(|r| *r) => changed.map(|_| ()),
                    _ = closing.wait_for(|c| *c) => return None,
                };
                match changed {
                    // Revoked: end the stream now.
                    Ok(_) => return None::<(Result<Event, Infallible>, _)>,
                    // The actor idled out while the stream stayed open: watch its
                    // successor (started afresh from the store, so a revocation that
                    // landed meanwhile is seen).
                    Err(_) => match supervisor.watch_revoked(agent_id).await {
                        Ok(Some(next)) if !*next.borrow() => revoked = next,
                        _ => return None,
                    },
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
