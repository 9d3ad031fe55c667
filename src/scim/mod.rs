//! Talking to SCIM 2.0 servers: wire types, the HTTP client, paging, retries and pacing.
//!
//! This is the only module that sends HTTP requests.

mod bodies;
pub mod client;
pub mod discovery;
pub mod error;
pub mod listing;
pub mod lookup;
pub mod pacing;
pub mod probe;
pub mod read;
pub mod transport;
pub mod wire;
pub mod write;

pub use client::{ClientOptions, ProgressSink, ReadProgress, ScimClient};
pub use discovery::Capabilities;
pub use error::ScimError;
pub use listing::UserWithGroups;
pub use lookup::{Looked, Lookups};
pub use read::{Expected, Memberships, Totals};
pub use write::{Created, Gone, MemberRef, MembersPatched, UserUpdate};
