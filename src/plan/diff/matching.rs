//! Which live object a desired object is: by the id state recorded, else by a name no record
//! holds, and what stands in the way of a rename.

use std::borrow::Cow;

use foldhash::{HashMap, HashSet};

use crate::model::{folded, LiveGroup, LiveUser};
use crate::state::{ManagedGroup, ManagedUser};

use super::super::Conflict;
use super::index::Names;

/// Where a desired user stands after matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resolved {
    /// It is (or becomes, by adoption) this live user.
    Live(u32),
    /// This plan creates it.
    Created,
    /// It will not exist (ZPA's `active: false` deletes), so it is no member of anything.
    Absent,
    /// The plan refuses to decide which live user it is.
    Unresolved,
}

/// How a desired object was matched to a live one.
pub(super) enum Match<'a, R> {
    /// The object state records, found live by its id.
    Managed {
        record: &'a R,
        key: &'a str,
        at: u32,
    },
    /// Adopted by name (or by `renamed_from` naming an unmanaged object).
    Adopted { at: u32, note: Option<String> },
    /// Nothing live: create it.
    Create { note: Option<String> },
    /// Refused: a conflict was reported.
    Conflict,
}

/// A state record a desired object takes: by its own name, else by its `renamed_from`, unless
/// another desired object takes that record already (by its own name, which wins, or by an
/// earlier `renamed_from`; validation refuses both, and the planner holds to it anyway).
/// The state records of one kind (users or groups) as desired objects claim them, each at most
/// once.
pub(super) struct Records<'m, 'd, R> {
    records: &'m std::collections::BTreeMap<String, R>,
    /// The declared names, by key.
    declared: HashSet<Cow<'d, str>>,
    taken: HashSet<&'m str>,
}

impl<'m, 'd, R> Records<'m, 'd, R> {
    pub(super) fn new(
        records: &'m std::collections::BTreeMap<String, R>,
        declared: impl Iterator<Item = &'d str>,
    ) -> Self {
        Records {
            records,
            declared: declared.map(folded).collect(),
            taken: HashSet::default(),
        }
    }

    /// The record of the desired object `name`, claimed: its own, else the one of the name it
    /// is renamed from (unless that name is declared itself); never one claimed already.
    pub(super) fn claim(
        &mut self,
        name: &str,
        renamed_from: Option<&str>,
    ) -> Option<(&'m str, &'m R)> {
        let records = self.records;
        let own = records.get_key_value(folded(name).as_ref());
        let found = own
            .or_else(|| {
                let from = folded(renamed_from?);
                if self.declared.contains(&from) {
                    return None;
                }
                records.get_key_value(from.as_ref())
            })
            .filter(|(k, _)| !self.taken.contains(k.as_str()))
            .map(|(k, r)| (k.as_str(), r));
        if let Some((key, _)) = found {
            self.taken.insert(key);
        }
        found
    }

    /// The records no desired object claimed.
    pub(super) fn unclaimed(&self) -> impl Iterator<Item = &'m R> + '_ {
        self.records
            .iter()
            .filter(|(k, _)| !self.taken.contains(k.as_str()))
            .map(|(_, r)| r)
    }
}

/// What a live object is to the planner, for users and groups alike.
pub(super) trait Object {
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
}

impl Object for LiveUser {
    const KIND: &'static str = "user";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.user_name
    }
}

impl Object for LiveGroup {
    const KIND: &'static str = "group";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The matching rules, shared by users and groups. `by_id` finds a live object by id; `names`
/// finds live objects by name; `held` says which ids state records hold (and under what name).
pub(super) struct Matcher<'x, 'a, T> {
    pub(super) tenant: &'x str,
    pub(super) objects: &'a [T],
    pub(super) names: &'x Names<'a>,
    pub(super) by_id: &'x HashMap<&'a str, u32>,
    pub(super) held: &'x HashMap<&'a str, &'a str>,
    pub(super) address: fn(&str, &str) -> String,
}

impl<'a, T: Object> Matcher<'_, 'a, T> {
    pub(super) fn ids(&self, positions: &[u32]) -> String {
        positions
            .iter()
            .map(|&i| format!("`{}`", self.objects[i as usize].id()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Match the desired object `name` (with its `renamed_from`), given the state record it
    /// takes, if any.
    /// `claimed`: live objects (by position) that earlier desired objects already took; a
    /// name never adopts one of those a second time.
    pub(super) fn find<'m, R: Record>(
        &self,
        name: &str,
        renamed_from: Option<&str>,
        record: Option<(&'m str, &'m R)>,
        claimed: &[bool],
        conflicts: &mut Vec<Conflict>,
    ) -> Match<'m, R> {
        let kind = T::KIND;
        let address = (self.address)(self.tenant, name);
        let mut note = None;
        if let Some((key, record)) = record {
            if let Some(&at) = self.by_id.get(record.id()) {
                if claimed.get(at as usize).copied().unwrap_or(false) {
                    conflicts.push(Conflict::new(
                        self.tenant,
                        &address,
                        format!(
                            "state records {kind} id `{}` under two names (`{}` among them); \
                             zsc will not act on it twice: keep one with `zsc state rm`",
                            record.id(),
                            record.name()
                        ),
                    ));
                    return Match::Conflict;
                }
                return Match::Managed { record, key, at };
            }
            note = Some(format!(
                "the {kind} zsc managed as `{}` (id `{}`) is gone live",
                record.name(),
                record.id()
            ));
        }
        let free = |positions: &[u32]| -> Vec<u32> {
            positions
                .iter()
                .copied()
                .filter(|&i| !claimed.get(i as usize).copied().unwrap_or(false))
                .collect()
        };
        let candidates = free(self.names.get(name));
        if let Some(&held) = candidates
            .iter()
            .find(|&&i| self.held.contains_key(self.objects[i as usize].id()))
        {
            let other = &self.objects[held as usize];
            conflicts.push(Conflict::new(
                self.tenant,
                &address,
                format!(
                    "`{}` exists live as {kind} `{}`, which zsc manages as `{}` (renamed outside \
                     zsc); zsc will not adopt it a second time: rename it back on the server, or \
                     stop managing `{}` with `zsc state rm`",
                    other.name(),
                    other.id(),
                    self.held[other.id()],
                    self.held[other.id()]
                ),
            ));
            return Match::Conflict;
        }
        match candidates.as_slice() {
            [] => {}
            [one] => return Match::Adopted { at: *one, note },
            many => {
                conflicts.push(Conflict::new(
                    self.tenant,
                    &address,
                    format!(
                        "ambiguous: {} live {kind}s share the name `{name}` (ids {}); zsc adopts neither and \
                         changes nothing about them: rename or delete all but one on the server",
                        many.len(),
                        self.ids(many)
                    ),
                ));
                return Match::Conflict;
            }
        }
        let Some(from) = renamed_from else {
            return Match::Create { note };
        };
        let unheld: Vec<u32> = free(self.names.get(from))
            .into_iter()
            .filter(|&i| !self.held.contains_key(self.objects[i as usize].id()))
            .collect();
        match unheld.as_slice() {
            [] => Match::Create {
                note: Some(note.map_or_else(
                    || {
                        format!(
                            "`renamed_from: {from}` names no {kind} zsc manages or that exists \
                             live; it is created"
                        )
                    },
                    |n| format!("{n}; it is created"),
                )),
            },
            [one] => Match::Adopted {
                at: *one,
                note: Some(format!(
                    "`renamed_from: {from}` names a {kind} zsc does not manage (id `{}`): it is \
                     adopted and renamed",
                    self.objects[*one as usize].id()
                )),
            },
            many => {
                conflicts.push(Conflict::new(
                    self.tenant,
                    &address,
                    format!(
                        "`renamed_from: {from}`: {} live {kind}s have that name (ids {}); zsc \
                         adopts neither",
                        many.len(),
                        self.ids(many)
                    ),
                ));
                Match::Conflict
            }
        }
    }

    /// Whether giving the object at `at` the name `name` would collide with another live
    /// object: the conflict, if so.
    pub(super) fn rename_blocked(
        &self,
        at: u32,
        name: &str,
        record_id: Option<&str>,
    ) -> Option<String> {
        let others: Vec<u32> = self
            .names
            .get(name)
            .iter()
            .copied()
            .filter(|&i| i != at)
            .collect();
        if others.is_empty() {
            return None;
        }
        let current = &self.objects[at as usize];
        let ours = record_id.map_or(String::new(), |id| format!(" (id `{id}`)"));
        Some(format!(
            "cannot rename {kind} `{}`{ours} to `{name}`: live {kind} {} already holds that name, \
             and zsc does not manage it; rename or delete it on the server, or choose another name",
            current.name(),
            self.ids(&others),
            kind = T::KIND,
        ))
    }
}

/// A state record, users and groups alike.
pub(super) trait Record {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
}

impl Record for ManagedUser {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.user_name
    }
}

impl Record for ManagedGroup {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}
