//! Remote state backends through the real binary: Terraform's HTTP protocol against
//! in-process servers that follow GitLab's rules and the reference servers' (`http_server.rs`),
//! and S3 against moto, an S3 server nobody here wrote (`moto.rs`). What each file proves:
//!
//! - `http.rs`: the lifecycle on GitLab's rules (seven lock fields, 409 with the holder, `?ID=`
//!   on writes, 204 when empty, versions per serial), 423 from a reference server, waiting with
//!   `--lock-timeout`, releasing a lock by id, and bad input (wrong password, unreachable,
//!   corrupt state, another lineage), with the periodic push measured.
//! - `s3.rs`: the lifecycle on moto with signed requests (plan, apply, lock, unlock, push, pull,
//!   migrate both ways) and bad input (missing bucket, wrong credentials, unreachable, corrupt
//!   state, another lineage).
//! - `crash.rs`: kill -9 mid-apply with an S3 backend, several rounds, and two applies from two
//!   copies of the repository against one backend.
//!
//! The race safety of the compare-and-swap (many writers, exactly one wins) is proven against
//! `object_store`'s in-memory store, in `src/state/backend/tests.rs`: moto's conditional writes
//! are not atomic under concurrency.

mod crash;
mod http;
pub(crate) mod http_server;
pub(crate) mod moto;
mod s3;

use crate::harness::{Env, Run};

/// Two users in a group, and `extra` users on their own, for a backend test.
pub fn people(extra: &[&str]) -> String {
    let mut yaml =
        String::from("users:\n  - user_name: ann@example.com\n  - user_name: bob@example.com\n");
    for user in extra {
        yaml.push_str(&format!("  - user_name: {user}\n"));
    }
    yaml.push_str("groups:\n  - name: Staff\n    members: [ann@example.com, bob@example.com]\n");
    yaml
}

/// The secrets a run must never print: each must be absent from its output.
#[track_caller]
pub fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret leaked:\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// No local state file: a remote backend keeps it.
#[track_caller]
pub fn assert_no_local_state(env: &Env) {
    assert!(
        !env.path(".zsc/state.json").exists(),
        "a local state file was written beside a remote backend"
    );
}
