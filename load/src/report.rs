//! The report: totals, throughput, latency percentiles per operation, errors by kind;
//! as an aligned table or as JSON.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use crate::recorder::Recorder;
use crate::revoke::RevocationReport;

/// Percentiles of a set of millisecond figures (nearest rank).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct MsStats {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The nearest-rank percentiles of `values` (ms, may be negative).
pub fn stats_ms(mut values: Vec<f64>) -> MsStats {
    if values.is_empty() {
        return MsStats::default();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = (q * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    };
    MsStats {
        count: values.len() as u64,
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: values[values.len() - 1],
    }
}

/// One second of the measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct Second {
    /// Seconds since the measured phase began (the bucket's start).
    pub t: u64,
    /// Tool calls answered in this second (errors included).
    pub calls: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Gateway RSS sampled in this second, kB (when `--gateway-pid` was given).
    pub rss_kb: Option<u64>,
}

/// Gateway memory (VmRSS of `--gateway-pid`, from /proc/<pid>/status), kB.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Memory {
    pub gateway_pid: Option<u32>,
    /// Before the harness created anything.
    pub rss_start_kb: Option<u64>,
    /// After the agents were created, before any connected.
    pub rss_before_connect_kb: Option<u64>,
    /// Once every agent was initialized (and holding its stream, with `--streams`).
    pub rss_connected_kb: Option<u64>,
    /// The highest sample of the measured phase.
    pub rss_peak_kb: Option<u64>,
    pub rss_end_kb: Option<u64>,
    /// Agents whose handshake succeeded.
    pub connected_agents: u64,
    /// Streams open when the measured phase began.
    pub streams_open: u64,
    /// `(rss_connected - rss_before_connect) / connected_agents`, kB.
    pub rss_per_agent_kb: Option<f64>,
    /// CPU time (user + system) the gateway used during the measured phase, seconds
    /// (`/proc/<pid>/stat`, at 100 ticks per second).
    pub gateway_cpu_secs: Option<f64>,
    /// The same for the generator itself: a generator near one full core means the
    /// figures are the generator's limit, not the gateway's.
    pub generator_cpu_secs: Option<f64>,
    /// Gateway CPU per tool call of the measured phase, µs.
    pub gateway_cpu_us_per_call: Option<f64>,
}

/// How the agents were made and connected.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Setup {
    pub agents_created: u64,
    pub owners: u64,
    pub create_concurrency: usize,
    pub create_secs: f64,
    /// Agents created per second through `POST /api/v1/admin/agents`.
    pub create_per_sec: f64,
    pub connect_concurrency: usize,
    /// Handshake (and stream) of every agent, seconds.
    pub connect_secs: f64,
}

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
    /// What was asked (the command line's figures), for the record.
    pub scenario: serde_json::Value,
    /// Every request sent, handshake included, errors included.
    pub total_requests: u64,
    /// Requests that ended in an error of any kind.
    pub total_errors: u64,
    /// Tool calls sent in the measured phase.
    pub calls: u64,
    /// Length of the measured phase, seconds.
    pub elapsed_secs: f64,
    /// `calls / elapsed_secs`: tool calls per second in the measured phase.
    pub throughput_rps: f64,
    /// 401s after the harness revoked the agent or blocked its owner (expected).
    pub expected_refusals: u64,
    /// Paced sends that left more than 10 ms late (the generator fell behind).
    pub late_sends: u64,
    pub setup: Setup,
    pub memory: Memory,
    /// Present when agents were revoked or an owner blocked.
    pub revocation: Option<RevocationReport>,
    /// Per second of the measured phase.
    pub series: Vec<Second>,
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        mut rec: Recorder,
        elapsed: Duration,
        agents: usize,
        project: String,
        scenario: serde_json::Value,
        setup: Setup,
        memory: Memory,
        revocation: Option<RevocationReport>,
        rss_series: &[(u64, u64)],
    ) -> Report {
        let series: Vec<Second> = std::mem::take(&mut rec.series)
            .into_iter()
            .enumerate()
            .map(|(t, mut b)| {
                b.latencies_us.sort_unstable();
                let l: Vec<u64> = b.latencies_us.iter().map(|x| u64::from(*x)).collect();
                Second {
                    t: t as u64,
                    calls: b.calls,
                    errors: b.errors,
                    p50_ms: ms(percentile(&l, 0.50)),
                    p99_ms: ms(percentile(&l, 0.99)),
                    rss_kb: rss_series
                        .iter()
                        .filter(|(s, _)| *s == t as u64)
                        .map(|(_, kb)| *kb)
                        .max(),
                }
            })
            .collect();
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
        let revocation = revocation.map(|mut r| {
            r.served_after_revoke = rec.served_after_revoke;
            r
        });
        Report {
            agents,
            project,
            scenario,
            total_requests: rec.requests,
            total_errors: rec.errors.values().sum(),
            calls: rec.calls,
            elapsed_secs: secs,
            throughput_rps: if secs > 0.0 {
                rec.calls as f64 / secs
            } else {
                0.0
            },
            expected_refusals: rec.expected_refusals,
            late_sends: rec.late_sends,
            setup,
            memory,
            revocation,
            series,
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
            "agents {}  project {}  requests {}  errors {}  measured {:.2} s  tool calls {}  throughput {:.1} calls/s",
            self.agents,
            self.project,
            self.total_requests,
            self.total_errors,
            self.elapsed_secs,
            self.calls,
            self.throughput_rps
        );
        let st = &self.setup;
        if st.agents_created > 0 {
            let _ = writeln!(
                out,
                "setup: {} agents over {} owner(s) in {:.2} s ({:.1} agents/s at concurrency {}); connected in {:.2} s",
                st.agents_created, st.owners, st.create_secs, st.create_per_sec, st.create_concurrency, st.connect_secs
            );
        }
        let m = &self.memory;
        if let Some(pid) = m.gateway_pid {
            let kb = |v: Option<u64>| {
                v.map_or("-".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0))
            };
            let _ = writeln!(
                out,
                "gateway pid {pid} RSS: start {}  before connect {}  connected {}  peak {}  end {}  | {} agents connected, {} streams open, {} per agent",
                kb(m.rss_start_kb), kb(m.rss_before_connect_kb), kb(m.rss_connected_kb), kb(m.rss_peak_kb), kb(m.rss_end_kb),
                m.connected_agents, m.streams_open,
                m.rss_per_agent_kb.map_or("-".to_owned(), |k| format!("{k:.1} kB")),
            );
        }
        if m.gateway_cpu_secs.is_some() || m.generator_cpu_secs.is_some() {
            let secs = |v: Option<f64>| v.map_or("-".to_owned(), |s| format!("{s:.2} s"));
            let _ = writeln!(
                out,
                "CPU in the measured phase: gateway {} ({} per call), generator {}",
                secs(m.gateway_cpu_secs),
                m.gateway_cpu_us_per_call
                    .map_or("-".to_owned(), |u| format!("{u:.0} µs")),
                secs(m.generator_cpu_secs),
            );
        }
        if self.expected_refusals > 0 || self.late_sends > 0 {
            let _ = writeln!(
                out,
                "expected 401s after revocation: {}  late paced sends: {}",
                self.expected_refusals, self.late_sends
            );
        }
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
        if let Some(r) = &self.revocation {
            let row = |name: &str, s: &MsStats| {
                format!(
                    "{name:<34}  {:>6}  {:>9.2}  {:>9.2}  {:>9.2}  {:>9.2}\n",
                    s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
                )
            };
            let _ = writeln!(
                out,
                "\nrevocation ({} events)                 count     p50 ms     p90 ms     p99 ms     max ms",
                r.events.len()
            );
            out.push_str(&row("admin call", &r.call));
            out.push_str(&row("returned -> refused, this replica", &r.this_replica));
            out.push_str(&row("returned -> refused, other replica", &r.other_replica));
            out.push_str(&row("returned -> stream closed", &r.stream_closed));
            out.push_str(&row("sent -> stream closed", &r.stream_closed_from_sent));
            let _ = writeln!(
                out,
                "this replica: {}/{} probes sent after the return refused; served after return: {}; \
                 other replica: {}/{} refused within 5 s; streams: {}/{} closed within 5 s",
                r.this_replica_refused, r.this_replica_probed, r.served_after_revoke,
                r.other_replica_refused, r.other_replica_polled,
                r.streams_closed, r.streams_watched
            );
            for n in &r.notes {
                let _ = writeln!(out, "note: {n}");
            }
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

    #[test]
    fn stats_take_signed_milliseconds() {
        let s = stats_ms(vec![3.0, -1.0, 2.0, 1.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.p50_ms, 1.0);
        assert_eq!(s.p99_ms, 3.0);
        assert_eq!(s.max_ms, 3.0);
        assert_eq!(stats_ms(vec![]), MsStats::default());
    }
}
