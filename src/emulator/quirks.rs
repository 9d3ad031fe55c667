//! What the emulator must know per dialect beyond the shared table in [`crate::dialect`]: the
//! URL and response shapes Zscaler's documentation shows, which only a server needs to imitate.
//!
//! Everything the client also needs (page caps, ZPA's list without members, `active: false`
//! deleting, the 128-group limit, PATCH status, string booleans) stays in the dialect table and is
//! read from there; nothing here repeats it.

use crate::dialect::Dialect;

/// How new resource ids look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdStyle {
    /// UUID v4 strings.
    Uuid,
    /// Numbers in a string, e.g. "290277".
    Numeric,
    /// Every third id numeric, the rest UUIDs: ZPA lists mix both (unified/scim-api-examples-0).
    Mixed,
}

/// The emulator-only facts about one dialect.
#[derive(Debug)]
pub(crate) struct Quirks {
    /// The path the SCIM endpoints live under (the documented example shapes).
    pub base_path: &'static str,
    pub ids: IdStyle,
    /// ZIA's response example carries `department` top-level as well as in the enterprise
    /// extension (zia/scim-api-examples).
    pub department_top_level: bool,
    /// ZPA's examples answer `itemsPerPage: 10` with `totalResults: 1`: the requested page size,
    /// not the number returned (unified/scim-api-examples-0).
    pub items_per_page_is_page_size: bool,
    /// ZPA's examples carry `userType: "ZPA User"`.
    pub user_type: Option<&'static str>,
    /// Whether user listings carry `meta` (ZIA's documented GET /Users example has none; its
    /// create and PUT answers do).
    pub meta_in_listings: bool,
    /// Which listings take `meta.lastModified gt "<time>"` (users, groups): ZIA documents it
    /// for users only ("Date Created After", zia/understanding-scim); RFC 7644 §3.4.2.2 for
    /// both; ZPA documents no such filter.
    pub last_modified_gt: (bool, bool),
}

pub(crate) fn quirks(dialect: Dialect) -> &'static Quirks {
    match dialect {
        Dialect::Scim => &Quirks {
            base_path: "/scim/v2",
            ids: IdStyle::Uuid,
            department_top_level: false,
            items_per_page_is_page_size: false,
            user_type: None,
            meta_in_listings: true,
            last_modified_gt: (true, true),
        },
        // Seed connector guide: https://scim.zscaler.net/8651360/48097/scim/Users.
        Dialect::Zia => &Quirks {
            base_path: "/8651360/48097/scim",
            ids: IdStyle::Numeric,
            department_top_level: true,
            items_per_page_is_page_size: false,
            user_type: None,
            meta_in_listings: false,
            last_modified_gt: (true, false),
        },
        // Seed connector guide: /scim/1/72058300560048147/v2.
        Dialect::Zpa => &Quirks {
            base_path: "/scim/1/72058300560048147/v2",
            ids: IdStyle::Mixed,
            department_top_level: false,
            items_per_page_is_page_size: true,
            user_type: Some("ZPA User"),
            meta_in_listings: true,
            last_modified_gt: (false, false),
        },
    }
}
