//! Validation that knows the dialect: base-URL shapes, ZIA's groups-per-user limit, and user
//! attributes a service cannot keep. Every rule reads the dialect table ([`crate::dialect`]);
//! nothing here states a fact about a service itself.
//!
//! Like the rest of `config`, no network and no printing: errors go to the validator's sink
//! with a position, warnings are returned for the command to show.

use std::fmt;

use crate::dialect::{check_base_url_shape, Dialect, UrlVerdict};
use crate::model::{Origin, UserAttrs, USER_FIELDS};

use super::check::Sink;
use super::raw::Spot;
use super::{Config, TenantConfig, TenantKind};

/// Something that is allowed but probably a mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}\n  --> {}", self.message, self.origin)
    }
}

/// The shape error for a remote tenant's `url`, if any (an already well-formed https or
/// loopback URL).
pub(crate) fn url_shape_error(kind: TenantKind, text: &str) -> Option<String> {
    let dialect = kind.dialect()?;
    let url = url::Url::parse(text.trim()).ok()?;
    match check_base_url_shape(dialect, &url) {
        UrlVerdict::Err(message) => Some(format!("`url` does not fit: {message}")),
        UrlVerdict::Ok | UrlVerdict::Warn(_) => None,
    }
}

/// Warnings about a loaded configuration: URLs on clouds zsc does not know.
pub fn warnings(config: &Config) -> Vec<Warning> {
    let mut out = Vec::new();
    for tenant in config.tenants.values() {
        let Some(text) = &tenant.url else { continue };
        let Ok(url) = url::Url::parse(text.trim()) else {
            continue;
        };
        if let UrlVerdict::Warn(message) = check_base_url_shape(tenant.dialect, &url) {
            out.push(Warning {
                origin: tenant.origin.clone(),
                message: format!("tenant `{}`: {message}", tenant.name),
            });
        }
    }
    out
}

/// `attrs` with the attributes `dialect` does not keep left out (undeclared: zsc leaves them
/// alone on that tenant).
pub fn stored_attrs(attrs: &UserAttrs, dialect: Dialect) -> UserAttrs {
    let spec = dialect.spec();
    let mut out = attrs.clone();
    for field in USER_FIELDS {
        if !spec.stores_attribute(field.name) {
            *(field.get_mut)(&mut out) = None;
        }
    }
    out
}

/// One declared user as the dialect checks see it.
pub(crate) struct UserView<'a> {
    pub file: usize,
    pub at: Spot,
    pub user_name: &'a str,
    pub attrs: &'a UserAttrs,
    /// Per tenant (aligned with `tenants`): whether the user is declared there.
    pub scope: &'a [bool],
    /// Per tenant: how many declared groups of that tenant the user is in.
    pub groups: &'a [u32],
}

/// Report users in more groups than a tenant's dialect allows, and attributes that none of a
/// user's tenants keeps. `tenants` holds None for tenants with problems of their own.
pub(crate) fn check_user(sink: &mut Sink, tenants: &[Option<TenantConfig>], user: &UserView<'_>) {
    for (ti, tenant) in tenants.iter().enumerate() {
        let Some(tenant) = tenant else { continue };
        if !user.scope.get(ti).copied().unwrap_or(false) {
            continue;
        }
        let Some(max) = tenant.dialect.spec().max_groups_per_user else {
            continue;
        };
        let count = user.groups.get(ti).copied().unwrap_or(0) as usize;
        if count > max {
            sink.error(
                user.file,
                user.at,
                format!(
                    "user `{}` is in {count} groups on tenant `{}`; {} allows at most {max} groups per user (zia/understanding-scim)",
                    user.user_name,
                    tenant.name,
                    tenant.dialect.name().to_uppercase()
                ),
            );
        }
    }
    let scoped: Vec<&TenantConfig> = tenants
        .iter()
        .zip(user.scope)
        .filter_map(|(t, in_scope)| t.as_ref().filter(|_| *in_scope))
        .collect();
    if scoped.is_empty() {
        return;
    }
    let unkept: Vec<String> = USER_FIELDS
        .iter()
        .filter(|field| (field.get)(user.attrs).is_some())
        .filter(|field| {
            !scoped
                .iter()
                .any(|t| t.dialect.spec().stores_attribute(field.name))
        })
        .map(|field| format!("`{}`", field.name))
        .collect();
    if unkept.is_empty() {
        return;
    }
    let names: Vec<String> = scoped
        .iter()
        .map(|t| format!("`{}` ({})", t.name, t.dialect))
        .collect();
    let kept: Vec<String> = scoped[0]
        .dialect
        .spec()
        .user_attributes
        .iter()
        .map(|a| format!("`{a}`"))
        .collect();
    sink.error(
        user.file,
        user.at,
        format!(
            "user `{}` declares {}, which {} ({} keeps only {}); remove {}, or add the user to a tenant that keeps {}",
            user.user_name,
            unkept.join(", "),
            if names.len() == 1 {
                format!("its tenant {} cannot keep", names[0])
            } else {
                format!("none of its tenants {} can keep", names.join(", "))
            },
            scoped[0].dialect,
            kept.join(", "),
            if unkept.len() == 1 { "it" } else { "them" },
            if unkept.len() == 1 { "it" } else { "them" },
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        crate::config::load_with(
            &path,
            &crate::config::LoadOptions {
                check_tokens: false,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn unknown_clouds_are_warnings_pointing_at_the_tenant() {
        let config = load(
            "clouds",
            "tenants:\n  known:\n    kind: zia\n    url: https://scim.zscalertwo.net/1/2/scim\n    token: { env: T }\n  odd:\n    kind: zpa\n    url: https://scim1.example.net/scim/1/2/v2\n    token: { env: T }\n  local:\n    kind: zia\n    url: http://127.0.0.1:9/x\n    token: { env: T }\n",
        );
        let warnings = warnings(&config);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0]
            .message
            .starts_with("tenant `odd`: `scim1.example.net` is not in a ZPA cloud"));
        assert_eq!((warnings[0].origin.line, warnings[0].origin.column), (6, 3));
        assert!(warnings[0].to_string().contains("clouds.yaml:6:3"));
    }

    #[test]
    fn attributes_a_dialect_cannot_keep_are_left_out_of_its_desired_state() {
        let config = load(
            "mixed",
            "tenants:\n  zia:\n    kind: emulator\n    dialect: zia\n  zpa:\n    kind: emulator\n    dialect: zpa\nusers:\n  - user_name: a@example.com\n    given_name: Ann\n    department: Ops\n",
        );
        let zia = &config.desired["zia"].users[0].attrs;
        let zpa = &config.desired["zpa"].users[0].attrs;
        assert_eq!(zia.given_name, None);
        assert_eq!(zia.department.as_deref(), Some("Ops"));
        assert_eq!(zpa.given_name.as_deref(), Some("Ann"));
    }

    #[test]
    fn the_group_limit_comes_from_the_table() {
        let many: Vec<String> = (0..=128).map(|i| format!("G{i}")).collect();
        let groups: String = many.iter().map(|g| format!("  - name: {g}\n")).collect();
        let text = format!(
            "tenants:\n  scim:\n    kind: emulator\nusers:\n  - user_name: a@example.com\n    groups: [{}]\ngroups:\n{groups}",
            many.join(", ")
        );
        // Generic SCIM has no limit.
        let config = load("scim-many", &text);
        assert_eq!(config.desired["scim"].groups.len(), 129);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zsc.yaml");
        std::fs::write(
            &path,
            text.replace("kind: emulator", "kind: emulator\n    dialect: zia"),
        )
        .unwrap();
        let err = crate::config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("is in 129 groups on tenant `scim`; ZIA allows at most 128"),
            "{err}"
        );
        assert!(err.contains("zsc.yaml:6:16"), "{err}");
    }
}
