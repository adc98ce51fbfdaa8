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

use super::admin;
use super::error::UiError;
use super::session::{AdminSession, OwnerSession};
use super::snapshot::Snapshot;
use crate::events::LiveEvent;
use crate::gateway::Gateway;

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
    snap: Snapshot,
    last_board: tokio::time::Instant,
    first: bool,
}

impl AdminState {
    fn board(&mut self) -> Event {
        self.last_board = tokio::time::Instant::now();
        event("board", admin::board(&self.gw, &self.snap))
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
                    match Snapshot::load(&self.gw, None).await {
                        Ok(fresh) => self.snap = fresh,
                        Err(e) => tracing::warn!(error = %e, "live board could not reload"),
                    }
                    vec![self.board()]
                }
                Wake::Tick => vec![self.board()],
                Wake::Event(e) => {
                    let before = self.snap.agents.len();
                    // First brought up to date, so the line can name a user it just learnt of.
                    self.snap.apply(&self.gw, &e).await;
                    let mut out = vec![event("feed", admin::feed_item(&e, &self.snap))];
                    if e.changes_agents()
                        || before != self.snap.agents.len()
                        || self.last_board.elapsed() >= THROTTLE
                    {
                        out.push(self.board());
                    }
                    out
                }
            },
        )
    }
}

fn tick(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    tick
}

/// `GET /ui/admin/stream`.
pub async fn admin_stream(
    AdminSession(_): AdminSession,
    State(gw): State<Gateway>,
    Extension(Closing(closing)): Extension<Closing>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let rx = gw.auditor.live().subscribe();
    let snap = Snapshot::load(&gw, None).await?;
    let state = AdminState {
        gw,
        rx,
        tick: tick(AGE_TICK),
        closing,
        snap,
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
    /// The list as last sent (a tick that changes nothing sends nothing).
    shown: String,
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    tick: tokio::time::Interval,
    closing: watch::Receiver<bool>,
    snap: Snapshot,
}

impl OwnerState {
    fn mine(&self, e: &LiveEvent) -> bool {
        e.owner_id == Some(self.me)
            || e.subject()
                .is_some_and(|id| self.snap.agents.iter().any(|a| a.id == id))
    }

    /// Whether the owner may still be signed in (a blocked owner's stream ends).
    async fn still_allowed(&self) -> bool {
        !matches!(self.gw.store.get_user(self.me).await, Ok(Some(u)) if u.blocked)
    }

    /// The list, when it differs from what the page shows.
    fn list(&mut self) -> Option<Event> {
        let html = super::owner::agents_list(&self.gw, &self.snap).into_string();
        if html == self.shown {
            return None;
        }
        self.shown.clone_from(&html);
        Some(Event::default().event("agents").data(html))
    }

    fn pairing(&self, agent: Uuid) -> Option<Event> {
        let a = self.snap.agents.iter().find(|a| a.id == agent)?;
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
                    match Snapshot::load(&self.gw, Some(self.me)).await {
                        Ok(fresh) => self.snap = fresh,
                        Err(e) => tracing::warn!(error = %e, "owner stream could not reload"),
                    }
                    self.list().into_iter().collect()
                }
                Wake::Tick => self.list().into_iter().collect(),
                Wake::Event(e) if self.mine(&e) => {
                    if e.changes_agents() && !self.still_allowed().await {
                        return None;
                    }
                    self.snap.apply(&self.gw, &e).await;
                    let mut out: Vec<Event> = self.list().into_iter().collect();
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
    OwnerSession(_, me): OwnerSession,
    State(gw): State<Gateway>,
    Extension(Closing(closing)): Extension<Closing>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let rx = gw.auditor.live().subscribe();
    let snap = Snapshot::load(&gw, Some(me.id)).await?;
    let shown = super::owner::agents_list(&gw, &snap).into_string();
    let state = OwnerState {
        gw,
        me: me.id,
        shown,
        rx,
        tick: tick(AGE_TICK),
        closing,
        snap,
    };
    let events = stream::unfold(state, |mut s| async move {
        let out = s.step().await?;
        Some((out, s))
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
