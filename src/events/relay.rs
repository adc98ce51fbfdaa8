//! Live events across replicas (Postgres only). Each replica publishes a compact copy
//! of its durable audit rows on the `agent_gateway_live` NOTIFY channel, and feeds what
//! the others publish into its own [`Hub`], so a page served by any replica shows the
//! whole deployment. A lost notification loses a feed line, never an audit row: the
//! audit log (and its export) read the store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{Hub, LiveEvent};
use crate::config::DatabaseUrl;

/// The NOTIFY channel.
pub const CHANNEL: &str = "agent_gateway_live";
/// Postgres refuses a payload of 8000 bytes or more; stay well under.
const MAX_PAYLOAD: usize = 7_000;
/// The longest reason relayed, in bytes (the audit log holds the whole text).
const MAX_REASON: usize = 300;

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    replica: Uuid,
    events: Vec<LiveEvent>,
}

/// Where a hub queues its rows for the other replicas.
#[derive(Debug, Clone)]
pub struct Outbox {
    replica: Uuid,
    tx: mpsc::Sender<Vec<LiveEvent>>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Vec<LiveEvent>>>>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// A new outbox for this replica.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(256);
        Self {
            replica: Uuid::new_v4(),
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }

    /// Queues events for the other replicas; a full queue drops them (a feed line lost,
    /// never an audit row).
    pub fn send(&self, events: &[LiveEvent]) {
        if self.tx.try_send(events.to_vec()).is_err() {
            tracing::debug!("live relay queue full; feed lines not relayed");
        }
    }
}

/// Starts the publisher and the listener, when the store is Postgres and the hub relays.
pub fn spawn(hub: &Hub, database: &DatabaseUrl) -> Vec<JoinHandle<()>> {
    let (Some(outbox), Some(url)) = (hub.relay.clone(), database.expose_postgres()) else {
        return Vec::new();
    };
    let Some(rx) = outbox.rx.lock().ok().and_then(|mut r| r.take()) else {
        return Vec::new();
    };
    let pool = match PgPoolOptions::new().max_connections(2).connect_lazy(url) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "live relay disabled: cannot open a pool");
            return Vec::new();
        }
    };
    let publisher = tokio::spawn(publish(pool.clone(), outbox.replica, rx));
    let local = Hub {
        relay: None,
        ..hub.clone()
    };
    let listener = tokio::spawn(listen(pool, outbox.replica, local));
    vec![publisher, listener]
}

/// How long the publisher gathers events before a NOTIFY: under load one statement
/// carries a burst of audit batches instead of one each (every statement sent wakes a
/// backend, a cost the writes pay on the gateway's core); a feed line is that much late.
const GATHER: Duration = Duration::from_millis(10);

/// The most events gathered into one round of NOTIFYs.
const MAX_GATHERED: usize = 1024;

async fn publish(pool: PgPool, replica: Uuid, mut rx: mpsc::Receiver<Vec<LiveEvent>>) {
    while let Some(mut events) = rx.recv().await {
        let until = tokio::time::Instant::now() + GATHER;
        while events.len() < MAX_GATHERED {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(more)) => events.extend(more),
                Ok(None) | Err(_) => break,
            }
        }
        for payload in payloads(replica, events) {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "could not relay live events");
            }
        }
    }
}

/// The events as NOTIFY payloads under [`MAX_PAYLOAD`] bytes each, each one an
/// [`Envelope`]. Every event is encoded once and the payloads are put together from the
/// pieces (re-encoding a growing chunk after each event cost a dozen encodings per event).
fn payloads(replica: Uuid, events: Vec<LiveEvent>) -> Vec<String> {
    let head = format!(
        "{{\"replica\":{},\"events\":[",
        serde_json::to_string(&replica).unwrap_or_default()
    );
    const TAIL: &str = "]}";
    let fits = |body: &str, more: usize| head.len() + body.len() + more + TAIL.len() <= MAX_PAYLOAD;
    let mut out = Vec::new();
    let mut body = String::new();
    for mut event in events {
        if let Some(reason) = &mut event.reason {
            *reason = crate::audit::bounded(reason, MAX_REASON);
        }
        let Ok(json) = serde_json::to_string(&event) else {
            continue;
        };
        if !fits("", json.len()) {
            // Cannot travel even alone: a feed line lost, never an audit row.
            continue;
        }
        if !body.is_empty() && !fits(&body, 1 + json.len()) {
            out.push(format!("{head}{body}{TAIL}"));
            body.clear();
        }
        if !body.is_empty() {
            body.push(',');
        }
        body.push_str(&json);
    }
    if !body.is_empty() {
        out.push(format!("{head}{body}{TAIL}"));
    }
    out
}

async fn listen(pool: PgPool, replica: Uuid, hub: Hub) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "live relay cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN {CHANNEL} failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(note) => match serde_json::from_str::<Envelope>(note.payload()) {
                    Ok(env) if env.replica != replica => {
                        for event in env.events {
                            hub.publish(event);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "unreadable live event"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "live relay lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> LiveEvent {
        let row = crate::audit::AuditEvent::start(&format!("req-{i}"), "list_projects").finish(
            crate::store::Outcome::Allowed,
            Some(format!("reason {i} ").repeat(40)),
        );
        LiveEvent::of(&row)
    }

    #[test]
    fn payloads_are_envelopes_under_the_limit_and_keep_every_event_in_order() {
        let replica = Uuid::new_v4();
        let events: Vec<LiveEvent> = (0..500).map(event).collect();
        let sent = payloads(replica, events.clone());
        assert!(sent.len() > 1);
        let mut back = Vec::new();
        for p in &sent {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            let envelope: Envelope = serde_json::from_str(p).unwrap();
            assert_eq!(envelope.replica, replica);
            back.extend(envelope.events);
        }
        assert_eq!(back.len(), events.len());
        for (sent, got) in events.iter().zip(&back) {
            assert_eq!(
                sent.reason
                    .as_deref()
                    .map(|r| crate::audit::bounded(r, MAX_REASON)),
                got.reason
            );
        }
        assert!(payloads(replica, Vec::new()).is_empty());
    }
}
