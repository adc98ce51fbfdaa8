//! The pages' SSE streams: one per page, pushed from the live-event hub (durable audit
//! rows of this replica and, on Postgres, of every other), never by polling the store.
//!
//! A stream re-reads the agent list only when an event says it changed (a creation, a
//! revocation, an entitlement change), re-renders the board at most once a second
//! while events arrive, and every [`AGE_TICK`] anyway, so "12 s ago" keeps counting and
//! a silent agent turns stale on screen. A page that fell behind the hub gets a fresh
//! board. Streams end when the gateway shuts down; the page then says "Reconnecting"
//! and its browser reconnects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::admin::{self, Owners};
use super::error::UiError;
use super::session::{AdminSession, OwnerSession};
use crate::events::LiveEvent;
use crate::gateway::Gateway;
use crate::store::Agent;

/// How often a board is re-rendered without events (ages, stale agents).
pub const AGE_TICK: Duration = Duration::from_secs(2);
/// The shortest gap between two board renders while events arrive.
const THROTTLE: Duration = Duration::from_millis(400);

/// The shutdown signal the streams watch (the MCP layer's: one for the whole server).
#[derive(Debug, Clone)]
pub struct Closing(pub watch::Receiver<bool>);

/// What a stream waits for next.
enum Wake {
    Event(Arc<LiveEvent>),
    Lagged,
    Tick,
    End,
}

async fn next(
    rx: &mut broadcast::Receiver<Arc<LiveEvent>>,
    tick: &mut tokio::time::Interval,
    closing: &mut watch::Receiver<bool>,
) -> Wake {
    if *closing.borrow() {
        return Wake::End;
    }
    tokio::select! {
        got = rx.recv() => match got {
            Ok(e) => Wake::Event(e),
            Err(RecvError::Lagged(_)) => Wake::Lagged,
            Err(RecvError::Closed) => Wake::End,
        },
        _ = tick.tick() => Wake::Tick,
        _ = closing.changed() => Wake::End,
    }
}

fn event(name: &str, html: maud::Markup) -> Event {
    Event::default().event(name).data(html.into_string())
}

struct AdminState {
    gw: Gateway,
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    tick: tokio::time::Interval,
    closing: watch::Receiver<bool>,
    agents: Vec<Agent>,
    owners: Owners,
    names: super::view::ProjectNames,
    last_board: tokio::time::Instant,
    first: bool,
}

impl AdminState {
    async fn reload(&mut self) {
        match self.gw.store.list_agents(None).await {
            Ok(agents) => self.agents = agents,
            Err(e) => tracing::warn!(error = %e, "live board could not reload agents"),
        }
        match admin::owners(&self.gw).await {
            Ok(owners) => self.owners = owners,
            Err(e) => tracing::warn!(error = %e, "live board could not reload owners"),
        }
        self.names = super::view::project_names(&self.gw).await;
    }

    fn board(&mut self) -> Event {
        self.last_board = tokio::time::Instant::now();
        event(
            "board",
            admin::board(&self.gw, &self.agents, &self.owners, &self.names),
        )
    }

    async fn step(&mut self) -> Option<Vec<Event>> {
        if self.first {
            self.first = false;
            return Some(vec![self.board()]);
        }
        Some(
            match next(&mut self.rx, &mut self.tick, &mut self.closing).await {
                Wake::End => return None,
                Wake::Lagged => {
                    self.reload().await;
                    vec![self.board()]
                }
                Wake::Tick => vec![self.board()],
                Wake::Event(e) => {
                    let mut out = vec![event("feed", admin::feed_item(&e, &self.owners))];
                    if e.changes_agents() {
                        self.reload().await;
                        out.push(self.board());
                    } else if self.last_board.elapsed() >= THROTTLE {
                        out.push(self.board());
                    }
                    out
                }
            },
        )
    }
}

/// `GET /ui/admin/stream`.
pub async fn admin_stream(
    AdminSession(_): AdminSession,
    State(gw): State<Gateway>,
    Extension(Closing(closing)): Extension<Closing>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let rx = gw.auditor.live().subscribe();
    let agents = gw.store.list_agents(None).await?;
    let owners = admin::owners(&gw).await?;
    let names = super::view::project_names(&gw).await;
    let mut tick = tokio::time::interval(AGE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let state = AdminState {
        gw,
        rx,
        tick,
        closing,
        agents,
        owners,
        names,
        last_board: tokio::time::Instant::now(),
        first: true,
    };
    let events = stream::unfold(state, |mut s| async move {
        let out = s.step().await?;
        Some((out, s))
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct OwnerState {
    gw: Gateway,
    me: Uuid,
    csrf: String,
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    tick: tokio::time::Interval,
    closing: watch::Receiver<bool>,
    agents: Vec<Agent>,
    names: super::view::ProjectNames,
}

impl OwnerState {
    fn mine(&self, e: &LiveEvent) -> bool {
        e.owner_id == Some(self.me)
            || e.subject()
                .is_some_and(|id| self.agents.iter().any(|a| a.id == id))
    }

    /// Re-reads the owner's agents; `false` when the owner may no longer sign in.
    async fn reload(&mut self) -> bool {
        match self.gw.store.get_user(self.me).await {
            Ok(Some(user)) if user.blocked => return false,
            Ok(None) => return false,
            _ => {}
        }
        match self.gw.store.list_agents(Some(self.me)).await {
            Ok(agents) => self.agents = agents,
            Err(e) => tracing::warn!(error = %e, "owner stream could not reload agents"),
        }
        self.names = super::view::project_names(&self.gw).await;
        true
    }

    fn list(&self) -> Event {
        event(
            "agents",
            super::owner::agents_list(&self.gw, &self.agents, &self.csrf, &self.names),
        )
    }

    fn pairing(&self, agent: Uuid) -> Option<Event> {
        let a = self.agents.iter().find(|a| a.id == agent)?;
        Some(event(
            &super::pairing::event_name(agent),
            super::pairing::status(&self.gw, a),
        ))
    }

    async fn step(&mut self) -> Option<Vec<Event>> {
        Some(
            match next(&mut self.rx, &mut self.tick, &mut self.closing).await {
                Wake::End => return None,
                Wake::Lagged => {
                    if !self.reload().await {
                        return None;
                    }
                    vec![self.list()]
                }
                Wake::Tick => vec![self.list()],
                Wake::Event(e) if self.mine(&e) => {
                    if e.changes_agents() && !self.reload().await {
                        return None;
                    }
                    let mut out = vec![self.list()];
                    if let Some(p) = e.subject().and_then(|id| self.pairing(id)) {
                        out.push(p);
                    }
                    out
                }
                Wake::Event(_) => Vec::new(),
            },
        )
    }
}

/// `GET /ui/agents/stream`.
pub async fn owner_stream(
    OwnerSession(session, me): OwnerSession,
    State(gw): State<Gateway>,
    Extension(Closing(closing)): Extension<Closing>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let rx = gw.auditor.live().subscribe();
    let agents = gw.store.list_agents(Some(me.id)).await?;
    let gw_names = gw.clone();
    let mut tick = tokio::time::interval(AGE_TICK * 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let state = OwnerState {
        gw,
        me: me.id,
        csrf: session.csrf,
        rx,
        tick,
        closing,
        agents,
        names: super::view::project_names(&gw_names).await,
    };
    let events = stream::unfold(state, |mut s| async move {
        let out = s.step().await?;
        Some((out, s))
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
