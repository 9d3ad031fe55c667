//! An S3 server nobody here wrote: moto in server mode (PyPI `moto[server]`, pinned), for the
//! S3 backend's tests. It honours `If-None-Match: *` and `If-Match` (412), and with
//! `INITIAL_NO_AUTH_ACTION_COUNT` it checks SigV4 signatures and access keys like S3 does.
//!
//! Installed once into a venv under the build directory (`target/tmp/moto-<version>/`, guarded
//! by a lock file and a marker, as `interop/server.rs` installs scim2-server); each test starts
//! its own server on a free port of 127.0.0.1 and kills it on drop. Setting up the server (an
//! IAM user with an access key, the bucket) is done by a short Python script with the venv's
//! boto3, against 127.0.0.1 only.
//!
//! Policy: if Python, the install or the start fails, a test is skipped with the reason on
//! stderr, except under `CI=true`, where it fails with that reason.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload};

use crate::harness::Env;
use crate::python::free_port;

pub const VERSION: &str = "5.2.5";
const REQUIREMENTS: &[&str] = &[
    "moto[server]==5.2.5",
    "boto3==1.44.8",
    "botocore==1.44.8",
    "Flask==3.1.3",
    "Werkzeug==3.1.9",
    "xmltodict==1.0.4",
    "responses==0.26.3",
];
const INSTALL_TIMEOUT: Duration = Duration::from_secs(420);
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub const BUCKET: &str = "acme-zsc";
pub const REGION: &str = "eu-central-1";

/// A running moto server with a bucket and an access key that may use it; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    log: PathBuf,
    rt: tokio::runtime::Runtime,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Start a server for `env` with bucket [`BUCKET`]. `None` when moto cannot be had and the
    /// test should be skipped (never under `CI=true`).
    pub fn start(env: &Env) -> Option<Moto> {
        match installed().and_then(|venv| spawn(env, venv)) {
            Ok(moto) => Some(moto),
            Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("moto {VERSION} is needed in CI: {reason}")
            }
            Err(reason) => {
                eprintln!("skipping: moto {VERSION} is not available: {reason}");
                None
            }
        }
    }

    /// The environment a zsc process gets to reach this server: its access key (and nothing
    /// else of the host's AWS settings).
    pub fn aws_env(&self, command: &mut Command) {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                command.env_remove(&name);
            }
        }
        command
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            // Never the instance metadata service: nothing but 127.0.0.1 is reached.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9");
    }

    /// A `backend:` section for `key` in [`BUCKET`] on this server.
    pub fn backend_yaml(&self, key: &str) -> String {
        format!(
            "backend:\n  kind: s3\n  bucket: {BUCKET}\n  key: {key}\n  region: {REGION}\n  endpoint: {}\n",
            self.endpoint
        )
    }

    /// The bucket, as the test reads and writes it directly (as an operator would).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region(REGION)
            .with_endpoint(&self.endpoint)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_client_options(ClientOptions::new().with_allow_http(true))
            .build()
            .expect("s3 client");
        Arc::new(store)
    }

    /// An object's bytes, `None` if there is none.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let store = self.store();
        self.rt.block_on(async move {
            match store.get(&ObjectPath::from(key)).await {
                Ok(r) => Some(r.bytes().await.expect("body").to_vec()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("get {key}: {e}"),
            }
        })
    }

    pub fn put(&self, key: &str, bytes: &[u8]) {
        let store = self.store();
        let payload = PutPayload::from(bytes.to_vec());
        self.rt
            .block_on(async move { store.put(&ObjectPath::from(key), payload).await })
            .expect("put");
    }

    pub fn delete(&self, key: &str) {
        let store = self.store();
        self.rt
            .block_on(async move { store.delete(&ObjectPath::from(key)).await })
            .expect("delete");
    }

    /// The state object's serial.
    pub fn serial(&self, key: &str) -> Option<u64> {
        let bytes = self.get(key)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("state JSON");
        v["serial"].as_u64()
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        crate::python::log_tail(&self.log, n)
    }
}

/// The venv with moto, installed once per build directory.
fn installed() -> Result<&'static Path, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(install)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

fn install() -> Result<PathBuf, String> {
    let started = Instant::now();
    let venv = crate::python::venv(
        &format!("moto-{VERSION}"),
        REQUIREMENTS,
        INSTALL_TIMEOUT,
        |venv, _| {
            if venv.join("bin/moto_server").exists() {
                Ok(())
            } else {
                Err("no bin/moto_server after the install".to_owned())
            }
        },
    )?;
    eprintln!(
        "backends: moto {VERSION} ready in {:.0?}",
        started.elapsed()
    );
    Ok(venv)
}

/// Moto checks signatures and keys only after this many unauthenticated actions: the three
/// IAM calls that make the test's user, its policy and its access key.
const SETUP_ACTIONS: u32 = 3;

const SETUP: &str = r#"
import json, sys
import boto3
endpoint, bucket, region = sys.argv[1], sys.argv[2], sys.argv[3]
anonymous = dict(endpoint_url=endpoint, region_name=region,
                 aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="setup")
iam = boto3.client("iam", **anonymous)
iam.create_user(UserName="zsc")
iam.put_user_policy(UserName="zsc", PolicyName="state", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="zsc")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
"#;

fn spawn(env: &Env, venv: &Path) -> Result<Moto, String> {
    let log = env.path(".moto.log");
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let out = File::create(&log).map_err(|e| format!("cannot create the log: {e}"))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_ACTIONS.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run moto_server: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            log: log.clone(),
            rt,
        };
        match wait_ready(&mut moto, port).and_then(|()| set_up(&mut moto, venv)) {
            Ok(()) => return Ok(moto),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Wait until the port accepts connections (a request would count as an action).
fn wait_ready(moto: &mut Moto, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Err(format!(
                "moto exited ({status}) at start:\n{}",
                moto.log_tail(10)
            ));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no answer on 127.0.0.1:{port} after {} s",
                START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn set_up(moto: &mut Moto, venv: &Path) -> Result<(), String> {
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", SETUP, &moto.endpoint, BUCKET, REGION])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .map_err(|e| format!("cannot run the setup script: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "setting up moto failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ));
    }
    let key: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("setup printed no key: {e}"))?;
    moto.access_key_id = key["id"].as_str().unwrap_or_default().to_owned();
    moto.secret_access_key = key["secret"].as_str().unwrap_or_default().to_owned();
    Ok(())
}
