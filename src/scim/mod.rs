//! Talking to SCIM 2.0 servers: wire types, the HTTP client, paging, retries and pacing.
//!
//! This is the only module that sends HTTP requests.

pub mod client;
pub mod discovery;
pub mod error;
pub mod pacing;
pub mod wire;

pub use client::{ClientOptions, Created, Expected, Gone, MemberRef, MembersPatched, ScimClient};
pub use discovery::Capabilities;
pub use error::ScimError;
