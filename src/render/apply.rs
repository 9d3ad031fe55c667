//! The end of an apply: what was not applied and why, then one line of counts.
//!
//! Pure: returns a string; the command line prints it.

use crate::apply::{ApplyReport, Outcome};
use crate::plan::{Action, ObjectKind, Plan};

use super::{count, thousands, Styles, Tone};

/// `Apply complete! 7 done, 0 failed, 0 skipped in 0.3s (9 requests).`, preceded by the changes
/// that failed or were skipped, each with why.
pub fn summary(plan: &Plan, report: &ApplyReport, styles: Styles) -> String {
    let done = report.count(Outcome::is_done);
    let failed = report.count(|o| matches!(o, Outcome::Failed(_)));
    let skipped = report.count(|o| matches!(o, Outcome::Skipped(_)));
    let not_started = report.count(|o| matches!(o, Outcome::NotStarted));
    let mut text = String::new();
    let failures: Vec<String> = plan
        .changes
        .iter()
        .zip(&report.outcomes)
        .filter_map(|(c, o)| match o {
            Outcome::Failed(e) => Some(format!("  {}: {e}", c.address)),
            Outcome::Skipped(why) => Some(format!("  {} skipped: {why}", c.address)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        text.push_str(&styles.paint(Tone::Error, "\nNot applied:\n"));
        text.push_str(&failures.join("\n"));
        text.push('\n');
    }
    let head = if report.interrupted {
        styles.paint(Tone::Warning, "Apply interrupted:")
    } else if failed + skipped > 0 {
        styles.paint(Tone::Error, "Apply finished with failures:")
    } else {
        styles.paint(Tone::Create, "Apply complete!")
    };
    let words = done_words(plan, report);
    text.push_str(&format!(
        "\n{head} {} done, {} failed, {} skipped{} in {:.1}s ({}){}.\n",
        thousands(done),
        thousands(failed),
        thousands(skipped),
        if not_started > 0 {
            format!(", {} not started", thousands(not_started))
        } else {
            String::new()
        },
        report.elapsed.as_secs_f64(),
        count(report.requests as usize, "request", "requests"),
        if words.is_empty() {
            String::new()
        } else {
            format!(": {words}")
        },
    ));
    if failed + skipped + not_started > 0 {
        text.push_str("State holds everything that was done; run `zsc apply` again to finish.\n");
    }
    text
}

/// What was done, in the plan's words: `2 users created, 1 group renamed, 3 memberships added`.
fn done_words(plan: &Plan, report: &ApplyReport) -> String {
    let mut tally: Vec<((ObjectKind, Action), usize)> = Vec::new();
    for (change, outcome) in plan.changes.iter().zip(&report.outcomes) {
        if !outcome.is_done() {
            continue;
        }
        let key = (change.object, change.action);
        match tally.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => tally.push((key, 1)),
        }
    }
    tally.sort_by_key(|(k, _)| *k);
    tally
        .into_iter()
        .map(|((object, action), n)| {
            let (one, many) = match object {
                ObjectKind::User => ("user", "users"),
                ObjectKind::Group => ("group", "groups"),
                ObjectKind::Membership => ("membership", "memberships"),
            };
            format!("{} {}", count(n, one, many), past(action))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An action as done: `created`, `renamed`, `added`...
pub fn past(action: Action) -> &'static str {
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
