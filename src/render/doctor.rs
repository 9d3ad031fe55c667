//! `zsc doctor`'s report: for people, one line per check and what zsc will use; for machines
//! (and bug reports), the report as JSON.

use std::fmt::Write;

use crate::ops::doctor::{Report, Status};

use super::{Styles, Tone};

/// The report for people.
pub fn text(report: &Report, styles: Styles) -> String {
    let mut out = String::new();
    for t in &report.tenants {
        let _ = writeln!(
            out,
            "{} ({}, {} dialect) {}",
            styles.paint(Tone::Heading, &t.tenant),
            t.kind,
            t.dialect,
            t.url
        );
        for check in &t.checks {
            let (word, tone) = match check.status {
                Status::Ok => ("ok", Tone::Create),
                Status::Warn => ("warn", Tone::Warning),
                Status::Fail => ("FAIL", Tone::Error),
                Status::Unknown => ("?", Tone::Muted),
            };
            let _ = writeln!(
                out,
                "  {} {:<24} {}",
                styles.paint(tone, &format!("{word:<4}")),
                check.name,
                check.detail
            );
        }
        let l = &t.latency;
        if l.requests > 0 {
            let _ = writeln!(
                out,
                "  latency over {} requests: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.requests, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        let _ = writeln!(out, "  zsc will use:");
        for u in &t.uses {
            let _ = writeln!(out, "    {:<18} {}: {}", u.what, u.choice, u.why);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Read-only: zsc doctor sent GET requests only, and never shows a token. Attach the output \
         of `zsc doctor --format json` to bug reports."
    );
    out
}

/// The report as JSON.
pub fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}
