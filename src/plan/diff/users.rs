//! User changes: create, adopt, update, rename, disable or delete.

use foldhash::{HashMap, HashMapExt};

use crate::model::{folded, needs_rename, DesiredUser, LiveUser, RemoveUserAction};
use crate::state::ManagedUser;

use super::super::change::{user_address, Action, Values};
use super::super::Conflict;
use super::index::LiveIndex;
use super::matching::{Match, Matcher, Records, Resolved};
use super::{rename_note, user_drift, TenantDiff, TenantInput};

impl TenantDiff<'_> {
    /// User changes. Returns, for every desired user by name key, where it stands.
    pub(super) fn users(
        &mut self,
        input: &TenantInput<'_>,
        ix: &LiveIndex<'_>,
    ) -> HashMap<String, Resolved> {
        let matcher = Matcher {
            tenant: self.tenant,
            objects: &input.live.users,
            names: &ix.user_names,
            by_id: &ix.users_by_id,
            held: &ix.held_user_ids,
            address: user_address,
        };
        let deactivate_deletes = input.dialect.spec().deactivate_deletes;
        let first_change = self.changes.len();
        let mut resolved = HashMap::with_capacity(input.desired.users.len());
        let mut records = Records::new(
            &input.managed.users,
            input.desired.users.iter().map(|u| u.user_name.as_str()),
        );
        for want in &input.desired.users {
            let record = records.claim(&want.user_name, want.renamed_from.as_deref());
            let found = matcher.find(
                &want.user_name,
                want.renamed_from.as_deref(),
                record,
                &self.claimed_users,
                &mut self.conflicts,
            );
            let state = match found {
                Match::Conflict => Resolved::Unresolved,
                Match::Create { note } => {
                    if want.active || !deactivate_deletes {
                        self.create_user(want, note);
                        Resolved::Created
                    } else {
                        Resolved::Absent
                    }
                }
                Match::Managed { record, key, at } => {
                    self.claimed_users[at as usize] = true;
                    self.keep_user(input, &matcher, want, Some((key, record)), at, None)
                }
                Match::Adopted { at, note } => {
                    self.claimed_users[at as usize] = true;
                    self.keep_user(input, &matcher, want, None, at, note)
                }
            };
            resolved.insert(folded(&want.user_name).into_owned(), state);
        }

        for record in records.unclaimed() {
            let Some(&at) = ix.users_by_id.get(record.id.as_str()) else {
                continue; // gone live: the fold drops it from state
            };
            if std::mem::replace(&mut self.claimed_users[at as usize], true) {
                continue; // another record or a desired user holds it already
            }
            self.remove_user(input, record, ix.user(at));
        }
        self.link_creates_after_released_user_names(first_change);
        resolved
    }

    /// A create that takes a userName another user gives up (renamed back after a rename
    /// outside zsc, or deleted) waits for it: sent first, it would meet that user (409) and
    /// adopt it a second time, or fail.
    pub(super) fn link_creates_after_released_user_names(&mut self, first_change: usize) {
        let mut released: HashMap<String, String> = HashMap::new();
        for change in &self.changes[first_change..] {
            let Some(before) = change.before.as_ref().and_then(|b| b.user_name.as_deref()) else {
                continue;
            };
            let after = change.after.as_ref().and_then(|a| a.user_name.as_deref());
            let gives_up = match change.action {
                Action::Delete => true,
                Action::Rename => after.is_some_and(|a| folded(a) != folded(before)),
                _ => false,
            };
            if gives_up {
                released.insert(folded(before).into_owned(), change.address.clone());
            }
        }
        for change in &mut self.changes[first_change..] {
            if change.action == Action::Create {
                if let Some(freeing) = released.get(folded(&change.name).as_ref()) {
                    change.depends_on.push(freeing.clone());
                }
            }
        }
    }

    pub(super) fn create_user(&mut self, want: &DesiredUser, note: Option<String>) {
        let mut change = self.user_change(Action::Create, &want.user_name);
        change.after = Some(Values {
            user_name: Some(want.user_name.clone()),
            active: Some(want.active),
            attrs: want.attrs.clone(),
            protect: Some(want.protect),
            ..Values::default()
        });
        change.note = note;
        let idx = self.push(change);
        self.user_changes
            .insert(folded(&want.user_name).into_owned(), idx);
    }

    /// A desired user that exists live at `at`: managed (with its state record) or adopted.
    pub(super) fn keep_user(
        &mut self,
        input: &TenantInput<'_>,
        matcher: &Matcher<'_, '_, LiveUser>,
        want: &DesiredUser,
        record: Option<(&str, &ManagedUser)>,
        at: u32,
        note: Option<String>,
    ) -> Resolved {
        let live = &input.live.users[at as usize];
        let managed = record.map(|(_, r)| r);
        let before = Values {
            user_name: Some(live.user_name.clone()),
            active: Some(live.active),
            attrs: live.attrs.clone(),
            protect: managed.map(|m| m.protect),
            ..Values::default()
        };
        if !want.active && input.dialect.spec().deactivate_deletes {
            // ZPA deletes a user set `active: false`: plan the delete it is, counted by the
            // guards, and do not re-create it afterwards.
            let mut change = self.user_change(Action::Delete, &want.user_name);
            change.id = Some(live.id.clone());
            change.managed_as = managed.map(|m| m.user_name.clone());
            change.before = Some(before);
            change.note = Some(format!(
                "`active: false` on {} deletes the user",
                input.dialect.name().to_uppercase()
            ));
            let idx = self.push(change);
            self.user_changes
                .insert(folded(&want.user_name).into_owned(), idx);
            return Resolved::Absent;
        }

        let mut notes: Vec<String> = note.into_iter().collect();
        let renames = needs_rename(
            &live.user_name,
            &want.user_name,
            managed.map(|m| m.user_name.as_str()),
        );
        if renames {
            if let Some(blocked) = matcher.rename_blocked(at, &want.user_name, Some(&live.id)) {
                self.conflicts.push(Conflict::new(
                    self.tenant,
                    &user_address(self.tenant, &want.user_name),
                    blocked,
                ));
                return Resolved::Unresolved;
            }
            notes.extend(rename_note(
                &live.user_name,
                &want.user_name,
                managed.map(|m| m.user_name.as_str()),
                want.renamed_from.as_deref(),
            ));
        }
        let attrs_differ = live.attrs.differs_from(&want.attrs) || live.active != want.active;
        let protect_differs = managed.is_some_and(|m| m.protect != want.protect);
        // Recorded under another spelling than the declared one (a case-only difference that
        // is not a rename): the record follows the configuration.
        let record_moves = managed.is_some_and(|m| m.user_name != want.user_name);
        let action = match (managed, renames) {
            (None, _) => Action::Adopt,
            (Some(_), true) => Action::Rename,
            (Some(_), false) if attrs_differ || protect_differs || record_moves => Action::Update,
            (Some(_), false) => return Resolved::Live(at),
        };
        let after = Values {
            user_name: Some(if renames {
                want.user_name.clone()
            } else {
                live.user_name.clone()
            }),
            active: Some(want.active),
            attrs: live.attrs.overlay(&want.attrs),
            protect: Some(want.protect),
            ..Values::default()
        };
        let mut change = self.user_change(action, &want.user_name);
        change.id = Some(live.id.clone());
        change.managed_as = managed.map(|m| m.user_name.clone());
        change.drift = managed.map_or_else(Vec::new, |m| user_drift(m, live, &after));
        change.before = Some(before);
        change.after = Some(after);
        change.note = (!notes.is_empty()).then(|| notes.join("; "));
        self.push(change);
        Resolved::Live(at)
    }

    /// Deprovision a managed user that is no longer desired, by its id.
    pub(super) fn remove_user(
        &mut self,
        input: &TenantInput<'_>,
        record: &ManagedUser,
        live: &LiveUser,
    ) {
        let deletes_on_deactivate = input.dialect.spec().deactivate_deletes;
        let mut notes = Vec::new();
        let action = match input.remove_user_action {
            RemoveUserAction::Delete => Action::Delete,
            RemoveUserAction::Disable if deletes_on_deactivate => {
                notes.push(format!(
                    "remove_user_action is `disable`, but on {} `active: false` deletes the user",
                    input.dialect.name().to_uppercase()
                ));
                Action::Delete
            }
            RemoveUserAction::Disable if live.active => Action::Disable,
            RemoveUserAction::Disable => return, // already disabled
        };
        if live.user_name != record.user_name {
            notes.push(format!(
                "renamed outside zsc to `{}`; zsc acts on id `{}`",
                live.user_name, live.id
            ));
        }
        let before = Values {
            user_name: Some(live.user_name.clone()),
            active: Some(live.active),
            attrs: live.attrs.clone(),
            protect: Some(record.protect),
            ..Values::default()
        };
        let mut change = self.user_change(action, &record.user_name);
        change.id = Some(live.id.clone());
        change.managed_as = Some(record.user_name.clone());
        change.after = (action == Action::Disable).then(|| Values {
            active: Some(false),
            ..before.clone()
        });
        change.before = Some(before);
        change.note = (!notes.is_empty()).then(|| notes.join("; "));
        let idx = self.push(change);
        self.user_changes
            .insert(folded(&record.user_name).into_owned(), idx);
    }
}
