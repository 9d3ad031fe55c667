//! The CI examples, the release workflow and the install action, run as CI would run them.
//!
//! Each example job runs its own shell steps ([`runner`]: GitHub `run:` blocks, GitLab
//! `script:` blocks) in a checkout of a real git repository ([`workspace`]) with the forge's
//! variables, a clean environment, a `PATH` holding only what the job's image has ([`tools`])
//! and a fake forge API on 127.0.0.1 that records the comment calls ([`forge`]). The config is
//! a `kind: emulator` tenant whose data every checkout shares, so plans and applies are real.
//! The step that installs zsc is satisfied by putting the binary under test on the `PATH`; the
//! install itself is tested against a fake release in [`release`].

mod forge;
mod github;
mod gitlab;
mod release;
mod runner;
mod tools;
mod workspace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use forge::{Flavor, Forge};
use workspace::Repo;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The token the fake forge accepts (GitHub's `github.token`, GitLab's `ZSC_GITLAB_TOKEN`).
pub const FORGE_TOKEN: &str = "forge-token-7f1c";
/// The token GitLab's example pushes the state with.
pub const PUSH_TOKEN: &str = "push-token-3b9e";

/// A repository, a fake forge and a job environment, for one test.
pub struct Ci {
    pub repo: Repo,
    pub forge: Forge,
    dir: tempfile::TempDir,
    pub tools: PathBuf,
    pub zsc: PathBuf,
}

impl Ci {
    /// `config` on main, and a pull request already holding `notes`.
    pub fn new(flavor: Flavor, config: &str, notes: Vec<(String, String)>) -> Ci {
        let dir = tempfile::tempdir().unwrap();
        let tools = tools::bin_dir(dir.path(), tools::CI_IMAGE);
        let zsc = tools::zsc_dir(dir.path());
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("runner-temp")).unwrap();
        Ci {
            repo: Repo::new(config),
            forge: Forge::start(flavor, FORGE_TOKEN, notes, None),
            dir,
            tools,
            zsc,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A file the job left in its workspace.
    pub fn read(workspace: &Path, file: &str) -> String {
        std::fs::read_to_string(workspace.join(file))
            .unwrap_or_else(|e| panic!("{file} in the workspace: {e}"))
    }

    /// Variables every job gets, on both forges.
    fn base_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("CI".into(), "true".into());
        env.insert("HOME".into(), self.home().display().to_string());
        env.insert("LANG".into(), "C.UTF-8".into());
        env
    }
}
