//! The plan's vocabulary: actions, addresses, the values a change shows, and a change itself.
//!
//! A plan is data. Each action's symbol and word are defined here once; colors live in
//! `render`. The serialised form of [`Plan`](super::Plan) is the saved plan file and the JSON
//! view, so every field here is part of a documented, versioned schema.

use serde::{Deserialize, Serialize};

use crate::model::UserAttrs;

/// What a change does. The symbol is Terraform's visual language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a user or group.
    Create,
    /// Start managing an object that already exists live, updating it where it differs.
    Adopt,
    /// Change attributes in place.
    Update,
    /// Give a group a new displayName, keeping its id and members.
    Rename,
    /// Set a user `active: false` (on ZPA this deletes the user).
    Disable,
    /// Delete a user or a group.
    Delete,
    /// Add a user to a group.
    Add,
    /// Remove a user from a group.
    Remove,
}

impl Action {
    /// The one-character symbol shown before the object.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create | Action::Add => "+",
            Action::Adopt | Action::Update | Action::Rename | Action::Disable => "~",
            Action::Delete | Action::Remove => "-",
        }
    }

    /// Whether this change removes access: it counts against the destroy guards.
    pub fn is_destructive(self) -> bool {
        matches!(self, Action::Disable | Action::Delete)
    }
}

/// Which kind of object a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    User,
    Group,
    Membership,
}

/// The values of an object that a change shows before and after. Fields a change does not
/// concern are `None` and left out of JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Values {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// A group's displayName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(flatten)]
    pub attrs: UserAttrs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
    /// A live group's member ids (before an adopt, rename or update), so that state can record
    /// them without reading the group again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// One planned change to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `tenant.user["name"]`, `tenant.group["name"]` or `tenant.membership["group"]["user"]`.
    pub address: String,
    pub tenant: String,
    pub object: ObjectKind,
    pub action: Action,
    /// The user's userName, or the group's displayName after the change.
    pub name: String,
    /// The remote id when the object exists live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For memberships: the member's userName (or its id when no user has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// For memberships: the member's id when it exists live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Values>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Values>,
    /// Addresses of the changes that must succeed before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Why the change looks the way it does, when that is not obvious (e.g. a ZPA disable that
    /// deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The name state records the object under, when zsc manages it already: the record the
    /// apply updates or removes (it differs from `name` for a rename).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_as: Option<String>,
    /// Values this change puts back because they changed on the server since state last
    /// recorded them (outside zsc, or not kept by the server when zsc wrote them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// For memberships: why the member is desired (an addition), or which reasons do not hold
    /// (a removal): listed at file:line, matched by a rule, inherited through a nested group,
    /// until a date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Change {
    /// A change with no values, ids, dependencies or notes yet.
    pub fn new(
        address: String,
        tenant: &str,
        object: ObjectKind,
        action: Action,
        name: &str,
    ) -> Change {
        Change {
            address,
            tenant: tenant.to_owned(),
            object,
            action,
            name: name.to_owned(),
            id: None,
            member: None,
            member_id: None,
            before: None,
            after: None,
            depends_on: Vec::new(),
            note: None,
            managed_as: None,
            drift: Vec::new(),
            reasons: Vec::new(),
        }
    }
}

/// A value that changed on the server since state last recorded it, which the change puts
/// back. For `member`: an add whose member state recorded (`recorded` is its id: removed
/// outside zsc), or a removal of one it did not (`recorded` is `None`: added outside zsc).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// `user_name`, `active`, an attribute's YAML name, a group's `name`, or `member`.
    pub attribute: String,
    /// What state recorded at the last apply or refresh (`None`: no value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// When zsc itself wrote the recorded value, if its last apply of this object did (RFC
    /// 3339): then the server did not keep what zsc wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
}

/// A string as it appears inside an address: quoted, with `"` and `\` escaped, and control and
/// invisible characters written `\u{1b}` (so that an address is always one printable line:
/// a live name carrying ANSI escapes or a newline cannot rewrite a terminal or a CI log).
pub fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
            out.push(c);
        } else if crate::model::is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

pub fn user_address(tenant: &str, user_name: &str) -> String {
    format!("{tenant}.user[{}]", quote(user_name))
}

pub fn group_address(tenant: &str, name: &str) -> String {
    format!("{tenant}.group[{}]", quote(name))
}

pub fn membership_address(tenant: &str, group: &str, member: &str) -> String {
    format!("{tenant}.membership[{}][{}]", quote(group), quote(member))
}

/// A parsed address: what `--target`, `zsc state show` and `zsc state rm` name. Parses exactly
/// what [`user_address`], [`group_address`] and [`membership_address`] write (and a bare tenant
/// name); [`std::fmt::Display`] writes it back the same way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// Every object of a tenant: `zia-prod`.
    Tenant(String),
    /// `zia-prod.user["jsmith@example.com"]`.
    User { tenant: String, user_name: String },
    /// `zia-prod.group["Accounting"]`.
    Group { tenant: String, name: String },
    /// `zia-prod.membership["Accounting"]["jsmith@example.com"]`.
    Membership {
        tenant: String,
        group: String,
        member: String,
    },
}

/// Why an address did not parse. The message names the address and shows the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid address `{input}`: {problem}; expected `TENANT`, `TENANT.user[\"NAME\"]`, \
     `TENANT.group[\"NAME\"]` or `TENANT.membership[\"GROUP\"][\"USER\"]`"
)]
pub struct AddressError {
    pub input: String,
    pub problem: String,
}

impl Address {
    pub fn parse(input: &str) -> Result<Address, AddressError> {
        let fail = |problem: String| AddressError {
            input: input.to_owned(),
            problem,
        };
        let (tenant, rest) = match input.find(['.', '[']) {
            Some(i) => (&input[..i], &input[i..]),
            None => (input, ""),
        };
        if tenant.is_empty() {
            return Err(fail("it has no tenant name".to_owned()));
        }
        if let Some(c) = tenant
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(fail(format!(
                "tenant names hold only a-z, 0-9, `-` and `_`, not `{c}`"
            )));
        }
        let tenant = tenant.to_owned();
        if rest.is_empty() {
            return Ok(Address::Tenant(tenant));
        }
        let Some(rest) = rest.strip_prefix('.') else {
            return Err(fail("the tenant name must be followed by `.`".to_owned()));
        };
        let kind_end = rest.find('[').unwrap_or(rest.len());
        let kind = &rest[..kind_end];
        let mut keys = &rest[kind_end..];
        let mut names = Vec::new();
        while !keys.is_empty() {
            let (name, after) = bracketed(keys).map_err(&fail)?;
            names.push(name);
            keys = after;
        }
        let wanted = match kind {
            "user" | "group" => 1,
            "membership" => 2,
            _ => {
                return Err(fail(format!(
                    "unknown object kind `{kind}` (expected `user`, `group` or `membership`)"
                )))
            }
        };
        if names.len() != wanted {
            return Err(fail(format!(
                "a {kind} address takes {wanted} quoted {}, not {}",
                if wanted == 1 { "name" } else { "names" },
                names.len()
            )));
        }
        let mut names = names.into_iter();
        let mut next = || names.next().unwrap_or_default();
        Ok(match kind {
            "user" => Address::User {
                tenant,
                user_name: next(),
            },
            "group" => Address::Group {
                tenant,
                name: next(),
            },
            _ => Address::Membership {
                tenant,
                group: next(),
                member: next(),
            },
        })
    }

    pub fn tenant(&self) -> &str {
        match self {
            Address::Tenant(t)
            | Address::User { tenant: t, .. }
            | Address::Group { tenant: t, .. }
            | Address::Membership { tenant: t, .. } => t,
        }
    }

    /// Whether this address, given as `--target`, selects `change`: its own object; for a
    /// tenant every change in it; for a group also its membership changes and, for a rename,
    /// its old name; for a user also its membership changes. Names compare case-insensitively,
    /// as identity does.
    pub fn selects(&self, change: &Change) -> bool {
        use crate::model::folded;
        let same = |a: &str, b: &str| folded(a) == folded(b);
        if self.tenant() != change.tenant {
            return false;
        }
        let member = change.member.as_deref().unwrap_or("");
        match (self, change.object) {
            (Address::Tenant(_), _) => true,
            (Address::User { user_name, .. }, ObjectKind::User) => same(user_name, &change.name),
            (Address::User { user_name, .. }, ObjectKind::Membership) => same(user_name, member),
            (Address::Group { name, .. }, ObjectKind::Group | ObjectKind::Membership) => {
                let before = change.before.as_ref().and_then(|b| b.name.as_deref());
                same(name, &change.name)
                    || (change.object == ObjectKind::Group && before.is_some_and(|b| same(name, b)))
            }
            (
                Address::Membership {
                    group, member: m, ..
                },
                ObjectKind::Membership,
            ) => same(group, &change.name) && same(m, member),
            _ => false,
        }
    }
}

impl Address {
    /// Whether this address, as a target, takes in the object `other` names: itself, anything
    /// in its tenant, a user's or a group's memberships.
    pub fn covers(&self, other: &Address) -> bool {
        use crate::model::folded;
        let same = |a: &str, b: &str| folded(a) == folded(b);
        if self.tenant() != other.tenant() {
            return false;
        }
        match (self, other) {
            (Address::Tenant(_), _) => true,
            (Address::User { user_name: a, .. }, Address::User { user_name: b, .. }) => same(a, b),
            (Address::User { user_name: a, .. }, Address::Membership { member: b, .. }) => {
                same(a, b)
            }
            (Address::Group { name: a, .. }, Address::Group { name: b, .. }) => same(a, b),
            (Address::Group { name: a, .. }, Address::Membership { group: b, .. }) => same(a, b),
            (
                Address::Membership {
                    group: g1,
                    member: m1,
                    ..
                },
                Address::Membership {
                    group: g2,
                    member: m2,
                    ..
                },
            ) => same(g1, g2) && same(m1, m2),
            _ => false,
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tenant(t) => f.write_str(t),
            Address::User { tenant, user_name } => f.write_str(&user_address(tenant, user_name)),
            Address::Group { tenant, name } => f.write_str(&group_address(tenant, name)),
            Address::Membership {
                tenant,
                group,
                member,
            } => f.write_str(&membership_address(tenant, group, member)),
        }
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Address, AddressError> {
        Address::parse(s)
    }
}

/// `["name"]rest` → (`name`, `rest`), undoing [`quote`]'s escapes.
fn bracketed(s: &str) -> Result<(String, &str), String> {
    let Some(s) = s.strip_prefix("[\"") else {
        return Err(format!("expected `[\"` at `{s}`"));
    };
    let mut name = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => name.push(e),
                Some((_, 'u')) => name.push(unicode_escape(&mut chars)?),
                Some((_, e)) => {
                    return Err(format!(
                        "unknown escape `\\{e}` (only `\\\"`, `\\\\` and `\\u{{..}}`)"
                    ))
                }
                None => return Err("it ends inside a quoted name".to_owned()),
            },
            '"' => {
                let after = &s[i + 1..];
                let Some(after) = after.strip_prefix(']') else {
                    return Err(format!("expected `]` after the quoted name `{name}`"));
                };
                if name.is_empty() {
                    return Err("a quoted name is empty".to_owned());
                }
                return Ok((name, after));
            }
            c => name.push(c),
        }
    }
    Err("it ends inside a quoted name".to_owned())
}

/// The `{1b}` of a `\u{1b}` escape, as [`quote`] writes it.
fn unicode_escape(chars: &mut std::str::CharIndices<'_>) -> Result<char, String> {
    if chars.next().map(|(_, c)| c) != Some('{') {
        return Err("expected `{` after `\\u`".to_owned());
    }
    let mut hex = String::new();
    for (_, c) in chars.by_ref() {
        if c == '}' {
            return u32::from_str_radix(&hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("`\\u{{{hex}}}` is no character"));
        }
        hex.push(c);
        if hex.len() > 6 {
            break;
        }
    }
    Err("an unfinished `\\u{..}` escape".to_owned())
}

#[cfg(test)]
mod address_tests {
    use super::*;

    #[test]
    fn parses_what_the_builders_write() {
        for name in [
            "jsmith@example.com",
            "Finance \"Ops\"",
            "back\\slash",
            "a.b[c]",
            "ü ñ",
        ] {
            for addr in [
                Address::User {
                    tenant: "zia-prod".into(),
                    user_name: name.into(),
                },
                Address::Group {
                    tenant: "t_1".into(),
                    name: name.into(),
                },
                Address::Membership {
                    tenant: "t".into(),
                    group: name.into(),
                    member: "x@example.com".into(),
                },
                Address::Tenant("zpa-prod".into()),
            ] {
                let text = addr.to_string();
                assert_eq!(Address::parse(&text), Ok(addr), "{text}");
            }
        }
        assert_eq!(
            Address::parse(&user_address("t", "a\"b"))
                .unwrap()
                .to_string(),
            r#"t.user["a\"b"]"#
        );
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        for (input, problem) in [
            ("", "it has no tenant name"),
            (".user[\"a\"]", "it has no tenant name"),
            ("Zia.user[\"a\"]", "not `Z`"),
            ("t.usr[\"a\"]", "unknown object kind `usr`"),
            ("t.user", "takes 1 quoted name, not 0"),
            ("t.user[a]", "expected `[\"` at `[a]`"),
            ("t.user[\"a\"", "expected `]` after the quoted name `a`"),
            ("t.user[\"a", "it ends inside a quoted name"),
            ("t.user[\"a\"][\"b\"]", "takes 1 quoted name, not 2"),
            ("t.membership[\"g\"]", "takes 2 quoted names, not 1"),
            ("t.user[\"\"]", "a quoted name is empty"),
            ("t.user[\"a\\n\"]", "unknown escape `\\n`"),
            ("t[\"a\"]", "must be followed by `.`"),
        ] {
            let err = Address::parse(input).expect_err(input);
            let message = err.to_string();
            assert!(message.contains(problem), "{input}: {message}");
            assert!(
                message.starts_with(&format!("invalid address `{input}`")),
                "{message}"
            );
        }
    }
}
