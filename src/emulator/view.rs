//! How stored users and groups look on the wire in each dialect: `meta.location`, a user's
//! read-only `groups`, ZIA's top-level `department`, ZPA's string booleans and `userType`, and
//! whether group members are included.
//!
//! Read-only over the store; nothing here changes data or decides status codes.

use serde_json::Value;

use crate::scim::wire::{WireGroup, WireMember, GROUP_SCHEMA};

use super::quirks::quirks;
use super::store::{GroupRec, Store, UserRec};

/// Where rendered resources live (the emulator's base URL) and which attributes the request
/// asked for.
pub(crate) struct View<'a> {
    pub base_url: &'a str,
    pub projection: Projection,
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

    /// Whether the top-level attribute `key` is returned.
    pub fn wants(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        if key == "id" || key == "schemas" {
            return true;
        }
        if self.excluded.contains(&key) {
            return false;
        }
        match &self.only {
            None => true,
            Some(only) => only.iter().any(|a| {
                a == &key
                    || a.strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with(':'))
            }),
        }
    }

    fn apply(&self, value: &mut Value) {
        if self.only.is_none() && self.excluded.is_empty() {
            return;
        }
        if let Value::Object(object) = value {
            object.retain(|key, _| self.wants(key));
        }
    }
}

impl View<'_> {
    /// A user as the dialect answers it.
    pub fn user(&self, store: &Store, rec: &UserRec) -> Value {
        let rules = store.rules();
        let mut user = rec.user.clone();
        let id = rec.id().to_owned();
        if let Some(meta) = &mut user.meta {
            meta.location = Some(format!("{}/Users/{id}", self.base_url));
        }
        let groups = if self.projection.wants("groups") {
            rec.groups.as_slice()
        } else {
            &[]
        };
        user.groups = groups
            .iter()
            .filter_map(|key| store.group(*key))
            .map(|group| WireMember {
                value: group.id.clone(),
                display: Some(group.display_name.clone()),
                reference: Some(format!("{}/Groups/{}", self.base_url, group.id)),
            })
            .collect();
        let quirks = quirks(rules.dialect);
        if quirks.department_top_level {
            user.department = user.enterprise.as_ref().and_then(|e| e.department.clone());
        }
        let mut value = serde_json::to_value(&user).unwrap_or(Value::Null);
        if let Value::Object(object) = &mut value {
            if rules.spec.active_as_string {
                if let Some(Value::Bool(active)) = object.get("active") {
                    let text = active.to_string();
                    object.insert("active".to_owned(), Value::String(text));
                }
            }
            if let Some(user_type) = quirks.user_type {
                object.insert("userType".to_owned(), Value::String(user_type.to_owned()));
            }
        }
        self.projection.apply(&mut value);
        value
    }

    /// A group, with its members when `with_members` and the projection wants them.
    pub fn group(&self, store: &Store, rec: &GroupRec, with_members: bool) -> Value {
        let with_members = with_members && self.projection.wants("members");
        let mut meta = rec.meta.clone();
        meta.location = Some(format!("{}/Groups/{}", self.base_url, rec.id));
        let group = WireGroup {
            schemas: vec![GROUP_SCHEMA.to_owned()],
            id: Some(rec.id.clone()),
            display_name: rec.display_name.clone(),
            members: with_members.then(|| store.members_of(rec)),
            external_id: rec.external_id.clone(),
            meta: Some(meta),
        };
        let mut value = serde_json::to_value(&group).unwrap_or(Value::Null);
        self.projection.apply(&mut value);
        value
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
