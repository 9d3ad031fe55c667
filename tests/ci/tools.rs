//! The commands a CI image offers, and only those. Each example's scripts run with a `PATH`
//! holding links to exactly these (and `zsc`), so a step that calls a tool the image lacks
//! (`jq` on `rust:1-bookworm`, python) fails its test as it would fail the job.

use std::path::{Path, PathBuf};

/// What `debian:bookworm-slim` has (the zsc `-ci` image's base) plus the `curl` and `git` the
/// image adds; GitHub's `ubuntu-latest` runners have all of it too. `awk` is mawk, Debian's.
pub const CI_IMAGE: &[&str] = &[
    "bash",
    "sh",
    "cat",
    "cp",
    "mv",
    "rm",
    "mkdir",
    "rmdir",
    "ls",
    "ln",
    "chmod",
    "touch",
    "head",
    "tail",
    "tr",
    "cut",
    "sort",
    "uniq",
    "wc",
    "tee",
    "env",
    "date",
    "seq",
    "mktemp",
    "basename",
    "dirname",
    "printf",
    "echo",
    "test",
    "[",
    "true",
    "false",
    "uname",
    "id",
    "sed",
    "grep",
    "awk",
    "tar",
    "gzip",
    "sha256sum",
    "find",
    "xargs",
    "diff",
    "cmp",
    "expr",
    "readlink",
    "stat",
    "od",
    "timeout",
    "hostname",
    "curl",
    "git",
];

/// The GitHub-hosted runner's extra tools that the release workflow uses.
pub const RUNNER_EXTRAS: &[&str] = &["file"];

/// A directory of links to `tools` (found on this machine), with `sleep` replaced by a no-op
/// so that retry loops do not make tests wait. Panics naming a tool this machine lacks.
pub fn bin_dir(dir: &Path, tools: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in tools {
        let found = if *tool == "awk" {
            which("mawk").or_else(|| which("awk"))
        } else {
            which(tool)
        };
        let target = found.unwrap_or_else(|| {
            panic!("`{tool}` is not installed on this machine, and the CI image has it")
        });
        std::os::unix::fs::symlink(target, bin.join(tool)).unwrap();
    }
    let sleep = bin.join("sleep");
    std::fs::write(&sleep, "#!/bin/sh\nexit 0\n").unwrap();
    chmod_x(&sleep);
    bin
}

/// A directory holding `zsc` (the binary under test), as an install step would leave it.
pub fn zsc_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("zsc-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_zsc"), bin.join("zsc")).unwrap();
    bin
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

pub fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
