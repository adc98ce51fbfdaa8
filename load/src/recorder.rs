//! What the agents measured: latencies per operation, errors by kind and the
//! per-second series, for one agent or merged for the run.

use std::collections::BTreeMap;

/// One second of the measured phase: tool calls answered in it, errors, latencies.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bucket {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) latencies_us: Vec<u32>,
}

/// Latencies (µs) per operation, error counts per kind and the per-second series,
/// for one agent or merged.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) latencies_us: BTreeMap<String, Vec<u64>>,
    pub(crate) errors: BTreeMap<String, u64>,
    /// Every request sent (handshake included).
    pub(crate) requests: u64,
    /// Tool calls sent in the measured phase.
    pub(crate) calls: u64,
    /// Requests refused with 401 after the harness revoked the agent (or blocked its
    /// owner): expected, so not errors.
    pub(crate) expected_refusals: u64,
    /// Requests *sent after* the revoke call returned that were nevertheless served:
    /// each one is a violation of "in force on this replica when the call returns".
    pub(crate) served_after_revoke: u64,
    /// Paced sends that left later than scheduled by more than 10 ms (the generator
    /// could not keep the offered rate).
    pub(crate) late_sends: u64,
    pub(crate) streams_opened: u64,
    pub(crate) series: Vec<Bucket>,
}

impl Recorder {
    pub(crate) fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub(crate) fn bucket(&mut self, second: usize) -> &mut Bucket {
        if self.series.len() <= second {
            self.series.resize(second + 1, Bucket::default());
        }
        &mut self.series[second]
    }

    pub(crate) fn merge(&mut self, other: Recorder) {
        for (op, mut l) in other.latencies_us {
            self.latencies_us.entry(op).or_default().append(&mut l);
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.requests += other.requests;
        self.calls += other.calls;
        self.expected_refusals += other.expected_refusals;
        self.served_after_revoke += other.served_after_revoke;
        self.late_sends += other.late_sends;
        self.streams_opened += other.streams_opened;
        for (i, mut b) in other.series.into_iter().enumerate() {
            let mine = self.bucket(i);
            mine.calls += b.calls;
            mine.errors += b.errors;
            mine.latencies_us.append(&mut b.latencies_us);
        }
    }
}
