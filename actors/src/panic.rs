//! Panic handling shared by every actor.
//!
//! An actor's `run` borrows its mailbox receiver; a panic unwinds out of `run`, the
//! borrow ends, and the actor's task starts a fresh actor state on the *same* mailbox.
//! Requests that were in the panicking actor's hands lose their reply sender, so their
//! callers see [`crate::ActorError::Dropped`] — an error, never an acknowledgement.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;

/// How often an actor may panic before it is given up on: more than `max` restarts
/// inside `window` stops it for good (its callers then see [`crate::ActorError::Gone`]).
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// Restarts allowed inside one window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max: 5,
            window: Duration::from_secs(10),
        }
    }
}

/// Runs `fut`, turning a panic into `Err(message)`.
pub async fn catch<F: Future>(fut: F) -> Result<F::Output, String> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|payload| panic_message(payload.as_ref()))
}

/// Counts an actor's panics against its [`RestartPolicy`].
#[derive(Debug)]
pub struct Restarts {
    policy: RestartPolicy,
    window_start: Instant,
    in_window: u32,
    total: u32,
}

impl Restarts {
    /// A fresh count.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            window_start: Instant::now(),
            in_window: 0,
            total: 0,
        }
    }

    /// Logs the panic and says whether the actor may start again.
    pub fn record(&mut self, actor: &str, panic: &str) -> bool {
        if self.window_start.elapsed() > self.policy.window {
            self.window_start = Instant::now();
            self.in_window = 0;
        }
        self.in_window += 1;
        self.total += 1;
        let restart = self.in_window <= self.policy.max;
        if restart {
            tracing::error!(
                actor,
                panic,
                restarts = self.total,
                "actor panicked; restarting"
            );
        } else {
            tracing::error!(
                actor,
                panic,
                restarts = self.total,
                "actor panicked too often; giving up"
            );
        }
        restart
    }

    /// Restarts so far.
    pub fn total(&self) -> u32 {
        self.total
    }
}

/// The message a panic carried, when it was a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
