//! Output policy, decided once: where results and messages go, whether they have colors and
//! progress bars, and how much is logged. Results go to stdout, everything else to stderr.

use std::io::{IsTerminal, Write};

use crate::render::{Styles, Tone};

use super::args::{ColorChoice, GlobalArgs};

#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// Colors for stdout.
    pub out: Styles,
    /// Colors for stderr.
    pub err: Styles,
    /// Progress bars on stderr (a terminal, not quiet).
    pub bars: bool,
    pub quiet: bool,
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Output {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let choice = if global.no_color {
            ColorChoice::Never
        } else {
            global.color
        };
        let decide = |is_tty: bool| use_color(choice, is_tty, no_color_env, dumb);
        let stderr_tty = std::io::stderr().is_terminal();
        Output {
            out: Styles {
                enabled: decide(std::io::stdout().is_terminal()),
            },
            err: Styles {
                enabled: decide(stderr_tty),
            },
            bars: bars(global.quiet, global.no_progress, stderr_tty, dumb),
            quiet: global.quiet,
        }
    }

    /// Write a result to stdout. A closed pipe (`zsc plan | head`) is not an error.
    pub fn print(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A message for the person at the terminal (stderr), unless quiet.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!("{} {text}", self.err.paint(Tone::Warning, "warning:"));
    }

    pub fn error(&self, text: &str) {
        eprintln!("{} {text}", self.err.paint(Tone::Error, "error:"));
    }

    /// How a command failed, as the error says it is shown; configuration problems are also
    /// annotated on their lines when running in GitHub Actions.
    pub fn report(&self, error: &crate::error::Error) {
        match error.message() {
            Some(crate::error::Message::Diagnostics(text)) => eprintln!("{text}"),
            Some(crate::error::Message::Error(text)) => self.error(&text),
            None => {}
        }
        if let crate::error::Error::Config(e) = error {
            for d in e.diagnostics() {
                let origin = crate::model::Origin {
                    file: d.file.clone(),
                    line: d.line,
                    column: d.column,
                };
                self.annotate("error", &origin, &d.message);
            }
        }
    }

    /// A GitHub Actions workflow command (`::error file=…,line=…,col=…::message`) when running
    /// there (`GITHUB_ACTIONS=true`); nothing elsewhere. On stderr, which the runner reads
    /// commands from too: stdout holds results (a plan redirected into a comment, say).
    pub fn annotate(&self, level: &str, at: &crate::model::Origin, message: &str) {
        if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
            eprint!(
                "{}",
                crate::render::validation::annotation(level, at, message)
            );
        }
    }
}

/// Whether progress bars are drawn: on a terminal that can draw them, unless told not to.
/// Bars are about the stream, not about color: `--color always` in CI keeps the per-change
/// lines, and NO_COLOR keeps the bar on a terminal.
fn bars(quiet: bool, no_progress: bool, stderr_tty: bool, dumb: bool) -> bool {
    !quiet && !no_progress && stderr_tty && !dumb
}

/// Whether a stream gets colors: `--color always|never` decide; `auto` wants a terminal, no
/// NO_COLOR and a TERM other than `dumb`.
fn use_color(choice: ColorChoice, is_tty: bool, no_color_env: bool, dumb: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_tty && !no_color_env && !dumb,
    }
}

/// Set up tracing on stderr (or ZSC_LOG_PATH). `-v` → info for zsc, `-vv` → debug; ZSC_LOG
/// takes a tracing filter (e.g. `debug`). Log lines carry method, path, status and timing, never
/// headers or bodies, so the token cannot reach them.
pub fn init_logging(verbose: u8) {
    let filter = match std::env::var("ZSC_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ => match verbose {
            0 => "warn".to_owned(),
            1 => "warn,zsc=info".to_owned(),
            _ => "warn,zsc=debug".to_owned(),
        },
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if let Some(path) = std::env::var_os("ZSC_LOG_PATH") {
        if let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .try_init();
            return;
        }
    }
    let _ = builder
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_follow_the_terminal_and_the_flags_not_the_colors() {
        // (quiet, --no-progress, terminal, TERM=dumb) -> bars
        assert!(bars(false, false, true, false));
        assert!(
            !bars(false, false, false, false),
            "CI: lines, whatever --color says"
        );
        assert!(!bars(true, false, true, false));
        assert!(!bars(false, true, true, false));
        assert!(!bars(false, false, true, true));
    }

    #[test]
    fn color_only_on_a_terminal_unless_forced() {
        use ColorChoice::{Always, Auto, Never};
        // (choice, terminal, NO_COLOR, TERM=dumb) -> colors
        for (choice, tty, no_color, dumb, expected) in [
            (Auto, true, false, false, true),
            (Auto, false, false, false, false),
            (Auto, true, true, false, false),
            (Auto, true, false, true, false),
            (Always, false, true, true, true),
            (Never, true, false, false, false),
        ] {
            assert_eq!(
                use_color(choice, tty, no_color, dumb),
                expected,
                "{choice:?} tty={tty} NO_COLOR={no_color} dumb={dumb}"
            );
        }
    }
}
