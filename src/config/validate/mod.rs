//! Validation: from the lenient per-file model to tenants, defaults and per-tenant desired
//! state, reporting every problem on the way.
//!
//! Each file is checked on its own as it is read (keys, types, values); references between
//! declarations (members, groups, tenants, renames) are checked once every file is in
//! (`finish.rs`). If a
//! file could not be parsed, reference checks are skipped: they would only report the
//! declarations that file would have supplied.

mod access;
mod backend;
mod finish;

pub(crate) use backend::from_overrides as backend_from_overrides;
mod records;
mod tenants;

#[cfg(test)]
pub(crate) use tenants::check_url;

use records::list_items;

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

use crate::model::{DesiredTenant, Origin, RemoveUserAction, UserAttrs};

use super::backend::{BackendConfig, BackendOverride};
use super::check::{Ctx, Sink};
use super::raw::{
    At, DefaultsSchema, GroupSchema, Node, Record, RecordList, Root, Spot, UserSchema,
};
use super::{Defaults, TenantConfig};

/// Output of a successful validation.
pub(crate) type Validated = (
    BTreeMap<String, TenantConfig>,
    Defaults,
    BTreeMap<String, DesiredTenant>,
    Vec<super::dialect_checks::Warning>,
    BackendConfig,
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
    groups: Vec<access::Entry>,
    until: Option<crate::model::Until>,
}

struct GroupDecl {
    pos: Pos,
    name_at: Spot,
    name: String,
    renamed_from: Option<At<String>>,
    members: Vec<access::Entry>,
    tenants: Option<Vec<At<String>>>,
    protect: bool,
    rules: Vec<crate::model::Rule>,
    exclude: Vec<At<String>>,
    include_groups: Vec<At<String>>,
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
    /// `--backend-config` and `ZSC_BACKEND_<KEY>`, merged over `backend:`.
    overrides: Vec<BackendOverride>,
    backend: BackendConfig,
    /// False when `backend:` had a problem (reported).
    backend_ok: bool,
}

impl Validator {
    pub fn new(base: &Path, check_tokens: bool, overrides: &[BackendOverride]) -> Self {
        Validator {
            overrides: overrides.to_vec(),
            backend: BackendConfig::Local,
            backend_ok: true,
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
                &[
                    "tenants", "defaults", "include", "users", "groups", "backend",
                ],
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
        self.backend(&mut cx, root.backend);
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
            ("backend", root.backend.as_ref().map(|t| t.0)),
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

    fn defaults(&mut self, cx: &mut Ctx, record: At<Record<DefaultsSchema>>) {
        let mut r = record.value;
        if !cx.record_shape(record.at, &r) {
            return;
        }
        if let Some((_, node)) = r.field("remove_user_action") {
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
        if let Some((_, node)) = r.field("max_destroy") {
            if let Some(n) = cx.integer("max_destroy", node, 0, u64::from(u32::MAX)) {
                self.defaults.max_destroy = usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
        if let Some((_, node)) = r.field("max_destroy_percent") {
            if let Some(n) = cx.number("max_destroy_percent", node, 0.0, false, 100.0) {
                self.defaults.max_destroy_percent = n;
            }
        }
        if let Some((_, node)) = r.field("expiry_notice_days") {
            if let Some(n) = cx.integer("expiry_notice_days", node, 0, 3650) {
                self.defaults.expiry_notice_days = u32::try_from(n).unwrap_or(u32::MAX);
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
}

/// Names of the declared tenants, for messages: "declared: `a`, `b`".
fn declared_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no tenants are declared".to_owned();
    }
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("declared: {}", list.join(", "))
}
