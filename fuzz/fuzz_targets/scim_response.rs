//! The SCIM wire parser on arbitrary bytes: list responses, single resources and error bodies
//! as the client reads them, then the mapping to zsc's model. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zsc::scim::wire::{ListResponse, ScimErrorBody, WireGroup, WireUser};

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = serde_json::from_slice::<ListResponse<WireUser>>(data) {
        for user in list.resources {
            let _ = user.into_live();
        }
    }
    if let Ok(list) = serde_json::from_slice::<ListResponse<WireGroup>>(data) {
        for group in list.resources {
            let _ = group.into_live();
        }
    }
    if let Ok(user) = serde_json::from_slice::<WireUser>(data) {
        let _ = user.into_live();
    }
    if let Ok(group) = serde_json::from_slice::<WireGroup>(data) {
        let _ = group.into_live();
    }
    let _ = serde_json::from_slice::<ScimErrorBody>(data);
});
