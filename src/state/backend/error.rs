//! What can go wrong with a state backend. Every message names the backend (its kind and
//! location, never a credential) and says what was left as it was.

use super::holder::LockHolder;
use crate::state::rules::RuleError;
use crate::state::StateError;

/// A state backend's failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend could not be reached (refused, no such host, TLS, timeout).
    #[error("cannot reach the {backend}: {detail}")]
    Unreachable { backend: String, detail: String },

    /// The backend refused the credentials or their rights.
    #[error(
        "the {backend} refused to {action} ({detail}): check the backend's credentials and what \
         they may do"
    )]
    Denied {
        backend: String,
        action: &'static str,
        detail: String,
    },

    /// The bucket (or the state's location) does not exist.
    #[error("the {backend}: {detail}")]
    Missing { backend: String, detail: String },

    /// Any other answer the backend should not have given.
    #[error("the {backend} could not {action}: {detail}")]
    Failed {
        backend: String,
        action: &'static str,
        detail: String,
    },

    /// What the backend holds is not a state zsc can read: nothing was changed.
    #[error(
        "the {backend} holds no valid state ({detail}); nothing was changed: `zsc state pull` \
         prints it, and `zsc state push --force FILE` replaces it with a good copy"
    )]
    Corrupt { backend: String, detail: String },

    /// Another run holds the lock.
    #[error("{}", locked_text(backend, holder.as_deref()))]
    Locked {
        backend: String,
        holder: Option<Box<LockHolder>>,
    },

    /// A compare-and-swap write failed: someone else wrote the state since this run read it.
    #[error(
        "the state changed under this run: the {backend} now holds {now} (this run read {read}); \
         nothing was overwritten; run the command again"
    )]
    Changed {
        backend: String,
        read: String,
        now: String,
    },

    /// The state to write may not replace the stored one.
    #[error("refusing to write the state to the {backend}: {rule}; nothing was changed")]
    Rule { backend: String, rule: RuleError },

    /// `zsc state unlock ID` named a lock that is not the one held.
    #[error("{}", not_holder_text(backend, id, holder.as_deref()))]
    NotHolder {
        backend: String,
        id: String,
        holder: Option<Box<LockHolder>>,
    },

    /// A request declined as asked, worded whole (a lock whose holder still runs).
    #[error("{0}")]
    Refused(String),

    /// The local state's files, or the local journal a remote backend keeps.
    #[error(transparent)]
    State(#[from] StateError),
}

impl BackendError {
    /// Whether this says the lock is held by someone else (local or remote).
    pub fn is_locked(&self) -> bool {
        matches!(
            self,
            BackendError::Locked { .. } | BackendError::State(StateError::Locked { .. })
        )
    }

    /// Who holds the lock, for "waiting for ..." lines.
    pub fn holder_text(&self) -> String {
        match self {
            BackendError::Locked {
                holder: Some(h), ..
            } => h.to_string(),
            BackendError::State(StateError::Locked {
                holder: Some(h), ..
            }) => h.to_string(),
            _ => "another process".to_owned(),
        }
    }
}

fn locked_text(backend: &str, holder: Option<&LockHolder>) -> String {
    match holder {
        Some(h) => format!(
            "the state in the {backend} is locked by {h}; wait for it to finish \
             (`--lock-timeout 5m` waits), or if that run is gone release the lock with \
             `zsc state unlock {}`",
            h.id
        ),
        None => format!(
            "the state in the {backend} is locked by a holder that left no information; wait \
             for it to finish, or release it with `zsc state unlock --force`"
        ),
    }
}

fn not_holder_text(backend: &str, id: &str, holder: Option<&LockHolder>) -> String {
    match holder {
        Some(h) => format!(
            "the lock of the {backend} is held by {h}, not by lock id {id}; nothing was released"
        ),
        None => format!("the state in the {backend} is not locked (no lock id {id})"),
    }
}
