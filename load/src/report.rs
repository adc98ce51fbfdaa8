//! The report: totals, throughput, latency percentiles per operation, errors by kind;
//! as an aligned table or as JSON.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use crate::agent::Recorder;

/// Latencies of one operation (an MCP method, or a tool for `tools/call`), in ms.
#[derive(Debug, Clone, Serialize)]
pub struct OpStats {
    /// `initialize`, `notifications/initialized`, `tools/list`, or a tool name.
    pub op: String,
    /// How many were sent (answered or not).
    pub count: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Simulated agents.
    pub agents: usize,
    /// The project the agents worked in.
    pub project: String,
    /// Every request sent in the measured phase, errors included.
    pub total_requests: u64,
    /// Requests that ended in an error of any kind.
    pub total_errors: u64,
    /// Length of the measured phase, seconds.
    pub elapsed_secs: f64,
    /// `total_requests / elapsed_secs`.
    pub throughput_rps: f64,
    /// One row per operation, in a fixed order (handshake first, then tools by name).
    pub ops: Vec<OpStats>,
    /// Error counts by kind: `<op>: http <status> (jsonrpc <code>)`,
    /// `<op>: jsonrpc <code>`, `<op>: tool error (<message head>)`, `<op>: transport`.
    pub errors: BTreeMap<String, u64>,
}

/// The `q`-quantile (0.0 to 1.0) of sorted values, nearest-rank; 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

const HANDSHAKE: [&str; 3] = ["initialize", "notifications/initialized", "tools/list"];

impl Report {
    pub(crate) fn build(
        rec: Recorder,
        elapsed: Duration,
        agents: usize,
        project: String,
    ) -> Report {
        let mut ops: Vec<OpStats> = rec
            .latencies_us
            .into_iter()
            .map(|(op, mut l)| {
                l.sort_unstable();
                OpStats {
                    count: l.len() as u64,
                    p50_ms: ms(percentile(&l, 0.50)),
                    p90_ms: ms(percentile(&l, 0.90)),
                    p99_ms: ms(percentile(&l, 0.99)),
                    max_ms: ms(l.last().copied().unwrap_or(0)),
                    op,
                }
            })
            .collect();
        ops.sort_by_key(|o| {
            (
                HANDSHAKE
                    .iter()
                    .position(|h| *h == o.op)
                    .unwrap_or(HANDSHAKE.len()),
                o.op.clone(),
            )
        });
        let secs = elapsed.as_secs_f64();
        Report {
            agents,
            project,
            total_requests: rec.requests,
            total_errors: rec.errors.values().sum(),
            elapsed_secs: secs,
            throughput_rps: if secs > 0.0 {
                rec.requests as f64 / secs
            } else {
                0.0
            },
            ops,
            errors: rec.errors,
        }
    }

    /// The row for `op`, if any request of it was sent.
    pub fn op(&self, op: &str) -> Option<&OpStats> {
        self.ops.iter().find(|o| o.op == op)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

impl fmt::Display for Report {
    /// The aligned table printed on stdout.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "agents {}  project {}  requests {}  errors {}  elapsed {:.2} s  throughput {:.1} req/s",
            self.agents,
            self.project,
            self.total_requests,
            self.total_errors,
            self.elapsed_secs,
            self.throughput_rps
        );
        let width = self
            .ops
            .iter()
            .map(|o| o.op.len())
            .chain([9])
            .max()
            .unwrap_or(9);
        let _ = writeln!(
            out,
            "\n{:<width$}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}",
            "operation", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for o in &self.ops {
            let _ = writeln!(
                out,
                "{:<width$}  {:>8}  {:>9.2}  {:>9.2}  {:>9.2}  {:>9.2}",
                o.op, o.count, o.p50_ms, o.p90_ms, o.p99_ms, o.max_ms
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(out, "\nerrors: none");
        } else {
            let ew = self.errors.keys().map(String::len).max().unwrap_or(5);
            let _ = writeln!(out, "\n{:<ew$}  {:>8}", "error", "count");
            for (kind, n) in &self.errors {
                let _ = writeln!(out, "{kind:<ew$}  {n:>8}");
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.90), 90);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
