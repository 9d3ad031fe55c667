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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if let Some(message) = single_dash_habit(&args) {
        eprintln!("error: {message}");
        return ExitStatus::Failure;
    }
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

/// Terraform spells its flags with one dash (`-out=plan.json`, `-auto-approve`); clap would
/// read `-out=plan.json` as `-o` with the value `ut=plan.json` and save a file of that name.
/// An argument of one dash and a word that is one of zsc's long flags is refused, saying how
/// zsc spells it.
fn single_dash_habit(args: &[OsString]) -> Option<String> {
    use clap::CommandFactory;
    let mut longs: Vec<String> = Vec::new();
    let command = Cli::command();
    let mut stack = vec![&command];
    while let Some(c) = stack.pop() {
        longs.extend(
            c.get_arguments()
                .filter_map(|a| a.get_long())
                .map(str::to_owned),
        );
        stack.extend(c.get_subcommands());
    }
    for arg in args.iter().skip(1) {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        let Some(word) = arg.strip_prefix('-').filter(|w| !w.starts_with('-')) else {
            continue;
        };
        let (name, value) = match word.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (word, None),
        };
        if name.len() > 1 && longs.iter().any(|l| l == name) {
            let spelled = match value {
                Some(v) => format!("`--{name}={v}` (or `--{name} {v}`)"),
                None => format!("`--{name}`"),
            };
            return Some(format!(
                "`{arg}` is Terraform's spelling; zsc spells it {spelled}"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn habit(args: &[&str]) -> Option<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        single_dash_habit(&args)
    }

    #[test]
    fn terraform_single_dash_flags_are_refused_with_zscs_spelling() {
        assert_eq!(
            habit(&["zsc", "plan", "-out=plan.json"]).unwrap(),
            "`-out=plan.json` is Terraform's spelling; zsc spells it `--out=plan.json` (or `--out plan.json`)"
        );
        assert_eq!(
            habit(&["zsc", "apply", "-auto-approve"]).unwrap(),
            "`-auto-approve` is Terraform's spelling; zsc spells it `--auto-approve`"
        );
        assert!(habit(&["zsc", "plan", "-target=t"]).is_some());
        assert!(habit(&["zsc", "plan", "-detailed-exitcode"]).is_some());
        // Real short flags and values pass.
        assert_eq!(
            habit(&["zsc", "plan", "-o", "plan.json", "-vv", "-q"]),
            None
        );
        assert_eq!(habit(&["zsc", "state", "rm", "--", "-out"]), None);
    }
}
