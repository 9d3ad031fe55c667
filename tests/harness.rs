//! A small fluent harness: a temp dir with a config, an emulator on a loopback port, and the
//! real binary run against them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use zsc::dialect::Dialect;
use zsc::emulator::{self, EmulatorData, EmulatorHandle, EmulatorOptions, Faults};

pub const TOKEN: &str = "test-token-5f2a9c";
pub const TOKEN_ENV: &str = "ZSC_TEST_TOKEN";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub emulator: Option<EmulatorHandle>,
    pub dialect: Dialect,
}

/// What a run of the binary printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Run {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}\nstdout:\n{}",
            self.stderr,
            self.stdout
        );
        self
    }
}

impl Env {
    /// A temp dir, no emulator.
    pub fn new() -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
            rt,
            emulator: None,
            dialect: Dialect::Scim,
        }
    }

    /// A temp dir and an emulator of `dialect` on 127.0.0.1.
    pub fn with_emulator(dialect: Dialect) -> Env {
        let mut env = Env::new();
        env.start_emulator(dialect, Faults::default());
        env
    }

    pub fn start_emulator(&mut self, dialect: Dialect, faults: Faults) {
        let options = EmulatorOptions {
            dialect,
            token: TOKEN.to_owned(),
            data_file: None,
            faults,
            domains: Vec::new(),
            admin_users: Vec::new(),
        };
        let handle = self.rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            emulator::serve(listener, options).await.expect("emulator")
        });
        self.emulator = Some(handle);
        self.dialect = dialect;
    }

    pub fn emulator(&self) -> &EmulatorHandle {
        self.emulator.as_ref().expect("no emulator started")
    }

    pub fn base_url(&self) -> String {
        self.emulator().base_url()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: &str) -> &Env {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, contents).expect("write");
        self
    }

    /// Write `zsc.yaml` with a tenant named `t` of the emulator's dialect pointing at it,
    /// followed by `body` (users, groups, defaults...).
    pub fn config(&self, body: &str) -> &Env {
        let yaml = format!(
            "tenants:\n  t:\n    kind: {}\n    url: {}\n    token: {{ env: {TOKEN_ENV} }}\n{body}",
            self.dialect,
            self.base_url()
        );
        self.write("zsc.yaml", &yaml)
    }

    /// Run the real binary in the temp dir.
    pub fn zsc(&self, args: &[&str]) -> Run {
        self.zsc_in(self.dir.path(), args)
    }

    pub fn zsc_in(&self, cwd: &Path, args: &[&str]) -> Run {
        self.zsc_with(cwd, args, |_| {})
    }

    /// Run the real binary in `cwd`, letting `adjust` change its environment (the defaults:
    /// the token set, NO_COLOR=1, no ZSC_LOG, ZSC_CONFIG or ZSC_STATE).
    pub fn zsc_with(&self, cwd: &Path, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zsc"));
        command
            .args(args)
            .current_dir(cwd)
            .env(TOKEN_ENV, TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("ZSC_LOG")
            .env_remove("ZSC_CONFIG")
            .env_remove("ZSC_STATE");
        adjust(&mut command);
        let out: Output = command.output().expect("run zsc");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "zsc panicked:\n{}",
            run.stderr
        );
        assert!(
            !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
            "the token leaked"
        );
        run
    }

    pub fn data(&self) -> EmulatorData {
        self.emulator().snapshot()
    }

    /// Send a request to the emulator as an admin would, outside zsc.
    pub fn scim(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.scim_at(&self.base_url(), method, path, body)
    }

    /// Create a user directly on the emulator; returns its id.
    pub fn seed_user(&self, user_name: &str, display: &str) -> String {
        let (status, body) = self.scim(
            "POST",
            "/Users",
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "displayName": display,
                "active": true
            })),
        );
        assert_eq!(status, 201, "seed user: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Create a group directly on the emulator; returns its id.
    pub fn seed_group(&self, name: &str, member_ids: &[&str]) -> String {
        let members: Vec<Value> = member_ids
            .iter()
            .map(|id| serde_json::json!({ "value": id }))
            .collect();
        let (status, body) = self.scim(
            "POST",
            "/Groups",
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
                "members": members
            })),
        );
        assert_eq!(status, 201, "seed group: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// A user on the emulator by exact userName, as an admin would see it.
    pub fn live_user(&self, user_name: &str) -> Option<zsc::scim::wire::WireUser> {
        self.data()
            .users
            .into_iter()
            .find(|u| u.user_name == user_name)
    }

    /// A group on the emulator by exact displayName.
    pub fn live_group(&self, name: &str) -> Option<zsc::scim::wire::WireGroup> {
        self.data()
            .groups
            .into_iter()
            .find(|g| g.display_name == name)
    }

    /// The id of the user with this exact userName.
    #[track_caller]
    pub fn user_id(&self, user_name: &str) -> String {
        self.live_user(user_name)
            .and_then(|u| u.id)
            .unwrap_or_else(|| panic!("no user {user_name}"))
    }

    /// The id of the group with this exact displayName.
    #[track_caller]
    pub fn group_id(&self, name: &str) -> String {
        self.live_group(name)
            .and_then(|g| g.id)
            .unwrap_or_else(|| panic!("no group {name}"))
    }

    /// PATCH a resource directly on the emulator, outside zsc (`kind`: `Users` or `Groups`).
    #[track_caller]
    pub fn patch(&self, kind: &str, id: &str, path: &str, value: Value) {
        let (status, body) = self.scim(
            "PATCH",
            &format!("/{kind}/{id}"),
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": path, "value": value}]
            })),
        );
        assert!(
            (200..300).contains(&status),
            "PATCH {kind}/{id}: {status} {body}"
        );
    }

    pub fn user_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .data()
            .users
            .iter()
            .map(|u| u.user_name.clone())
            .collect();
        names.sort();
        names
    }

    /// Members of a group, as userNames, sorted.
    pub fn members_of(&self, group: &str) -> Vec<String> {
        let data = self.data();
        let g = data
            .groups
            .iter()
            .find(|g| g.display_name == group)
            .unwrap_or_else(|| panic!("no group {group}"));
        let mut names: Vec<String> = g
            .members
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                data.users
                    .iter()
                    .find(|u| u.id.as_deref() == Some(m.value.as_str()))
                    .map_or(m.value.clone(), |u| u.user_name.clone())
            })
            .collect();
        names.sort();
        names
    }

    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .data()
            .groups
            .iter()
            .map(|g| g.display_name.clone())
            .collect();
        names.sort();
        names
    }
}

impl Env {
    /// Start the real binary without waiting for it. Its output goes to files, not pipes, so
    /// a long plan cannot fill a pipe and stall the child before it reaches the point a test
    /// wants to interrupt.
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        self.spawn_with(self.dir.path(), args, |_| {})
    }

    /// [`Env::spawn`] in `cwd`, letting `adjust` change its environment.
    pub fn spawn_with(
        &self,
        cwd: &Path,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Spawned {
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self.path(&format!(".spawn-{n}.out"));
        let err = self.path(&format!(".spawn-{n}.err"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_zsc"));
        command
            .args(args)
            .current_dir(cwd)
            .env(TOKEN_ENV, TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("ZSC_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"));
        adjust(&mut command);
        let child = command.spawn().expect("spawn zsc");
        Spawned { child, out, err }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.emulator().set_faults(faults);
    }

    /// YAML for `n` users named `user{i}@example.com` and `groups` groups that each hold every
    /// `groups`-th user.
    pub fn people(n: usize, groups: usize) -> String {
        let mut yaml = String::from("users:\n");
        for i in 0..n {
            yaml.push_str(&format!(
                "  - user_name: user{i}@example.com\n    display_name: User {i}\n"
            ));
        }
        if groups > 0 {
            yaml.push_str("groups:\n");
            for g in 0..groups {
                yaml.push_str(&format!("  - name: Team {g}\n    members: ["));
                let members: Vec<String> = (0..n)
                    .filter(|i| i % groups == g)
                    .map(|i| format!("user{i}@example.com"))
                    .collect();
                yaml.push_str(&members.join(", "));
                yaml.push_str("]\n");
            }
        }
        yaml
    }

    /// Every userName on the emulator is distinct (case-insensitively).
    #[track_caller]
    pub fn assert_no_duplicates(&self) {
        let data = self.data();
        let mut users: Vec<String> = data
            .users
            .iter()
            .map(|u| u.user_name.to_lowercase())
            .collect();
        let n = users.len();
        users.sort();
        users.dedup();
        assert_eq!(users.len(), n, "duplicate users on the tenant");
        let mut groups: Vec<String> = data
            .groups
            .iter()
            .map(|g| g.display_name.to_lowercase())
            .collect();
        let n = groups.len();
        groups.sort();
        groups.dedup();
        assert_eq!(groups.len(), n, "duplicate groups on the tenant");
    }

    /// The state file parses and its serial.
    pub fn state_serial(&self) -> u64 {
        let text = std::fs::read_to_string(self.path(".zsc/state.json")).expect("state file");
        let v: Value = serde_json::from_str(&text).expect("state is valid JSON");
        v["serial"].as_u64().expect("serial")
    }
}

static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A running zsc and the files its output goes to.
pub struct Spawned {
    child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

impl Spawned {
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

/// Send a signal to a child process.
pub fn signal(child: &Spawned, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Wait for a child and collect what it printed.
pub fn finish(mut spawned: Spawned) -> Run {
    let status = spawned.child.wait().expect("wait");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&spawned.out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&spawned.err).unwrap_or_default(),
    }
}

impl Env {
    /// Start another emulator on 127.0.0.1 with these options (for multi-tenant tests); the
    /// caller keeps the handle.
    pub fn spawn_emulator(&self, options: EmulatorOptions) -> EmulatorHandle {
        self.rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            emulator::serve(listener, options).await.expect("emulator")
        })
    }

    /// [`Env::scim`] against any emulator's base URL, with the test token.
    pub fn scim_at(
        &self,
        base_url: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{base_url}{path}");
        let _ = rustls::crypto::ring::default_provider().install_default();
        self.rt.block_on(async {
            let client = reqwest::Client::new();
            let mut req = client
                .request(method.parse().expect("method"), url)
                .bearer_auth(TOKEN);
            if let Some(body) = body {
                req = req
                    .header("content-type", "application/scim+json")
                    .body(body.to_string());
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }
}

/// Options for an emulator that accepts the test token.
pub fn emulator_options(dialect: Dialect) -> EmulatorOptions {
    let mut options = EmulatorOptions::new(dialect, TOKEN);
    options.faults = Faults::default();
    options
}
