//! Interop: the real `zsc` binary against scim2-server, a SCIM 2.0 server nobody here wrote
//! (installed and run by `server.rs`), with `kind: scim`.
//!
//! These tests assert what RFC 7643/7644 and the README promise, not what zsc happens to do:
//! after every step the server is read directly over HTTP and must hold exactly what the YAML
//! says (attributes, `active`, members by userName, nothing duplicated), and the users and
//! groups seeded at the start that zsc does not manage must be as they were, attribute for
//! attribute (ignoring `meta.lastModified` and `meta.version`); see `fixture.rs`.
//!
//! Most scenarios run twice: against the server as it ships (PATCH supported) and with
//! `patch.supported: false` in its `/ServiceProviderConfig` (it then answers PATCH with 501, so
//! zsc must update with GET + PUT). Each defect this server once showed has a scenario of its
//! own in `attributes.rs`, so that a failure names one cause; the lifecycle in `lifecycle.rs`
//! covers every attribute zsc manages. `behaviour.rs` pins down how this server answers where
//! SCIM servers differ.

mod attributes;
mod behaviour;
mod desired;
mod fixture;
mod lifecycle;
pub(crate) mod server;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The user attributes zsc manages (README, configuration reference).
const ATTRS: [&str; 6] = [
    "display_name",
    "given_name",
    "family_name",
    "email",
    "department",
    "external_id",
];
