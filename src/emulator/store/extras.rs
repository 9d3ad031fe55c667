//! Attributes the store does not model, kept as a real server keeps them: a user's `title`,
//! `nickName`, `phoneNumbers`, `addresses`, `name.middleName`, enterprise `employeeNumber` or
//! `manager`, another extension's attributes; a group's extension attributes.
//!
//! They are split off a request body or a data-file entry beside the typed resource, stored as
//! JSON only by the resources that have some (a listing of resources without any pays one
//! `None` check each), and merged back into what is rendered or saved. Nothing here decides
//! whether an attribute is allowed (`strict_schemas` does that before) or what a PATCH may
//! change.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::emulator::schema::{modelled, Modelled, ResourceKind};

/// The unmodelled attributes of one resource, as sent: top-level ones, and under a partly
/// modelled container (`name`, the enterprise extension) the sub-attributes the store does not
/// model. Never empty once stored (see [`Extras::stored`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Extras(Map<String, Value>);

impl Extras {
    /// What the JSON object `text` carries beyond what the store models of `kind`, with its
    /// nulls (which a PUT uses to clear an attribute); `None` when nothing. Modelled attributes
    /// are skipped unread, so a resource without extras costs a quick second pass over its text
    /// (a data file of 100,000 users is read this way).
    pub fn scan(kind: ResourceKind, text: &[u8]) -> Result<Option<Extras>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        let extras = Scan(modelled(kind)).deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok((!extras.is_empty()).then_some(Extras(extras)))
    }

    /// `self` with `newer` laid over it, as a PUT that keeps what it omits applies it: an
    /// attribute `newer` carries replaces the same attribute (compared in any case), a
    /// container's sub-attributes one by one.
    pub fn overlay(mut self, newer: Extras) -> Extras {
        for (key, value) in newer.0 {
            match (find_key(&self.0, &key), value) {
                (Some(old_key), Value::Object(inner)) => {
                    if let Some(Value::Object(old)) = self.0.get_mut(&old_key) {
                        for (sub, v) in inner {
                            remove_key(old, &sub);
                            old.insert(sub, v);
                        }
                    } else {
                        self.0.remove(&old_key);
                        self.0.insert(key, Value::Object(inner));
                    }
                }
                (_, value) => {
                    remove_key(&mut self.0, &key);
                    self.0.insert(key, value);
                }
            }
        }
        self
    }

    /// What to store: without unassigned attributes (null or an empty list, RFC 7643 §2.5),
    /// `None` when nothing is left.
    pub fn stored(mut self) -> Option<Box<Extras>> {
        prune(&mut self.0);
        (!self.0.is_empty()).then(|| Box::new(self))
    }

    /// Forget the top-level attribute `key` (any case), for a PATCH that removes it whole.
    pub fn forget(&mut self, key: &str) {
        remove_key(&mut self.0, key);
    }

    /// Merge into `target`, a rendered resource, the attributes `wants` (given a top-level
    /// name) keeps; what `target` already has wins.
    fn merge_into(&self, target: &mut Map<String, Value>, wants: impl Fn(&str) -> bool) {
        for (key, value) in self.0.iter().filter(|(key, _)| wants(key)) {
            match find_key(target, key) {
                None => {
                    target.insert(key.clone(), value.clone());
                }
                Some(existing) => {
                    if let (Some(Value::Object(into)), Value::Object(inner)) =
                        (target.get_mut(&existing), value)
                    {
                        for (sub, v) in inner {
                            if find_key(into, sub).is_none() {
                                into.insert(sub.clone(), v.clone());
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reads a resource's top-level object, keeping what the store does not model.
struct Scan(&'static Modelled);

impl<'de> DeserializeSeed<'de> for Scan {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Scan {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut extras = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            if let Some(subs) = self.0.sub_attributes(&key) {
                // A container that is not an object is the typed resource's business.
                if let Value::Object(inner) = map.next_value::<Value>()? {
                    let rest: Map<String, Value> = inner
                        .into_iter()
                        .filter(|(sub, _)| !subs.iter().any(|s| s.eq_ignore_ascii_case(sub)))
                        .collect();
                    if !rest.is_empty() {
                        extras.insert(key.into_owned(), Value::Object(rest));
                    }
                }
            } else if self.0.has(&key) {
                map.next_value::<IgnoredAny>()?;
            } else {
                let value = map.next_value::<Value>()?;
                extras.insert(key.into_owned(), value);
            }
        }
        Ok(extras)
    }
}

/// An object key, borrowed from the text unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attribute name")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A resource to serialise: as it is, or, when it has extras, as JSON with them merged in.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum WithExtras<T> {
    Plain(T),
    Merged(Value),
}

impl<T: Serialize> WithExtras<T> {
    /// `resource` with those `extras` that `wants` (given a top-level name) keeps.
    pub fn new(resource: T, extras: Option<&Extras>, wants: impl Fn(&str) -> bool) -> Self {
        let Some(extras) = extras else {
            return WithExtras::Plain(resource);
        };
        match serde_json::to_value(&resource) {
            Ok(Value::Object(mut map)) => {
                extras.merge_into(&mut map, wants);
                WithExtras::Merged(Value::Object(map))
            }
            // Resources render as objects; anything else goes out as it is.
            _ => WithExtras::Plain(resource),
        }
    }
}

/// The key of `map` equal to `key` in any case.
fn find_key(map: &Map<String, Value>, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Remove the key of `map` equal to `key` in any case, if there is one.
fn remove_key(map: &mut Map<String, Value>, key: &str) {
    if let Some(key) = find_key(map, key) {
        map.remove(&key);
    }
}

/// Drop null and empty-list attributes, and containers left empty.
fn prune(map: &mut Map<String, Value>) {
    map.retain(|_, value| {
        if let Value::Object(inner) = value {
            prune(inner);
            return !inner.is_empty();
        }
        !is_unassigned(value)
    });
}

fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn scan(kind: ResourceKind, value: Value) -> Option<Extras> {
        Extras::scan(kind, value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn only_what_the_store_does_not_model_is_split_off() {
        let body = json!({
            "schemas": ["x"], "userName": "a", "Title": "Boss", "nickName": null,
            "name": {"givenName": "A", "middleName": "Q"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "D", "employeeNumber": "7"},
            "urn:example:custom": {"x": 1}
        });
        let extras = scan(ResourceKind::User, body).unwrap();
        assert_eq!(
            Value::Object(extras.0.clone()),
            json!({"Title": "Boss", "nickName": null, "name": {"middleName": "Q"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"},
                "urn:example:custom": {"x": 1}})
        );
        let stored = extras.stored().unwrap();
        assert!(!stored.0.contains_key("nickName"));
        assert!(scan(ResourceKind::User, json!({"userName": "a", "name": null})).is_none());
        let group = json!({"displayName": "G", "members": [], "urn:x:g": {"a": 1}});
        assert_eq!(scan(ResourceKind::Group, group).unwrap().0.len(), 1);
        let escaped = Extras::scan(ResourceKind::User, br#"{"ti\u0074le": "T"}"#).unwrap();
        assert_eq!(escaped.unwrap().0["title"], "T");
        assert!(Extras::scan(ResourceKind::User, b"[1]").is_err());
        assert!(Extras::scan(ResourceKind::User, b"{} x").is_err());
    }

    #[test]
    fn overlay_replaces_what_it_carries_and_keeps_the_rest() {
        let old = Extras(object(
            json!({"title": "A", "nickName": "n", "name": {"middleName": "Q", "honorificPrefix": "Dr"}}),
        ));
        let new = Extras(object(
            json!({"Title": "B", "nickName": null, "name": {"middleName": "R"}}),
        ));
        let merged = old.overlay(new).stored().unwrap();
        assert_eq!(
            Value::Object(merged.0),
            json!({"Title": "B", "name": {"middleName": "R", "honorificPrefix": "Dr"}})
        );
    }

    #[test]
    fn merged_output_keeps_the_resource_and_adds_the_rest() {
        let extras = Extras(object(
            json!({"title": "T", "name": {"middleName": "Q", "givenName": "ignored"}, "userName": "x"}),
        ));
        let rendered = WithExtras::new(
            json!({"userName": "a", "name": {"givenName": "A"}}),
            Some(&extras),
            |key| key != "title",
        );
        assert_eq!(
            serde_json::to_value(rendered).unwrap(),
            json!({"userName": "a", "name": {"givenName": "A", "middleName": "Q"}})
        );
    }
}
