//! Group changes and the membership changes that make each group hold exactly its members.

use foldhash::{HashMap, HashMapExt, HashSet};

use crate::model::{folded, needs_rename, DesiredGroup};
use crate::state::ManagedGroup;

use super::super::change::{
    group_address, user_address, Action, Change, Drift, ObjectKind, Values,
};
use super::super::{Conflict, MemberLoss};
use super::index::{LiveIndex, NO_USER};
use super::matching::{Match, Matcher, Records, Resolved};
use super::{membership, rename_note, TenantDiff, TenantInput};

impl TenantDiff<'_> {
    /// Group changes and membership changes.
    pub(super) fn groups(
        &mut self,
        input: &TenantInput<'_>,
        ix: &LiveIndex<'_>,
        resolved: &HashMap<String, Resolved>,
    ) {
        let t = self.tenant;
        let matcher = Matcher {
            tenant: t,
            objects: &input.live.groups,
            names: &ix.group_names,
            by_id: &ix.groups_by_id,
            held: &ix.held_group_ids,
            address: group_address,
        };
        let mut records = Records::new(
            &input.managed.groups,
            input.desired.groups.iter().map(|g| g.name.as_str()),
        );
        // Names a rename or delete frees, and the change that frees them.
        let mut released: HashMap<String, String> = HashMap::new();
        let mut creates: Vec<(String, usize)> = Vec::new();

        // Every desired member resolved up front, on every core.
        let wanted = crate::par::map(&input.desired.groups, 64, |g| {
            g.members
                .iter()
                .map(|m| {
                    resolved
                        .get(folded(m).as_ref())
                        .copied()
                        .unwrap_or(Resolved::Unresolved)
                })
                .collect::<Vec<Resolved>>()
        });
        for (g, want) in input.desired.groups.iter().enumerate() {
            let record = records.claim(&want.name, want.renamed_from.as_deref());
            let found = matcher.find(
                &want.name,
                want.renamed_from.as_deref(),
                record,
                &self.claimed_groups,
                &mut self.conflicts,
            );
            let (at, managed, note) = match found {
                Match::Conflict => continue,
                Match::Create { note } => {
                    let idx = self.create_group(ix, want, &wanted[g], note);
                    creates.push((folded(&want.name).into_owned(), idx));
                    continue;
                }
                Match::Managed { record, at, .. } => (at, Some(record), None),
                Match::Adopted { at, note } => (at, None, note),
            };
            self.claimed_groups[at as usize] = true;
            let live = ix.group(at);
            let address = group_address(t, &want.name);
            let renames = needs_rename(&live.name, &want.name, managed.map(|m| m.name.as_str()));
            let mut notes: Vec<String> = note.into_iter().collect();
            if renames {
                if let Some(blocked) = matcher.rename_blocked(at, &want.name, Some(&live.id)) {
                    self.conflicts.push(Conflict::new(t, &address, blocked));
                    continue;
                }
                released.insert(folded(&live.name).into_owned(), address.clone());
                notes.extend(rename_note(
                    &live.name,
                    &want.name,
                    managed.map(|m| m.name.as_str()),
                    want.renamed_from.as_deref(),
                ));
            }
            let managed_protect = managed.map(|m| m.protect);
            let group_change = match (managed, renames) {
                (None, _) => Some(Action::Adopt),
                (Some(_), true) => Some(Action::Rename),
                (Some(m), false) if m.protect != want.protect || m.name != want.name => {
                    Some(Action::Update)
                }
                _ => None,
            };
            if let Some(action) = group_change {
                let mut change =
                    Change::new(address.clone(), t, ObjectKind::Group, action, &want.name);
                change.id = Some(live.id.clone());
                change.managed_as = managed.map(|m| m.name.clone());
                change.before = Some(Values {
                    name: Some(live.name.clone()),
                    protect: managed_protect,
                    members: Some(live.members.clone()),
                    ..Values::default()
                });
                change.after = Some(Values {
                    name: Some(if renames {
                        want.name.clone()
                    } else {
                        live.name.clone()
                    }),
                    protect: Some(want.protect),
                    ..Values::default()
                });
                if let Some(m) = managed.filter(|m| renames && m.name != live.name) {
                    change
                        .drift
                        .push(Drift::of("name", Some(&m.name), m.wrote.as_ref()));
                }
                change.note = (!notes.is_empty()).then(|| notes.join("; "));
                self.push(change);
            }
            let first = self.changes.len();
            self.members(ix, want, &wanted[g], at, managed);
            if group_change.is_some() {
                // Membership ops in state land under the group's new key: after the group's.
                for change in &mut self.changes[first..] {
                    change.depends_on.push(address.clone());
                }
            }
        }

        for record in records.unclaimed() {
            let Some(&at) = ix.groups_by_id.get(record.id.as_str()) else {
                continue; // gone live: the fold drops it from state
            };
            if std::mem::replace(&mut self.claimed_groups[at as usize], true) {
                continue; // another record or a desired group holds it already
            }
            let live = ix.group(at);
            let address = group_address(t, &record.name);
            released.insert(folded(&live.name).into_owned(), address.clone());
            let mut notes = vec!["group deletion is permanent".to_owned()];
            if live.name != record.name {
                notes.push(format!(
                    "renamed outside zsc to `{}`; zsc acts on id `{}`",
                    live.name, live.id
                ));
            }
            let mut change =
                Change::new(address, t, ObjectKind::Group, Action::Delete, &record.name);
            change.id = Some(live.id.clone());
            change.managed_as = Some(record.name.clone());
            change.before = Some(Values {
                name: Some(live.name.clone()),
                protect: Some(record.protect),
                ..Values::default()
            });
            change.note = Some(notes.join("; "));
            self.push(change);
        }

        // A create that takes a name another group gives up waits for it.
        for (key, idx) in creates {
            if let Some(freeing) = released.get(&key) {
                self.changes[idx].depends_on.push(freeing.clone());
            }
        }
    }

    pub(super) fn create_group(
        &mut self,
        ix: &LiveIndex<'_>,
        want: &DesiredGroup,
        wanted: &[Resolved],
        note: Option<String>,
    ) -> usize {
        let t = self.tenant;
        let address = group_address(t, &want.name);
        let mut change = Change::new(
            address.clone(),
            t,
            ObjectKind::Group,
            Action::Create,
            &want.name,
        );
        change.after = Some(Values {
            name: Some(want.name.clone()),
            protect: Some(want.protect),
            ..Values::default()
        });
        change.note = note;
        let idx = self.push(change);
        for (member, state) in want.members.iter().zip(wanted) {
            let (member_id, depends_on) = match *state {
                Resolved::Live(i) => (Some(ix.user(i).id.clone()), vec![address.clone()]),
                Resolved::Created => (None, vec![address.clone(), user_address(t, member)]),
                Resolved::Absent | Resolved::Unresolved => continue,
            };
            let mut add = membership(t, &want.name, None, member, member_id, Action::Add);
            add.depends_on = depends_on;
            self.push(add);
        }
        idx
    }

    /// Membership changes that make the live group at `at` hold exactly `want`'s members.
    pub(super) fn members(
        &mut self,
        ix: &LiveIndex<'_>,
        want: &DesiredGroup,
        wanted: &[Resolved],
        at: u32,
        managed: Option<&ManagedGroup>,
    ) {
        let t = self.tenant;
        let live = ix.group(at);
        let mut marks = ix.marks.borrow_mut();
        marks.generation += 1;
        let generation = marks.generation;
        let positions = &ix.member_positions[at as usize];
        for &i in positions.iter() {
            if i != NO_USER {
                marks.present[i as usize] = generation;
            }
        }
        let recorded: Option<HashSet<&str>> =
            managed.map(|m| m.members.iter().map(String::as_str).collect());
        for (member, state) in want.members.iter().zip(wanted) {
            match *state {
                Resolved::Live(i) => {
                    marks.kept[i as usize] = generation;
                    if marks.present[i as usize] != generation {
                        let user = ix.user(i);
                        let mut add = membership(
                            t,
                            &want.name,
                            Some(&live.id),
                            member,
                            Some(user.id.clone()),
                            Action::Add,
                        );
                        if let (Some(m), Some(rec)) = (managed, &recorded) {
                            if rec.contains(user.id.as_str()) {
                                add.drift.push(Drift::of(
                                    "member",
                                    Some(&user.id),
                                    m.wrote.as_ref(),
                                ));
                            }
                        }
                        self.push(add);
                    }
                }
                Resolved::Created => {
                    let mut add =
                        membership(t, &want.name, Some(&live.id), member, None, Action::Add);
                    add.depends_on = vec![user_address(t, member)];
                    self.push(add);
                }
                Resolved::Absent | Resolved::Unresolved => {}
            }
        }
        let mut removed = 0;
        for (id, &i) in live.members.iter().zip(positions.iter()) {
            // A member id that is no live user (dangling) is always removed.
            if i != NO_USER && marks.kept[i as usize] == generation {
                continue;
            }
            removed += 1;
            // Name the member by its userName when that is unambiguous, else by its id.
            let name = match i {
                NO_USER => id.as_str(),
                i => {
                    let user = ix.user(i);
                    if ix.user_names.get(&user.user_name).len() == 1 {
                        user.user_name.as_str()
                    } else {
                        id.as_str()
                    }
                }
            };
            let mut remove = membership(
                t,
                &want.name,
                Some(&live.id),
                name,
                Some(id.clone()),
                Action::Remove,
            );
            if let Some(rec) = &recorded {
                if !rec.contains(id.as_str()) {
                    remove.drift.push(Drift::of("member", None, None));
                }
            }
            self.push(remove);
        }
        if removed > 0 {
            self.member_losses.push(MemberLoss {
                group: want.name.clone(),
                removed,
                had: live.members.len(),
            });
        }
    }
}
