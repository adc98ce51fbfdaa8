//! One SQLite writer at a time, waiting in line rather than in SQLite's busy handler.
//!
//! SQLite lets one connection write at a time. This process has several connections that
//! write to the same file: the store's, the embedded tracker's, the audit writers'. When
//! they collide, the losers wait in SQLite's busy handler, which sleeps 1, 2, 5, 10 …
//! up to 100 ms between retries: at 16 concurrent writers the database sat idle between
//! those sleeps and a write's p99 reached 0.5–1 s (docs/PERFORMANCE.md, fifth round).
//!
//! So every write transaction on a SQLite file first takes that file's turn: a FIFO
//! semaphore shared by every pool this process opened on the file, held until the
//! transaction ends. The next writer starts as soon as the previous one has committed.
//! Readers take no turn (WAL lets them read during a write). The busy timeout stays, for
//! writers in other processes (`agent-gateway migrate`, a `sqlite3` shell) and for a
//! write that waited for its turn longer than [`TURN_WAIT`], which goes ahead and lets
//! SQLite decide as before. On Postgres there is no gate.
//!
//! A holder of a turn must not ask for another on the same file: a write transaction
//! never calls a store or tracker method that writes. And the turn comes before the
//! pooled connection, everywhere: a writer waiting for its turn then holds no connection
//! that the writer in its turn may be waiting for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a writer waits for its turn before going ahead without it (SQLite's busy
/// timeout then applies, as it does to writers in other processes).
pub const TURN_WAIT: Duration = Duration::from_secs(5);

/// The gates of the SQLite files open in this process, by canonical path. Weak: a gate
/// goes when the last pool on its file does.
static GATES: LazyLock<Mutex<HashMap<PathBuf, Weak<Semaphore>>>> = LazyLock::new(Mutex::default);

/// A database file's write gate; cheap to clone. [`WriteGate::none`] on Postgres.
#[derive(Debug, Clone, Default)]
pub struct WriteGate(Option<Arc<Semaphore>>);

/// A writer's turn: the next writer's starts when this is dropped.
#[derive(Debug)]
pub struct WriteTurn {
    _permit: Option<OwnedSemaphorePermit>,
}

impl WriteGate {
    /// No gate: every writer goes at once (Postgres, which has row locks).
    pub fn none() -> Self {
        Self(None)
    }

    /// The gate of the SQLite file at `path`, shared with every other pool this process
    /// has open on it. Call once the file exists, so that two spellings of one path find
    /// one gate.
    pub fn for_file(path: &Path) -> Self {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
        gates.retain(|_, gate| gate.strong_count() > 0);
        if let Some(gate) = gates.get(&key).and_then(Weak::upgrade) {
            return Self(Some(gate));
        }
        let gate = Arc::new(Semaphore::new(1));
        gates.insert(key, Arc::downgrade(&gate));
        Self(Some(gate))
    }

    /// Waits for this file's write turn (at once without a gate). After [`TURN_WAIT`]
    /// goes ahead without it, with a warning: a turn held that long is a stuck writer,
    /// and SQLite's own busy timeout is the judge from there.
    pub async fn turn(&self) -> WriteTurn {
        let Some(gate) = &self.0 else {
            return WriteTurn { _permit: None };
        };
        match tokio::time::timeout(TURN_WAIT, Arc::clone(gate).acquire_owned()).await {
            Ok(Ok(permit)) => WriteTurn {
                _permit: Some(permit),
            },
            // The semaphore is never closed; were it, going ahead is what is left.
            Ok(Err(_)) => WriteTurn { _permit: None },
            Err(_) => {
                tracing::warn!(
                    waited_secs = TURN_WAIT.as_secs(),
                    "a SQLite write waited this long for the previous one to end; going ahead"
                );
                WriteTurn { _permit: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_per_file_across_pools_and_spellings() {
        let dir = std::env::temp_dir().join(format!("agw-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db.sqlite");
        std::fs::write(&file, b"").unwrap();
        let a = WriteGate::for_file(&file);
        let b = WriteGate::for_file(&dir.join(".").join("db.sqlite"));
        let first = a.turn().await;
        // The other pool's writer waits for the first to end, in line.
        let second = tokio::spawn(async move { b.turn().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "a second writer went while the first held the turn"
        );
        drop(first);
        let _second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the second writer got its turn once the first ended")
            .unwrap();
        // Another file, and no gate at all, never wait.
        let other = dir.join("other.sqlite");
        std::fs::write(&other, b"").unwrap();
        let _other = WriteGate::for_file(&other).turn().await;
        let _none = WriteGate::none().turn().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
