//! The S3 backend through the binary, against moto (signed requests, conditional writes).

use std::time::Instant;

use serde_json::{json, Value};
use zsc::dialect::Dialect;

use super::moto::{Moto, BUCKET, REGION};
use super::{assert_no_local_state, assert_no_secret, people};
use crate::harness::{Env, Run, TOKEN_ENV};

pub fn zsc(env: &Env, moto: &Moto, args: &[&str]) -> Run {
    zsc_in(env, moto, env.dir.path(), args)
}

pub fn zsc_in(env: &Env, moto: &Moto, cwd: &std::path::Path, args: &[&str]) -> Run {
    let run = env.zsc_with(cwd, args, |c| moto.aws_env(c));
    assert_no_secret(&run, &[&moto.secret_access_key]);
    run
}

/// Tenants only: the harness's emulator as tenant `t`.
pub fn tenants(env: &Env) -> String {
    format!(
        "tenants:\n  t:\n    kind: scim\n    url: {}\n    token: {{ env: {TOKEN_ENV} }}\n",
        env.base_url()
    )
}

fn state_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("a JSON state")
}

/// Plan, apply, lock, unlock, push, pull and migrate (both ways) against moto: the state is
/// one object, the lock another that exists only while a command holds it, nothing is written
/// locally, and the old copy is left as it was by a migration.
#[test]
fn s3_backend_lifecycle_through_the_binary() {
    let env = Env::with_emulator(Dialect::Scim);
    let Some(moto) = Moto::start(&env) else {
        return;
    };
    let started = Instant::now();
    let key = "prod/state.json";
    let lock = "prod/state.json.lock";
    let backend = moto.backend_yaml(key);
    env.config(&format!("{backend}{}", people(&[])));

    zsc(&env, &moto, &["plan"])
        .success()
        .stdout_has("will be created");
    zsc(&env, &moto, &["apply", "--auto-approve"]).success();
    assert_eq!(moto.serial(key), Some(1));
    assert_eq!(moto.get(lock), None, "the lock object is gone");
    assert_no_local_state(&env);
    zsc(&env, &moto, &["plan"])
        .success()
        .stdout_has("No changes.");
    // Not even the most verbose log shows the secret key.
    let traced = env.zsc_with(env.dir.path(), &["-vv", "plan"], |c| {
        moto.aws_env(c);
        c.env("ZSC_LOG", "trace");
    });
    assert!(traced.stderr.len() > 1000, "trace logging was on");
    assert_no_secret(&traced.success(), &[&moto.secret_access_key]);
    let pulled = zsc(&env, &moto, &["state", "pull"]).success().stdout;
    assert_eq!(Some(pulled.into_bytes()), moto.get(key));

    // A lock another run holds: named; released by its id.
    let id = "7d1e0c4b-2f3a-4b5c-8d9e-0a1b2c3d4e5f";
    let holder = json!({"ID": id, "Operation": "zsc apply", "Info": "pid 4242",
        "Who": "ci@runner-7", "Version": "0.1.0", "Created": "2026-11-30T02:00:00Z",
        "Path": format!("s3://{BUCKET}/{key}")});
    moto.put(lock, holder.to_string().as_bytes());
    env.config(&format!("{backend}{}", people(&["cat@example.com"])));
    zsc(&env, &moto, &["apply", "--auto-approve"])
        .code(1)
        .stderr_has(&format!(
            "the state in the s3 backend `s3://{BUCKET}/{key}` at `{}` is locked by `zsc apply` by ci@runner-7 (pid 4242, since 2026-11-30T02:00:00Z, lock id {id})",
            moto.endpoint
        ));
    assert_eq!(moto.serial(key), Some(1));
    zsc(&env, &moto, &["state", "unlock", id])
        .success()
        .stdout_has("Released the lock held by `zsc apply` by ci@runner-7");
    assert_eq!(moto.get(lock), None);
    zsc(&env, &moto, &["apply", "--auto-approve"]).success();
    let latest = moto.serial(key).unwrap();
    assert!(latest >= 2);

    // Push: an older serial is refused, --force overrides.
    let mut old = state_json(&moto.get(key).unwrap());
    old["serial"] = json!(1);
    env.write("old.json", &old.to_string());
    zsc(&env, &moto, &["state", "push", "old.json"])
        .code(1)
        .stderr_has(&format!(
            "its serial 1 is lower than the stored state's {latest}"
        ));
    assert_eq!(moto.serial(key), Some(latest));
    old["serial"] = json!(latest + 1);
    env.write("next.json", &old.to_string());
    zsc(&env, &moto, &["state", "push", "next.json"]).success();
    assert_eq!(moto.serial(key), Some(latest + 1));
    let in_s3 = moto.get(key).unwrap();

    // Migrate S3 -> a local state file, then local -> another key.
    let local = env.path("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("zsc.yaml"),
        format!("{}{}", tenants(&env), people(&["cat@example.com"])),
    )
    .unwrap();
    let from: Vec<String> = [
        "kind=s3".to_owned(),
        format!("bucket={BUCKET}"),
        format!("key={key}"),
        format!("region={REGION}"),
        format!("endpoint={}", moto.endpoint),
    ]
    .iter()
    .flat_map(|kv| ["--from-backend-config".to_owned(), kv.clone()])
    .collect();
    let mut args = vec!["state", "migrate"];
    args.extend(from.iter().map(String::as_str));
    zsc_in(&env, &moto, &local, &args)
        .success()
        .stdout_has(&format!(
            "(lineage {}, serial {})",
            old["lineage"].as_str().unwrap(),
            latest + 1
        ));
    let migrated = std::fs::read(local.join(".zsc/state.json")).expect("the local copy");
    assert_eq!(state_json(&migrated), state_json(&in_s3));
    assert_eq!(
        moto.get(key),
        Some(in_s3.clone()),
        "the old copy is untouched"
    );
    zsc_in(&env, &moto, &local, &["plan"])
        .success()
        .stdout_has("No changes.");

    let copy = env.path("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::write(
        copy.join("zsc.yaml"),
        format!(
            "{}{}{}",
            tenants(&env),
            moto.backend_yaml("copy/state.json"),
            people(&["cat@example.com"])
        ),
    )
    .unwrap();
    let from = local.join(".zsc/state.json");
    let from = from.to_str().unwrap();
    zsc_in(&env, &moto, &copy, &["state", "migrate", "--from", from])
        .success()
        .stdout_has("Migrated the state");
    assert_eq!(
        state_json(&moto.get("copy/state.json").unwrap()),
        state_json(&migrated)
    );
    assert_eq!(
        std::fs::read(local.join(".zsc/state.json")).unwrap(),
        migrated
    );
    zsc_in(&env, &moto, &copy, &["state", "migrate", "--from", from])
        .success()
        .stdout_has("holds this state already");
    zsc_in(&env, &moto, &copy, &["plan"])
        .success()
        .stdout_has("No changes.");
    eprintln!(
        "backends: s3: lifecycle against moto (13 zsc runs) in {:?}",
        started.elapsed()
    );
}

/// Wrong credentials, a missing bucket, an unreachable endpoint, a corrupt stored state and
/// another lineage: each a clear error naming the backend, never a secret, exit 1, the stored
/// state as it was.
#[test]
fn bad_s3_backends_fail_clearly_and_overwrite_nothing() {
    let env = Env::with_emulator(Dialect::Scim);
    let Some(moto) = Moto::start(&env) else {
        return;
    };
    let key = "prod/state.json";
    let backend = moto.backend_yaml(key);
    env.config(&format!("{backend}{}", people(&[])));
    zsc(&env, &moto, &["apply", "--auto-approve"]).success();
    let stored = moto.get(key).unwrap();
    let name = format!("s3 backend `s3://{BUCKET}/{key}` at `{}`", moto.endpoint);

    let wrong_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY";
    let run = env.zsc_with(env.dir.path(), &["apply", "--auto-approve"], |c| {
        moto.aws_env(c);
        c.env("AWS_SECRET_ACCESS_KEY", wrong_secret);
    });
    assert_no_secret(&run, &[wrong_secret, &moto.secret_access_key]);
    run.code(1).stderr_has(&format!(
        "the {name} refused to read the state (SignatureDoesNotMatch)"
    ));
    let run = env.zsc_with(env.dir.path(), &["plan"], |c| {
        moto.aws_env(c);
        c.env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7NOTREAL");
    });
    run.code(1).stderr_has(&format!(
        "the {name} refused to read the state (InvalidAccessKeyId)"
    ));

    env.config(&format!(
        "{}{}",
        moto.backend_yaml(key).replace(BUCKET, "no-such-bucket"),
        people(&[])
    ));
    zsc(&env, &moto, &["apply", "--auto-approve"])
        .code(1)
        .stderr_has("bucket `no-such-bucket` does not exist");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    env.config(&format!(
        "{}{}",
        moto.backend_yaml(key)
            .replace(&moto.endpoint, &format!("http://127.0.0.1:{port}")),
        people(&[])
    ));
    let started = Instant::now();
    zsc(&env, &moto, &["plan"])
        .code(1)
        .stderr_has("cannot reach the s3 backend")
        .stderr_has("connection refused");
    eprintln!(
        "backends: s3: an unreachable endpoint failed in {:?}",
        started.elapsed()
    );

    env.config(&format!("{backend}{}", people(&[])));
    moto.put(key, b"{\"format_version\": 1, \"lineage\"");
    zsc(&env, &moto, &["apply", "--auto-approve"])
        .code(1)
        .stderr_has(&format!("the {name} holds no valid state"));
    assert_eq!(
        moto.get(key).as_deref(),
        Some(&b"{\"format_version\": 1, \"lineage\""[..])
    );
    assert_eq!(
        moto.get(&format!("{key}.lock")),
        None,
        "the lock was released"
    );
    moto.put(key, &stored);

    let mut other = state_json(&stored);
    other["lineage"] = json!("11111111-1111-4111-8111-111111111111");
    other["serial"] = json!(50);
    env.write("other.json", &other.to_string());
    zsc(&env, &moto, &["state", "push", "other.json"])
        .code(1)
        .stderr_has("it has lineage 11111111-1111-4111-8111-111111111111");
    assert_eq!(moto.get(key), Some(stored.clone()));

    env.config(&format!(
        "{}{}",
        moto.backend_yaml(key).replace(
            "region: eu-central-1\n",
            "region: eu-central-1\n  encrypt: true\n"
        ),
        people(&[])
    ));
    zsc(&env, &moto, &["plan"])
        .code(1)
        .stderr_has("unknown key `encrypt` in backend `s3`")
        .stderr_has("zsc.yaml:11:3");
}
