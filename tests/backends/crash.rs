//! Crashes and concurrent applies with a remote backend, through the binary against moto and
//! the emulator:
//!
//! - kill -9 mid-apply, several rounds, alternating a rerun on the same machine (its local
//!   journal replayed) with a rerun on a fresh runner (journal gone: only what was pushed
//!   survives). After each kill the lock the dead run left is released by `zsc state unlock`
//!   (its holder is a dead process of this machine), the stored state records only objects
//!   that exist live under their names, and nothing is duplicated; unmanaged users are never
//!   touched. At the end the emulator holds exactly the desired objects and the next plan is
//!   empty.
//! - two applies from two copies of the repository against one backend: one fails naming the
//!   holder, or waits for it with `--lock-timeout`; nothing is lost or made twice.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;
use zsc::dialect::Dialect;
use zsc::emulator::Faults;

use super::moto::Moto;
use super::s3::{tenants, zsc, zsc_in};
use crate::harness::{finish, signal, Env};

const KEY: &str = "prod/state.json";

fn desired(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("user{i}@example.com")).collect()
}

/// The stored state's users and groups as (name → id), read from S3.
fn stored(moto: &Moto) -> (HashMap<String, String>, HashMap<String, String>) {
    let Some(bytes) = moto.get(KEY) else {
        return Default::default();
    };
    let state: Value = serde_json::from_slice(&bytes).expect("the stored state is JSON");
    let mut users = HashMap::new();
    let mut groups = HashMap::new();
    if let Some(t) = state["tenants"]["t"].as_object() {
        for u in t["users"].as_object().into_iter().flat_map(|m| m.values()) {
            users.insert(
                u["user_name"].as_str().unwrap().to_lowercase(),
                u["id"].as_str().unwrap().to_owned(),
            );
        }
        for g in t["groups"].as_object().into_iter().flat_map(|m| m.values()) {
            groups.insert(
                g["name"].as_str().unwrap().to_lowercase(),
                g["id"].as_str().unwrap().to_owned(),
            );
        }
    }
    (users, groups)
}

/// What the stored state records exists live with that id and name; nothing is duplicated;
/// the unmanaged users are there, as they were.
#[track_caller]
fn assert_consistent(env: &Env, moto: &Moto, unmanaged: &BTreeSet<String>) {
    env.assert_no_duplicates();
    let data = env.data();
    let live_users: HashMap<String, String> = data
        .users
        .iter()
        .map(|u| (u.id.clone().unwrap(), u.user_name.to_lowercase()))
        .collect();
    let live_groups: HashMap<String, String> = data
        .groups
        .iter()
        .map(|g| (g.id.clone().unwrap(), g.display_name.to_lowercase()))
        .collect();
    let (users, groups) = stored(moto);
    for (name, id) in &users {
        assert_eq!(
            live_users.get(id),
            Some(name),
            "state records user {name} as {id}"
        );
    }
    for (name, id) in &groups {
        assert_eq!(
            live_groups.get(id),
            Some(name),
            "state records group {name} as {id}"
        );
    }
    for name in unmanaged {
        let user = env
            .live_user(name)
            .expect("an unmanaged user is never removed");
        assert!(user.active.unwrap_or(true), "{name} was disabled");
        assert!(!users.contains_key(name), "{name} was taken over");
    }
}

#[test]
fn kill_9_mid_apply_with_an_s3_backend_converges_with_no_duplicate_and_no_wrong_removal() {
    let env = Env::with_emulator(Dialect::Scim);
    let Some(moto) = Moto::start(&env) else {
        return;
    };
    let n = 200;
    env.config(&format!("{}{}", moto.backend_yaml(KEY), Env::people(n, 4)));
    let unmanaged: BTreeSet<String> = (0..3).map(|i| format!("keep{i}@example.com")).collect();
    for name in &unmanaged {
        env.seed_user(name, "Not managed");
    }
    let kills: usize = std::env::var("ZSC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let started = Instant::now();
    let (mut killed, mut completed) = (0, 0);
    // After each kill: (users live, users in the stored state, journal kept?).
    let mut progress = Vec::new();
    for round in 0..kills * 3 {
        if killed >= kills {
            break;
        }
        env.set_faults(Faults {
            latency_ms: 25,
            ..Faults::default()
        });
        let child = env.spawn_with(
            env.dir.path(),
            &["apply", "--auto-approve", "--parallelism", "4"],
            |c| {
                moto.aws_env(c);
                c.env("ZSC_STATE_PUSH_INTERVAL_MS", "250");
            },
        );
        std::thread::sleep(Duration::from_millis(400 + 170 * (round as u64 % 7)));
        signal(&child, "KILL");
        let run = finish(child);
        env.set_faults(Faults::default());
        if run.code == 0 {
            // It finished first: start over on an empty tenant and backend.
            completed += 1;
            let mut data = zsc::emulator::EmulatorData::default();
            data.users = env
                .data()
                .users
                .into_iter()
                .filter(|u| unmanaged.contains(&u.user_name))
                .collect();
            env.emulator().replace_data(data);
            moto.delete(KEY);
            let _ = std::fs::remove_dir_all(env.path(".zsc"));
            continue;
        }
        assert_eq!(run.code, -1, "killed by a signal: {}", run.stderr);
        killed += 1;
        // Every other round the rerun is on a fresh runner: the local journal is gone.
        let fresh_runner = killed % 2 == 0;
        if fresh_runner {
            let _ = std::fs::remove_file(env.path(".zsc/remote-state.journal"));
        }
        // The dead run's lock: released without an id, its holder being a dead process here.
        let unlock = zsc(&env, &moto, &["state", "unlock"]).success();
        assert!(
            unlock
                .stdout
                .contains("Released the lock held by `zsc apply`")
                || unlock.stdout.contains("The state is not locked."),
            "{}",
            unlock.stdout
        );
        assert_consistent(&env, &moto, &unmanaged);
        progress.push((env.data().users.len(), stored(&moto).0.len(), !fresh_runner));
        // The next run folds the journal (if any) and plans; its plan never touches an
        // unmanaged user and creates only what does not exist.
        let plan = zsc(&env, &moto, &["plan", "--format", "json"]).success();
        let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
        let live: BTreeSet<String> = env
            .data()
            .users
            .iter()
            .map(|u| u.user_name.to_lowercase())
            .collect();
        for change in plan["changes"].as_array().unwrap() {
            let name = change["name"].as_str().unwrap_or_default().to_lowercase();
            assert!(!unmanaged.contains(&name), "the plan touches {name}");
            if change["object"] == "user" && change["action"] == "create" {
                assert!(!live.contains(&name), "the plan creates {name} again");
            }
            assert!(
                !matches!(change["action"].as_str(), Some("delete" | "disable")),
                "the plan removes {name}: {change}"
            );
        }
    }
    eprintln!(
        "backends: kill -9 with an s3 backend: {killed} kills ({completed} applies completed \
         between them) in {:.1?}; after each kill (users live, users in the stored state, local \
         journal kept): {progress:?}",
        started.elapsed()
    );
    assert!(
        killed >= 2.min(kills),
        "only {killed} kills landed mid-apply"
    );

    zsc(&env, &moto, &["apply", "--auto-approve"]).success();
    zsc(&env, &moto, &["plan"])
        .success()
        .stdout_has("No changes.");
    assert_consistent(&env, &moto, &unmanaged);
    let mut expected = desired(n);
    expected.extend(unmanaged.iter().cloned());
    let live: BTreeSet<String> = env.user_names().into_iter().collect();
    assert_eq!(
        live, expected,
        "exactly the desired users, and the unmanaged ones"
    );
    assert_eq!(env.group_names(), ["Team 0", "Team 1", "Team 2", "Team 3"]);
    assert_eq!(stored(&moto).0.len(), n);
    assert_eq!(moto.get(&format!("{KEY}.lock")), None);
}

/// Two copies of the repository (two working directories, each with its own `.zsc/`) apply
/// against one S3 backend and one tenant. Without waiting, the second fails naming the first
/// as the holder and changes nothing; with `--lock-timeout` it waits, then plans against the
/// state the first stored and finds nothing left to do.
#[test]
fn two_applies_from_two_copies_against_one_backend_never_interleave() {
    let env = Env::with_emulator(Dialect::Scim);
    let Some(moto) = Moto::start(&env) else {
        return;
    };
    let (a, b) = (env.path("a"), env.path("b"));
    let write = |users: usize| {
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(
                dir.join("zsc.yaml"),
                format!(
                    "{}{}{}",
                    tenants(&env),
                    moto.backend_yaml(KEY),
                    Env::people(users, 2)
                ),
            )
            .unwrap();
        }
    };
    let lock = format!("{KEY}.lock");
    let wait_for_lock = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while moto.get(&lock).is_none() {
            assert!(Instant::now() < deadline, "the first apply never locked");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    env.set_faults(Faults {
        latency_ms: 60,
        ..Faults::default()
    });

    write(40);
    let first = env.spawn_with(
        &a,
        &["apply", "--auto-approve", "--parallelism", "2"],
        |c| moto.aws_env(c),
    );
    wait_for_lock();
    let refused = zsc_in(&env, &moto, &b, &["apply", "--auto-approve"]).code(1);
    let holder_pid = format!("pid {}", first.id());
    assert!(
        refused.stderr.contains("is locked by `zsc apply` by")
            && refused.stderr.contains(&holder_pid),
        "{}",
        refused.stderr
    );
    finish(first).success();
    env.assert_no_duplicates();
    assert_eq!(env.user_names().len(), 40);

    write(100);
    let first = env.spawn_with(
        &a,
        &["apply", "--auto-approve", "--parallelism", "2"],
        |c| moto.aws_env(c),
    );
    wait_for_lock();
    let waited = zsc_in(
        &env,
        &moto,
        &b,
        &["apply", "--auto-approve", "--lock-timeout", "2m"],
    )
    .success()
    .stderr_has("Waiting for the state lock, held by `zsc apply` by");
    assert!(waited.stdout.contains("No changes."), "{}", waited.stdout);
    finish(first).success();
    env.set_faults(Faults::default());
    env.assert_no_duplicates();
    assert_eq!(
        env.user_names(),
        desired(100).into_iter().collect::<Vec<_>>()
    );
    for dir in [&a, &b] {
        zsc_in(&env, &moto, dir, &["plan"])
            .success()
            .stdout_has("No changes.");
        assert!(!dir.join(".zsc/state.json").exists());
    }
    assert_eq!(stored(&moto).0.len(), 100);
}
