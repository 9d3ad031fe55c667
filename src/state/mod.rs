//! The state file: what zsc manages, stored as JSON beside the configuration.
//!
//! [`model`] is the content; [`store`] loads and saves it atomically, keeps a backup, guards it
//! with a lock and journals completed remote changes so that a crash loses nothing.

pub mod journal;
pub mod lock;
pub mod model;
pub mod store;

pub use journal::Journal;
pub use lock::{LockInfo, StateLock};
pub use model::{ManagedGroup, ManagedUser, State, StateOp, TenantState, STATE_FORMAT_VERSION};
pub use store::{Loaded, StateError, StateStore};
