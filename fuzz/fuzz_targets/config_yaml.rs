//! The YAML loader on arbitrary bytes: every input is a config or a list of problems, never a
//! panic, a hang or unbounded memory.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let path = dir.path().join("zsc.yaml");
    std::fs::write(&path, data).expect("write input");
    if let Err(error) = zsc::config::load(&path) {
        // Rendering the diagnostics (with source excerpts) must not panic either.
        let _ = error.to_string();
    }
});
