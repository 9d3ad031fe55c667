//! Python packages the tests run as real third-party servers (scim2-server, moto): each pinned
//! set installed once per build directory into its own virtualenv, and how to run them.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A virtualenv in the build directory's `name` folder with `requirements` pip-installed
/// (within `limit`) and `check` passed, made once: a later call (from this or another test
/// process, which waits on a file lock) finds it by a marker naming the requirements.
/// `check` gets the venv and the install log.
pub fn venv(
    name: &str,
    requirements: &[&str],
    limit: Duration,
    check: impl Fn(&Path, &Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Other test processes (a second `cargo test`, nextest) install into the same directory.
    let lock = File::create(dir.join("install.lock"))
        .map_err(|e| format!("cannot create the install lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot take the install lock: {e}"))?;
    let venv = dir.join("venv");
    let marker = dir.join("installed");
    let log = dir.join("install.log");
    let wanted = requirements.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && check(&venv, &log).is_ok() {
        return Ok(venv);
    }
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_dir_all(&venv);
    let python = std::env::var("ZSC_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(
        Command::new(&python).arg("-m").arg("venv").arg(&venv),
        &log,
        Duration::from_secs(120),
    )
    .map_err(|e| format!("{python} -m venv: {e}"))?;
    run(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .args(requirements),
        &log,
        limit,
    )
    .map_err(|e| format!("pip install {wanted}: {e}"))?;
    check(&venv, &log)?;
    std::fs::write(&marker, &wanted).map_err(|e| format!("cannot write the marker: {e}"))?;
    Ok(venv)
}

/// Run `command` to completion within `limit`, its output appended to `log`; an error says
/// why, with the log's end.
pub fn run(command: &mut Command, log: &Path, limit: Duration) -> Result<(), String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no end after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{status}; {} ends:\n{}",
        log.display(),
        tail.join("\n")
    ))
}

/// The last `n` lines of a server's log file, for failure messages.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A loopback port nothing listens on now.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
