//! Attribute names of the two resource types: the ones RFC 7643 defines (core User §4.1, core
//! Group §4.2, the enterprise User extension §4.3), and the ones the store models as typed
//! fields (everything else a resource carries is kept beside it as JSON, see
//! `store/extras.rs`). All lowercased: attribute names are case-insensitive (RFC 7643 §2.1).
//!
//! Facts only: no request, no store, no decision.

/// Users or Groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    User,
    Group,
}

/// The enterprise User extension's URN, lowercased, as attribute names are compared.
pub(crate) const ENTERPRISE_KEY: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";

/// The core attributes of a resource type, with the common ones (id, externalId, meta) and
/// `schemas`.
pub(crate) fn core_attributes(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::User => &[
            "username",
            "name",
            "displayname",
            "nickname",
            "profileurl",
            "title",
            "usertype",
            "preferredlanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phonenumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509certificates",
            "id",
            "externalid",
            "meta",
            "schemas",
        ],
        ResourceKind::Group => &[
            "displayname",
            "members",
            "id",
            "externalid",
            "meta",
            "schemas",
        ],
    }
}

/// The attributes of the enterprise User extension.
pub(crate) const ENTERPRISE_ATTRIBUTES: &[&str] = &[
    "employeenumber",
    "costcenter",
    "organization",
    "division",
    "department",
    "manager",
];

/// What the store models of a resource type: top-level attributes it keeps as typed fields,
/// and the complex attributes (or extensions) of which it models only some sub-attributes.
pub(crate) struct Modelled {
    pub top: &'static [&'static str],
    /// `(container, modelled sub-attributes)`; the container is in `top` too.
    pub partly: &'static [(&'static str, &'static [&'static str])],
}

impl Modelled {
    /// Whether the store keeps top-level attribute `key` (any case) as a typed field.
    pub fn has(&self, key: &str) -> bool {
        self.top.iter().any(|name| name.eq_ignore_ascii_case(key))
    }

    /// The modelled sub-attributes of `key` (any case), when the store models it only in part.
    pub fn sub_attributes(&self, key: &str) -> Option<&'static [&'static str]> {
        self.partly
            .iter()
            .find(|(container, _)| container.eq_ignore_ascii_case(key))
            .map(|(_, subs)| *subs)
    }
}

/// What the store models (see `crate::scim::wire::WireUser` and the store's `GroupRec`).
pub(crate) fn modelled(kind: ResourceKind) -> &'static Modelled {
    const USER_NAME: &[&str] = &["givenname", "familyname", "formatted"];
    const USER_ENTERPRISE: &[&str] = &["department", "costcenter", "division", "organization"];
    match kind {
        ResourceKind::User => &Modelled {
            top: &[
                "schemas",
                "id",
                "username",
                "name",
                "displayname",
                "emails",
                "active",
                "externalid",
                "department",
                "groups",
                "meta",
                ENTERPRISE_KEY,
            ],
            partly: &[("name", USER_NAME), (ENTERPRISE_KEY, USER_ENTERPRISE)],
        },
        ResourceKind::Group => &Modelled {
            top: &[
                "schemas",
                "id",
                "displayname",
                "members",
                "externalid",
                "meta",
            ],
            partly: &[],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::wire::ENTERPRISE_SCHEMA;

    #[test]
    fn the_enterprise_key_is_the_urn_lowercased() {
        assert_eq!(ENTERPRISE_KEY, ENTERPRISE_SCHEMA.to_ascii_lowercase());
    }

    #[test]
    fn what_the_store_models_is_defined_by_the_rfc() {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            for name in modelled(kind).top {
                assert!(
                    core_attributes(kind).contains(name)
                        || *name == ENTERPRISE_KEY
                        || *name == "department",
                    "{name}"
                );
            }
        }
        let (_, enterprise) = modelled(ResourceKind::User).partly[1];
        assert!(enterprise.iter().all(|a| ENTERPRISE_ATTRIBUTES.contains(a)));
    }
}
