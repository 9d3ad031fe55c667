//! Apply progress: a bar on a terminal, one plain line per change otherwise (CI logs).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::apply::{Outcome, Progress};
use crate::plan::{Action, Change};
use crate::render::{Styles, Tone};

pub struct Reporter {
    bar: Option<ProgressBar>,
    styles: Styles,
    quiet: bool,
    failures: Mutex<usize>,
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
        Reporter {
            bar,
            styles,
            quiet,
            failures: Mutex::new(0),
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

impl Progress for Reporter {
    fn started(&self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    fn finished_change(&self, change: &Change, outcome: &Outcome) {
        let line = match outcome {
            Outcome::Done => format!("{} {}", past(change.action), change.address),
            Outcome::Adopted => format!("adopted (it already existed) {}", change.address),
            Outcome::Failed(e) => {
                let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                *failures += 1;
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{} failed", *failures));
                }
                self.styles
                    .paint(Tone::Error, &format!("failed {}: {e}", change.address))
            }
            Outcome::Skipped(why) => format!("skipped {}: {why}", change.address),
            Outcome::NotStarted => return,
        };
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                if matches!(outcome, Outcome::Failed(_)) {
                    bar.println(line);
                }
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }
}
