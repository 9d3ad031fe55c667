//! The vocabulary of a history: what a step can be, and the proptest strategies that draw them.
//!
//! Every step is valid in any context: it names users, groups and live objects by small indexes
//! into fixed universes, and a step that does not apply where it lands (removing a user the YAML
//! does not declare, deleting the third live group of a tenant that has two) is a no-op. So a
//! `Vec<Step>` shrinks by dropping and simplifying steps without ever becoming invalid.

use std::fmt;

use proptest::prelude::*;

/// The userNames the YAML may declare.
pub const USERS: [&str; 4] = [
    "ann@example.com",
    "bob@example.com",
    "cat@example.com",
    "dan@example.com",
];

/// The group names the YAML may declare.
pub const GROUPS: [&str; 3] = ["Ops", "Dev", "Sales"];

/// The userNames an admin may give users on the server: the declared ones, a case variant
/// (the same user to a SCIM server) and one nobody declares.
pub const SERVER_USERS: [&str; 6] = [
    "ann@example.com",
    "bob@example.com",
    "cat@example.com",
    "dan@example.com",
    "ANN@example.com",
    "zed@example.com",
];

/// The group names an admin may give groups on the server (as for [`SERVER_USERS`]).
pub const SERVER_GROUPS: [&str; 5] = ["Ops", "Dev", "Sales", "OPS", "Other"];

/// The user attributes zsc manages, by their YAML names.
pub const ATTRS: [&str; 6] = [
    "display_name",
    "given_name",
    "family_name",
    "email",
    "department",
    "external_id",
];

/// The tenants' names, in the order of their emulators.
pub const TENANTS: [&str; 2] = ["a", "b"];

/// A behaviour of the emulator, on for a whole history.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    None,
    /// `strict_schemas`: attributes outside the declared schemas are refused.
    StrictSchemas,
    /// `no_patch` with `put_clears_omitted`: every update is a PUT that clears what it omits.
    NoPatch,
    /// `duplicate_group_names`: a second group with an existing name is accepted.
    DuplicateGroupNames,
    /// `omit_from_lists` every 3rd object (lookups still find it).
    ShortListings,
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Switch::None => "None",
            Switch::StrictSchemas => "StrictSchemas",
            Switch::NoPatch => "NoPatch",
            Switch::DuplicateGroupNames => "DuplicateGroupNames",
            Switch::ShortListings => "ShortListings",
        };
        write!(f, "Switch::{name}")
    }
}

/// A user or a group of the YAML universe, by index into [`USERS`] or [`GROUPS`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    User(u8),
    Group(u8),
}

impl fmt::Debug for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obj::User(i) => write!(f, "Obj::User({i})"),
            Obj::Group(i) => write!(f, "Obj::Group({i})"),
        }
    }
}

/// One thing that happens in a history. Indexes are taken modulo the size of what they index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    // ---- edits of the YAML
    /// Declare a user (no-op if declared).
    AddUser {
        user: u8,
    },
    RemoveUser {
        user: u8,
    },
    /// Declare `from` as `to` from now on, keeping its attributes and memberships; with
    /// `renamed_from` the YAML says so (no-op unless `from` is declared and `to` is not).
    RenameUser {
        from: u8,
        to: u8,
        renamed_from: bool,
    },
    /// Set attribute `attr` of a declared user: `None` leaves it out, `Some(0)` clears it
    /// (`""`), `Some(k)` declares value k.
    SetAttr {
        user: u8,
        attr: u8,
        value: Option<u8>,
    },
    /// `active:` of a declared user (`None`: left out, true by default).
    SetActive {
        user: u8,
        active: Option<bool>,
    },
    AddGroup {
        group: u8,
    },
    RemoveGroup {
        group: u8,
    },
    RenameGroup {
        from: u8,
        to: u8,
        renamed_from: bool,
    },
    SetMember {
        group: u8,
        user: u8,
        member: bool,
    },
    /// `tenants:` of a declared object: 0 every tenant, 1 only `a`, 2 only `b` (with one
    /// tenant, always every tenant).
    Scope {
        obj: Obj,
        scope: u8,
    },
    Protect {
        obj: Obj,
        protect: bool,
    },
    RemoveUserAction {
        delete: bool,
    },
    /// `max_destroy` and `max_destroy_percent`.
    Limits {
        max_destroy: u8,
        percent: u8,
    },

    // ---- changes an admin makes on a server, outside zsc
    /// Create a user named [`SERVER_USERS`]`[name]` (a 409 for a taken name is a no-op).
    ServerCreateUser {
        tenant: u8,
        name: u8,
    },
    /// Create a group named [`SERVER_GROUPS`]`[name]`, with the `member`-th live user.
    ServerCreateGroup {
        tenant: u8,
        name: u8,
        member: Option<u8>,
    },
    /// Rename the `victim`-th live user (in name order) to [`SERVER_USERS`]`[to]`.
    ServerRenameUser {
        tenant: u8,
        victim: u8,
        to: u8,
    },
    ServerRenameGroup {
        tenant: u8,
        victim: u8,
        to: u8,
    },
    ServerDeleteUser {
        tenant: u8,
        victim: u8,
    },
    ServerDeleteGroup {
        tenant: u8,
        victim: u8,
    },
    /// Set attribute `attr` of the `victim`-th live user (the six managed ones, then `title`,
    /// which zsc never manages) to server value `value`, or remove it (`value` 0).
    ServerEditUser {
        tenant: u8,
        victim: u8,
        attr: u8,
        value: u8,
    },
    ServerDeactivate {
        tenant: u8,
        victim: u8,
    },
    ServerAddMember {
        tenant: u8,
        group: u8,
        user: u8,
    },
    ServerRemoveMember {
        tenant: u8,
        group: u8,
        member: u8,
    },

    // ---- zsc commands
    Plan,
    /// `zsc plan -o saved.json`, for a later [`Step::ApplySaved`].
    PlanSaved,
    PlanNoRefresh,
    /// `zsc plan --refresh=changed` beside a full `zsc plan`: the targeted plan may miss drift
    /// on what it did not read, but every change it makes must be one the full plan makes.
    PlanTargeted,
    Apply,
    /// `zsc apply saved.json` (no-op without one).
    ApplySaved,
    /// `zsc apply --auto-approve --target ADDR` on a declared object (no-op if none).
    ApplyTarget {
        obj: Obj,
        tenant: u8,
    },
    /// Delete `.zsc/` (state, backup and journal).
    LoseState,
    /// `zsc apply --auto-approve`, SIGKILLed after `after_ms` milliseconds.
    KilledApply {
        after_ms: u8,
    },
}

/// A whole history: the emulator's behaviour, how many tenants, and the steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    pub switch: Switch,
    pub two_tenants: bool,
    /// Write memberships as users' `groups:` instead of groups' `members:`.
    pub memberships_on_users: bool,
    pub steps: Vec<Step>,
}

fn obj() -> impl Strategy<Value = Obj> {
    prop_oneof![(0..4u8).prop_map(Obj::User), (0..3u8).prop_map(Obj::Group)]
}

fn yaml_edit() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..4u8).prop_map(|user| Step::AddUser { user }),
        2 => (0..4u8).prop_map(|user| Step::RemoveUser { user }),
        2 => (0..4u8, 0..4u8, any::<bool>())
            .prop_map(|(from, to, renamed_from)| Step::RenameUser { from, to, renamed_from }),
        4 => (0..4u8, 0..6u8, proptest::option::of(0..3u8))
            .prop_map(|(user, attr, value)| Step::SetAttr { user, attr, value }),
        1 => (0..4u8, proptest::option::of(any::<bool>()))
            .prop_map(|(user, active)| Step::SetActive { user, active }),
        4 => (0..3u8).prop_map(|group| Step::AddGroup { group }),
        1 => (0..3u8).prop_map(|group| Step::RemoveGroup { group }),
        2 => (0..3u8, 0..3u8, any::<bool>())
            .prop_map(|(from, to, renamed_from)| Step::RenameGroup { from, to, renamed_from }),
        5 => (0..3u8, 0..4u8, prop::bool::weighted(0.7))
            .prop_map(|(group, user, member)| Step::SetMember { group, user, member }),
        1 => (obj(), 0..3u8).prop_map(|(obj, scope)| Step::Scope { obj, scope }),
        1 => (obj(), any::<bool>()).prop_map(|(obj, protect)| Step::Protect { obj, protect }),
        1 => any::<bool>().prop_map(|delete| Step::RemoveUserAction { delete }),
        1 => (0..4u8, 0..3u8).prop_map(|(max_destroy, percent)| Step::Limits { max_destroy, percent }),
    ]
}

fn server_change() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..2u8, 0..6u8).prop_map(|(tenant, name)| Step::ServerCreateUser { tenant, name }),
        3 => (0..2u8, 0..5u8, proptest::option::of(0..6u8))
            .prop_map(|(tenant, name, member)| Step::ServerCreateGroup { tenant, name, member }),
        2 => (0..2u8, 0..6u8, 0..6u8)
            .prop_map(|(tenant, victim, to)| Step::ServerRenameUser { tenant, victim, to }),
        2 => (0..2u8, 0..6u8, 0..5u8)
            .prop_map(|(tenant, victim, to)| Step::ServerRenameGroup { tenant, victim, to }),
        2 => (0..2u8, 0..6u8).prop_map(|(tenant, victim)| Step::ServerDeleteUser { tenant, victim }),
        2 => (0..2u8, 0..6u8).prop_map(|(tenant, victim)| Step::ServerDeleteGroup { tenant, victim }),
        3 => (0..2u8, 0..6u8, 0..7u8, 0..3u8).prop_map(|(tenant, victim, attr, value)| {
            Step::ServerEditUser { tenant, victim, attr, value }
        }),
        1 => (0..2u8, 0..6u8).prop_map(|(tenant, victim)| Step::ServerDeactivate { tenant, victim }),
        2 => (0..2u8, 0..6u8, 0..6u8)
            .prop_map(|(tenant, group, user)| Step::ServerAddMember { tenant, group, user }),
        2 => (0..2u8, 0..6u8, 0..6u8)
            .prop_map(|(tenant, group, member)| Step::ServerRemoveMember { tenant, group, member }),
    ]
}

fn command() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Plan),
        2 => Just(Step::PlanSaved),
        1 => Just(Step::PlanNoRefresh),
        2 => Just(Step::PlanTargeted),
        8 => Just(Step::Apply),
        3 => Just(Step::ApplySaved),
        2 => (obj(), 0..2u8).prop_map(|(obj, tenant)| Step::ApplyTarget { obj, tenant }),
        1 => Just(Step::LoseState),
        1 => any::<u8>().prop_map(|after_ms| Step::KilledApply { after_ms }),
    ]
}

pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => yaml_edit(),
        6 => server_change(),
        6 => command(),
    ]
}

fn switch() -> impl Strategy<Value = Switch> {
    prop_oneof![
        3 => Just(Switch::None),
        1 => Just(Switch::StrictSchemas),
        1 => Just(Switch::NoPatch),
        1 => Just(Switch::DuplicateGroupNames),
        1 => Just(Switch::ShortListings),
    ]
}

/// Histories of 1 to `max_steps` steps.
pub fn history(max_steps: usize) -> impl Strategy<Value = History> {
    (
        switch(),
        prop::bool::weighted(0.35),
        prop::bool::weighted(0.25),
        prop::collection::vec(step(), 1..=max_steps),
    )
        .prop_map(
            |(switch, two_tenants, memberships_on_users, steps)| History {
                switch,
                two_tenants,
                memberships_on_users,
                steps,
            },
        )
}
