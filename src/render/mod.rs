//! Views: plans, apply reports and errors as text for people, markdown for pull requests and
//! JSON for machines.
//!
//! Renderers are pure functions into a `String`; the CLI decides where it goes. Colors come from
//! one stylesheet, decided once per stream.

pub mod apply;
pub mod doctor;
pub mod markdown;
pub mod state;
pub mod text;
pub mod validation;

use owo_colors::{OwoColorize, Style};

use crate::plan::Action;

/// The views of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Terraform-style diff for people.
    Text,
    /// The plan document (a saved plan's content) for machines: `docs/plan-json.md`.
    Json,
    /// A pull-request comment.
    Markdown,
}

/// A plan in `view`, as `zsc plan` and `zsc show` print it; `context` says which commit, run
/// and time a pull-request comment is for.
pub fn plan(
    plan: &crate::plan::Plan,
    view: View,
    styles: Styles,
    context: &markdown::Context,
) -> String {
    match view {
        View::Text => text::plan(plan, styles),
        View::Markdown => markdown::plan_with(plan, context),
        View::Json => String::from_utf8(crate::plan::file::to_bytes(plan)).unwrap_or_default(),
    }
}

/// The stylesheet: every color zsc prints comes from here.
#[derive(Clone, Copy, Debug)]
pub struct Styles {
    pub enabled: bool,
}

/// What a piece of text is, for coloring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Create,
    Change,
    Destroy,
    Heading,
    Muted,
    Error,
    Warning,
}

impl Styles {
    pub const PLAIN: Styles = Styles { enabled: false };
    pub const COLOR: Styles = Styles { enabled: true };

    pub fn paint(&self, tone: Tone, text: &str) -> String {
        if !self.enabled {
            return text.to_owned();
        }
        let style = match tone {
            Tone::Create => Style::new().green(),
            Tone::Change => Style::new().yellow(),
            Tone::Destroy => Style::new().red(),
            Tone::Heading => Style::new().bold(),
            Tone::Muted => Style::new().dimmed(),
            Tone::Error => Style::new().red().bold(),
            Tone::Warning => Style::new().yellow().bold(),
        };
        text.style(style).to_string()
    }

    /// The color of an action's symbol.
    pub fn tone(action: Action) -> Tone {
        match action {
            Action::Create | Action::Add => Tone::Create,
            Action::Adopt | Action::Update | Action::Rename | Action::Disable => Tone::Change,
            Action::Delete | Action::Remove => Tone::Destroy,
        }
    }
}

/// `1,204`: counts as people read them.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 user` / `2 users`.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n),
        if n == 1 { singular } else { plural }
    )
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}

#[cfg(test)]
mod tests;
