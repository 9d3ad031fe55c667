//! The state file: what zsc manages, stored as JSON beside the configuration.
//!
//! [`model`] is the content; [`store`] loads and saves it atomically, keeps a backup, guards it
//! with a lock and journals completed remote changes so that a crash loses nothing.
//! [`backend`] puts the state where the configuration says (that local store, Terraform's HTTP
//! backend, S3) behind one interface; [`rules`] holds Terraform's lineage and serial rules that
//! every write to every backend obeys.

pub mod backend;
pub mod error;
pub mod journal;
pub mod lock;
pub mod model;
pub mod rules;
pub mod store;

pub use backend::{Backend, BackendError, LockGuard, LockHolder, LockWait};
pub use error::StateError;
pub use journal::Journal;
pub use lock::{LockInfo, StateLock};
pub use model::{
    FullRefresh, ManagedGroup, ManagedUser, Reconciled, State, StateOp, TenantState, Wrote,
    STATE_FORMAT_VERSION,
};
pub use store::{Loaded, StateStore};

/// Now, as state records when an apply wrote something (RFC 3339, UTC, to the second).
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}
