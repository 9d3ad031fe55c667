//! Interop: zsc against scim2-server, a SCIM 2.0 server nobody here wrote (installed and run
//! by `server.rs`), so that zsc is tested against more than its own emulator. `fixture.rs`
//! starts one per test, with users and groups that zsc must never touch; `behaviour.rs` pins
//! down how this server answers where SCIM servers differ.

mod behaviour;
mod fixture;
mod server;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
