//! A stored user, kept in its own module so that nothing else in the store can change the
//! resource without refreshing what is rendered from it.

use serde_json::value::RawValue;

use crate::scim::wire::{WireMember, WireUser};

use super::{to_raw, Extras, Key};

/// A stored user: the canonical resource (department only in the enterprise extension, no
/// `groups`), the attributes kept beside it, and the keys of the groups it belongs to.
///
/// It also holds its entry in a group's `members`, `{"value":id,"display":userName}`, rendered
/// whenever the user is written: a listing of 1,000 groups holds 100,000 such entries, and
/// copying them costs a fraction of rendering each from the user's scattered strings. The
/// resource is private to this module, so every write goes through [`UserRec::set_user`].
#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    user: WireUser,
    pub groups: Vec<Key>,
    member: Box<RawValue>,
    /// The attributes the store does not model, when the user has any.
    pub extras: Option<Box<Extras>>,
}

impl UserRec {
    pub(super) fn new(user: WireUser, extras: Option<Box<Extras>>) -> Self {
        let member = to_raw(&member_ref(&user));
        UserRec {
            user,
            groups: Vec::new(),
            member,
            extras,
        }
    }

    pub fn user(&self) -> &WireUser {
        &self.user
    }

    /// Replace the resource, and the member entry rendered from it.
    pub(super) fn set_user(&mut self, user: WireUser) {
        self.member = to_raw(&member_ref(&user));
        self.user = user;
    }

    pub fn id(&self) -> &str {
        self.user.id.as_deref().unwrap_or_default()
    }

    /// This user as a group member, rendered: `{"value":id,"display":userName}`.
    pub fn member(&self) -> &RawValue {
        &self.member
    }

    /// This user as a group member.
    pub fn member_ref(&self) -> WireMember {
        member_ref(&self.user)
    }
}

fn member_ref(user: &WireUser) -> WireMember {
    WireMember {
        value: user.id.clone().unwrap_or_default(),
        display: Some(user.user_name.clone()),
        reference: None,
    }
}
