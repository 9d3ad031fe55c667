//! The `backend:` section: where the state is kept, as validated. `local` (the default) is the
//! state file beside the configuration; `http` is Terraform's HTTP backend protocol (GitLab's
//! managed Terraform state, Gitea's state registry); `s3` is an S3 bucket or an S3-compatible
//! store, through conditional writes.
//!
//! Like tenant tokens, a backend's password is never in the configuration: only where it comes
//! from ([`TokenSource`]). Overrides (`--backend-config KEY=VALUE`, `ZSC_BACKEND_<KEY>`) are
//! merged into the section before it is validated (see `validate/backend.rs`).

use std::fmt;

use super::TokenSource;

/// Where the state lives.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum BackendConfig {
    /// `.zsc/state.json` beside the configuration (or `--state`), with its lock, journal and
    /// backup.
    #[default]
    Local,
    Http(HttpBackendConfig),
    S3(S3BackendConfig),
}

impl BackendConfig {
    /// The YAML word for its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendConfig::Local => "local",
            BackendConfig::Http(_) => "http",
            BackendConfig::S3(_) => "s3",
        }
    }
}

/// Terraform's HTTP backend: the state at `address`, the lock at `lock_address`.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpBackendConfig {
    pub address: String,
    /// How the state is written (default `POST`).
    pub update_method: String,
    pub lock_address: String,
    /// Default `LOCK` (GitLab: `POST`).
    pub lock_method: String,
    /// Default: `lock_address`.
    pub unlock_address: String,
    /// Default `UNLOCK` (GitLab: `DELETE`).
    pub unlock_method: String,
    /// For Basic auth, with `password`.
    pub username: Option<String>,
    pub password: Option<TokenSource>,
}

/// An S3 bucket (or S3-compatible store at `endpoint`).
#[derive(Clone, Debug, PartialEq)]
pub struct S3BackendConfig {
    pub bucket: String,
    /// The state object's key, e.g. `prod/state.json`; the lock is `<key>.lock` beside it.
    pub key: String,
    /// None: `AWS_REGION` / `AWS_DEFAULT_REGION` from the environment, else `us-east-1`.
    pub region: Option<String>,
    /// An S3-compatible store's URL (MinIO, Ceph, R2...); requests then use path-style URLs
    /// unless `use_path_style: false`.
    pub endpoint: Option<String>,
    pub use_path_style: Option<bool>,
}

impl fmt::Display for BackendConfig {
    /// How messages name the backend: its kind and location, never a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendConfig::Local => f.write_str("local"),
            BackendConfig::Http(h) => write!(f, "http backend `{}`", h.address),
            BackendConfig::S3(s) => match &s.endpoint {
                Some(endpoint) => write!(
                    f,
                    "s3 backend `s3://{}/{}` at `{endpoint}`",
                    s.bucket, s.key
                ),
                None => write!(f, "s3 backend `s3://{}/{}`", s.bucket, s.key),
            },
        }
    }
}

/// One `backend:` key given outside the file: `--backend-config KEY=VALUE` or the environment
/// variable `ZSC_BACKEND_<KEY>`. Overrides win over the file, flags over the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendOverride {
    pub key: String,
    pub value: OverrideValue,
    /// What set it, for messages: `--backend-config bucket` or `ZSC_BACKEND_BUCKET`.
    pub source: String,
}

/// An override's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideValue {
    /// A plain setting.
    Text(String),
    /// A secret held by this environment variable (`ZSC_BACKEND_PASSWORD`): never read here.
    SecretEnv(String),
}

/// The keys each kind takes, in the order messages list them.
pub const HTTP_KEYS: &[&str] = &[
    "kind",
    "address",
    "update_method",
    "lock_address",
    "lock_method",
    "unlock_address",
    "unlock_method",
    "username",
    "password",
];
pub const S3_KEYS: &[&str] = &[
    "kind",
    "bucket",
    "key",
    "region",
    "endpoint",
    "use_path_style",
];
pub const LOCAL_KEYS: &[&str] = &["kind"];

/// Every key any kind takes (for `ZSC_BACKEND_<KEY>`).
pub fn all_keys() -> impl Iterator<Item = &'static str> {
    let mut keys: Vec<&'static str> = HTTP_KEYS.iter().chain(S3_KEYS).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
}

/// Parses `KEY=VALUE` as given to `--backend-config`. A password is refused here: a command
/// line is visible to every process on the machine. `password=env:VAR` and `password=file:PATH`
/// name where it is instead.
pub fn parse_override(text: &str) -> Result<BackendOverride, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "`--backend-config` takes KEY=VALUE, found `{}`",
            if text.len() > 40 { "…" } else { text }
        ));
    };
    let key = key.trim().to_owned();
    let source = format!("--backend-config {key}");
    if key == "password" {
        let named = value
            .strip_prefix("env:")
            .map(|v| ("env", v))
            .or_else(|| value.strip_prefix("file:").map(|v| ("file", v)));
        return match named {
            Some((how, v)) if !v.trim().is_empty() => Ok(BackendOverride {
                key,
                value: OverrideValue::Text(format!("{how}:{v}")),
                source,
            }),
            _ => Err(
                "`--backend-config password=...` must not hold the password itself (a command \
                 line is visible to other processes): use `password=env:VAR`, `password=file:PATH` \
                 or set ZSC_BACKEND_PASSWORD"
                    .to_owned(),
            ),
        };
    }
    Ok(BackendOverride {
        key,
        value: OverrideValue::Text(value.to_owned()),
        source,
    })
}

/// The `ZSC_BACKEND_<KEY>` variables set in `vars`, as overrides. `ZSC_BACKEND_PASSWORD` names
/// itself as the password's source; its value is not read here.
pub fn env_overrides(vars: impl Iterator<Item = (String, String)>) -> Vec<BackendOverride> {
    let mut found: Vec<BackendOverride> = vars
        .filter_map(|(name, value)| {
            let key = name.strip_prefix("ZSC_BACKEND_")?.to_ascii_lowercase();
            let value = if key == "password" {
                OverrideValue::SecretEnv(name.clone())
            } else {
                OverrideValue::Text(value)
            };
            Some(BackendOverride {
                key,
                value,
                source: name,
            })
        })
        .collect();
    found.sort_by(|a, b| a.source.cmp(&b.source));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_on_the_command_line_is_refused_without_echoing_it() {
        let err = parse_override("password=hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let ok = parse_override("password=env:CI_JOB_TOKEN").unwrap();
        assert_eq!(ok.value, OverrideValue::Text("env:CI_JOB_TOKEN".into()));
        assert!(parse_override("bucket").is_err());
        assert_eq!(
            parse_override("key=a=b").unwrap().value,
            OverrideValue::Text("a=b".into())
        );
    }

    #[test]
    fn environment_overrides_name_their_variable_and_never_read_the_password() {
        let vars = vec![
            ("ZSC_BACKEND_PASSWORD".to_owned(), "s3cret".to_owned()),
            ("ZSC_BACKEND_BUCKET".to_owned(), "b".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let found = env_overrides(vars.into_iter());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].key, "bucket");
        assert_eq!(
            found[1].value,
            OverrideValue::SecretEnv("ZSC_BACKEND_PASSWORD".into())
        );
        assert!(!format!("{found:?}").contains("s3cret"));
    }
}
