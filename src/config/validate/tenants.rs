//! The `tenants:` map: each tenant's kind, URL, token and settings.

use std::path::Path;

use crate::dialect::Dialect;
use crate::model::Origin;

use super::super::check::Ctx;
use super::super::raw::{At, Node, Record, Spot, TenantMap, TenantSchema};
use super::super::read_policy::{parse_duration, MembershipSource, ReadPolicy, RefreshMode};
use super::super::{TenantConfig, TenantKind, TokenSource};
use super::Validator;

impl Validator {
    pub(super) fn tenants(&mut self, cx: &mut Ctx, key_at: Spot, tenants: At<TenantMap>) {
        let entries = match tenants.value {
            TenantMap::Entries(entries) => entries,
            TenantMap::Wrong(found) => {
                cx.error(
                    tenants.at,
                    format!("`tenants` must be a map from tenant name to settings, found {found}"),
                );
                return;
            }
        };
        if entries.is_empty() {
            cx.error(key_at, "no tenants declared: `tenants` is empty");
        }
        for (name, record) in entries {
            let Node::Str(name_text) = name.value else {
                cx.error(
                    name.at,
                    format!(
                        "a tenant name must be a string, found {}",
                        name.value.kind()
                    ),
                );
                continue;
            };
            if !valid_tenant_name(&name_text) {
                cx.error(
                    name.at,
                    format!("invalid tenant name `{name_text}`: use lowercase letters, digits, `-` and `_`, starting with a letter or digit"),
                );
            }
            if self.tenant_names.contains(&name_text) {
                cx.duplicate_key(
                    &At {
                        at: name.at,
                        value: name_text.as_str(),
                    },
                    "`tenants`",
                );
                continue;
            }
            self.tenant_names.push(name_text.clone());
            let tenant = self.tenant(
                cx,
                At {
                    at: name.at,
                    value: name_text,
                },
                record,
            );
            if let Some(url) = tenant.as_ref().and_then(|t| t.url.as_deref()) {
                let server = super::super::server_key(url);
                let other = self.tenants.iter().flatten().find(|o| {
                    o.url.as_deref().map(super::super::server_key) == Some(server.clone())
                });
                if let Some(other) = other {
                    cx.error(
                        name.at,
                        format!(
                            "tenants `{}` and `{}` point at the same server (the same `url`): each \
                             would undo what the other manages; declare it once",
                            other.name,
                            self.tenant_names.last().map_or("", String::as_str)
                        ),
                    );
                }
            }
            self.tenants.push(tenant);
        }
    }

    fn tenant(
        &self,
        cx: &mut Ctx,
        name: At<String>,
        record: At<Record<TenantSchema>>,
    ) -> Option<TenantConfig> {
        let mut r = record.value;
        if !cx.record_shape(record.at, &r) {
            return None;
        }
        let mut ok = true;
        let kind = match r.field("kind") {
            Some((_, node)) => match cx.string("kind", node) {
                Some(kind) => {
                    let parsed = TenantKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == kind.value);
                    if parsed.is_none() {
                        cx.error(
                            kind.at,
                            format!(
                                "unknown tenant kind `{}` (expected `zia`, `zpa`, `scim` or `emulator`)",
                                kind.value
                            ),
                        );
                    }
                    parsed
                }
                None => None,
            },
            None => {
                cx.error(
                    name.at,
                    format!(
                        "tenant `{}` has no `kind` (`zia`, `zpa`, `scim` or `emulator`)",
                        name.value
                    ),
                );
                None
            }
        };
        let url = r.field("url");
        let token = r.field("token");
        let dialect = r.field("dialect");
        let rate_limit = r
            .field("rate_limit")
            .and_then(|(_, n)| cx.number("rate_limit", n, 0.0, true, 100_000.0));
        let parallelism = r
            .field("parallelism")
            .and_then(|(_, n)| cx.integer("parallelism", n, 1, 256))
            .and_then(|n| usize::try_from(n).ok());
        let page_size = r.field("page_size").and_then(|(_, n)| {
            let at = n.at;
            cx.integer("page_size", n, 1, 100_000).map(|v| (at, v))
        });
        let allowed_domains = self.domains(cx, r.field("allowed_domains"));
        let renamed_from = r
            .field("renamed_from")
            .and_then(|(_, n)| cx.string("renamed_from", n))
            .and_then(|from| {
                if valid_tenant_name(&from.value) && from.value != name.value {
                    Some(from.value)
                } else {
                    cx.error(
                        from.at,
                        format!(
                            "`renamed_from` must name the tenant's old key (lowercase letters, digits, `-` and `_`), other than `{}`",
                            name.value
                        ),
                    );
                    None
                }
            });
        let read = read_policy(cx, &mut r);
        let kind = kind?;

        let dialect = match (kind.dialect(), dialect) {
            (Some(d), None) => d,
            (Some(d), Some((key_at, _))) => {
                cx.error(
                    key_at,
                    format!("`dialect` is only for `kind: emulator`; a `{kind}` tenant always speaks the `{d}` dialect"),
                );
                ok = false;
                d
            }
            (None, None) => Dialect::Scim,
            (None, Some((_, node))) => match cx.string("dialect", node) {
                Some(text) => match text.value.parse::<Dialect>() {
                    Ok(d) => d,
                    Err(message) => {
                        cx.error(text.at, message);
                        ok = false;
                        Dialect::Scim
                    }
                },
                None => {
                    ok = false;
                    Dialect::Scim
                }
            },
        };
        let page_size = match page_size {
            Some((at, n)) => {
                let max = dialect.spec().max_page_size as u64;
                if n > max {
                    cx.error(
                        at,
                        format!("`page_size` must be at most {max} for the `{dialect}` dialect, found {n}"),
                    );
                    ok = false;
                }
                usize::try_from(n).ok()
            }
            None => None,
        };

        let (url, token) = if kind == TenantKind::Emulator {
            for (field, given) in [("url", &url), ("token", &token)] {
                if let Some((key_at, _)) = given {
                    cx.error(
                        *key_at,
                        format!("`{field}` is not used by an emulator tenant (it is built in); use `kind: scim` to reach an emulator over HTTP"),
                    );
                    ok = false;
                }
            }
            (None, None)
        } else {
            let url = match url {
                Some((_, node)) => cx
                    .string("url", node)
                    .and_then(|u| match check_url(&u.value) {
                        Ok(()) => {
                            match super::super::dialect_checks::url_shape_error(kind, &u.value) {
                                Some(message) => {
                                    cx.error(u.at, message);
                                    None
                                }
                                None => Some(u.value),
                            }
                        }
                        Err(message) if message.contains("credentials") => {
                            cx.secret_error(u.at, message);
                            None
                        }
                        Err(message) => {
                            cx.error(u.at, message);
                            None
                        }
                    }),
                None => {
                    cx.error(name.at, format!("tenant `{}` has no `url`", name.value));
                    None
                }
            };
            let token = match token {
                Some((_, node)) => self.secret_source(cx, "token", node),
                None => {
                    cx.error(
                        name.at,
                        format!(
                            "tenant `{}` has no `token` (`{{ env: VAR }}` or `{{ file: PATH }}`)",
                            name.value
                        ),
                    );
                    None
                }
            };
            ok &= url.is_some() && token.is_some();
            (url, token)
        };
        ok.then(|| TenantConfig {
            name: name.value,
            kind,
            dialect,
            url,
            token,
            rate_limit,
            parallelism,
            page_size,
            allowed_domains: allowed_domains.unwrap_or_default(),
            renamed_from,
            read,
            origin: Origin {
                file: self.files.get(cx.file).cloned().unwrap_or_default(),
                line: u64::from(name.at.line),
                column: u64::from(name.at.column),
            },
        })
    }

    fn domains(&self, cx: &mut Ctx, field: Option<(Spot, At<Node>)>) -> Option<Vec<String>> {
        let (_, node) = field?;
        let list = cx.string_list("allowed_domains", node)?;
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let domain = d.value.trim().to_ascii_lowercase();
            if domain.is_empty()
                || domain.contains('@')
                || domain.contains(char::is_whitespace)
                || domain.starts_with('.')
            {
                cx.error(
                    d.at,
                    format!("`{}` is not a domain (write it as `example.com`)", d.value),
                );
                continue;
            }
            out.push(domain);
        }
        Some(out)
    }

    /// `{ env: VAR }` or `{ file: PATH }`; never a string, and the value is never echoed.
    /// `what` is the key it was given under (`token`, a backend's `password`).
    pub(super) fn secret_source(
        &self,
        cx: &mut Ctx,
        what: &str,
        node: At<Node>,
    ) -> Option<TokenSource> {
        let entries = match node.value {
            Node::Map(entries) => entries,
            Node::Str(_) => {
                cx.secret_error(
                    node.at,
                    format!("{what} must not be written inline in the configuration; use `{{ env: VAR }}` or `{{ file: PATH }}`"),
                );
                return None;
            }
            other => {
                cx.secret_error(
                    node.at,
                    format!(
                        "`{what}` must be `{{ env: VAR }}` or `{{ file: PATH }}`, found {}",
                        other.kind()
                    ),
                );
                return None;
            }
        };
        let mut source = None;
        let mut ok = true;
        for (key, value) in entries {
            let name = match &key.value {
                Node::Str(s) if s == "env" || s == "file" => s.clone(),
                Node::Str(s) => {
                    cx.unknown_key(
                        &At {
                            at: key.at,
                            value: s.clone(),
                        },
                        what,
                        &["env", "file"],
                    );
                    ok = false;
                    continue;
                }
                other => {
                    cx.error(
                        key.at,
                        format!(
                            "a {what} key must be `env` or `file`, found {}",
                            other.kind()
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if source.as_ref().is_some_and(|(_, _, seen)| *seen == name) {
                cx.duplicate_key(
                    &At {
                        at: key.at,
                        value: name.as_str(),
                    },
                    what,
                );
                ok = false;
                continue;
            }
            if source.is_some() {
                cx.error(
                    key.at,
                    format!("`{what}` takes one of `env` or `file`, not both"),
                );
                ok = false;
                continue;
            }
            let Node::Str(text) = value.value else {
                cx.secret_error(
                    value.at,
                    format!("`{name}` must be a string, found {}", value.value.kind()),
                );
                ok = false;
                continue;
            };
            let token = if name == "env" {
                if !valid_env_name(&text) {
                    // Not echoed: people paste the token itself here.
                    cx.secret_error(
                        value.at,
                        format!("`env` must name an environment variable (letters, digits and `_`), not hold the {what}"),
                    );
                    ok = false;
                    continue;
                }
                TokenSource::Env(text)
            } else {
                if text.trim().is_empty() {
                    cx.error(value.at, "`file` must be a path, found an empty string");
                    ok = false;
                    continue;
                }
                let path = Path::new(&text);
                let full = if path.is_absolute() || self.base.as_os_str().is_empty() {
                    path.to_owned()
                } else {
                    self.base.join(path)
                };
                TokenSource::File(full)
            };
            source = Some((value.at, token, name));
        }
        let Some((at, source, _)) = source else {
            if ok {
                cx.error(
                    node.at,
                    format!("`{what}` must be `{{ env: VAR }}` or `{{ file: PATH }}`, found an empty map"),
                );
            }
            return None;
        };
        if !ok {
            return None;
        }
        if self.check_tokens {
            if let Err(message) = source.resolve() {
                cx.error(at, message);
                return None;
            }
        }
        Some(source)
    }
}

/// `refresh:`, `max_refresh_age:` and `membership_source:`; each missing or wrong one keeps
/// its default (a wrong one is reported).
fn read_policy(cx: &mut Ctx, r: &mut Record<TenantSchema>) -> ReadPolicy {
    let mut policy = ReadPolicy::default();
    if let Some(word) = r
        .field("refresh")
        .and_then(|(_, n)| cx.string("refresh", n))
    {
        match RefreshMode::parse(&word.value) {
            Some(mode) => policy.refresh = mode,
            None => cx.error(
                word.at,
                format!(
                    "`refresh` must be `full` or `changed`, found `{}`",
                    word.value
                ),
            ),
        }
    }
    if let Some(text) = r.field("max_refresh_age").and_then(|(_, n)| match n.value {
        Node::UInt(secs) => Some(At {
            at: n.at,
            value: secs.to_string(),
        }),
        _ => cx.string("max_refresh_age", n),
    }) {
        match parse_duration(&text.value) {
            Some(age) => policy.max_refresh_age = age,
            None => cx.error(
                text.at,
                format!(
                    "`max_refresh_age` must be a duration such as `24h`, `90m` or `7d`, found `{}`",
                    text.value
                ),
            ),
        }
    }
    if let Some(word) = r
        .field("membership_source")
        .and_then(|(_, n)| cx.string("membership_source", n))
    {
        match MembershipSource::parse(&word.value) {
            Some(source) => policy.membership_source = source,
            None => cx.error(
                word.at,
                format!(
                    "`membership_source` must be `groups`, `users` or `auto`, found `{}`",
                    word.value
                ),
            ),
        }
    }
    policy
}

fn valid_tenant_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(super) fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The transport rule ([`crate::dialect::check_transport`]) for a tenant's `url`.
pub(crate) fn check_url(text: &str) -> Result<(), String> {
    crate::dialect::check_transport(text).map(drop)
}
