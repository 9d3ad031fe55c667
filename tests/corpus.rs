//! Hostile input: every malformed config, state file and SCIM response in `testdata/` gives a
//! clear error and never a panic; huge inputs (a 50 MB YAML, a group of 1,000,000 members)
//! stay within bounded memory.
//!
//! Corpora: `testdata/config/bad/<case>/zsc.yaml` (also checked message by message in
//! `bad_input.rs`), `testdata/state/bad/*.json` and `testdata/scim/bad/*.json` (each served as
//! the answer to every Users and Groups request by a one-file HTTP server on 127.0.0.1). The
//! fuzz targets in `fuzz/` run the same three parsers on generated input.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zsc::dialect::Dialect;
use zsc::scim::wire::{ListResponse, WireGroup, WireUser};
use zsc::scim::{ClientOptions, Expected, ScimClient};
use zsc::secret::Secret;
use zsc::state::StateStore;

use crate::harness::{Env, TOKEN_ENV};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files of a corpus directory, sorted.
fn corpus(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("corpus dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Every broken config, through the library loader: an error, never a panic.
fn configs() -> usize {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/config/bad"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("zsc.yaml"))
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
    for path in &dirs {
        let result = catch_unwind(|| zsc::config::load(path));
        let result = result.unwrap_or_else(|_| panic!("{} panicked the loader", path.display()));
        let error = result.expect_err(&format!("{} loaded", path.display()));
        assert!(!error.to_string().trim().is_empty(), "{}", path.display());
    }
    dirs.len()
}

/// Every broken state file, through the library and through the binary: an error naming the
/// file, never a panic, and the file left as it was.
fn states() -> usize {
    let env = Env::new();
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n  zia-prod:\n    kind: scim\n    url: https://scim.example.com/scim/v2\n    token: {{ env: {TOKEN_ENV} }}\n"
        ),
    );
    let files = corpus("testdata/state/bad");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(file).unwrap();
        let copy = env.path(&format!("states/{name}"));
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, &bytes).unwrap();
        let store = StateStore::new(&copy);
        let result = catch_unwind(AssertUnwindSafe(|| store.load()))
            .unwrap_or_else(|_| panic!("{name} panicked the state loader"));
        let error = result.expect_err(&format!("{name} loaded as a state"));
        assert!(error.to_string().contains(&name), "{name}: {error}");
        let run = env.zsc(&["--state", copy.to_str().unwrap(), "state", "list"]);
        assert_eq!(run.code, 1, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(&name), "{name}: {}", run.stderr);
        assert_eq!(std::fs::read(&copy).unwrap(), bytes, "{name} was rewritten");
    }
    files.len()
}

/// A server on 127.0.0.1 that answers every request with `body` (200), except discovery (404).
/// Stops when the returned flag is set; every accept and read is bounded.
fn serve_body(body: Vec<u8>) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65_536 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request);
            let (status, payload): (&str, &[u8]) = if head.contains("/ServiceProviderConfig") {
                ("404 Not Found", b"")
            } else {
                ("200 OK", &body)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(payload);
        }
    });
    (url, stop)
}

/// Every broken SCIM response, to the wire parser and to the client: no panic, and the
/// client's refresh fails with an error that names the request.
fn scim_responses() -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let files = corpus("testdata/scim/bad");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(file).unwrap();
        catch_unwind(|| {
            if let Ok(list) = serde_json::from_slice::<ListResponse<WireUser>>(&body) {
                let _ = list.resources.into_iter().map(WireUser::into_live).count();
            }
            if let Ok(list) = serde_json::from_slice::<ListResponse<WireGroup>>(&body) {
                let _ = list.resources.into_iter().map(WireGroup::into_live).count();
            }
        })
        .unwrap_or_else(|_| panic!("{name} panicked the wire parser"));
        let (url, stop) = serve_body(body);
        let mut options = ClientOptions::new(url, Secret::new("corpus-token"), Dialect::Scim);
        options.timeout = Duration::from_secs(10);
        options.backoff.max_attempts = 2;
        let client = ScimClient::new(options).unwrap();
        let result = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                client.read_tenant(&Expected::default()),
            )
            .await
        });
        stop.store(true, Ordering::Relaxed);
        let result = result.unwrap_or_else(|_| panic!("{name}: refresh did not end"));
        let error = result.expect_err(&format!("{name} was accepted as a listing"));
        let text = error.to_string();
        assert!(
            text.contains("/Users") || text.contains("/Groups"),
            "{name}: {text}"
        );
        eprintln!("corpus: scim/{name}: {text}");
    }
    files.len()
}

#[test]
fn every_malformed_config_state_and_scim_response_is_a_clear_error_not_a_panic() {
    let configs = configs();
    let states = states();
    let responses = scim_responses();
    let total = configs + states + responses;
    eprintln!(
        "corpus: {total} malformed inputs refused clearly ({configs} configs, {states} state \
         files, {responses} SCIM responses), 0 panics"
    );
    assert!(configs >= 40 && states >= 20 && responses >= 20, "{total}");
    assert!(total >= 50);
}

// ---- huge inputs ---------------------------------------------------------------------------

/// Run the binary and sample its peak resident memory (VmHWM) until it exits; bounded by
/// `limit`. Returns the run's exit code, stderr and the peak in MiB.
fn run_measured(env: &Env, args: &[&str], limit: Duration) -> (i32, String, u64) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zsc"))
        .args(args)
        .current_dir(env.dir.path())
        .env(TOKEN_ENV, crate::harness::TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("ZSC_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(env.path("out.txt")).unwrap())
        .stderr(std::fs::File::create(env.path("err.txt")).unwrap())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + limit;
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = std::fs::read_to_string(env.path("err.txt")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (status.code().unwrap_or(-1), stderr, peak_kb / 1024)
}

/// A 50 MB configuration is loaded and validated, or refused, within bounded memory. In CI
/// it is ~87,000 users with long attributes (about 7 s in a debug build); `ZSC_HUGE_YAML=users`
/// makes it ~580,000 short users instead (about 35 s in a debug build).
#[test]
fn a_50_mb_yaml_is_handled_within_bounded_memory() {
    let env = Env::new();
    let mut yaml = format!(
        "tenants:\n  t:\n    kind: scim\n    url: https://scim.example.com/scim/v2\n    token: {{ env: {TOKEN_ENV} }}\nusers:\n"
    );
    let many_short = std::env::var("ZSC_HUGE_YAML").is_ok_and(|v| v == "users");
    let long = "x".repeat(110);
    let mut i = 0;
    while yaml.len() < 50 * 1024 * 1024 {
        if many_short {
            yaml.push_str(&format!(
                "  - user_name: someone.with.a.long.name{i}@example.com\n    display_name: Someone {i}\n"
            ));
        } else {
            yaml.push_str(&format!(
                "  - user_name: user{i}@example.com\n    display_name: User {i} {long}\n    \
                 given_name: Given {i} {long}\n    family_name: Family {i} {long}\n    \
                 department: Department {i} {long}\n"
            ));
        }
        i += 1;
    }
    env.write("zsc.yaml", &yaml);
    let started = Instant::now();
    let (code, stderr, peak_mib) = run_measured(&env, &["validate"], Duration::from_secs(240));
    eprintln!(
        "corpus: {} MB YAML ({i} users): validate exited {code} in {:?}, peak RSS {peak_mib} MiB; {}",
        yaml.len() / 1_000_000,
        started.elapsed(),
        stderr.lines().next().unwrap_or("")
    );
    assert!(code == 0 || code == 1, "{stderr}");
    if code == 1 {
        assert!(
            stderr.contains("zsc.yaml"),
            "a refusal names the file: {stderr}"
        );
    }
    assert!(peak_mib < 1536, "peak RSS {peak_mib} MiB");
}

/// A state holding a group of 1,000,000 members loads (and lists) within bounded memory.
#[test]
fn a_state_with_a_1_000_000_member_group_loads_within_bounded_memory() {
    let env = Env::new();
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n  t:\n    kind: scim\n    url: https://scim.example.com/scim/v2\n    token: {{ env: {TOKEN_ENV} }}\n"
        ),
    );
    let mut state = String::from(
        "{\"format_version\": 1, \"lineage\": \"8d0f7c7e-4f49-4a5e-9a8e-2b0c8d1e5f10\", \
         \"serial\": 1, \"tenants\": {\"t\": {\"users\": {}, \"groups\": {\"big\": {\"id\": \
         \"g-1\", \"name\": \"Big\", \"members\": [",
    );
    for i in 0..1_000_000 {
        if i > 0 {
            state.push(',');
        }
        state.push_str(&format!("\"00000000-0000-4000-8000-{i:012}\""));
    }
    state.push_str("]}}}}}\n");
    env.write(".zsc/state.json", &state);
    let started = Instant::now();
    let (code, stderr, peak_mib) = run_measured(&env, &["state", "list"], Duration::from_secs(120));
    eprintln!(
        "corpus: state with a 1,000,000-member group ({} MB): state list exited {code} in {:?}, \
         peak RSS {peak_mib} MiB",
        state.len() / 1_000_000,
        started.elapsed()
    );
    assert_eq!(code, 0, "{stderr}");
    let out = std::fs::read_to_string(env.path("out.txt")).unwrap();
    assert!(out.contains("t.group[\"Big\"]"), "{out}");
    assert!(peak_mib < 1024, "peak RSS {peak_mib} MiB");
}
