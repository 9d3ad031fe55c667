//! The command line: flags are parsed into [`args`] (exactly as typed), resolved once into the
//! workflow layer's settings, and each command calls one function of [`crate::ops`] and hands
//! its result to a view. Nothing below this layer sees a clap type, and nothing here decides
//! what a command does.

pub mod args;
mod commands;
mod output;
mod progress;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
use output::Output;

/// How zsc ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success, or a plan with no changes.
    Success,
    /// Any error.
    Failure,
    /// `plan --detailed-exitcode` found changes.
    Changes,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

/// Run zsc with these arguments (the first is the program name). Re-entrant: tests call it
/// more than once in one process.
pub fn run<I, T>(args: I) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            };
        }
    };
    output::init_logging(cli.global.verbose);
    let out = Output::new(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.error(&format!("could not start the async runtime: {e}"));
            return ExitStatus::Failure;
        }
    };
    let result = runtime.block_on(commands::dispatch(&cli, out));
    // In-flight work was waited for by the command; don't let stray tasks hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(status) => status,
        Err(error) => {
            out.report(&error);
            if error.exit_code() == ExitStatus::Interrupted.code() {
                ExitStatus::Interrupted
            } else {
                ExitStatus::Failure
            }
        }
    }
}
