//! The identity vocabulary every layer shares: users, groups and their attributes, as desired
//! (from YAML), as live (from a SCIM server) and as managed (in state).
//!
//! Pure data. Nothing here does I/O, and nothing here knows about YAML, HTTP or files.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub mod rules;

pub use rules::{Rule, Until, Why};

/// The key under which a userName or group displayName is compared.
///
/// SCIM declares `userName` and `displayName` case-insensitive (`caseExact: false`, RFC 7643
/// §4.1.1); Zscaler's own SDK compares them with `EqualFold`. Servers that follow RFC 8265
/// (PRECIS) also normalise to NFC, so `josé` spelled with a combining accent and with a
/// precomposed `é` is one name: the key is the name lower-cased, then in NFC. Every map keyed by
/// a name, in validation and planning alike, uses this.
pub fn name_key(name: &str) -> String {
    folded(name).into_owned()
}

/// [`name_key`] without an allocation when the name is already a key (ASCII without capitals,
/// the common case): for hot paths that only look keys up.
pub fn folded(name: &str) -> Cow<'_, str> {
    if name
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        return Cow::Borrowed(name);
    }
    use unicode_normalization::UnicodeNormalization;
    let lower = name.to_lowercase();
    match unicode_normalization::is_nfc_quick(lower.chars()) {
        unicode_normalization::IsNormalized::Yes => Cow::Owned(lower),
        _ => Cow::Owned(lower.nfc().collect()),
    }
}

/// Whether two names are spelled the same: equal, or equal in NFC (a server may store either
/// form of `é`). Unlike [`name_key`], case counts.
pub fn same_spelling(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    a == b || (!a.is_ascii() || !b.is_ascii()) && a.nfc().eq(b.nfc())
}

/// Whether an object whose live name is `live` should be renamed to the declared `want`. A
/// different name, yes. A difference of case only, when zsc has not yet written the declared
/// spelling: on adoption, or when the configuration's spelling differs from the one state
/// records (`managed_as`). Once state records the declared spelling, a server that keeps
/// another case (RFC 8265 servers store names case-mapped) is left alone: renaming again would
/// never converge.
pub fn needs_rename(live: &str, want: &str, managed_as: Option<&str>) -> bool {
    if same_spelling(live, want) {
        return false;
    }
    if folded(live) != folded(want) {
        return true;
    }
    managed_as.is_none_or(|m| !same_spelling(m, want))
}

/// The first character that has no place in a userName or group name, if any: control
/// characters (tab, CR, LF, ESC...), white space other than the plain space (NBSP, the
/// ideographic space...) and invisible format characters (zero-width space and joiners, the
/// bidirectional controls, the byte-order mark, soft hyphen...). Such names print like other
/// names while comparing differently, or rewrite an operator's terminal.
pub fn invisible_char(name: &str) -> Option<char> {
    name.chars().find(|&c| is_invisible(c))
}

/// Whether `c` is one of the characters [`invisible_char`] looks for.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c,
                '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
                | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A name as it may be shown on one line: control and invisible characters written as
/// `\u{..}` escapes, so that a live name carrying ANSI escapes, CR or LF
/// cannot rewrite an operator's terminal or a CI log.
pub fn printable(name: &str) -> Cow<'_, str> {
    if invisible_char(name).is_none() {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The attributes of a user that zsc manages, besides `userName` and `active`.
///
/// In desired state `None` means "not declared, leave whatever is live alone"; an empty string
/// means "clear it". In live and managed state `None` means the server holds no value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// One managed user attribute: its YAML name and how to reach it in [`UserAttrs`].
pub struct UserField {
    pub name: &'static str,
    pub get: fn(&UserAttrs) -> &Option<String>,
    pub get_mut: fn(&mut UserAttrs) -> &mut Option<String>,
}

/// Every attribute in [`UserAttrs`], in display order. Diffing, rendering and the SCIM mapping
/// iterate this table so that adding an attribute is one line here plus its wire mapping.
pub const USER_FIELDS: &[UserField] = &[
    UserField {
        name: "display_name",
        get: |a| &a.display_name,
        get_mut: |a| &mut a.display_name,
    },
    UserField {
        name: "given_name",
        get: |a| &a.given_name,
        get_mut: |a| &mut a.given_name,
    },
    UserField {
        name: "family_name",
        get: |a| &a.family_name,
        get_mut: |a| &mut a.family_name,
    },
    UserField {
        name: "email",
        get: |a| &a.email,
        get_mut: |a| &mut a.email,
    },
    UserField {
        name: "department",
        get: |a| &a.department,
        get_mut: |a| &mut a.department,
    },
    UserField {
        name: "external_id",
        get: |a| &a.external_id,
        get_mut: |a| &mut a.external_id,
    },
];

impl UserAttrs {
    /// Overlay the declared attributes of `desired` on `self`: the result is what the server
    /// should hold after an update. Undeclared attributes keep their current value; an empty
    /// declared value clears.
    pub fn overlay(&self, desired: &UserAttrs) -> UserAttrs {
        let mut out = self.clone();
        for field in USER_FIELDS {
            if let Some(want) = (field.get)(desired) {
                *(field.get_mut)(&mut out) = if want.is_empty() {
                    None
                } else {
                    Some(want.clone())
                };
            }
        }
        out
    }

    /// Whether overlaying `desired` would change `self`, without building the result (the
    /// planner asks this of every managed user).
    pub fn differs_from(&self, desired: &UserAttrs) -> bool {
        USER_FIELDS.iter().any(|field| match (field.get)(desired) {
            None => false,
            Some(want) if want.is_empty() => (field.get)(self).is_some(),
            Some(want) => (field.get)(self).as_deref() != Some(want.as_str()),
        })
    }

    /// Drop empty strings, which mean "clear" in desired state, so the value can be sent.
    pub fn without_empty(&self) -> UserAttrs {
        let mut out = self.clone();
        for field in USER_FIELDS {
            let slot = (field.get_mut)(&mut out);
            if slot.as_deref() == Some("") {
                *slot = None;
            }
        }
        out
    }
}

/// A user as a SCIM server holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveUser {
    /// The server's id: an opaque string (ZPA mixes numeric strings and UUIDs).
    pub id: String,
    pub user_name: String,
    pub active: bool,
    #[serde(flatten)]
    pub attrs: UserAttrs,
}

/// A group as a SCIM server holds it, with its members as user ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// Everything read from one tenant by a refresh.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTenant {
    pub users: Vec<LiveUser>,
    pub groups: Vec<LiveGroup>,
}

/// Where a declaration came from, for messages that point the user at it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A user as the configuration declares it for one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredUser {
    pub user_name: String,
    /// The userName it had before (a rename keeps the id, and everything ZIA and ZPA tie to it).
    pub renamed_from: Option<String>,
    pub attrs: UserAttrs,
    /// Declared users are active unless they say `active: false`.
    pub active: bool,
    pub protect: bool,
    pub origin: Origin,
    /// When the user stops being desired (deprovisioned per `remove_user_action` after it).
    pub until: Option<Until>,
}

impl DesiredUser {
    /// A user declared with its name alone: active, no attributes, no end.
    pub fn new(user_name: &str) -> DesiredUser {
        DesiredUser {
            user_name: user_name.to_owned(),
            renamed_from: None,
            attrs: UserAttrs::default(),
            active: true,
            protect: false,
            origin: Origin::default(),
            until: None,
        }
    }
}

/// A group as the configuration declares it for one tenant. `members` are userNames; every one
/// names a user declared for the same tenant (validation guarantees it). Rules and nested
/// groups are already expanded into `members`; what remains of them is for explaining why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredGroup {
    pub name: String,
    pub renamed_from: Option<String>,
    pub members: Vec<String>,
    /// Why each member is one, aligned with `members`; empty means every one is listed.
    pub why: Vec<Why>,
    /// When memberships end, by index into `members` (ascending): only those that end.
    pub until: Vec<(u32, Until)>,
    /// `members_from:`, as declared.
    pub rules: Vec<Rule>,
    /// `exclude:`: users rules and included groups never add.
    pub exclude: Vec<String>,
    /// `include_groups:`, as declared.
    pub include_groups: Vec<String>,
    pub protect: bool,
    pub origin: Origin,
}

impl DesiredGroup {
    /// Why member `index` is one.
    pub fn why(&self, index: usize) -> Why {
        self.why.get(index).copied().unwrap_or(Why::listed())
    }

    /// When membership `index` ends, if it does.
    pub fn until(&self, index: usize) -> Option<Until> {
        let i = u32::try_from(index).ok()?;
        let at = self.until.binary_search_by_key(&i, |(i, _)| *i).ok()?;
        Some(self.until[at].1)
    }
}

/// The desired users and groups of one tenant, after `tenants:` scoping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredTenant {
    pub users: Vec<DesiredUser>,
    pub groups: Vec<DesiredGroup>,
}

/// What happens to a managed user that is no longer declared (PingFederate's "remove user
/// action").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoveUserAction {
    /// `active: false` (on ZPA this deletes the user; the plan says so).
    #[default]
    Disable,
    /// `DELETE /Users/{id}`.
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differs_from_agrees_with_overlay() {
        let values = [None, Some(""), Some("a"), Some("b")];
        for live in values {
            for want in values {
                let live_attrs = UserAttrs {
                    department: live.filter(|v| !v.is_empty()).map(str::to_owned),
                    ..UserAttrs::default()
                };
                let desired = UserAttrs {
                    department: want.map(str::to_owned),
                    ..UserAttrs::default()
                };
                assert_eq!(
                    live_attrs.differs_from(&desired),
                    live_attrs.overlay(&desired) != live_attrs,
                    "live {live:?}, desired {want:?}"
                );
            }
        }
    }
}
