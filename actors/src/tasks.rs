//! Tracked tasks: every long-lived task the runtime spawns lives in a [`JoinSet`], so
//! nothing runs on unseen.
//!
//! * A task that panics is reported (logged with its panic message) when it is reaped,
//!   instead of vanishing with a dropped `JoinHandle`.
//! * [`Tasks::shutdown`] refuses new tasks and waits for the running ones;
//!   [`Tasks::abort`] refuses new tasks and cancels the running ones. Either way, once it
//!   returns no task of the set is left and none can be added.
//! * Dropping a [`Tasks`] drops its `JoinSet`, which aborts whatever still runs: an owner
//!   that is dropped without a shutdown takes its tasks with it.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::task::{JoinError, JoinSet};

use crate::panic::panic_message;

/// A named set of tracked tasks that can be closed.
#[derive(Debug)]
pub(crate) struct Tasks {
    kind: &'static str,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    set: JoinSet<()>,
    closed: bool,
}

impl Tasks {
    /// An empty, open set; `kind` names its tasks in logs.
    pub(crate) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            state: Mutex::new(State::default()),
        }
    }

    /// Spawns `task`, first reaping finished tasks so the set does not grow. Returns
    /// `false`, without running `task`, once the set is closed.
    pub(crate) fn spawn<F>(&self, task: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        while let Some(done) = state.set.try_join_next() {
            self.reap(done);
        }
        state.set.spawn(task);
        true
    }

    /// Refuses new tasks and waits for every running one to finish.
    pub(crate) async fn shutdown(&self) {
        let mut set = self.close();
        while let Some(done) = set.join_next().await {
            self.reap(done);
        }
    }

    /// Refuses new tasks, aborts the running ones and waits until they are gone.
    pub(crate) async fn abort(&self) {
        self.close().shutdown().await;
    }

    fn close(&self) -> JoinSet<()> {
        let mut state = self.lock();
        state.closed = true;
        std::mem::take(&mut state.set)
    }

    fn reap(&self, done: Result<(), JoinError>) {
        if let Err(error) = done {
            report(self.kind, error);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Logs a task that did not finish: its panic message, or that it was cancelled.
pub(crate) fn report(kind: &str, error: JoinError) {
    if error.is_panic() {
        let panic = panic_message(error.into_panic().as_ref());
        tracing::error!(tasks = kind, panic, "a tracked task panicked");
    } else {
        tracing::debug!(tasks = kind, "a tracked task was cancelled");
    }
}
