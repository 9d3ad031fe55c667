//! A SCIM 2.0 server nobody here wrote: the PyPI package `scim2-server` (Yaal Coop; it passes
//! the scim2-tester compliance suite), for the interop tests beside this file.
//!
//! It is installed once into a Python venv under the build directory
//! (`target/tmp/scim2-server-<version>/`, guarded by a lock file and a marker so that parallel
//! tests and test processes do not race and later runs reuse it), then each test starts its own
//! server on a free port of 127.0.0.1 with the harness's bearer token, and kills it on drop.
//! Nothing here reaches anything but PyPI (for the install) and 127.0.0.1.
//!
//! Policy: if Python (`python3`, or `ZSC_TEST_PYTHON`), the install or the start fails, a test
//! is skipped with the reason on stderr, except under `CI=true`, where it fails with that
//! reason.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Env, TOKEN};
use crate::python::{free_port, run};

/// The server's version, pinned with the libraries that decide its behaviour (scim2-models
/// validates every resource and applies every PATCH, on pydantic).
pub const VERSION: &str = "0.8.3";
const REQUIREMENTS: &[&str] = &[
    "scim2-server==0.8.3",
    "scim2-models==0.12.3",
    "pydantic==2.14.4",
];

const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What the server's `/ServiceProviderConfig` says about PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patch {
    /// The package's default configuration: every feature but cursor paging.
    Supported,
    /// `patch.supported: false`; the server then answers every PATCH with 501.
    Unsupported,
}

/// A running scim2-server, killed on drop.
pub struct Scim2Server {
    child: Child,
    /// `http://127.0.0.1:PORT/v2`: the URL zsc's `url:` takes (and `scim_at`'s base).
    pub base_url: String,
    log: PathBuf,
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Scim2Server {
    /// Start a server for `env` (its log and configuration live in `env`'s temp dir). `None`
    /// when it cannot be had and the test should be skipped (never under `CI=true`).
    pub fn start(env: &Env, patch: Patch) -> Option<Scim2Server> {
        match installed().and_then(|exe| spawn(env, exe, patch)) {
            Ok(server) => Some(server),
            Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("scim2-server {VERSION} is needed in CI: {reason}")
            }
            Err(reason) => {
                eprintln!("skipping: scim2-server {VERSION} is not available: {reason}");
                None
            }
        }
    }

    /// The server's log: its start line, one line per request (`"PATCH /v2/Users/.. HTTP/1.1"
    /// 204 0`) and the detail of every error it answered.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many requests with `method` the server has answered so far.
    pub fn requests(&self, method: &str) -> usize {
        let needle = format!("\"{method} /v2/");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        crate::python::log_tail(&self.log, n)
    }
}

/// The `scim2-server` executable, installed once per build directory.
fn installed() -> Result<&'static Path, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(install)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

fn install() -> Result<PathBuf, String> {
    let venv = crate::python::venv(
        &format!("scim2-server-{VERSION}"),
        REQUIREMENTS,
        INSTALL_TIMEOUT,
        |venv, log| {
            run(
                Command::new(venv.join("bin/scim2-server")).arg("--help"),
                log,
                Duration::from_secs(60),
            )
            .map_err(|e| format!("scim2-server --help after the install: {e}"))
        },
    )?;
    Ok(venv.join("bin/scim2-server"))
}

/// The configuration file that turns PATCH off: the package's default otherwise.
fn service_provider_config(patch: Patch) -> Option<Value> {
    (patch == Patch::Unsupported).then(|| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": false},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": 1000},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false}
        })
    })
}

fn spawn(env: &Env, exe: &Path, patch: Patch) -> Result<Scim2Server, String> {
    let log = env.path(".scim2-server.log");
    let spc = service_provider_config(patch).map(|config| {
        let path = env.path(".scim2-server-config.json");
        std::fs::write(&path, config.to_string()).expect("write the service provider config");
        path
    });
    let mut last = String::new();
    // The port is free when asked but may be taken before the server binds it: try again.
    for _ in 0..3 {
        let port = free_port()?;
        let out = File::create(&log).map_err(|e| format!("cannot create the log: {e}"))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", TOKEN])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(spc) = &spc {
            command.arg("--service-provider-config").arg(spc);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let mut server = Scim2Server {
            child,
            base_url: format!("http://127.0.0.1:{port}/v2"),
            log: log.clone(),
        };
        match wait_ready(&mut server, port) {
            Ok(()) => return Ok(server),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Poll `/ServiceProviderConfig` (it needs no token) until it answers 200, the process ends,
/// or [`START_TIMEOUT`] passes.
fn wait_ready(server: &mut Scim2Server, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "the server exited ({status}) at start:\n{}",
                server.log_tail(10)
            ));
        }
        if service_provider_config_answers(port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no answer on 127.0.0.1:{port} after {} s:\n{}",
                START_TIMEOUT.as_secs(),
                server.log_tail(10)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn service_provider_config_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /v2/ServiceProviderConfig HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}
