//! Validation: from the lenient per-file model to tenants, defaults and per-tenant desired
//! state, reporting every problem on the way.
//!
//! Each file is checked on its own as it is read (keys, types, values); references between
//! declarations (members, groups, tenants, renames) are checked once every file is in. If a
//! file could not be parsed, reference checks are skipped: they would only report the
//! declarations that file would have supplied.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;

// foldhash, not SipHash: a 100,000-user configuration hashes a million member names here, and
// configuration text is the user's own (no untrusted keys to flood the table with).
use foldhash::{HashMap, HashMapExt};
use std::path::{Path, PathBuf};

use crate::dialect::Dialect;
use crate::model::{DesiredGroup, DesiredTenant, DesiredUser, Origin, RemoveUserAction, UserAttrs};

use super::check::{Ctx, Sink};
use super::raw::{
    At, DefaultsSchema, GroupSchema, Node, Record, RecordList, Root, Schema, Spot, TenantMap,
    TenantSchema, UserSchema,
};
use super::{Defaults, TenantConfig, TenantKind, TokenSource, MAX_NAME_CHARS};

/// Output of a successful validation.
pub(crate) type Validated = (
    BTreeMap<String, TenantConfig>,
    Defaults,
    BTreeMap<String, DesiredTenant>,
);

use crate::model::folded as key;

/// A position in some file.
#[derive(Clone, Copy, Debug)]
struct Pos {
    file: usize,
    at: Spot,
}

struct UserDecl {
    pos: Pos,
    name_at: Spot,
    user_name: String,
    renamed_from: Option<At<String>>,
    attrs: UserAttrs,
    active: bool,
    protect: bool,
    tenants: Option<Vec<At<String>>>,
    groups: Vec<At<String>>,
}

struct GroupDecl {
    pos: Pos,
    name_at: Spot,
    name: String,
    renamed_from: Option<At<String>>,
    members: Vec<At<String>>,
    tenants: Option<Vec<At<String>>>,
    protect: bool,
}

pub(crate) struct Validator {
    base: PathBuf,
    check_tokens: bool,
    /// Display names of the files, by index.
    files: Vec<String>,
    /// Every declared tenant name, valid or not, so that references to a broken tenant do not
    /// add a second error.
    tenant_names: Vec<String>,
    /// Aligned with `tenant_names`; None where the tenant has problems.
    tenants: Vec<Option<TenantConfig>>,
    defaults: Defaults,
    users: Vec<UserDecl>,
    groups: Vec<GroupDecl>,
    /// A file could not be parsed: skip reference checks.
    broken: bool,
}

impl Validator {
    pub fn new(base: &Path, check_tokens: bool) -> Self {
        Validator {
            base: base.to_owned(),
            check_tokens,
            files: Vec::new(),
            tenant_names: Vec::new(),
            tenants: Vec::new(),
            defaults: Defaults::default(),
            users: Vec::new(),
            groups: Vec::new(),
            broken: false,
        }
    }

    pub fn add_file(&mut self, display: String) {
        self.files.push(display);
    }

    pub fn broken_file(&mut self) {
        self.broken = true;
    }

    fn origin(&self, pos: Pos) -> Origin {
        Origin {
            file: self.files.get(pos.file).cloned().unwrap_or_default(),
            line: u64::from(pos.at.line),
            column: u64::from(pos.at.column),
        }
    }

    /// Check the main file (file 0); returns its include patterns.
    pub fn main_file(&mut self, sink: &mut Sink, root: Root) -> Vec<At<String>> {
        let mut cx = Ctx { sink, file: 0 };
        if let Some(found) = root.wrong {
            cx.error(
                Spot { line: 1, column: 1 },
                format!("the configuration must be a map with `tenants`, `users` and `groups`, found {found}"),
            );
            return Vec::new();
        }
        for key in &root.unknown {
            cx.unknown_key(
                key,
                "the configuration",
                &["tenants", "defaults", "include", "users", "groups"],
            );
        }
        for key in &root.duplicates {
            cx.duplicate_key(key, "the configuration");
        }
        match root.tenants {
            Some((key_at, tenants)) => self.tenants(&mut cx, key_at, tenants),
            None => cx.error(
                Spot::default(),
                "no tenants declared: add a `tenants:` map (`kind: emulator` needs no URL or token)",
            ),
        }
        if let Some((_, defaults)) = root.defaults {
            self.defaults(&mut cx, defaults);
        }
        let includes = root
            .include
            .map(|(_, node)| {
                let at = node.at;
                match node.value {
                    Node::Str(s) => vec![At { at, value: s }],
                    other => cx
                        .string_list("include", At { at, value: other })
                        .unwrap_or_default(),
                }
            })
            .unwrap_or_default();
        self.declarations(&mut cx, root.users, root.groups);
        includes
    }

    /// Check an included file: only `users:` and `groups:`.
    pub fn included_file(&mut self, sink: &mut Sink, file: usize, root: Root) {
        let mut cx = Ctx { sink, file };
        if let Some(found) = root.wrong {
            cx.error(
                Spot { line: 1, column: 1 },
                format!(
                    "an included file must be a map with `users` and/or `groups`, found {found}"
                ),
            );
            return;
        }
        let main_only = [
            ("tenants", root.tenants.as_ref().map(|t| t.0)),
            ("defaults", root.defaults.as_ref().map(|t| t.0)),
            ("include", root.include.as_ref().map(|t| t.0)),
        ];
        for (name, at) in main_only {
            if let Some(at) = at {
                cx.error(
                    at,
                    format!("`{name}` is only allowed in the main configuration file; an included file holds `users` and `groups`"),
                );
            }
        }
        for key in &root.unknown {
            cx.unknown_key(key, "an included file", &["users", "groups"]);
        }
        for key in &root.duplicates {
            cx.duplicate_key(key, "an included file");
        }
        self.declarations(&mut cx, root.users, root.groups);
    }

    fn tenants(&mut self, cx: &mut Ctx, key_at: Spot, tenants: At<TenantMap>) {
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
                let server = same_server_key(url);
                let other = self
                    .tenants
                    .iter()
                    .flatten()
                    .find(|o| o.url.as_deref().map(same_server_key) == Some(server.clone()));
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
        let kind = match r.take(0) {
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
        let url = r.take(1);
        let token = r.take(2);
        let dialect = r.take(3);
        let rate_limit = r
            .take(4)
            .and_then(|(_, n)| cx.number("rate_limit", n, 0.0, true, 100_000.0));
        let parallelism = r
            .take(5)
            .and_then(|(_, n)| cx.integer("parallelism", n, 1, 256))
            .and_then(|n| usize::try_from(n).ok());
        let page_size = r.take(6).and_then(|(_, n)| {
            let at = n.at;
            cx.integer("page_size", n, 1, 100_000).map(|v| (at, v))
        });
        let allowed_domains = self.domains(cx, r.take(7));
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
                        Ok(()) => match super::dialect_checks::url_shape_error(kind, &u.value) {
                            Some(message) => {
                                cx.error(u.at, message);
                                None
                            }
                            None => Some(u.value),
                        },
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
                Some((_, node)) => self.token(cx, node),
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
    fn token(&self, cx: &mut Ctx, node: At<Node>) -> Option<TokenSource> {
        let entries = match node.value {
            Node::Map(entries) => entries,
            Node::Str(_) => {
                cx.secret_error(
                    node.at,
                    "token must not be written inline in the configuration; use `{ env: VAR }` or `{ file: PATH }`",
                );
                return None;
            }
            other => {
                cx.secret_error(
                    node.at,
                    format!(
                        "`token` must be `{{ env: VAR }}` or `{{ file: PATH }}`, found {}",
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
                        "token",
                        &["env", "file"],
                    );
                    ok = false;
                    continue;
                }
                other => {
                    cx.error(
                        key.at,
                        format!(
                            "a token key must be `env` or `file`, found {}",
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
                    "token",
                );
                ok = false;
                continue;
            }
            if source.is_some() {
                cx.error(key.at, "`token` takes one of `env` or `file`, not both");
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
                        "`env` must name an environment variable (letters, digits and `_`), not hold the token",
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
                    "`token` must be `{ env: VAR }` or `{ file: PATH }`, found an empty map",
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

    fn defaults(&mut self, cx: &mut Ctx, record: At<Record<DefaultsSchema>>) {
        let mut r = record.value;
        if !cx.record_shape(record.at, &r) {
            return;
        }
        if let Some((_, node)) = r.take(0) {
            if let Some(text) = cx.string("remove_user_action", node) {
                match text.value.as_str() {
                    "disable" => self.defaults.remove_user_action = RemoveUserAction::Disable,
                    "delete" => self.defaults.remove_user_action = RemoveUserAction::Delete,
                    other => cx.error(
                        text.at,
                        format!("unknown `remove_user_action` `{other}` (expected `disable` or `delete`)"),
                    ),
                }
            }
        }
        if let Some((_, node)) = r.take(1) {
            if let Some(n) = cx.integer("max_destroy", node, 0, u64::from(u32::MAX)) {
                self.defaults.max_destroy = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        if let Some((_, node)) = r.take(2) {
            if let Some(n) = cx.number("max_destroy_percent", node, 0.0, false, 100.0) {
                self.defaults.max_destroy_percent = n;
            }
        }
    }

    fn declarations(
        &mut self,
        cx: &mut Ctx,
        users: Option<(Spot, At<RecordList<UserSchema>>)>,
        groups: Option<(Spot, At<RecordList<GroupSchema>>)>,
    ) {
        if let Some((_, list)) = users {
            if let Some(items) = list_items(cx, "users", list) {
                self.users.reserve(items.len());
                for item in items {
                    if let Some(user) = self.user(cx, item) {
                        self.users.push(user);
                    }
                }
            }
        }
        if let Some((_, list)) = groups {
            if let Some(items) = list_items(cx, "groups", list) {
                self.groups.reserve(items.len());
                for item in items {
                    if let Some(group) = self.group(cx, item) {
                        self.groups.push(group);
                    }
                }
            }
        }
    }

    fn user(&self, cx: &mut Ctx, record: At<Record<UserSchema>>) -> Option<UserDecl> {
        let at = record.at;
        let mut r = record.value;
        if !cx.record_shape(at, &r) {
            return None;
        }
        let name = required_name(cx, &mut r, at, "user", "user_name");
        let renamed_from = optional_name(cx, &mut r, "renamed_from");
        let mut attrs = UserAttrs::default();
        for field in crate::model::USER_FIELDS {
            if let Some((_, node)) = r.field(field.name) {
                *(field.get_mut)(&mut attrs) = attribute(cx, field.name, node);
            }
        }
        let active = r
            .field("active")
            .and_then(|(_, n)| cx.boolean("active", n))
            .unwrap_or(true);
        let tenants = r.field("tenants").and_then(|(_, n)| tenant_list(cx, n));
        let groups = r
            .field("groups")
            .and_then(|(_, n)| cx.string_list("groups", n))
            .unwrap_or_default()
            .into_iter()
            .map(nfc)
            .collect();
        let protect = r
            .field("protect")
            .and_then(|(_, n)| cx.boolean("protect", n))
            .unwrap_or(false);
        let name = name?;
        Some(UserDecl {
            pos: Pos { file: cx.file, at },
            name_at: name.at,
            user_name: name.value,
            renamed_from,
            attrs,
            active,
            protect,
            tenants,
            groups,
        })
    }

    fn group(&self, cx: &mut Ctx, record: At<Record<GroupSchema>>) -> Option<GroupDecl> {
        let at = record.at;
        let mut r = record.value;
        if !cx.record_shape(at, &r) {
            return None;
        }
        let name = required_name(cx, &mut r, at, "group", "name");
        let renamed_from = optional_name(cx, &mut r, "renamed_from");
        let members = r
            .field("members")
            .and_then(|(_, n)| cx.string_list("members", n))
            .unwrap_or_default()
            .into_iter()
            .map(nfc)
            .collect();
        let tenants = r.field("tenants").and_then(|(_, n)| tenant_list(cx, n));
        let protect = r
            .field("protect")
            .and_then(|(_, n)| cx.boolean("protect", n))
            .unwrap_or(false);
        let name = name?;
        Some(GroupDecl {
            pos: Pos { file: cx.file, at },
            name_at: name.at,
            name: name.value,
            renamed_from,
            members,
            tenants,
            protect,
        })
    }

    /// Cross-file checks and the per-tenant desired state. None when a problem was reported
    /// (or the sink already holds some).
    pub fn finish(self, sink: &mut Sink) -> Option<Validated> {
        let tenant_count = self.tenant_names.len();
        let tenant_index: HashMap<&str, usize> = self
            .tenant_names
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();

        // Duplicates: the first declaration wins; later ones are reported against it.
        let mut user_index: HashMap<Cow<str>, usize> = HashMap::with_capacity(self.users.len());
        let mut users: Vec<usize> = Vec::with_capacity(self.users.len());
        for (i, u) in self.users.iter().enumerate() {
            match user_index.entry(key(&u.user_name)) {
                Entry::Occupied(first) => {
                    let first = &self.users[*first.get()];
                    sink.error(
                        u.pos.file,
                        u.name_at,
                        format!(
                            "duplicate user `{}` (user names are case-insensitive; first declared at {})",
                            u.user_name,
                            self.origin(Pos { file: first.pos.file, at: first.name_at })
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    users.push(i);
                }
            }
        }
        let mut group_index: HashMap<Cow<str>, usize> = HashMap::with_capacity(self.groups.len());
        let mut groups: Vec<usize> = Vec::with_capacity(self.groups.len());
        for (i, g) in self.groups.iter().enumerate() {
            match group_index.entry(key(&g.name)) {
                Entry::Occupied(first) => {
                    let first = &self.groups[*first.get()];
                    sink.error(
                        g.pos.file,
                        g.name_at,
                        format!(
                            "duplicate group `{}` (group names are case-insensitive; first declared at {})",
                            g.name,
                            self.origin(Pos { file: first.pos.file, at: first.name_at })
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    groups.push(i);
                }
            }
        }

        // Renames.
        let renames = self.renames(
            sink,
            "group",
            groups.iter().map(|&gi| {
                let g = &self.groups[gi];
                (gi, g.name.as_str(), g.renamed_from.as_ref(), g.pos.file)
            }),
            &group_index,
            |i| {
                let g = &self.groups[i];
                Pos {
                    file: g.pos.file,
                    at: g.name_at,
                }
            },
        );
        self.renames(
            sink,
            "user",
            users.iter().map(|&ui| {
                let u = &self.users[ui];
                (
                    ui,
                    u.user_name.as_str(),
                    u.renamed_from.as_ref(),
                    u.pos.file,
                )
            }),
            &user_index,
            |i| {
                let u = &self.users[i];
                Pos {
                    file: u.pos.file,
                    at: u.name_at,
                }
            },
        );

        // Scopes: which tenants each user and group is in.
        let all = vec![true; tenant_count];
        // A scope naming an unknown tenant is uncertain: "shares no tenant" is not reported
        // for it, as the intended tenant is unknown.
        let mut uncertain = vec![false; self.users.len() + self.groups.len()];
        let mut scope =
            |sink: &mut Sink, slot: usize, pos: Pos, list: &Option<Vec<At<String>>>| -> Vec<bool> {
                let Some(list) = list else { return all.clone() };
                let mut mask = vec![false; tenant_count];
                for t in list {
                    match tenant_index.get(t.value.as_str()) {
                        Some(&i) => mask[i] = true,
                        None => {
                            uncertain[slot] = true;
                            sink.error(
                                pos.file,
                                t.at,
                                format!(
                                    "unknown tenant `{}` ({})",
                                    t.value,
                                    declared_list(&self.tenant_names)
                                ),
                            );
                        }
                    }
                }
                mask
            };
        let user_scopes: Vec<Vec<bool>> = self
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| scope(sink, i, u.pos, &u.tenants))
            .collect();
        let group_scopes: Vec<Vec<bool>> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| scope(sink, self.users.len() + i, g.pos, &g.tenants))
            .collect();
        let user_uncertain = |ui: usize| uncertain[ui];
        let group_uncertain = |gi: usize| uncertain[self.users.len() + gi];

        // Allowed domains.
        for &ui in &users {
            let u = &self.users[ui];
            for (ti, t) in self.tenants.iter().enumerate() {
                let Some(t) = t else { continue };
                if t.allowed_domains.is_empty() || !user_scopes[ui][ti] {
                    continue;
                }
                let domain = u
                    .user_name
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase());
                if !domain.is_some_and(|d| t.allowed_domains.contains(&d)) {
                    sink.error(
                        u.pos.file,
                        u.name_at,
                        format!(
                            "user `{}` is not in a domain tenant `{}` allows ({})",
                            u.user_name,
                            t.name,
                            t.allowed_domains
                                .iter()
                                .map(|d| format!("`{d}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
        }

        // Memberships: members on groups, then groups on users, in declaration order.
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len()];
        if !self.broken {
            let shares = |ui: usize, gi: usize| {
                user_uncertain(ui)
                    || group_uncertain(gi)
                    || user_scopes[ui]
                        .iter()
                        .zip(&group_scopes[gi])
                        .any(|(a, b)| *a && *b)
            };
            // A million lookups in a large configuration: resolved on every core first.
            let (declared, by_name) = (&self.groups, &user_index);
            let resolved = crate::par::map(&groups, 64, |&gi| {
                declared[gi]
                    .members
                    .iter()
                    .map(|m| by_name.get(&key(&m.value)).copied())
                    .collect::<Vec<_>>()
            });
            for (&gi, resolved) in groups.iter().zip(&resolved) {
                let g = &self.groups[gi];
                for (m, found) in g.members.iter().zip(resolved) {
                    match *found {
                        Some(ui) if shares(ui, gi) => members[gi].push(ui),
                        Some(ui) => sink.error(
                            g.pos.file,
                            m.at,
                            format!(
                                "member `{}` shares no tenant with group `{}` (user: {}; group: {})",
                                m.value,
                                g.name,
                                self.scope_text(&user_scopes[ui]),
                                self.scope_text(&group_scopes[gi])
                            ),
                        ),
                        None => sink.error(
                            g.pos.file,
                            m.at,
                            format!("member `{}` of group `{}` is not a declared user", m.value, g.name),
                        ),
                    }
                }
            }
            for &ui in &users {
                let u = &self.users[ui];
                for entry in &u.groups {
                    match group_index.get(&key(&entry.value)) {
                        Some(&gi) if shares(ui, gi) => members[gi].push(ui),
                        Some(&gi) => sink.error(
                            u.pos.file,
                            entry.at,
                            format!(
                                "user `{}` shares no tenant with group `{}` (user: {}; group: {})",
                                u.user_name,
                                entry.value,
                                self.scope_text(&user_scopes[ui]),
                                self.scope_text(&group_scopes[gi])
                            ),
                        ),
                        None => {
                            let hint = renames
                                .get(&key(&entry.value))
                                .map(|&gi| format!("; it is renamed to `{}`", self.groups[gi].name))
                                .unwrap_or_default();
                            sink.error(
                                u.pos.file,
                                entry.at,
                                format!(
                                    "user `{}` is in group `{}`, which is not declared{hint}",
                                    u.user_name, entry.value
                                ),
                            );
                        }
                    }
                }
            }
        }

        // Deduplicate members, keeping the first mention.
        let mut mark = vec![usize::MAX; self.users.len()];
        for (gi, list) in members.iter_mut().enumerate() {
            list.retain(|&ui| {
                let fresh = mark[ui] != gi;
                mark[ui] = gi;
                fresh
            });
        }

        // What the dialects allow: groups per user, attributes kept.
        if !self.broken {
            let mut group_counts = vec![0u32; self.users.len() * tenant_count];
            for &gi in &groups {
                for &ui in &members[gi] {
                    for ti in 0..tenant_count {
                        if group_scopes[gi][ti] && user_scopes[ui][ti] {
                            group_counts[ui * tenant_count + ti] += 1;
                        }
                    }
                }
            }
            for &ui in &users {
                let u = &self.users[ui];
                super::dialect_checks::check_user(
                    sink,
                    &self.tenants,
                    &super::dialect_checks::UserView {
                        file: u.pos.file,
                        at: u.name_at,
                        user_name: &u.user_name,
                        attrs: &u.attrs,
                        scope: &user_scopes[ui],
                        groups: &group_counts[ui * tenant_count..(ui + 1) * tenant_count],
                    },
                );
            }
        }

        if !sink.problems.is_empty() || self.broken {
            return None;
        }

        let mut desired = BTreeMap::new();
        for (ti, t) in self.tenants.iter().enumerate() {
            let Some(t) = t else { return None };
            let mut tenant = DesiredTenant::default();
            for &ui in users.iter().filter(|&&ui| user_scopes[ui][ti]) {
                let u = &self.users[ui];
                tenant.users.push(DesiredUser {
                    user_name: u.user_name.clone(),
                    renamed_from: u.renamed_from.as_ref().map(|r| r.value.clone()),
                    attrs: super::dialect_checks::stored_attrs(&u.attrs, t.dialect),
                    active: u.active,
                    protect: u.protect,
                    origin: self.origin(u.pos),
                });
            }
            for &gi in groups.iter().filter(|&&gi| group_scopes[gi][ti]) {
                let g = &self.groups[gi];
                tenant.groups.push(DesiredGroup {
                    name: g.name.clone(),
                    renamed_from: g.renamed_from.as_ref().map(|r| r.value.clone()),
                    members: members[gi]
                        .iter()
                        .filter(|&&ui| user_scopes[ui][ti])
                        .map(|&ui| self.users[ui].user_name.clone())
                        .collect(),
                    protect: g.protect,
                    origin: self.origin(g.pos),
                });
            }
            tenant
                .users
                .sort_by_cached_key(|u| crate::model::name_key(&u.user_name));
            tenant
                .groups
                .sort_by_cached_key(|g| crate::model::name_key(&g.name));
            desired.insert(t.name.clone(), tenant);
        }
        let tenants = self
            .tenants
            .into_iter()
            .flatten()
            .map(|t| (t.name.clone(), t))
            .collect();
        Some((tenants, self.defaults, desired))
    }

    /// Check `renamed_from` on users or groups: the old name must not be declared (a change
    /// of case only is a rename, not a declaration of the old name), and two may not take the
    /// same old name. Returns the old names by key, and who took each.
    fn renames<'d>(
        &self,
        sink: &mut Sink,
        kind: &str,
        decls: impl Iterator<Item = (usize, &'d str, Option<&'d At<String>>, usize)>,
        index: &HashMap<Cow<'d, str>, usize>,
        declared_at: impl Fn(usize) -> Pos,
    ) -> HashMap<Cow<'d, str>, usize> {
        let mut renames: HashMap<Cow<str>, usize> = HashMap::new();
        let mut names: HashMap<usize, &str> = HashMap::new();
        for (i, name, from, file) in decls {
            names.insert(i, name);
            let Some(from) = from else { continue };
            let from_key = key(&from.value);
            if let Some(&other) = index.get(&from_key) {
                if other == i && from.value != name {
                    continue; // only the case changes
                }
                let message = if other == i {
                    format!("{kind} `{name}` is renamed from itself")
                } else {
                    format!(
                        "{kind} `{name}` is renamed from `{}`, which is also declared (at {}); a \
                         renamed {kind}'s old name must not be declared",
                        from.value,
                        self.origin(declared_at(other))
                    )
                };
                sink.error(file, from.at, message);
                continue;
            }
            match renames.entry(from_key) {
                Entry::Occupied(first) => {
                    sink.error(
                        file,
                        from.at,
                        format!(
                            "{kind}s `{}` and `{name}` are both renamed from `{}`",
                            names.get(first.get()).copied().unwrap_or_default(),
                            from.value
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
        renames
    }

    fn scope_text(&self, mask: &[bool]) -> String {
        let names: Vec<String> = self
            .tenant_names
            .iter()
            .zip(mask)
            .filter(|(_, m)| **m)
            .map(|(t, _)| format!("`{t}`"))
            .collect();
        if names.is_empty() {
            "no tenant".to_owned()
        } else {
            names.join(", ")
        }
    }
}

fn list_items<S: Schema>(
    cx: &mut Ctx,
    key: &str,
    list: At<RecordList<S>>,
) -> Option<Vec<At<Record<S>>>> {
    match list.value {
        RecordList::Items(items) => Some(items),
        RecordList::Wrong(found) => {
            cx.error(
                list.at,
                format!("`{key}` must be a list of {}s, found {found}", S::WHAT),
            );
            None
        }
    }
}

/// The name field of a user or group: present, a string, not empty, not padded, not too long,
/// no control or invisible characters; kept in NFC (see [`crate::model::name_key`]). Problems
/// with the value are reported but the name is kept, so that references to it do not add
/// errors of their own.
fn required_name<S: Schema>(
    cx: &mut Ctx,
    r: &mut Record<S>,
    at: Spot,
    what: &str,
    field: &str,
) -> Option<At<String>> {
    let Some((_, node)) = r.field(field) else {
        cx.error(at, format!("{what} has no `{field}`"));
        return None;
    };
    if matches!(node.value, Node::Null) {
        cx.error(node.at, format!("`{field}` must not be empty"));
        return None;
    }
    let name = cx.string(field, node)?;
    check_name(cx, field, &name).then_some(())?;
    Some(nfc(name))
}

/// An optional name field (`renamed_from`), checked as [`required_name`] checks names.
fn optional_name<S: Schema>(cx: &mut Ctx, r: &mut Record<S>, field: &str) -> Option<At<String>> {
    let (_, node) = r.field(field)?;
    let name = cx.string(field, node)?;
    check_name(cx, field, &name).then_some(())?;
    Some(nfc(name))
}

/// Report what is wrong with a name; false when it is empty (nothing to keep).
fn check_name(cx: &mut Ctx, field: &str, name: &At<String>) -> bool {
    if name.value.trim().is_empty() {
        cx.error(name.at, format!("`{field}` must not be empty"));
        return false;
    }
    if let Some(c) = crate::model::invisible_char(&name.value) {
        cx.error(
            name.at,
            format!(
                "`{field}` `{}` contains {}, which names must not hold (control, invisible and \
                 non-breaking space characters print like other names while comparing \
                 differently)",
                crate::model::printable(&name.value),
                char_name(c)
            ),
        );
    } else if name.value.trim() != name.value {
        cx.error(
            name.at,
            format!(
                "`{field}` `{}` has leading or trailing whitespace",
                name.value
            ),
        );
    }
    let chars = name.value.chars().count();
    if chars > MAX_NAME_CHARS {
        cx.error(
            name.at,
            format!("`{field}` is {chars} characters long; the limit is {MAX_NAME_CHARS}"),
        );
    }
    true
}

/// `U+200B` and, for the common ones, what it is.
fn char_name(c: char) -> String {
    let what = match c {
        '\t' => " (tab)",
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\u{1b}' => " (escape)",
        '\u{a0}' => " (no-break space)",
        '\u{200b}' => " (zero-width space)",
        '\u{200c}' => " (zero-width non-joiner)",
        '\u{200d}' => " (zero-width joiner)",
        '\u{feff}' => " (byte-order mark)",
        '\u{ad}' => " (soft hyphen)",
        _ => "",
    };
    format!("U+{:04X}{what}", c as u32)
}

/// A name in NFC: what zsc sends and compares (servers that follow RFC 8265 store NFC).
fn nfc(name: At<String>) -> At<String> {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    if matches!(is_nfc_quick(name.value.chars()), IsNormalized::Yes) {
        return name;
    }
    At {
        at: name.at,
        value: name.value.nfc().collect(),
    }
}

/// A user attribute: a string; `""` clears; a value of only white space is refused (it would
/// be sent as it is, and look empty), and so is `null` (which YAML also spells `~`), which is
/// neither "leave alone" nor "clear".
fn attribute(cx: &mut Ctx, field: &str, node: At<Node>) -> Option<String> {
    if matches!(node.value, Node::Null) {
        cx.error(
            node.at,
            format!(
                "`{field}` is null; leave it out to leave the live value alone, or give `\"\"` to \
                 clear it"
            ),
        );
        return None;
    }
    let value = cx.string(field, node)?;
    if !value.value.is_empty() && value.value.trim().is_empty() {
        cx.error(
            value.at,
            format!("`{field}` is only white space; give `\"\"` to clear it"),
        );
        return None;
    }
    Some(value.value)
}

/// A `tenants:` list on a user or group; an empty list is a mistake (it would declare nothing).
fn tenant_list(cx: &mut Ctx, node: At<Node>) -> Option<Vec<At<String>>> {
    let at = node.at;
    let list = cx.string_list("tenants", node)?;
    if list.is_empty() {
        cx.error(at, "`tenants` is empty; leave it out to mean every tenant");
    }
    Some(list)
}

fn valid_tenant_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn declared_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no tenants are declared".to_owned();
    }
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("declared: {}", list.join(", "))
}

/// What identifies the server a `url` points at: scheme, host and port as the URL parser
/// normalises them (lower-case host, default port dropped), and the path without a trailing
/// `/`.
fn same_server_key(url: &str) -> String {
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

/// The transport rule ([`crate::dialect::check_transport`]) for a tenant's `url`.
pub(crate) fn check_url(text: &str) -> Result<(), String> {
    crate::dialect::check_transport(text).map(drop)
}
