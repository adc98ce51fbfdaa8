//! The mailboxes of a set of like actors (audit writers, batchers): a message goes to the
//! actor a caller names or to the next in turn, and on to the following one when that
//! actor has given up after repeated panics. A full mailbox is waited on for a bounded
//! time (backpressure), never skipped: a caller is slowed, not answered out of order.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::tasks::Tasks;

/// Why no mailbox took a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The chosen mailbox stayed full for the whole wait.
    Overloaded,
    /// Every actor has stopped.
    Closed,
}

/// The mailboxes, in a fixed order.
pub(crate) struct Mailboxes<M> {
    senders: Vec<mpsc::Sender<M>>,
    next: AtomicUsize,
    wait: Duration,
}

impl<M> Mailboxes<M> {
    /// Mailboxes that wait at most `wait` for room.
    pub(crate) fn new(senders: Vec<mpsc::Sender<M>>, wait: Duration) -> Self {
        Self {
            senders,
            next: AtomicUsize::new(0),
            wait,
        }
    }

    /// Starts `n` actors (at least one), each on a mailbox of its own holding `capacity`
    /// messages: `actor(index, receiver)` is the actor's task, tracked in `tasks`.
    pub(crate) fn start<F, Fut>(
        (n, capacity, wait): (usize, usize, Duration),
        tasks: &Tasks,
        mut actor: F,
    ) -> Self
    where
        F: FnMut(usize, mpsc::Receiver<M>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let senders = (0..n.max(1))
            .map(|index| {
                let (tx, rx) = mpsc::channel(capacity.max(1));
                tasks.spawn(actor(index, rx));
                tx
            })
            .collect();
        Self::new(senders, wait)
    }

    /// How many actors there are.
    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }

    /// Every mailbox, for a message each actor must see (a flush marker).
    pub(crate) fn all(&self) -> &[mpsc::Sender<M>] {
        &self.senders
    }

    /// How long a sender waits for room.
    pub(crate) fn wait(&self) -> Duration {
        self.wait
    }

    /// Sends `message` to the next actor in turn.
    pub(crate) async fn send(&self, message: M) -> Result<(), Refused> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        self.send_from(start, message).await
    }

    /// Sends `message` to actor `start` (modulo their number), or, if that one has
    /// stopped, to the next one still running.
    pub(crate) async fn send_from(&self, start: usize, mut message: M) -> Result<(), Refused> {
        let n = self.senders.len();
        for offset in 0..n {
            let tx = &self.senders[(start + offset) % n];
            match tx.send_timeout(message, self.wait).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => return Err(Refused::Overloaded),
                // That actor gave up after repeated panics: try the next one.
                Err(mpsc::error::SendTimeoutError::Closed(back)) => message = back,
            }
        }
        Err(Refused::Closed)
    }
}
