//! A checksum of what a configuration means, for saved plans: SHA-256 over a canonical JSON
//! form of the tenants, defaults and desired state.
//!
//! Positions, file names and comments are left out, so reformatting or moving a user to another
//! included file keeps the fingerprint; token *sources* are in (a different variable is a
//! different input), tokens never are. Token file paths are taken relative to the configuration
//! directory so that the working directory does not matter.

use std::io;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dialect::Dialect;
use crate::model::{DesiredGroup, DesiredUser, RemoveUserAction, UserAttrs};

use super::{Config, TenantKind, TokenSource};

/// Bump when the canonical form changes, so old plans are seen as stale rather than equal.
const FORMAT: u32 = 2;

#[derive(Serialize)]
struct Canonical<'a> {
    format: u32,
    tenants: Vec<Tenant<'a>>,
    defaults: Defaults,
    desired: Vec<(&'a str, Desired<'a>)>,
}

#[derive(Serialize)]
struct Tenant<'a> {
    name: &'a str,
    kind: TenantKind,
    dialect: Dialect,
    url: Option<&'a str>,
    token: Option<(&'static str, String)>,
    rate_limit: Option<f64>,
    parallelism: Option<usize>,
    page_size: Option<usize>,
    allowed_domains: &'a [String],
    renamed_from: Option<&'a str>,
}

#[derive(Serialize)]
struct Defaults {
    remove_user_action: RemoveUserAction,
    max_destroy: usize,
    max_destroy_percent: f64,
}

#[derive(Serialize)]
struct Desired<'a> {
    users: Vec<User<'a>>,
    groups: Vec<Group<'a>>,
}

#[derive(Serialize)]
struct User<'a> {
    user_name: &'a str,
    renamed_from: Option<&'a str>,
    until: Option<String>,
    attrs: &'a UserAttrs,
    active: bool,
    protect: bool,
}

#[derive(Serialize)]
struct Group<'a> {
    name: &'a str,
    renamed_from: Option<&'a str>,
    members: &'a [String],
    until: Vec<(u32, String)>,
    protect: bool,
}

impl<'a> From<&'a DesiredUser> for User<'a> {
    fn from(u: &'a DesiredUser) -> Self {
        User {
            user_name: &u.user_name,
            renamed_from: u.renamed_from.as_deref(),
            until: u.until.map(|t| t.at.to_string()),
            attrs: &u.attrs,
            active: u.active,
            protect: u.protect,
        }
    }
}

impl<'a> From<&'a DesiredGroup> for Group<'a> {
    fn from(g: &'a DesiredGroup) -> Self {
        Group {
            name: &g.name,
            renamed_from: g.renamed_from.as_deref(),
            members: &g.members,
            until: g
                .until
                .iter()
                .map(|(i, t)| (*i, t.at.to_string()))
                .collect(),
            protect: g.protect,
        }
    }
}

/// Feeds serialized bytes straight into the hash, without building the JSON text.
struct HashWriter(Sha256);

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn fingerprint(config: &Config) -> String {
    let token = |t: &TokenSource| match t {
        TokenSource::Env(var) => ("env", var.clone()),
        TokenSource::File(path) => {
            let relative = path.strip_prefix(&config.dir).unwrap_or(path);
            ("file", relative.to_string_lossy().replace('\\', "/"))
        }
    };
    let canonical = Canonical {
        format: FORMAT,
        tenants: config
            .tenants
            .values()
            .map(|t| Tenant {
                name: &t.name,
                kind: t.kind,
                dialect: t.dialect,
                url: t.url.as_deref(),
                token: t.token.as_ref().map(token),
                rate_limit: t.rate_limit,
                parallelism: t.parallelism,
                page_size: t.page_size,
                allowed_domains: &t.allowed_domains,
                renamed_from: t.renamed_from.as_deref(),
            })
            .collect(),
        defaults: Defaults {
            remove_user_action: config.defaults.remove_user_action,
            max_destroy: config.defaults.max_destroy,
            max_destroy_percent: config.defaults.max_destroy_percent,
        },
        desired: config
            .desired
            .iter()
            .map(|(name, d)| {
                (
                    name.as_str(),
                    Desired {
                        users: d.users.iter().map(User::from).collect(),
                        groups: d.groups.iter().map(Group::from).collect(),
                    },
                )
            })
            .collect(),
    };
    let mut writer = HashWriter(Sha256::new());
    // Serializing plain structs, strings and numbers into a writer that cannot fail cannot
    // fail either; if it somehow did, the partial hash still differs from any real one.
    let _ = serde_json::to_writer(&mut writer, &canonical);
    let digest = writer.0.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
