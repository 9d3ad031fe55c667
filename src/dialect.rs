//! What differs between SCIM services, stated once.
//!
//! The client reads this table to decide how to talk to a tenant; the emulator reads the same
//! table to decide how to behave, so the two cannot drift apart silently. Where the client must
//! tolerate more than the emulator emits (ZPA's string booleans, say), the client's parser
//! accepts both forms whatever the dialect says.
//!
//! Facts come from `docs/zscaler-scim.md`; each entry names its source. Values that no source
//! states are marked "inference" and can be overridden per tenant in the configuration.

use serde::{Deserialize, Serialize};

mod url;

pub use url::{check_base_url_shape, check_transport, UrlRule, UrlVerdict};

/// A SCIM service flavour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Generic SCIM 2.0 (RFC 7643/7644).
    #[default]
    Scim,
    /// Zscaler Internet Access.
    Zia,
    /// Zscaler Private Access.
    Zpa,
}

/// Everything zsc needs to know about a dialect.
#[derive(Debug)]
pub struct DialectSpec {
    pub dialect: Dialect,
    pub name: &'static str,
    /// The largest `count` the server honours on a list request.
    pub max_page_size: usize,
    /// The page size the server uses when the request names no `count`.
    pub default_page_size: usize,
    /// Requests per second the service documents (None: not published, no client pacing unless
    /// configured).
    pub rate_limit_rps: Option<f64>,
    /// Concurrent requests an apply or refresh uses unless `--parallelism` says otherwise.
    pub default_parallelism: usize,
    /// Whether `GET /Groups` includes each group's members (ZPA omits them: one GET per group).
    pub group_list_has_members: bool,
    /// Whether `active: false` deletes the user instead of disabling it (ZPA).
    pub deactivate_deletes: bool,
    /// Whether a group may be created with its members inline.
    pub create_group_with_members: bool,
    /// How many member additions or removals travel in one PATCH request (inference: no source
    /// states a limit; Entra sends batches of this order).
    pub member_patch_batch: usize,
    /// At most this many groups per user (ZIA: 128, zia/understanding-scim).
    pub max_groups_per_user: Option<usize>,
    /// The status a successful group PATCH answers with in the emulator (clients accept 200,
    /// 201 and 204 for every dialect, as the seed connector guide does).
    pub group_patch_status: u16,
    /// The shape of the base URL, for error messages.
    pub url_shape: &'static str,
    /// Whether `active` is sent as the strings "true"/"false" by the server (ZPA). The client
    /// accepts both forms for every dialect.
    pub active_as_string: bool,
    /// What a base URL must look like (hosts and path), checked by `zsc validate`.
    pub url_rule: UrlRule,
    /// The filters the service documents on `/Users`. zsc sends only `userName eq`.
    pub user_filters: &'static [&'static str],
    /// The filters the service documents on `/Groups`. zsc sends only `displayName eq`.
    pub group_filters: &'static [&'static str],
    /// The PATCH operations zsc sends to change a group's members.
    pub member_patch: MemberPatchForms,
    /// The user attributes (YAML names, from [`crate::model::USER_FIELDS`]) the service keeps.
    /// Validation refuses a user declaring an attribute that none of its tenants keeps, and the
    /// desired state of a tenant leaves out what its dialect does not keep (so that it is never
    /// a perpetual diff). userName and `active` are always kept.
    pub user_attributes: &'static [&'static str],
    /// The spelling of the "leave these attributes out" list parameter the service documents
    /// (RFC 7644: `excludedAttributes`). zsc sends it on user listings to leave out users'
    /// read-only `groups` (not on group listings: a list that includes members saves the
    /// per-group reads). The emulator accepts both spellings.
    pub exclude_param: &'static str,
    /// Longest userName or group name the service takes.
    pub max_name_chars: usize,
    /// Whether a user carries `department` at the top level as well as in the enterprise
    /// extension (ZIA's examples do). zsc sends the top-level copy only to such a service: for
    /// any other it is an attribute outside the schemas a request declares (RFC 7643 §4.1 has
    /// no `department`), which a schema-validating server refuses.
    pub department_top_level: bool,
    /// Ids as the service issues them. The client treats every id as an opaque string whatever
    /// this says (and accepts JSON numbers); the emulator issues ids in this style.
    pub id_form: &'static str,
}

/// The member PATCH operations, as JSON templates (`{id}` and `{userName}` are filled in). The
/// client builds exactly these (see `scim::wire::PatchRequest`; a unit test holds them equal).
#[derive(Debug)]
pub struct MemberPatchForms {
    pub add: &'static str,
    pub remove: &'static str,
}

/// The forms of the seed connector guide, for both ZIA and ZPA; RFC 7644 §3.5.2 allows them for
/// any SCIM server.
pub const SEED_MEMBER_PATCH: MemberPatchForms = MemberPatchForms {
    add: r#"{"op":"add","value":{"members":[{"display":"{userName}","value":"{id}"}]}}"#,
    remove: r#"{"op":"remove","path":"members[value eq \"{id}\"]"}"#,
};

/// Every attribute zsc manages.
const ALL_USER_ATTRIBUTES: &[&str] = &[
    "display_name",
    "given_name",
    "family_name",
    "email",
    "department",
    "external_id",
];

pub const SCIM: DialectSpec = DialectSpec {
    dialect: Dialect::Scim,
    name: "scim",
    max_page_size: 1000,
    default_page_size: 100,
    rate_limit_rps: None,
    default_parallelism: 8,
    group_list_has_members: true,
    deactivate_deletes: false,
    create_group_with_members: true,
    member_patch_batch: 500,
    max_groups_per_user: None,
    group_patch_status: 204,
    url_shape: "https://<host>/<path>/scim/v2",
    active_as_string: false,
    url_rule: UrlRule::Any,
    user_filters: &["userName eq"],
    group_filters: &["displayName eq"],
    member_patch: SEED_MEMBER_PATCH,
    user_attributes: ALL_USER_ATTRIBUTES,
    exclude_param: "excludedAttributes",
    max_name_chars: 128,
    department_top_level: false,
    id_form: "opaque strings (UUIDs in the emulator)",
};

pub const ZIA: DialectSpec = DialectSpec {
    dialect: Dialect::Zia,
    name: "zia",
    // zia/understanding-scim: GET /Users returns up to 1,000 entries.
    max_page_size: 1000,
    default_page_size: 100,
    // zia/scim-api-examples and Ranges & Limitations: "SCIM Servers: 5 requests/second".
    rate_limit_rps: Some(5.0),
    default_parallelism: 4,
    group_list_has_members: true,
    deactivate_deletes: false,
    // ZIA's "Create a Group with Members" example.
    create_group_with_members: true,
    member_patch_batch: 500,
    // zia/understanding-scim says 128; other pages say 127. We follow understanding-scim.
    max_groups_per_user: Some(128),
    // zia/scim-api-examples: group PATCH answers 204 No Content.
    group_patch_status: 204,
    url_shape: "https://scim.<cloud>.net/<orgId>/<idpId>/scim",
    active_as_string: false,
    // Seed connector guide (scim.zscaler.net); the other clouds are inference from Zscaler's
    // cloud names: any other `scim.<name>` host is accepted with a warning.
    url_rule: UrlRule::Zia {
        known_hosts: &[
            "scim.zscaler.net",
            "scim.zscalerone.net",
            "scim.zscalertwo.net",
            "scim.zscalerthree.net",
            "scim.zscloud.net",
            "scim.zscalerbeta.net",
            "scim.zscalergov.net",
        ],
    },
    // zia/understanding-scim: no other operators.
    user_filters: &[
        "userName eq",
        "externalId eq",
        "id eq",
        "meta.lastModified gt",
    ],
    group_filters: &["displayName eq", "members.value eq"],
    member_patch: SEED_MEMBER_PATCH,
    // Inference: a ZIA user has a name (displayName), an email that is its userName, and a
    // department (top-level and in the enterprise extension, zia/scim-api-examples); Entra's
    // Zscaler connector maps externalId. No source shows ZIA keeping name.givenName,
    // name.familyName or a separate email.
    user_attributes: &["display_name", "department", "external_id"],
    exclude_param: "excludedAttributes",
    // unified/ranges-limitations: userName and group names at most 128 characters.
    max_name_chars: 128,
    department_top_level: true,
    // The seed examples show numbers in strings ("290277").
    id_form: "numeric strings",
};

pub const ZPA: DialectSpec = DialectSpec {
    dialect: Dialect::Zpa,
    name: "zpa",
    // unified/scim-api-examples-0: default 10 per page, at most 100.
    max_page_size: 100,
    default_page_size: 10,
    // zpa/about-scim-apis: rate limited, limit not published. Inference: stay modest.
    rate_limit_rps: Some(10.0),
    default_parallelism: 4,
    // GET /Groups lists omit members.
    group_list_has_members: false,
    // zpa/about-scim: `active: false` deletes the user.
    deactivate_deletes: true,
    // ZPA's create example echoes the members back.
    create_group_with_members: true,
    member_patch_batch: 500,
    max_groups_per_user: None,
    group_patch_status: 204,
    url_shape: "https://scim1.private.zscaler.com/scim/<userdb>/<idpId>/v2",
    active_as_string: true,
    // Seed connector guide and unified/scim-api-examples-0 (private.zscaler.com); the other
    // clouds from zscaler/zscaler-sdk-go zpa/config_scim.go.
    url_rule: UrlRule::Zpa {
        known_domains: &[
            "private.zscaler.com",
            "zpatwo.net",
            "zpabeta.net",
            "zpagov.net",
            "zpagov.us",
            "zpapreview.net",
        ],
    },
    // Not documented for ZPA; these are the ones every provisioning connector relies on
    // (inference).
    user_filters: &["userName eq"],
    group_filters: &["displayName eq"],
    member_patch: SEED_MEMBER_PATCH,
    // unified/scim-api-examples-0 shows name, emails, displayName and the enterprise extension.
    user_attributes: ALL_USER_ATTRIBUTES,
    // zpa/about-scim-apis spells it this way.
    exclude_param: "excludeAttributes",
    max_name_chars: 128,
    department_top_level: false,
    // unified/scim-api-examples-0: UUIDs now, numeric strings for older objects, mixed in one
    // list.
    id_form: "UUIDs and numeric strings, mixed",
};

impl Dialect {
    pub fn spec(self) -> &'static DialectSpec {
        match self {
            Dialect::Scim => &SCIM,
            Dialect::Zia => &ZIA,
            Dialect::Zpa => &ZPA,
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl DialectSpec {
    /// Whether the dialect keeps the user attribute with this YAML name.
    pub fn stores_attribute(&self, name: &str) -> bool {
        self.user_attributes.contains(&name)
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scim" => Ok(Dialect::Scim),
            "zia" => Ok(Dialect::Zia),
            "zpa" => Ok(Dialect::Zpa),
            other => Err(format!(
                "unknown dialect `{other}` (expected `scim`, `zia` or `zpa`)"
            )),
        }
    }
}
