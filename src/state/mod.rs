//! The state file: what zsc manages, stored as JSON beside the configuration.
//!
//! [`model`] is the content; [`store`] loads and saves it atomically, keeps a backup, guards it
//! with a lock and journals completed remote changes so that a crash loses nothing.

pub mod model;

pub use model::{ManagedGroup, ManagedUser, State, StateOp, TenantState, STATE_FORMAT_VERSION};
