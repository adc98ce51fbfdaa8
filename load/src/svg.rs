//! A hand-rolled SVG of one run: tool calls per second on top, p50 and p99 latency
//! (ms) per second below, on the same time axis.

use std::fmt::Write as _;

use crate::Report;

const W: f64 = 900.0;
const H: f64 = 560.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A tick step of 1, 2 or 5 × 10^k giving about five ticks up to `max`.
fn step(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// One panel: `lines` are (label, colour, values per second).
fn panel(
    out: &mut String,
    top: f64,
    height: f64,
    title: &str,
    unit: &str,
    lines: &[(&str, &str, Vec<f64>)],
) {
    let n = lines.iter().map(|l| l.2.len()).max().unwrap_or(0).max(2);
    let max = lines
        .iter()
        .flat_map(|l| l.2.iter().copied())
        .fold(0.0f64, f64::max);
    let st = step(max);
    let ymax = (max / st).ceil().max(1.0) * st;
    let plot_w = W - LEFT - RIGHT;
    let x = |i: usize| LEFT + plot_w * i as f64 / (n - 1) as f64;
    let y = |v: f64| top + height - height * (v / ymax);
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"##,
        top - 8.0,
        esc(title)
    );
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{height}" fill="none" stroke="#888"/>"##
    );
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{} {}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0,
            trim(v),
            unit
        );
        v += st;
    }
    let xs = step((n - 1) as f64);
    let mut t = 0.0;
    while t <= (n - 1) as f64 + 1e-9 {
        let xx = x(t as usize);
        let _ = writeln!(
            out,
            r##"<text x="{xx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}s</text>"##,
            top + height + 14.0,
            trim(t)
        );
        t += xs;
    }
    for (k, (label, colour, values)) in lines.iter().enumerate() {
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = writeln!(
            out,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"##,
            pts.join(" ")
        );
        let lx = W - RIGHT - 150.0 + 75.0 * k as f64;
        let _ = writeln!(
            out,
            r##"<line x1="{lx}" x2="{}" y1="{}" y2="{}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}" font-size="11">{}</text>"##,
            lx + 16.0,
            top - 12.0,
            top - 12.0,
            lx + 20.0,
            top - 8.0,
            esc(label)
        );
    }
}

fn trim(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}

/// The plot of `report`, titled `title`.
pub fn plot(report: &Report, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"##
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="22" font-size="15">{} — {} agents, {:.0} calls/s over {:.1} s, {} errors</text>"##,
        esc(title),
        report.agents,
        report.throughput_rps,
        report.elapsed_secs,
        report.total_errors
    );
    let s = &report.series;
    panel(
        &mut out,
        60.0,
        180.0,
        "tool calls per second",
        "",
        &[(
            "calls/s",
            "#1f77b4",
            s.iter().map(|b| b.calls as f64).collect(),
        )],
    );
    panel(
        &mut out,
        320.0,
        200.0,
        "latency per second",
        "ms",
        &[
            ("p50", "#2ca02c", s.iter().map(|b| b.p50_ms).collect()),
            ("p99", "#d62728", s.iter().map(|b| b.p99_ms).collect()),
        ],
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn steps_are_round() {
        assert_eq!(super::step(100.0), 20.0);
        assert_eq!(super::step(7.0), 2.0);
        assert_eq!(super::step(0.0), 1.0);
    }
}
