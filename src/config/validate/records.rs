//! Users and groups: each declaration's fields, and the rules names and attributes follow.

use super::super::check::Ctx;
use super::super::raw::{At, GroupSchema, Node, Record, RecordList, Schema, Spot, UserSchema};
use super::super::MAX_NAME_CHARS;
use super::{access, GroupDecl, Pos, UserDecl, Validator};
use crate::model::UserAttrs;

impl Validator {
    pub(super) fn user(&self, cx: &mut Ctx, record: At<Record<UserSchema>>) -> Option<UserDecl> {
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
        let mut groups = r
            .field("groups")
            .map(|(_, n)| access::entries(cx, "groups", "group", n))
            .unwrap_or_default();
        for entry in &mut groups {
            nfc_in_place(&mut entry.name);
        }
        let until = r.field("until").and_then(|(_, n)| access::until(cx, n));
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
            until,
        })
    }

    pub(super) fn group(&self, cx: &mut Ctx, record: At<Record<GroupSchema>>) -> Option<GroupDecl> {
        let at = record.at;
        let mut r = record.value;
        if !cx.record_shape(at, &r) {
            return None;
        }
        let name = required_name(cx, &mut r, at, "group", "name");
        let renamed_from = optional_name(cx, &mut r, "renamed_from");
        let mut members = r
            .field("members")
            .map(|(_, n)| access::entries(cx, "members", "user", n))
            .unwrap_or_default();
        for entry in &mut members {
            nfc_in_place(&mut entry.name);
        }
        let rules = r
            .field("members_from")
            .map(|(_, n)| access::rules(cx, n, &self.tenant_names))
            .unwrap_or_default();
        let names = |cx: &mut Ctx, key: &str, r: &mut Record<GroupSchema>| -> Vec<At<String>> {
            r.field(key)
                .and_then(|(_, n)| cx.string_list(key, n))
                .unwrap_or_default()
                .into_iter()
                .map(nfc)
                .collect()
        };
        let exclude = names(cx, "exclude", &mut r);
        let include_groups = names(cx, "include_groups", &mut r);
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
            rules,
            exclude,
            include_groups,
        })
    }
}

pub(super) fn list_items<S: Schema>(
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

/// [`nfc`], in place.
fn nfc_in_place(name: &mut At<String>) {
    let value = std::mem::take(&mut name.value);
    name.value = nfc(At { at: name.at, value }).value;
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
