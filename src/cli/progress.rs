//! Apply progress: a bar on a terminal, one plain line per change otherwise (CI logs).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{Outcome, Progress};
use crate::plan::Change;
use crate::render::{thousands, Styles, Tone};

pub struct Reporter {
    bar: Option<ProgressBar>,
    styles: Styles,
    quiet: bool,
    tally: Mutex<Tally>,
}

/// For the plain-line mode's periodic summary.
struct Tally {
    total: usize,
    finished: usize,
    failed: usize,
    started: Instant,
    last_summary: Instant,
}

/// How often plain-line mode prints a summary line: every 10 seconds (`ZSC_PROGRESS_EVERY_MS`,
/// hidden and meant for tests only, lowers it so that the lines can be tested in seconds).
fn summary_every() -> Duration {
    std::env::var("ZSC_PROGRESS_EVERY_MS")
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

impl Reporter {
    pub fn new(bars: bool, styles: Styles, quiet: bool) -> Reporter {
        let bar = bars.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} applying [{bar:30}] {pos}/{len} changes  {per_sec}  eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        let now = Instant::now();
        Reporter {
            bar,
            styles,
            quiet,
            tally: Mutex::new(Tally {
                total: 0,
                finished: 0,
                failed: 0,
                started: now,
                last_summary: now,
            }),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Reporter {
    /// Count a finished change; every [`summary_every()`], a line with counts, rate and ETA.
    fn tally(&self, outcome: &Outcome) -> Option<String> {
        let mut t = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        t.finished += 1;
        if matches!(outcome, Outcome::Failed(_)) {
            t.failed += 1;
        }
        let now = Instant::now();
        if now.duration_since(t.last_summary) < summary_every() || t.finished >= t.total {
            return None;
        }
        t.last_summary = now;
        let elapsed = now.duration_since(t.started).as_secs_f64().max(0.001);
        let rate = t.finished as f64 / elapsed;
        let eta = (t.total - t.finished) as f64 / rate.max(0.001);
        Some(format!(
            "progress: {}/{} changes finished, {} failed, {}/s, about {} left",
            thousands(t.finished),
            thousands(t.total),
            thousands(t.failed),
            rounded_rate(rate),
            duration_words(eta)
        ))
    }
}

impl Progress for Reporter {
    fn started(&self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        tally.total = total;
        tally.started = Instant::now();
        tally.last_summary = tally.started;
    }

    fn finished_change(&self, change: &Change, outcome: &Outcome) {
        let line = match outcome {
            Outcome::Done => format!(
                "{} {}",
                crate::render::apply::past(change.action),
                change.address
            ),
            Outcome::Adopted => format!("adopted (it already existed) {}", change.address),
            Outcome::Failed(e) => self
                .styles
                .paint(Tone::Error, &format!("failed {}: {e}", change.address)),
            Outcome::Skipped(why) => format!("skipped {}: {why}", change.address),
            Outcome::NotStarted => return,
        };
        let summary = self.tally(outcome);
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                if let Outcome::Failed(_) = outcome {
                    let failed = self.tally.lock().map(|t| t.failed).unwrap_or(0);
                    bar.set_message(format!("{failed} failed"));
                    bar.println(line);
                }
            }
            None if !self.quiet => {
                eprintln!("{line}");
                if let Some(summary) = summary {
                    eprintln!("{summary}");
                }
            }
            None => {}
        }
    }
}

/// A rate as a person reads it: `0.4`, `12`, `1,234`.
fn rounded_rate(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        thousands(rate.round() as usize)
    }
}

/// `45s`, `3m 20s`, `2h 5m`.
fn duration_words(seconds: f64) -> String {
    let s = seconds.round().max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations_read_as_people_say_them() {
        assert_eq!(rounded_rate(0.42), "0.4");
        assert_eq!(rounded_rate(12.6), "13");
        assert_eq!(rounded_rate(1234.4), "1,234");
        assert_eq!(duration_words(44.6), "45s");
        assert_eq!(duration_words(200.0), "3m 20s");
        assert_eq!(duration_words(7500.0), "2h 5m");
    }
}

/// Read progress: on a terminal a bar per tenant and kind of object; otherwise a line every
/// 10 seconds with how far every tenant has got (a 400-group ZPA refresh is 40 s of reading).
pub struct ReadReporter {
    bars: Option<indicatif::MultiProgress>,
    quiet: bool,
    state: Mutex<ReadState>,
}

#[derive(Default)]
struct ReadState {
    /// Per (tenant, what): done, total, and its bar.
    counts: std::collections::BTreeMap<(String, String), (usize, usize, Option<ProgressBar>)>,
    last_line: Option<Instant>,
}

impl ReadReporter {
    pub fn new(bars: bool, quiet: bool) -> ReadReporter {
        ReadReporter {
            bars: bars.then(indicatif::MultiProgress::new),
            quiet,
            state: Mutex::new(ReadState::default()),
        }
    }

    /// The read is over: bars go away (the plan follows).
    pub fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (_, (_, _, bar)) in state.counts.iter_mut() {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        }
    }

    fn line(state: &ReadState) -> String {
        let mut by_tenant: Vec<(String, Vec<String>)> = Vec::new();
        for ((tenant, what), (done, total, _)) in &state.counts {
            let part = format!("{} of {} {what}", thousands(*done), thousands(*total));
            match by_tenant.last_mut() {
                Some((t, parts)) if t == tenant => parts.push(part),
                _ => by_tenant.push((tenant.clone(), vec![part])),
            }
        }
        let tenants: Vec<String> = by_tenant
            .into_iter()
            .map(|(t, parts)| format!("{t}: {}", parts.join(", ")))
            .collect();
        format!("reading: {}", tenants.join("; "))
    }
}

impl crate::scim::ReadProgress for ReadReporter {
    fn advance(&self, tenant: &str, what: &str, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = state
            .counts
            .entry((tenant.to_owned(), what.to_owned()))
            .or_insert_with(|| {
                let bar = self.bars.as_ref().map(|multi| {
                    let bar = multi.add(ProgressBar::new(total as u64));
                    bar.set_style(
                        ProgressStyle::with_template(&format!(
                            "{{spinner}} reading {tenant} {what} [{{bar:30}}] {{human_pos}}/{{human_len}}  {{per_sec}}"
                        ))
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar
                });
                (0, total, bar)
            });
        entry.0 = entry.0.max(done);
        entry.1 = total;
        if let Some(bar) = &entry.2 {
            bar.set_length(total as u64);
            bar.set_position(entry.0 as u64);
            return;
        }
        let now = Instant::now();
        let due = state
            .last_line
            .is_none_or(|last| now.duration_since(last) >= summary_every());
        if due && self.bars.is_none() {
            if state.last_line.is_some() {
                eprintln!("{}", ReadReporter::line(&state));
            }
            state.last_line = Some(now);
        }
    }
}
