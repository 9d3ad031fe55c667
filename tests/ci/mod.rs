//! The CI examples, the release workflow and the install action, run as CI would run them.
//!
//! Each example job runs its own shell steps ([`runner`]: GitHub `run:` blocks, GitLab
//! `script:` blocks) in a checkout of a real git repository ([`workspace`]) with the forge's
//! variables, a clean environment, a `PATH` holding only what the job's image has ([`tools`])
//! and a fake forge API on 127.0.0.1 that records the comment calls ([`forge`]). The config is
//! a `kind: emulator` tenant whose data every checkout shares, so plans and applies are real.
//! The step that installs zsc is satisfied by putting the binary under test on the `PATH`; the
//! install itself is tested against a fake release in [`release`].
//!
//! The state is where the examples keep it, on the servers the backend tests run against: for
//! GitLab, the HTTP backend server on GitLab's rules for its managed Terraform state, reached
//! through the fake forge's API as the example's addresses say; for GitHub, an S3 bucket on
//! moto, with the two roles the example's README describes (their policies read from it) and
//! the credentials of each handed to the job by its credentials step.

mod forge;
mod github;
mod gitlab;
mod release;
mod runner;
mod tools;
mod workspace;

// The backend tests' servers, used as they are.
use crate::backends::{http_server, moto};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use forge::{Flavor, Forge};
use http_server::{Flavour, StateServer};
use moto::Moto;
use serde_json::{json, Value};
use workspace::Repo;

use crate::harness::Env;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The token the fake forge accepts (GitHub's `github.token`, GitLab's `ZSC_GITLAB_TOKEN`).
pub const FORGE_TOKEN: &str = "forge-token-7f1c";

/// Where a test's state is kept.
pub enum Backend {
    /// GitLab's managed Terraform state: the server behind the fake forge's
    /// `/api/v4/projects/42/terraform/state/`.
    GitLab(StateServer),
    /// An S3 bucket on moto, and the credentials of each role the example may assume.
    S3(S3),
}

pub struct S3 {
    pub moto: Moto,
    /// Role ARN → the temporary credentials assuming it gave (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    pub roles: BTreeMap<String, BTreeMap<String, String>>,
}

/// The roles the GitHub example's README describes, by name.
pub const PLAN_ROLE: &str = "zsc-plan";
pub const APPLY_ROLE: &str = "zsc-apply";

/// A repository, a fake forge, a state backend and a job environment, for one test.
pub struct Ci {
    pub repo: Repo,
    pub forge: Forge,
    pub backend: Backend,
    dir: tempfile::TempDir,
    pub tools: PathBuf,
    pub zsc: PathBuf,
    /// The runtime the state server runs on and the directory of moto's log: dropped last.
    _env: Env,
}

impl Ci {
    /// `config` on main, a pull request already holding `notes`, and the backend the forge's
    /// example uses. `None` when that backend cannot be had on this machine (moto for GitHub's
    /// S3: the test is then skipped, with the reason on stderr; never under `CI=true`).
    pub fn new(flavor: Flavor, config: &str, notes: Vec<(String, String)>) -> Option<Ci> {
        let env = Env::new();
        let (backend, upstream) = match flavor {
            Flavor::GitLab => {
                let server = StateServer::start(&env, Flavour::GitLab);
                let base = server.base.clone();
                (Backend::GitLab(server), Some(base))
            }
            Flavor::GitHub => {
                let moto = Moto::start(&env)?;
                let roles = assume_roles(&moto);
                (Backend::S3(S3 { moto, roles }), None)
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let tools = tools::bin_dir(dir.path(), tools::CI_IMAGE);
        let zsc = tools::zsc_dir(dir.path());
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("runner-temp")).unwrap();
        Some(Ci {
            repo: Repo::new(config),
            forge: Forge::start(flavor, FORGE_TOKEN, notes, upstream),
            backend,
            dir,
            tools,
            zsc,
            _env: env,
        })
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// GitLab's state server.
    pub fn gitlab_state(&self) -> &StateServer {
        match &self.backend {
            Backend::GitLab(server) => server,
            Backend::S3(_) => panic!("this test keeps its state in S3"),
        }
    }

    /// GitHub's bucket.
    pub fn s3(&self) -> &S3 {
        match &self.backend {
            Backend::S3(s3) => s3,
            Backend::GitLab(_) => panic!("this test keeps its state in GitLab"),
        }
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

impl S3 {
    /// A role's ARN, by name.
    pub fn role_arn(&self, name: &str) -> String {
        self.roles
            .keys()
            .find(|arn| arn.ends_with(&format!(":role/{name}")))
            .unwrap_or_else(|| panic!("no role {name}"))
            .clone()
    }
}

/// The permission policies of the roles the GitHub example's README describes, in its order:
/// the plan's, then the apply's (each a ```json block whose actions are S3's).
pub fn readme_policies() -> Vec<Value> {
    let readme = std::fs::read_to_string(root().join("examples/github-actions/README.md"))
        .expect("the example's README");
    let mut policies = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```json\n") {
        let block = &rest[start + 8..];
        let end = block.find("```").expect("an unclosed ```json block");
        let policy: Value = serde_json::from_str(&block[..end])
            .unwrap_or_else(|e| panic!("a ```json block of the README: {e}\n{}", &block[..end]));
        let actions = policy["Statement"].to_string();
        if actions.contains("\"s3:") {
            policies.push(policy);
        }
        rest = &block[end + 3..];
    }
    assert_eq!(
        policies.len(),
        2,
        "the README gives two S3 permission policies: the plan role's, then the apply role's"
    );
    policies
}

/// Moto's stand-in for GitHub's OIDC exchange: the roles of the README, with its permission
/// policies, each assumed once (a trust policy for the harness's user stands in for the one on
/// GitHub's OIDC provider, which moto cannot check).
const ROLES: &str = r#"
import json, sys
import boto3
endpoint, region, key_id, secret, roles = sys.argv[1:6]
creds = dict(endpoint_url=endpoint, region_name=region,
             aws_access_key_id=key_id, aws_secret_access_key=secret)
iam = boto3.client("iam", **creds)
sts = boto3.client("sts", **creds)
me = sts.get_caller_identity()["Arn"]
trust = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": me}, "Action": "sts:AssumeRole"}]}
out = {}
for name, policy in json.loads(roles).items():
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="zsc-state", PolicyDocument=json.dumps(policy))
    c = sts.assume_role(RoleArn=arn, RoleSessionName="GitHubActions")["Credentials"]
    out[arn] = {"AWS_ACCESS_KEY_ID": c["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                "AWS_SESSION_TOKEN": c["SessionToken"]}
print(json.dumps(out))
"#;

/// The README's roles on `moto`, and the credentials assuming each gave.
fn assume_roles(moto: &Moto) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut policies = readme_policies();
    // moto authorizes a multi-object delete (how `object_store` deletes the lock) against the
    // bucket's ARN, where S3 checks each key's: a role that may delete objects gets the same
    // grant on the bucket, which S3 would ignore.
    for policy in &mut policies {
        if policy["Statement"]
            .to_string()
            .contains("\"s3:DeleteObject\"")
        {
            policy["Statement"].as_array_mut().unwrap().push(json!({
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": format!("arn:aws:s3:::{}", moto::BUCKET),
            }));
        }
    }
    let roles = json!({PLAN_ROLE: policies[0], APPLY_ROLE: policies[1]});
    // The venv the moto harness installed moto and boto3 into.
    let python = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("moto-{}", moto::VERSION))
        .join("venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            ROLES,
            &moto.endpoint,
            moto::REGION,
            &moto.access_key_id,
            &moto.secret_access_key,
            &roles.to_string(),
        ])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        out.status.success(),
        "setting up the roles on moto failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the roles' credentials")
}
