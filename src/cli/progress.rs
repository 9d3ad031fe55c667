//! Apply progress: a bar on a terminal, one plain line per change otherwise (CI logs).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{Outcome, Progress};
use crate::plan::{Action, Change};
use crate::render::{Styles, Tone};

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

/// How often plain-line mode prints a summary line.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

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

fn past(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Adopt => "adopted",
        Action::Update => "updated",
        Action::Rename => "renamed",
        Action::Disable => "disabled",
        Action::Delete => "deleted",
        Action::Add => "added",
        Action::Remove => "removed",
    }
}

impl Reporter {
    /// Count a finished change; every [`SUMMARY_EVERY`], a line with counts, rate and ETA.
    fn tally(&self, outcome: &Outcome) -> Option<String> {
        let mut t = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        t.finished += 1;
        if matches!(outcome, Outcome::Failed(_)) {
            t.failed += 1;
        }
        let now = Instant::now();
        if now.duration_since(t.last_summary) < SUMMARY_EVERY || t.finished >= t.total {
            return None;
        }
        t.last_summary = now;
        let elapsed = now.duration_since(t.started).as_secs_f64().max(0.001);
        let rate = t.finished as f64 / elapsed;
        let eta = (t.total - t.finished) as f64 / rate.max(0.001);
        Some(format!(
            "progress: {}/{} changes finished, {} failed, {rate:.1}/s, about {eta:.0}s left",
            t.finished, t.total, t.failed
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
            Outcome::Done => format!("{} {}", past(change.action), change.address),
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
