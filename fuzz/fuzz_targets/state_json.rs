//! The state loader on arbitrary bytes: a state or an error naming the file, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zsc::state::StateStore;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let path = dir.path().join("state.json");
    std::fs::write(&path, data).expect("write input");
    match StateStore::new(&path).load() {
        Ok(loaded) => {
            // A state that loads must serialise again.
            serde_json::to_vec(&loaded.state).expect("a loaded state serialises");
        }
        Err(error) => assert!(error.to_string().contains("state.json")),
    }
});
