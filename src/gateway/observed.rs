//! Reported vs observed: what an agent said it did in a work session (its activities)
//! beside what the gateway saw it do (the audit rows naming the session) — the one thing
//! a tracker's own agent runs cannot show.

use serde::Serialize;

use crate::store::{ActivityRecord, AuditEntry};

/// What the agent reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reported {
    /// `thought` reports.
    pub thoughts: u32,
    /// `action` reports.
    pub actions: u32,
    /// `elicitation` reports.
    pub elicitations: u32,
}

/// What the gateway saw, from the audit rows naming the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Every call but the session reports themselves.
    pub calls: u32,
    /// Reads that were answered.
    pub reads: u32,
    /// Writes that were made, by card (or project), in first-seen order.
    pub writes: Vec<WritesOn>,
    /// Calls refused by policy (scope, project, revocation, a pending stop).
    pub denials: u32,
    /// Calls refused by the rate limit (as audited: 1st, 2nd, 4th… of a streak).
    pub rate_limited: u32,
    /// Calls that failed (bad input, the tracker).
    pub failures: u32,
}

/// Writes on one card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WritesOn {
    /// The card (or project) written.
    pub target: String,
    /// How many writes.
    pub writes: u32,
}

/// The tools whose calls are the reports themselves, not work to observe.
const REPORT_TOOLS: [&str; 3] = [
    "start_work_session",
    "update_work_session",
    "finish_work_session",
];

/// Counts the agent's reports by kind.
pub(super) fn reported(activities: &[ActivityRecord]) -> Reported {
    let mut r = Reported::default();
    for a in activities {
        match a.kind.as_str() {
            "thought" => r.thoughts += 1,
            "action" => r.actions += 1,
            "elicitation" => r.elicitations += 1,
            _ => {}
        }
    }
    r
}

/// Sorts the session's audit rows: writes by card, reads, denials, rate-limit hits,
/// failures. A write is a call with an idempotency key.
pub(super) fn observed(calls: &[AuditEntry]) -> Observed {
    let mut o = Observed::default();
    for c in calls
        .iter()
        .filter(|c| !REPORT_TOOLS.contains(&c.action.as_str()))
    {
        o.calls += 1;
        match c.outcome.as_str() {
            "allowed" if c.idempotency_key.is_some() => {
                let target = c
                    .target
                    .clone()
                    .or_else(|| c.project_id.clone())
                    .unwrap_or_default();
                match o.writes.iter_mut().find(|w| w.target == target) {
                    Some(w) => w.writes += 1,
                    None => o.writes.push(WritesOn { target, writes: 1 }),
                }
            }
            "allowed" => o.reads += 1,
            "denied"
                if c.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("Rate limit reached")) =>
            {
                o.rate_limited += 1
            }
            "denied" => o.denials += 1,
            _ => o.failures += 1,
        }
    }
    o
}

/// "reported: 3 actions; observed: 5 writes on OPS-12, 1 denial".
pub(super) fn compare(r: &Reported, o: &Observed) -> String {
    let mut reported = Vec::new();
    for (n, word) in [
        (r.actions, "action"),
        (r.thoughts, "thought"),
        (r.elicitations, "elicitation"),
    ] {
        if n > 0 {
            reported.push(plural(n, word));
        }
    }
    let mut seen: Vec<String> = o
        .writes
        .iter()
        .map(|w| format!("{} on {}", plural(w.writes, "write"), w.target))
        .collect();
    for (n, word) in [
        (o.reads, "read"),
        (o.denials, "denial"),
        (o.rate_limited, "rate-limit hit"),
        (o.failures, "failed call"),
    ] {
        if n > 0 {
            seen.push(plural(n, word));
        }
    }
    let none = || "nothing".to_owned();
    format!(
        "reported: {}; observed: {}",
        if reported.is_empty() {
            none()
        } else {
            reported.join(", ")
        },
        if seen.is_empty() {
            none()
        } else {
            seen.join(", ")
        }
    )
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn row(action: &str, outcome: &str, key: bool, target: &str, reason: &str) -> AuditEntry {
        AuditEntry {
            id: 1,
            at: Utc::now(),
            request_id: "r".into(),
            agent_id: None,
            owner_id: None,
            action: action.into(),
            project_id: Some("p".into()),
            target: Some(target.into()),
            outcome: outcome.into(),
            reason: Some(reason.into()).filter(|r: &String| !r.is_empty()),
            idempotency_key: key.then(|| "k".into()),
            latency_us: 1,
            work_session_id: None,
        }
    }

    #[test]
    fn observed_sorts_the_audit_rows_and_the_comparison_reads_plainly() {
        let calls = vec![
            row("start_work_session", "allowed", true, "OPS-12", ""),
            row("move_card", "allowed", true, "OPS-12", ""),
            row("add_comment", "allowed", true, "OPS-12", ""),
            row("get_card", "allowed", false, "OPS-12", ""),
            row(
                "create_card",
                "denied",
                true,
                "OPS",
                "needs scope cards:write",
            ),
            row(
                "get_card",
                "denied",
                false,
                "OPS-1",
                "Rate limit reached for this agent.",
            ),
            row("update_card", "failed", true, "OPS-99", "no such card"),
        ];
        let o = observed(&calls);
        assert_eq!(o.calls, 6, "the report itself is not observed work");
        assert_eq!(
            o.writes,
            vec![WritesOn {
                target: "OPS-12".into(),
                writes: 2
            }]
        );
        assert_eq!(
            (o.reads, o.denials, o.rate_limited, o.failures),
            (1, 1, 1, 1)
        );
        let r = Reported {
            thoughts: 0,
            actions: 3,
            elicitations: 0,
        };
        assert_eq!(
            compare(&r, &o),
            "reported: 3 actions; observed: 2 writes on OPS-12, 1 read, 1 denial, 1 rate-limit hit, 1 failed call"
        );
        assert_eq!(
            compare(&Reported::default(), &Observed::default()),
            "reported: nothing; observed: nothing"
        );
    }
}
