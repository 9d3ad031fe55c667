//! The one error every command ends with: each kind carries what a person needs to act on it,
//! knows its exit code, and renders itself (configuration problems as diagnostics that point
//! at `file:line:column`, everything else as one `error:` line or several).

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::plan::file::PlanFileError;
use crate::plan::GuardViolation;
use crate::scim::ScimError;
use crate::state::{BackendError, StateError};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in the configuration, each with `file:line:column` and the line.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The state's files.
    #[error(transparent)]
    State(#[from] StateError),
    /// The state backend (remote or local).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Reading tenants failed: per tenant, why (sorted by tenant).
    #[error("{}", read_text(.0))]
    Read(Vec<(String, ScimError)>),
    /// A tenant could not be set up: its token, its URL, an emulated tenant that did not start.
    #[error("tenant `{tenant}`: {message}")]
    Tenant { tenant: String, message: String },
    /// The plan trips a guard or holds conflicts: nothing was changed.
    #[error("{}\nnothing was changed.", refused_text(.0))]
    Refused(Vec<GuardViolation>),
    /// A saved plan that cannot be read, or no longer applies.
    #[error("the saved plan `{}` {source}{}", path.display(), plan_again(source, path))]
    PlanFile {
        path: PathBuf,
        source: PlanFileError,
    },
    /// `--target` values that are malformed or name nothing.
    #[error("{}", .0.join("\nerror: "))]
    Targets(Vec<String>),
    /// A file zsc had to read or write.
    #[error("cannot {action} `{}`: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Remote changes were made that could not be recorded: the apply stopped there (the next
    /// run adopts what it could not record).
    #[error("could not record a completed change, so the apply stopped: {0}")]
    Record(String),
    /// The command declines to go on as asked (no terminal to confirm on, an unknown tenant,
    /// a file that exists...); the message says what to do instead.
    #[error("{0}")]
    Refusal(String),
    /// Something zsc could not do that is none of the above (a plan file edited into a cycle,
    /// a worker that failed).
    #[error("{0}")]
    Internal(String),
    /// Some changes failed or were skipped; the apply summary has said which.
    #[error("some changes were not applied")]
    Unfinished,
    /// Ctrl-C or SIGTERM; the apply summary has said what was done.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// The process exit code: 130 for an interruption, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted => 130,
            _ => 1,
        }
    }

    /// What to print for it on stderr, if anything: diagnostics as they are, other errors
    /// after `error:`; nothing for the two whose report was printed already.
    pub fn message(&self) -> Option<Message> {
        match self {
            Error::Unfinished | Error::Interrupted => None,
            Error::Config(e) => Some(Message::Diagnostics(e.to_string())),
            other => Some(Message::Error(other.to_string())),
        }
    }

    pub(crate) fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::File {
            action,
            path: path.into(),
            source,
        }
    }
}

/// How an error is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Already worded as `error: …` diagnostics with their locations.
    Diagnostics(String),
    /// One or more lines to print after `error:`.
    Error(String),
}

fn read_text(errors: &[(String, ScimError)]) -> String {
    errors
        .iter()
        .map(|(tenant, e)| format!("refreshing tenant `{tenant}`: {e}"))
        .collect::<Vec<_>>()
        .join("\nerror: ")
}

fn refused_text(violations: &[GuardViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\nerror: ")
}

fn plan_again(source: &PlanFileError, path: &std::path::Path) -> String {
    match source {
        PlanFileError::StaleState { .. } | PlanFileError::StaleConfig => {
            format!("; run `zsc plan -o {}` again", path.display())
        }
        _ => String::new(),
    }
}
