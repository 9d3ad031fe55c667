//! A repository as the examples expect one: a bare `origin` whose `main` holds `zsc.yaml`,
//! checkouts of it for each job, and a tenant (a `kind: emulator` tenant's data directory)
//! shared by every checkout, as a real tenant is shared by every CI job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// The configuration the examples plan and apply: an emulated ZIA tenant.
pub const CONFIG: &str = "\
tenants:
  demo:
    kind: emulator
    dialect: zia
defaults:
  max_destroy: 5
  max_destroy_percent: 60
users:
  - user_name: ann@example.com
    display_name: Ann
  - user_name: bob@example.com
    display_name: Bob
  - user_name: cid@example.com
    display_name: Cid
groups:
  - name: Staff
    members: [ann@example.com, bob@example.com, cid@example.com]
";

/// [`CONFIG`] with cid's membership of Staff ending yesterday (UTC): written while that day was
/// still ahead, and past now. A nightly job removes it without any commit.
pub fn config_with_an_expired_membership() -> String {
    // A timestamp prints in UTC, its date first.
    let day_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    let yesterday = &day_ago.to_string()[..10];
    CONFIG.replace(
        "cid@example.com]",
        &format!("{{ user: cid@example.com, until: {yesterday} }}]"),
    )
}

/// What the examples' README says to ignore: all of zsc's files (the state is in a backend).
pub const GITIGNORE: &str = ".zsc/\n";

pub struct Repo {
    pub root: tempfile::TempDir,
    pub origin: PathBuf,
    pub tenant: PathBuf,
}

/// Run git in `dir` with no user or system configuration; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Repo {
    /// An origin whose `main` holds `zsc.yaml` (as given) and `.gitignore`.
    pub fn new(config: &str) -> Repo {
        let root = tempfile::tempdir().unwrap();
        let origin = root.path().join("origin.git");
        let tenant = root.path().join("tenant");
        std::fs::create_dir_all(&tenant).unwrap();
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "-q", "--bare", "-b", "main"]);
        // GitLab accepts push options (`-o ci.skip`); a plain bare repository must be told to.
        git(&origin, &["config", "receive.advertisePushOptions", "true"]);
        let repo = Repo {
            root,
            origin,
            tenant,
        };
        let seed = repo.root.path().join("seed");
        git(
            repo.root.path(),
            &["clone", "-q", repo.origin.to_str().unwrap(), "seed"],
        );
        std::fs::write(seed.join("zsc.yaml"), config).unwrap();
        std::fs::write(seed.join(".gitignore"), GITIGNORE).unwrap();
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "zsc.yaml"]);
        git(&seed, &["push", "-q", "origin", "HEAD:main"]);
        repo
    }

    /// A fresh checkout of `branch` in `name/`, with the tenant's data where `kind: emulator`
    /// keeps it (`.zsc/emulator/`).
    pub fn checkout(&self, name: &str, branch: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        git(
            self.root.path(),
            &[
                "clone",
                "-q",
                "-b",
                branch,
                self.origin.to_str().unwrap(),
                name,
            ],
        );
        std::fs::create_dir_all(dir.join(".zsc")).unwrap();
        std::os::unix::fs::symlink(&self.tenant, dir.join(".zsc/emulator")).unwrap();
        dir
    }

    /// Commit `files` (path, contents) on `branch` (created from main when new) and push it.
    pub fn commit(&self, branch: &str, message: &str, files: &[(&str, &str)]) -> String {
        let dir = self.root.path().join("committer");
        let _ = std::fs::remove_dir_all(&dir);
        git(
            self.root.path(),
            &["clone", "-q", self.origin.to_str().unwrap(), "committer"],
        );
        let exists = !git(&dir, &["ls-remote", "--heads", "origin", branch]).is_empty();
        if exists {
            git(&dir, &["checkout", "-q", branch]);
        } else {
            git(&dir, &["checkout", "-q", "-b", branch]);
        }
        for (path, contents) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", message]);
        git(&dir, &["push", "-q", "origin", &format!("HEAD:{branch}")]);
        git(&dir, &["rev-parse", "HEAD"])
    }

    /// Merge `branch` into main, as a merged pull request does; the new head of main.
    pub fn merge(&self, branch: &str) -> String {
        let dir = self.root.path().join("merger");
        let _ = std::fs::remove_dir_all(&dir);
        git(
            self.root.path(),
            &["clone", "-q", self.origin.to_str().unwrap(), "merger"],
        );
        git(
            &dir,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge",
                &format!("origin/{branch}"),
            ],
        );
        git(&dir, &["push", "-q", "origin", "HEAD:main"]);
        git(&dir, &["rev-parse", "HEAD"])
    }

    /// Subjects of `main`'s commits, newest first.
    pub fn log(&self) -> Vec<String> {
        git(&self.origin, &["log", "--format=%s", "main"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The tenant's data, as the emulator keeps it.
    fn tenant_data(&self) -> zsc::emulator::EmulatorData {
        let text = std::fs::read_to_string(self.tenant.join("demo.json")).expect("tenant data");
        serde_json::from_str(&text).unwrap()
    }

    /// The tenant's users as (userName, active), sorted: what an admin would see.
    pub fn tenant_users(&self) -> Vec<(String, bool)> {
        let data = self.tenant_data();
        let mut users: Vec<(String, bool)> = data
            .users
            .into_iter()
            .map(|u| (u.user_name, u.active.unwrap_or(true)))
            .collect();
        users.sort();
        users
    }

    /// A live user's display name.
    pub fn tenant_display_name(&self, user: &str) -> Option<String> {
        let data = self.tenant_data();
        let found = data.users.into_iter().find(|u| u.user_name == user);
        found.expect("no such user").display_name
    }

    /// The members of a live group, by userName, sorted.
    pub fn tenant_members(&self, group: &str) -> Vec<String> {
        let data = self.tenant_data();
        let names: BTreeMap<String, String> = data
            .users
            .into_iter()
            .map(|u| (u.id.unwrap_or_default(), u.user_name))
            .collect();
        let group = data
            .groups
            .into_iter()
            .find(|g| g.display_name == group)
            .expect("no such group");
        let mut members: Vec<String> = group
            .members
            .unwrap_or_default()
            .into_iter()
            .map(|m| names.get(&m.value).cloned().unwrap_or(m.value))
            .collect();
        members.sort();
        members
    }

    /// What an admin does in the portal, outside zsc, to objects zsc manages: Ann's display
    /// name changed, Bob taken out of Staff. Two objects drift.
    pub fn edit_in_portal(&self) {
        let path = self.tenant.join("demo.json");
        let mut data: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("tenant data")).unwrap();
        let users = data["users"].as_array_mut().unwrap();
        let bob = users
            .iter()
            .find(|u| u["userName"] == "bob@example.com")
            .expect("bob")["id"]
            .clone();
        let ann = users
            .iter_mut()
            .find(|u| u["userName"] == "ann@example.com")
            .expect("ann");
        ann["displayName"] = json!("Ann (portal)");
        let staff = data["groups"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|g| g["displayName"] == "Staff")
            .expect("Staff");
        let members = staff["members"].as_array_mut().unwrap();
        let had = members.len();
        members.retain(|m| m["value"] != bob);
        assert_eq!(members.len(), had - 1, "bob was in Staff");
        std::fs::write(&path, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
    }
}
