//! Writer pools: group commit, ack only after durable, panics, shutdown flush.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::*;

#[derive(Default)]
struct Recording {
    batches: Mutex<Vec<Vec<u32>>>,
    fail: std::sync::atomic::AtomicBool,
}

impl BatchSink<u32> for Recording {
    async fn write(&self, batch: &[u32]) -> Result<(), String> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err("store down".into());
        }
        if batch.contains(&666) {
            panic!("poisoned row");
        }
        self.batches.lock().unwrap().push(batch.to_vec());
        Ok(())
    }
}

fn pool(sink: Arc<Recording>, writers: usize) -> Arc<WriterPool<u32>> {
    Arc::new(WriterPool::start(
        "test",
        sink,
        WriterConfig {
            writers,
            max_batch: 64,
            max_delay: Duration::from_millis(2),
            retries: 1,
            ..WriterConfig::default()
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_batched_and_each_is_acked_after_its_flush() {
    let sink = Arc::new(Recording::default());
    let pool = pool(sink.clone(), 2);
    let mut tasks = Vec::new();
    for i in 0..500u32 {
        let (pool, sink) = (pool.clone(), sink.clone());
        tasks.push(tokio::spawn(async move {
            pool.write(i).await.unwrap();
            // Acknowledged means flushed: the row is in a recorded batch already.
            assert!(
                sink.batches.lock().unwrap().iter().any(|b| b.contains(&i)),
                "row {i} acked before its flush"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let batches = sink.batches.lock().unwrap();
    let mut all: Vec<u32> = batches.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..500).collect::<Vec<_>>(),
        "every row written exactly once"
    );
    assert!(
        batches.len() < 500,
        "rows were batched ({} batches)",
        batches.len()
    );
    assert!(
        batches.iter().all(|b| b.len() <= 64),
        "no batch over max_batch"
    );
}

#[tokio::test]
async fn a_failing_sink_acks_nobody() {
    let sink = Arc::new(Recording::default());
    sink.fail.store(true, Ordering::SeqCst);
    let pool = pool(sink.clone(), 1);
    let results = futures::future::join_all((0..10).map(|i| pool.write(i))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(WriteError::Failed(_)))),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_panicking_sink_drops_its_batch_and_the_writer_restarts() {
    let sink = Arc::new(Recording::default());
    let pool = pool(sink.clone(), 1);
    assert_eq!(pool.write(666).await, Err(WriteError::Dropped));
    assert_eq!(pool.write(7).await, Ok(()));
    assert!(sink
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .any(|&r| r == 7));
}

#[tokio::test]
async fn shutdown_flushes_queued_rows() {
    let sink = Arc::new(Recording::default());
    let pool = pool(sink.clone(), 2);
    for i in 0..100 {
        pool.submit(i).await.unwrap();
    }
    pool.shutdown().await;
    assert_eq!(sink.batches.lock().unwrap().iter().flatten().count(), 100);
    assert_eq!(pool.submit(1).await, Err(WriteError::Closed));
}

/// Every row the sink has made durable so far.
fn rows(sink: &Recording) -> Vec<u32> {
    sink.batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .copied()
        .collect()
}

#[tokio::test]
async fn rows_nobody_waits_for_linger_until_a_flush_or_a_waiting_row() {
    let sink = Arc::new(Recording::default());
    let pool = Arc::new(WriterPool::start(
        "test",
        sink.clone(),
        WriterConfig {
            writers: 2,
            max_batch: 64,
            max_delay: Duration::from_millis(1),
            // Far longer than the test: only a flush or a waiting row ends these batches.
            lazy_delay: Duration::from_secs(600),
            retries: 0,
            ..WriterConfig::default()
        },
    ));
    for i in 0..10 {
        pool.submit(i).await.unwrap();
    }
    pool.flush().await.unwrap();
    let written = rows(&sink);
    assert_eq!(written.len(), 10, "{written:?}");
    // Lazy rows followed by a row a caller waits for: all are durable when it is acked.
    pool.submit(100).await.unwrap();
    pool.write(101).await.unwrap();
    let written = rows(&sink);
    assert!(written.contains(&101), "{written:?}");
    // A flush with nothing queued returns at once, and the pool still works.
    pool.flush().await.unwrap();
    pool.flush().await.unwrap();
    let written = rows(&sink);
    assert!(written.contains(&100), "{written:?}");
    pool.shutdown().await;
}
