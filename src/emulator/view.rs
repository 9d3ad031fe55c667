//! How stored users and groups look on the wire in each dialect: `meta.location`, a user's
//! read-only `groups`, ZIA's top-level `department`, ZPA's string booleans and `userType`,
//! whether group members are included, and the attributes kept without being modelled.
//!
//! Read-only over the store; nothing here changes data or decides status codes.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::scim::wire::{
    WireEmail, WireEnterprise, WireMeta, WireName, ENTERPRISE_SCHEMA, GROUP_SCHEMA,
};

use super::quirks::quirks;
use super::store::{to_raw, GroupRec, Store, UserRec, WithExtras};

/// Where rendered resources live (the emulator's base URL) and which attributes the request
/// asked for.
pub(crate) struct View<'a> {
    pub base_url: &'a str,
    pub projection: Projection,
    /// Rendering a listing page (where ZIA leaves `meta` out).
    pub listing: bool,
}

/// The `attributes` and `excludedAttributes` query parameters (RFC 7644 §3.4.2.5), applied to
/// top-level attributes; `id` and `schemas` are always returned. A sub-attribute in
/// `attributes` (`name.givenName`, `urn:...:User:department`) returns its whole parent.
#[derive(Debug, Default, Clone)]
pub(crate) struct Projection {
    only: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl Projection {
    /// From the parameters' comma-separated values.
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        let list = |value: &str| -> Vec<String> {
            value
                .split(',')
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| !a.is_empty())
                .collect()
        };
        Projection {
            only: attributes.map(list).filter(|l| !l.is_empty()),
            excluded: excluded.map(list).unwrap_or_default(),
        }
    }

    /// Whether the request asked for a projection at all.
    pub fn is_some(&self) -> bool {
        self.only.is_some() || !self.excluded.is_empty()
    }

    /// Whether the top-level attribute `key` is returned. Compared without allocating: a page
    /// of 1,000 users asks this about 12,000 times.
    pub fn wants(&self, key: &str) -> bool {
        if !self.is_some() || key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("schemas")
        {
            return true;
        }
        if self.excluded.iter().any(|e| e.eq_ignore_ascii_case(key)) {
            return false;
        }
        match &self.only {
            None => true,
            // `a` is `key` itself, or one of its sub-attributes (`name.givenName`,
            // `urn:...:User:department`).
            Some(only) => only.iter().any(|a| {
                a.get(..key.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(key))
                    && matches!(a.as_bytes().get(key.len()), None | Some(b'.' | b':'))
            }),
        }
    }
}

impl View<'_> {
    /// A user as the dialect answers it, rendered on its own.
    pub fn render_user(&self, store: &Store, rec: &UserRec) -> Box<RawValue> {
        to_raw(&self.user(store, rec))
    }

    /// A group as [`View::group`] shows it, rendered on its own.
    pub fn render_group(&self, store: &Store, rec: &GroupRec, with_members: bool) -> Box<RawValue> {
        to_raw(&self.group(store, rec, with_members))
    }

    /// A user as the dialect answers it, to serialise while the store is borrowed.
    pub fn user<'a>(&'a self, store: &'a Store, rec: &'a UserRec) -> impl Serialize + 'a {
        let rules = store.rules();
        let quirks = quirks(rules.dialect);
        let user = rec.user();
        let id = rec.id();
        let p = &self.projection;
        let keep = |key: &str| p.wants(key);
        let groups: Vec<RefOut> = if keep("groups") {
            rec.groups
                .iter()
                .filter_map(|key| store.group(*key))
                .map(|group| RefOut {
                    value: &group.id,
                    display: Some(&group.display_name),
                    reference: Some(Location::new(self.base_url, "Groups", &group.id)),
                })
                .collect()
        } else {
            Vec::new()
        };
        let department = user
            .enterprise
            .as_ref()
            .and_then(|e| e.department.as_deref());
        let out = UserOut {
            schemas: &user.schemas,
            id,
            user_name: keep("userName").then_some(user.user_name.as_str()),
            name: user.name.as_ref().filter(|_| keep("name")),
            display_name: user.display_name.as_deref().filter(|_| keep("displayName")),
            emails: if keep("emails") { &user.emails } else { &[] },
            active: user.active.filter(|_| keep("active")).map(|active| {
                if rules.spec.active_as_string {
                    Active::Text(if active { "true" } else { "false" })
                } else {
                    Active::Bool(active)
                }
            }),
            external_id: user.external_id.as_deref().filter(|_| keep("externalId")),
            department: department.filter(|_| quirks.department_top_level && keep("department")),
            enterprise: user.enterprise.as_ref().filter(|_| keep(ENTERPRISE_SCHEMA)),
            groups,
            meta: user
                .meta
                .as_ref()
                .filter(|_| keep("meta") && (quirks.meta_in_listings || !self.listing))
                .map(|meta| MetaOut::new(meta, Location::new(self.base_url, "Users", id))),
            user_type: quirks.user_type.filter(|_| keep("userType")),
        };
        WithExtras::new(out, rec.extras.as_deref(), keep)
    }

    /// A group, with its members when `with_members` and the projection wants them.
    pub fn group<'a>(
        &'a self,
        store: &'a Store,
        rec: &'a GroupRec,
        with_members: bool,
    ) -> impl Serialize + 'a {
        let keep = |key: &str| self.projection.wants(key);
        let members = (with_members && keep("members")).then(|| {
            let known = rec
                .member_keys()
                .into_iter()
                .filter_map(|key| store.user(key))
                .map(|user| MemberOut::Known(user.member()));
            let dangling = rec.dangling.iter().map(|id| {
                MemberOut::Dangling(RefOut {
                    value: id,
                    display: None,
                    reference: None,
                })
            });
            known.chain(dangling).collect()
        });
        let out = GroupOut {
            schemas: [GROUP_SCHEMA],
            id: &rec.id,
            display_name: keep("displayName").then_some(rec.display_name.as_str()),
            members,
            external_id: rec.external_id.as_deref().filter(|_| keep("externalId")),
            meta: keep("meta")
                .then(|| MetaOut::new(&rec.meta, Location::new(self.base_url, "Groups", &rec.id))),
        };
        WithExtras::new(out, rec.extras.as_deref(), keep)
    }
}

// What goes on the wire, borrowed from the store: serialised straight to text, with no
// intermediate `serde_json::Value` (a listing of 1,000 groups of 100 members would otherwise
// build and drop a tree of 100,000 maps). A `None` is an attribute the resource lacks or the
// projection leaves out.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserOut<'a> {
    schemas: &'a [String],
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a WireName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    emails: &'a [WireEmail],
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<Active>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    /// ZIA's copy of the enterprise department at the top level.
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<&'a str>,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    #[serde(skip_serializing_if = "Option::is_none")]
    enterprise: Option<&'a WireEnterprise>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<RefOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<MetaOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_type: Option<&'static str>,
}

/// `active` as a JSON boolean, or as ZPA's string.
#[derive(Serialize)]
#[serde(untagged)]
enum Active {
    Bool(bool),
    Text(&'static str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupOut<'a> {
    schemas: [&'static str; 1],
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<Vec<MemberOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<MetaOut<'a>>,
}

/// A group member: a known user's pre-rendered entry (see `UserRec::member`), or the bare id
/// of a dangling one.
#[derive(Serialize)]
#[serde(untagged)]
enum MemberOut<'a> {
    Known(&'a RawValue),
    Dangling(RefOut<'a>),
}

/// A dangling group member, or one of a user's groups.
#[derive(Serialize)]
struct RefOut<'a> {
    value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none")]
    reference: Option<Location<'a>>,
}

/// `{base}/{resource}/{id}`, written straight into the output.
struct Location<'a> {
    base: &'a str,
    resource: &'static str,
    id: &'a str,
}

impl<'a> Location<'a> {
    fn new(base: &'a str, resource: &'static str, id: &'a str) -> Self {
        Location { base, resource, id }
    }
}

impl Serialize for Location<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}/{}/{}", self.base, self.resource, self.id))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified: Option<&'a str>,
    location: Location<'a>,
}

impl<'a> MetaOut<'a> {
    fn new(meta: &'a WireMeta, location: Location<'a>) -> Self {
        MetaOut {
            resource_type: meta.resource_type.as_deref(),
            created: meta.created.as_deref(),
            last_modified: meta.last_modified.as_deref(),
            location,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Projection;

    #[test]
    fn projection_keeps_what_was_asked() {
        let all = Projection::default();
        assert!(all.wants("members"));
        let no_members = Projection::new(None, Some("Members"));
        assert!(!no_members.wants("members") && no_members.wants("displayName"));
        let some = Projection::new(Some("userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None);
        assert!(
            some.wants("userName")
                && some.wants("name")
                && some.wants("id")
                && some.wants("schemas")
        );
        assert!(some.wants("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert!(!some.wants("groups") && !some.wants("nameX"));
    }
}
