//! Tests of the runtime, one per failure mode, by subject. The loader and sink here are
//! in-memory stand-ins for the service's store: this crate has no store of its own.

mod calls;
mod supervisor;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Sets its flag when dropped: a future holding one shows whether it was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Yields to the runtime until `done` holds: for waiting on a spawned task's progress.
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::task::yield_now().await;
    }
}
