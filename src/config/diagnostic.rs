//! Configuration errors and how they read: rustc/just style, every problem with its
//! `file:line:column`, the offending source line and a caret, then a count.
//!
//! This module only formats; it reads no files. Source lines are captured when a diagnostic is
//! finalised, while the loader still holds the file's text.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// One problem in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as given or as joined from the configuration's directory.
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: u64,
    /// 1-based; 0 when the problem concerns the whole file.
    pub column: u64,
    /// Lowercase, offending names in backticks, never a secret.
    pub message: String,
    /// The source line `line` refers to, when known (rendered under the location).
    pub snippet: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line == 0 {
            return writeln!(f, "  --> {}", self.file);
        }
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(f, "{pad}--> {}:{}:{}", self.file, self.line, self.column)?;
        if let Some(text) = &self.snippet {
            let (text, column) = crop(text, self.column);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{number} | {text}")?;
            let caret_pad = " ".repeat(column.saturating_sub(1));
            writeln!(f, "{pad} | {caret_pad}^")?;
        }
        Ok(())
    }
}

/// Longest source line shown; longer lines are cut around the column.
const MAX_SNIPPET_CHARS: usize = 100;

/// Cut `line` to at most [`MAX_SNIPPET_CHARS`] characters around `column` (1-based, in
/// characters); returns the text and the column within it.
fn crop(line: &str, column: u64) -> (String, usize) {
    let column = usize::try_from(column).unwrap_or(usize::MAX).max(1);
    let count = line.chars().count();
    if count <= MAX_SNIPPET_CHARS {
        return (line.to_owned(), column);
    }
    let start = column
        .saturating_sub(MAX_SNIPPET_CHARS / 2)
        .min(count - MAX_SNIPPET_CHARS);
    let mut text: String = line.chars().skip(start).take(MAX_SNIPPET_CHARS).collect();
    let mut col = column - start;
    if start > 0 {
        text.insert_str(0, "...");
        col += 3;
    }
    if start + MAX_SNIPPET_CHARS < count {
        text.push_str("...");
    }
    (text, col)
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The main file could not be read at all.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The configuration was read and is wrong; every problem found, in file order.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The problems, if the configuration was read (empty for [`ConfigError::Read`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.to_string());
    }
    match diagnostics.len() {
        1 => out.push_str("error: 1 problem in the configuration"),
        n => out.push_str(&format!("error: {n} problems in the configuration")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let d = Diagnostic {
            file: "people/finance.yaml".into(),
            line: 12,
            column: 5,
            message: "unknown key `dispaly_name` in user".into(),
            snippet: Some("    dispaly_name: Janet".into()),
        };
        let e = ConfigError::Invalid(vec![d]);
        assert_eq!(
            e.to_string(),
            "error: unknown key `dispaly_name` in user\n  --> people/finance.yaml:12:5\n   |\n12 |     dispaly_name: Janet\n   |     ^\nerror: 1 problem in the configuration"
        );
    }

    #[test]
    fn long_lines_are_cropped_around_the_column() {
        let line = "x".repeat(1000);
        let (text, col) = crop(&line, 500);
        assert!(text.len() <= MAX_SNIPPET_CHARS + 6);
        assert_eq!(col, 50 + 3);
    }
}
