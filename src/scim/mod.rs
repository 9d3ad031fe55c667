//! Talking to SCIM 2.0 servers: wire types, the HTTP client, paging, retries and pacing.

pub mod wire;
