//! Desired state: loading `zsc.yaml` and the files it includes, and validating all of it before
//! any network call.
//!
//! [`load`] reads the main file and its includes, checks every rule it knows and reports every
//! problem it finds (not just the first), each with `file:line:column`, as a
//! [`ConfigError::Invalid`]. A configuration that loads is internally consistent: every member
//! and group reference resolves, every `tenants:` entry names a declared tenant, every token
//! source resolves, and the desired users and groups are already scoped per tenant.
//!
//! The YAML is read into a lenient model first (`raw`): keys and values with positions, no
//! types enforced, so that one pass can report many unknown keys and wrong types at once.
//! `validate` then turns it into the typed [`Config`].
//!
//! This module never talks to the network and never prints; secrets are only read to check that
//! they exist, and are dropped straight away ([`TokenSource::resolve`] reads them for real).

pub mod backend;
mod check;
mod diagnostic;
pub mod dialect_checks;
mod fingerprint;
mod json;
mod load;
mod raw;
pub mod read_policy;
mod validate;
pub mod write;

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::dialect::Dialect;
use crate::model::{DesiredTenant, Origin, RemoveUserAction};
use crate::secret::Secret;

pub use backend::{BackendConfig, BackendOverride, HttpBackendConfig, S3BackendConfig};
pub use diagnostic::{ConfigError, Diagnostic};
pub use dialect_checks::Warning;
pub use read_policy::{MembershipSource, ReadPolicy, RefreshMode};

/// Largest file [`load`] reads (main or included). A 100,000-user file is about 15 MB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Longest userName or group name accepted (SCIM servers commonly cap names near this).
pub const MAX_NAME_CHARS: usize = 128;

/// A loaded, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The main file as given.
    pub path: PathBuf,
    /// Its directory (`.` for a bare file name); the state file defaults to
    /// `dir/.zsc/state.json`.
    pub dir: PathBuf,
    /// Every file read: the main file, then the included files in include order.
    pub files: Vec<PathBuf>,
    pub tenants: BTreeMap<String, TenantConfig>,
    pub defaults: Defaults,
    /// One entry per tenant (possibly empty), after `tenants:` scoping. Users and groups are
    /// sorted by [`crate::model::name_key`]; each group's members are deduplicated and
    /// in that order too, however they were declared or matched.
    pub desired: BTreeMap<String, DesiredTenant>,
    /// What validation found allowed but probably a mistake (a rule that matches no one).
    pub notes: Vec<dialect_checks::Warning>,
    /// Where the state is kept (`backend:`, with its overrides).
    pub backend: BackendConfig,
}

impl Config {
    /// A SHA-256 (hex) of a canonical form of the tenants (token sources, never tokens),
    /// the defaults and the desired state. Comments, formatting, key order, file layout and
    /// source positions do not change it; any value that matters does.
    pub fn fingerprint(&self) -> String {
        fingerprint::fingerprint(self)
    }
}

/// One declared tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantConfig {
    pub name: String,
    pub kind: TenantKind,
    /// The kind's dialect, or for `kind: emulator` the declared `dialect` (default `scim`).
    pub dialect: Dialect,
    /// None only for `kind: emulator`.
    pub url: Option<String>,
    /// None only for `kind: emulator`.
    pub token: Option<TokenSource>,
    /// Requests per second; None: the dialect's default.
    pub rate_limit: Option<f64>,
    pub parallelism: Option<usize>,
    pub page_size: Option<usize>,
    /// Lowercase domains; when not empty every userName in the tenant must end in `@` one of
    /// them.
    pub allowed_domains: Vec<String>,
    /// The key the tenant had before (`renamed_from:`): its state records move to this key.
    pub renamed_from: Option<String>,
    /// How it is read: `refresh:`, `max_refresh_age:`, `membership_source:`.
    pub read: ReadPolicy,
    /// Where the tenant is declared.
    pub origin: Origin,
}

/// What identifies the server a `url` points at: scheme, host and port as the URL parser
/// normalises them (lower-case host, default port dropped), and the path without a trailing
/// `/`.
pub fn server_key(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => format!(
            "{}://{}:{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default(),
            u.path().trim_end_matches('/')
        ),
        Err(_) => url.trim().trim_end_matches('/').to_owned(),
    }
}

impl TenantConfig {
    /// What identifies the server this tenant is: its normalised base URL, or `emulator` for
    /// the built-in one (whose URL changes every run). State records it at every apply.
    pub fn server(&self) -> String {
        match &self.url {
            Some(url) if self.kind != TenantKind::Emulator => server_key(url),
            _ => "emulator".to_owned(),
        }
    }
}

/// What a tenant is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantKind {
    Zia,
    Zpa,
    Scim,
    /// The built-in emulated tenant: no URL, no token.
    Emulator,
}

impl TenantKind {
    pub const ALL: [TenantKind; 4] = [
        TenantKind::Zia,
        TenantKind::Zpa,
        TenantKind::Scim,
        TenantKind::Emulator,
    ];

    /// The YAML word.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Zia => "zia",
            TenantKind::Zpa => "zpa",
            TenantKind::Scim => "scim",
            TenantKind::Emulator => "emulator",
        }
    }

    /// The dialect a remote kind speaks (None for the emulator, which declares one).
    pub fn dialect(self) -> Option<Dialect> {
        match self {
            TenantKind::Zia => Some(Dialect::Zia),
            TenantKind::Zpa => Some(Dialect::Zpa),
            TenantKind::Scim => Some(Dialect::Scim),
            TenantKind::Emulator => None,
        }
    }
}

impl fmt::Display for TenantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a tenant's bearer token comes from. The configuration never holds the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenSource {
    /// `{ env: VAR }`: the environment variable's value.
    Env(String),
    /// `{ file: PATH }`: the file's content without trailing whitespace; a relative path is
    /// resolved against the configuration's directory when loading.
    File(PathBuf),
}

impl TokenSource {
    /// Read the token. The error names the variable or the file, never a value.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            TokenSource::Env(var) => match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim_end())),
                Ok(_) => Err(format!("environment variable `{var}` is empty")),
                Err(std::env::VarError::NotPresent) => {
                    Err(format!("environment variable `{var}` is not set"))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(format!("environment variable `{var}` is not valid unicode"))
                }
            },
            TokenSource::File(path) => {
                let shown = path.display();
                let meta = std::fs::metadata(path)
                    .map_err(|e| format!("cannot read token file `{shown}`: {e}"))?;
                if meta.len() > 64 * 1024 {
                    return Err(format!(
                        "token file `{shown}` is too large to be a token ({} bytes)",
                        meta.len()
                    ));
                }
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read token file `{shown}`: {e}"))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("token file `{shown}` is not valid UTF-8"))?;
                let token = text.trim_end();
                if token.trim_start().is_empty() {
                    return Err(format!("token file `{shown}` is empty"));
                }
                Ok(Secret::new(token))
            }
        }
    }
}

impl fmt::Display for TokenSource {
    /// The source, for messages: `env ZSC_TOKEN` or `file secrets/zia`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env(var) => write!(f, "env {var}"),
            TokenSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// The `defaults:` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    /// What happens to a managed user that is no longer declared.
    pub remove_user_action: RemoveUserAction,
    /// A plan that disables or deletes more than this many objects is refused.
    pub max_destroy: usize,
    /// ... or more than this percentage of a tenant's managed objects.
    pub max_destroy_percent: f64,
    /// Plans list the access that ends within this many days.
    pub expiry_notice_days: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            remove_user_action: RemoveUserAction::Disable,
            max_destroy: 20,
            max_destroy_percent: 25.0,
            expiry_notice_days: 14,
        }
    }
}

/// How [`load_with`] behaves.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Check that every token environment variable is set and every token file is readable
    /// (default true). Turn off to validate a configuration where the secrets are not
    /// available (a pull request from a fork, say).
    pub check_tokens: bool,
    /// `--backend-config KEY=VALUE` and `ZSC_BACKEND_<KEY>`, merged over `backend:`.
    pub backend_overrides: Vec<BackendOverride>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            check_tokens: true,
            backend_overrides: Vec::new(),
        }
    }
}

/// The backend `overrides` describe on their own, with no configuration file: for
/// `zsc state migrate --from-backend-config KEY=VALUE...`. A relative password file is
/// resolved against `base`.
pub fn backend_from_overrides(
    overrides: &[BackendOverride],
    base: &Path,
) -> Result<BackendConfig, ConfigError> {
    validate::backend_from_overrides(overrides, base).map_err(|messages| {
        ConfigError::Invalid(
            messages
                .into_iter()
                .map(|message| Diagnostic {
                    file: "--from-backend-config".to_owned(),
                    line: 0,
                    column: 0,
                    message,
                    snippet: None,
                })
                .collect(),
        )
    })
}

/// Load and validate the configuration at `path` and everything it includes.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &LoadOptions::default())
}

/// [`load`] with options.
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Config, ConfigError> {
    load::Loader::new(path, options).run()
}
