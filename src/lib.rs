//! zsc keeps the users, groups and group memberships of Zscaler (ZIA, ZPA) and SCIM 2.0 tenants
//! equal to what a git repository declares, with Terraform's refresh → plan → apply loop.
//!
//! Data flows one way:
//!
//! ```text
//! config (YAML) ─┐
//! state (JSON) ──┼─> plan::diff ─> Plan ─┬─> render (text, markdown, json)
//! scim (live) ───┘                       └─> apply ─> scim writes ─> state (journal, save)
//! ```
//!
//! - [`config`] loads and validates desired state; no network.
//! - [`scim`] is the only module that talks HTTP; [`emulator`] is the server side.
//! - [`state`] is the only module that writes the state file.
//! - [`plan`] and [`render`] are pure: no I/O at all.
//! - [`cli`] wires the layers per command; nothing outside `cli` and `render` decides what to
//!   print.

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
pub mod ops;
pub mod par;
pub mod plan;
pub mod render;
pub mod scim;
pub mod secret;
pub mod state;

pub use error::Error;
