//! zsc keeps the users, groups and group memberships of Zscaler (ZIA, ZPA) and SCIM 2.0 tenants
//! equal to what a git repository declares, with Terraform's refresh → plan → apply loop.
//!
//! Layers, each importing only from the ones below it:
//!
//! ```text
//! main ─> cli          flags as typed → settings resolved once → one ops call → a view
//!          │
//!          ▼
//!         ops          the workflow: read live, fold into state, plan, guard, execute, record
//!          │
//!          ├─> config (YAML, validation)   state (store, journal, lock, backends)   scim (HTTP client)
//!          ├─> plan (pure diff, graph, guards, saved-plan format)
//!          ├─> apply (steps, scheduling, execution through scim)
//!          └─> render (text, markdown, json views; pure)
//! ```
//!
//! Data flows one way: config + state + live → plan → render / apply → state.
//!
//! - [`config`] loads and validates desired state; no network.
//! - [`scim`] is the only module that talks to tenants (and [`state`] the only one that talks to a
//!   state backend); [`net`] is what their two HTTP clients share; [`emulator`] is the server
//!   side.
//! - [`state`] is the only module that writes the state, to its file or to a remote backend
//!   (HTTP, S3), under Terraform's lineage and serial rules; [`fsx`] is the one atomic write
//!   every file zsc must never leave half-written goes through.
//! - [`plan`] and [`render`] are pure: no I/O at all.
//! - [`ops`] owns what each command does and fails with [`Error`]; [`cli`] parses flags, calls
//!   it and prints: nothing outside `cli` decides what to print.

pub mod access;
pub mod apply;
#[doc(hidden)]
pub mod bench;
pub mod cli;
pub mod config;
pub mod dialect;
pub mod emulator;
pub mod error;
pub mod fsx;
pub mod model;
pub mod net;
pub mod ops;
pub mod par;
pub mod plan;
pub mod render;
pub mod scim;
pub mod secret;
pub mod state;

pub use error::Error;
