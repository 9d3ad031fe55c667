//! Memberships beyond lists, expanded once over every user: rules (`members_from:`) with their
//! exclusions, then nested groups (`include_groups:`) flattened, each member once with every
//! reason it has.
//!
//! Rules are matched through an index: each rule that tests an attribute for exact values looks
//! those values up among the users that have them, and checks its other conditions on those
//! alone, so the work is linear in users plus matches rather than users times rules.

use std::borrow::Cow;

use foldhash::{HashMap, HashMapExt, HashSet};

use crate::config::dialect_checks::Warning;
use crate::model::rules::{Condition, Subject};
use crate::model::{Rule, Until, Why, USER_FIELDS};

use super::super::super::check::Sink;
use super::super::key;
use super::Cross;

/// No `until`, no tenant limit.
pub(super) const NONE: u32 = u32::MAX;

/// One member of a group, with why and until when.
#[derive(Clone, Copy, Debug)]
pub(super) struct Member {
    pub ui: u32,
    pub why: Why,
    /// Index into `Cross::ends`, or [`NONE`].
    pub until: u32,
    /// Index into `Cross::masks` (the tenants it holds in), or [`NONE`] for every tenant the
    /// user and the group share.
    pub only: u32,
}

impl Member {
    pub fn new(ui: usize, why: Why, until: u32) -> Member {
        Member {
            ui: ui as u32,
            why,
            until,
            only: NONE,
        }
    }
}

impl<'v> Cross<'v> {
    /// An `until` as an index into `ends`.
    pub(super) fn end(&mut self, until: Option<Until>) -> u32 {
        match until {
            Some(u) => {
                self.ends.push(u);
                (self.ends.len() - 1) as u32
            }
            None => NONE,
        }
    }

    /// `members_from:`: every declared user each rule matches, but those `exclude:` names.
    pub(super) fn rules(&mut self) {
        let v = self.v;
        let ruled: Vec<usize> = self
            .groups
            .iter()
            .copied()
            .filter(|&gi| !v.groups[gi].rules.is_empty())
            .collect();
        if ruled.is_empty() {
            return;
        }
        let index = ValueIndex::build(self, &ruled);
        let users = &self.users;
        // A group whose rule scans every user costs thousands of times one looked up by value.
        let matched = crate::par::map_each(&ruled, 4, |&gi| {
            let g = &v.groups[gi];
            let excluded: HashSet<Cow<str>> = g.exclude.iter().map(|e| key(&e.value)).collect();
            let mut hits: Vec<(usize, u16)> = Vec::new();
            let mut counts = vec![0usize; g.rules.len()];
            for (r, rule) in g.rules.iter().enumerate() {
                let matcher = rule.matcher();
                let mut consider = |ui: usize| {
                    let u = &v.users[ui];
                    let subject = Subject {
                        user_name: &u.user_name,
                        attrs: &u.attrs,
                        active: u.active,
                    };
                    if matcher.matches(subject) {
                        counts[r] += 1;
                        if excluded.is_empty() || !excluded.contains(&key(&u.user_name)) {
                            hits.push((ui, r as u16));
                        }
                    }
                };
                match index.candidates(rule) {
                    Some(lists) => lists.into_iter().flatten().for_each(|&ui| consider(ui)),
                    None => users.iter().for_each(|&ui| consider(ui)),
                }
            }
            (hits, counts)
        });
        for (&gi, (hits, counts)) in ruled.iter().zip(matched) {
            let g = &v.groups[gi];
            for (r, &count) in counts.iter().enumerate() {
                if count == 0 {
                    let hint = index.hint(&g.rules[r]);
                    self.notes.push(Warning {
                        origin: v.origin(g.pos),
                        message: format!(
                            "rule {} of group `{}` ({{ {} }}) matches no declared user{hint}",
                            r + 1,
                            g.name,
                            g.rules[r].text()
                        ),
                    });
                }
            }
            let masks: Vec<u32> = g
                .rules
                .iter()
                .map(|rule| match rule.tenants() {
                    Some(names) => {
                        let mask = v.tenant_names.iter().map(|t| names.contains(t)).collect();
                        self.masks.push(mask);
                        (self.masks.len() - 1) as u32
                    }
                    None => NONE,
                })
                .collect();
            for (ui, r) in hits {
                self.members[gi].push(Member {
                    ui: ui as u32,
                    why: Why {
                        bits: Why::RULE,
                        rule: r,
                        via: 0,
                    },
                    until: NONE,
                    only: masks[usize::from(r)],
                });
            }
        }
        for &gi in &ruled {
            for e in &v.groups[gi].exclude {
                if !self.user_index.contains_key(&key(&e.value)) {
                    self.notes.push(Warning {
                        origin: v.origin(v.groups[gi].pos),
                        message: format!(
                            "`exclude` of group `{}` names `{}`, which is not a declared user",
                            v.groups[gi].name, e.value
                        ),
                    });
                }
            }
        }
    }

    /// `include_groups:` resolved, cycles refused; then every group's members merged (each user
    /// once, with all its reasons) and nested groups' members added, innermost first.
    pub(super) fn flatten(&mut self, sink: &mut Sink) {
        let v = self.v;
        let mut edges: Vec<Vec<(usize, u16)>> = vec![Vec::new(); v.groups.len()];
        for gi in self.groups.clone() {
            let g = &v.groups[gi];
            for (k, name) in g.include_groups.iter().enumerate() {
                match self.group_index.get(&key(&name.value)).copied() {
                    Some(x) if x == gi => sink.error(
                        g.pos.file,
                        name.at,
                        format!("group `{}` includes itself", g.name),
                    ),
                    Some(x) => edges[gi].push((x, k as u16)),
                    None => {
                        let hint = self.group_hint(&name.value);
                        sink.error(
                            g.pos.file,
                            name.at,
                            format!(
                                "group `{}` includes `{}`, which is not a declared group{hint}",
                                g.name, name.value
                            ),
                        );
                    }
                }
            }
        }
        let Some(order) = self.include_order(sink, &edges) else {
            return;
        };
        let mut slot = vec![NONE; v.users.len()];
        for gi in order {
            let mut list = std::mem::take(&mut self.members[gi]);
            if !edges[gi].is_empty() {
                let g = &v.groups[gi];
                let excluded: HashSet<Cow<str>> = g.exclude.iter().map(|e| key(&e.value)).collect();
                for &(x, k) in &edges[gi] {
                    for m in &self.members[x] {
                        if excluded.is_empty()
                            || !excluded.contains(&key(&v.users[m.ui as usize].user_name))
                        {
                            list.push(Member {
                                why: Why {
                                    bits: Why::INCLUDED,
                                    rule: 0,
                                    via: k,
                                },
                                ..*m
                            });
                        }
                    }
                }
            }
            self.members[gi] = self.merge(list, &mut slot);
        }
    }

    /// Each user once, at its first mention, with every reason; the membership lasts as long as
    /// its longest-lived reason and holds in every tenant any reason holds in.
    fn merge(&mut self, list: Vec<Member>, slot: &mut [u32]) -> Vec<Member> {
        let mut out: Vec<Member> = Vec::with_capacity(list.len());
        for m in list {
            let at = slot[m.ui as usize];
            if at != NONE && out.get(at as usize).is_some_and(|o| o.ui == m.ui) {
                let first = out[at as usize];
                let until = match (first.until, m.until) {
                    (NONE, _) | (_, NONE) => NONE,
                    (a, b) if self.ends[a as usize] >= self.ends[b as usize] => a,
                    (_, b) => b,
                };
                let only = match (first.only, m.only) {
                    (NONE, _) | (_, NONE) => NONE,
                    (a, b) if a == b => a,
                    (a, b) => {
                        let union = self.masks[a as usize]
                            .iter()
                            .zip(&self.masks[b as usize])
                            .map(|(x, y)| *x || *y)
                            .collect();
                        self.masks.push(union);
                        (self.masks.len() - 1) as u32
                    }
                };
                out[at as usize] = Member {
                    why: first.why.and(m.why),
                    until,
                    only,
                    ..first
                };
            } else {
                slot[m.ui as usize] = out.len() as u32;
                out.push(m);
            }
        }
        out
    }

    /// The groups, each after the groups it includes; `None` when includes form a cycle (each
    /// one reported, named by its path).
    fn include_order(&self, sink: &mut Sink, edges: &[Vec<(usize, u16)>]) -> Option<Vec<usize>> {
        use petgraph::graph::{DiGraph, NodeIndex};
        let v = self.v;
        let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(edges.len(), 0);
        for _ in edges {
            graph.add_node(());
        }
        for (gi, included) in edges.iter().enumerate() {
            for &(x, _) in included {
                graph.add_edge(NodeIndex::new(x), NodeIndex::new(gi), ());
            }
        }
        let mut cyclic = false;
        for scc in petgraph::algo::tarjan_scc(&graph) {
            if scc.len() < 2 {
                continue;
            }
            cyclic = true;
            let scc: Vec<usize> = scc.into_iter().map(NodeIndex::index).collect();
            let start = *scc.iter().min().unwrap_or(&scc[0]);
            let path = cycle_through(start, edges, &scc);
            let names: Vec<String> = path
                .iter()
                .map(|&gi| format!("`{}`", v.groups[gi].name))
                .collect();
            let g = &v.groups[start];
            sink.error(
                g.pos.file,
                g.name_at,
                format!(
                    "groups include each other in a cycle: {} (a group cannot contain itself)",
                    names.join(" → ")
                ),
            );
        }
        if cyclic {
            return None;
        }
        let order = petgraph::algo::toposort(&graph, None).ok()?;
        Some(order.into_iter().map(NodeIndex::index).collect())
    }
}

/// The shortest path from `start` back to itself through `scc`'s groups, `start` at both ends.
fn cycle_through(start: usize, edges: &[Vec<(usize, u16)>], scc: &[usize]) -> Vec<usize> {
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for &(next, _) in &edges[at] {
            if !scc.contains(&next) {
                continue;
            }
            if next == start {
                let mut path = vec![start, at];
                let mut back = at;
                while back != start {
                    back = came_from[&back];
                    path.push(back);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = came_from.entry(next) {
                slot.insert(at);
                queue.push_back(next);
            }
        }
    }
    vec![start, start]
}

/// Users by the exact values of the attributes rules test.
struct ValueIndex<'v> {
    by: HashMap<&'static str, HashMap<Cow<'v, str>, Vec<usize>>>,
}

impl<'v> ValueIndex<'v> {
    /// An index of each attribute some rule of `ruled` can look values up in.
    fn build(cross: &Cross<'v>, ruled: &[usize]) -> Self {
        let v = cross.v;
        let mut by: HashMap<&'static str, HashMap<Cow<'v, str>, Vec<usize>>> = HashMap::new();
        for &gi in ruled {
            for rule in &v.groups[gi].rules {
                if let Some(c) = anchor(rule) {
                    if let Some(name) = Rule::attributes().into_iter().find(|a| *a == c.attribute) {
                        by.entry(name).or_default();
                    }
                }
            }
        }
        for (&attribute, values) in by.iter_mut() {
            for &ui in &cross.users {
                let u = &v.users[ui];
                let value: Option<Cow<'v, str>> = match attribute {
                    "user_name" => Some(key(&u.user_name)),
                    _ => USER_FIELDS
                        .iter()
                        .find(|f| f.name == attribute)
                        .and_then(|f| (f.get)(&u.attrs).as_deref())
                        .map(Cow::Borrowed),
                };
                if let Some(value) = value {
                    values.entry(value).or_default().push(ui);
                }
            }
        }
        ValueIndex { by }
    }

    /// The users a rule can match, as lists from the index; `None`: every user.
    fn candidates<'a>(&'a self, rule: &'a Rule) -> Option<Vec<&'a Vec<usize>>> {
        let c = anchor(rule)?;
        let values = self.by.get(c.attribute.as_str())?;
        let fold = c.attribute == "user_name";
        Some(
            c.values
                .iter()
                .filter_map(|value| {
                    if fold {
                        values.get(&key(value))
                    } else {
                        values.get(value.as_str())
                    }
                })
                .collect(),
        )
    }

    /// For a rule that matched no one: "; no user has department `Fnance` (did you mean
    /// `Finance`?)" when a value it looks up is nowhere.
    fn hint(&self, rule: &Rule) -> String {
        let Some(c) = anchor(rule) else {
            return String::new();
        };
        let Some(values) = self.by.get(c.attribute.as_str()) else {
            return String::new();
        };
        let missing = c.values.iter().find(|value| {
            let k = if c.attribute == "user_name" {
                key(value)
            } else {
                Cow::Borrowed(value.as_str())
            };
            !values.contains_key(&k)
        });
        let Some(missing) = missing else {
            return String::new();
        };
        let close = super::super::super::check::did_you_mean(
            missing,
            values.keys().map(|k| k.as_ref()).take(10_000),
        )
        .map(|m| format!("; did you mean `{m}`?"))
        .unwrap_or_default();
        format!(" (no user has {} `{missing}`{close})", c.attribute)
    }
}

/// The condition a rule is looked up by: the first that tests exact values of an attribute a
/// user has at most one value of.
fn anchor(rule: &Rule) -> Option<&Condition> {
    rule.conditions
        .iter()
        .find(|c| c.attribute != "tenants" && c.attribute != "active" && c.is_exact())
}
