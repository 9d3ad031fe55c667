//! Import: from what tenants hold live to the declarations that make a plan empty, and the
//! state entries that record them as managed. Pure; `cli/import.rs` reads and writes.
//!
//! Several tenants merge into one set of declarations, since a user is declared once however
//! many tenants it is in:
//! - a user or group live in several tenants is declared once, with `tenants:` naming them
//!   (left out when that is every configured tenant);
//! - an attribute is declared when every tenant that keeps it (per the dialect table) agrees;
//!   where they differ it is left undeclared (zsc leaves it alone) and a note says so;
//! - a user whose `active` differs, or a group whose members differ, is declared for the
//!   tenants that agree with the first (by name); the others' copies stay unmanaged, noted;
//! - a group is declared for a tenant only if every member there is a user declared for that
//!   tenant (imported now or declared already), so no member is dropped by the next plan;
//! - users and groups the configuration already declares are not declared again (the plan
//!   adopts them); names validation would refuse, and users outside `allowed_domains`, are
//!   skipped with a note.
//!
//! Order is deterministic: users by userName, groups by name, members by userName, all
//! case-insensitively, then by the exact spelling.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::config::write::{DeclaredGroup, DeclaredUser};
use crate::config::MAX_NAME_CHARS;
use crate::dialect::Dialect;
use crate::model::{name_key, LiveGroup, LiveTenant, LiveUser, UserAttrs, USER_FIELDS};
use crate::state::{ManagedGroup, ManagedUser, StateOp};

/// One tenant to import.
pub struct ImportTenant<'a> {
    pub name: &'a str,
    pub dialect: Dialect,
    pub live: &'a LiveTenant,
    /// Lowercase; empty allows any.
    pub allowed_domains: &'a [String],
}

/// A declaration the configuration already holds.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    /// The declared spelling.
    pub name: String,
    /// Tenants it is declared for.
    pub tenants: BTreeSet<String>,
    /// Where, for notes.
    pub origin: String,
}

/// What to import and what is already declared.
pub struct ImportInput<'a> {
    /// Tenants to read, any order (sorted here).
    pub tenants: Vec<ImportTenant<'a>>,
    /// Every configured tenant's name: a declaration in all of them needs no `tenants:`.
    pub configured: BTreeSet<String>,
    /// Users declared elsewhere, by [`name_key`].
    pub declared_users: HashMap<String, Declared>,
    /// Groups declared elsewhere (and names they are renamed from), by [`name_key`].
    pub declared_groups: HashMap<String, Declared>,
}

/// The result: declarations, state entries per tenant, and notes for the person.
#[derive(Debug, Default)]
pub struct Imported {
    pub users: Vec<DeclaredUser>,
    pub groups: Vec<DeclaredGroup>,
    /// Per tenant, the ops that record the imported objects as managed.
    pub state_ops: BTreeMap<String, Vec<StateOp>>,
    /// Objects already declared in the configuration (left to the plan to adopt).
    pub already_declared: usize,
    pub notes: Vec<String>,
}

/// The live objects of every tenant bucketed by name (case-insensitively), each bucket keyed by
/// the first spelling seen and holding (tenant index, object). A name that appears twice in one
/// tenant keeps its first object, with a note.
fn by_name<'a, T>(
    tenants: &[&ImportTenant<'a>],
    notes: &mut Vec<String>,
    kind: &str,
    objects: impl Fn(&ImportTenant<'a>) -> &'a [T],
    name: impl Fn(&T) -> &str,
) -> BTreeMap<(String, String), Vec<(usize, &'a T)>> {
    let mut by_key: BTreeMap<(String, String), Vec<(usize, &'a T)>> = BTreeMap::new();
    let mut first_spelling: HashMap<String, (String, String)> = HashMap::new();
    for (ti, t) in tenants.iter().enumerate() {
        let mut seen = HashSet::new();
        for object in objects(t) {
            let key = name_key(name(object));
            if !seen.insert(key.clone()) {
                notes.push(format!(
                    "{kind} `{}` appears twice on `{}` ({kind} names are case-insensitive); only the first is imported",
                    name(object),
                    t.name
                ));
                continue;
            }
            let slot = first_spelling
                .entry(key)
                .or_insert_with(|| sort_key(name(object)))
                .clone();
            by_key.entry(slot).or_default().push((ti, object));
        }
    }
    by_key
}

fn sort_key(name: &str) -> (String, String) {
    (name_key(name), name.to_owned())
}

fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("it is empty")
    } else if name.trim() != name {
        Some("it has leading or trailing whitespace")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("it is longer than 128 characters")
    } else if crate::model::invisible_char(name).is_some() {
        Some("it holds a control or invisible character")
    } else {
        None
    }
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Work out the declarations and state entries for `input`.
pub fn import(input: &ImportInput<'_>) -> Imported {
    let mut tenants: Vec<&ImportTenant<'_>> = input.tenants.iter().collect();
    tenants.sort_by(|a, b| a.name.cmp(b.name));
    let mut out = Imported::default();
    let scope_field = |scope: &[&str]| -> Option<Vec<String>> {
        let set: BTreeSet<&str> = scope.iter().copied().collect();
        let all: BTreeSet<&str> = input.configured.iter().map(String::as_str).collect();
        (set != all).then(|| scope.iter().map(|s| (*s).to_owned()).collect())
    };

    // Users declared per tenant (already or now): key -> spelling.
    let mut declared_for: Vec<HashMap<String, String>> = tenants
        .iter()
        .map(|t| {
            input
                .declared_users
                .iter()
                .filter(|(_, d)| d.tenants.contains(t.name))
                .map(|(k, d)| (k.clone(), d.name.clone()))
                .collect()
        })
        .collect();

    // ---- users ----
    let by_key = by_name(
        &tenants,
        &mut out.notes,
        "user",
        |t| &t.live.users,
        |u| &u.user_name,
    );
    for ((key, _), entries) in &by_key {
        if let Some(declared) = input.declared_users.get(key) {
            out.already_declared += 1;
            let missing: Vec<&str> = entries
                .iter()
                .map(|(ti, _)| tenants[*ti].name)
                .filter(|t| !declared.tenants.contains(*t))
                .collect();
            if !missing.is_empty() {
                out.notes.push(format!(
                    "user `{}` exists on {} but is declared (at {}) for other tenants only; add them to its `tenants:` to manage it there",
                    declared.name,
                    list(&missing),
                    declared.origin
                ));
            }
            continue;
        }
        let base = entries[0].1;
        if let Some(problem) = name_problem(&base.user_name) {
            out.notes.push(format!(
                "user `{}` is not imported: {problem}, which zsc's configuration does not accept",
                base.user_name
            ));
            continue;
        }
        let mut scope: Vec<(usize, &LiveUser)> = Vec::new();
        for &(ti, u) in entries {
            let t = tenants[ti];
            let domain_ok = t.allowed_domains.is_empty()
                || u.user_name
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| t.allowed_domains.contains(&d.to_ascii_lowercase()));
            if !domain_ok {
                out.notes.push(format!(
                    "user `{}` on `{}` is not imported: its domain is not in the tenant's `allowed_domains`",
                    u.user_name, t.name
                ));
                continue;
            }
            if let Some(&(_, first)) = scope.first() {
                if first.active != u.active {
                    out.notes.push(format!(
                        "user `{}` is {} on `{}` but {} on `{}`; imported for `{}` only, `{}`'s copy stays unmanaged",
                        u.user_name,
                        if first.active { "active" } else { "inactive" },
                        tenants[scope[0].0].name,
                        if u.active { "active" } else { "inactive" },
                        t.name,
                        tenants[scope[0].0].name,
                        t.name
                    ));
                    continue;
                }
            }
            scope.push((ti, u));
        }
        let Some(&(_, first)) = scope.first() else {
            continue;
        };
        let mut attrs = UserAttrs::default();
        for field in USER_FIELDS {
            let values: BTreeSet<Option<&String>> = scope
                .iter()
                .filter(|(ti, _)| tenants[*ti].dialect.spec().stores_attribute(field.name))
                .map(|(_, u)| (field.get)(&u.attrs).as_ref().filter(|v| !v.is_empty()))
                .collect();
            match values.len() {
                0 => {}
                1 => *(field.get_mut)(&mut attrs) = values.into_iter().next().flatten().cloned(),
                _ => out.notes.push(format!(
                    "user `{}`: `{}` differs between tenants; left undeclared (zsc leaves it alone)",
                    first.user_name, field.name
                )),
            }
        }
        let names: Vec<&str> = scope.iter().map(|(ti, _)| tenants[*ti].name).collect();
        out.users.push(DeclaredUser {
            user_name: first.user_name.clone(),
            attrs,
            active: first.active,
            tenants: scope_field(&names),
        });
        for &(ti, u) in &scope {
            declared_for[ti].insert(key.clone(), first.user_name.clone());
            out.state_ops
                .entry(tenants[ti].name.to_owned())
                .or_default()
                .push(StateOp::PutUser {
                    user: ManagedUser {
                        id: u.id.clone(),
                        // Managed as declared: a tenant spelling it in another case is no
                        // rename.
                        user_name: first.user_name.clone(),
                        active: u.active,
                        attrs: u.attrs.clone(),
                        protect: false,
                        wrote: None,
                    },
                });
        }
    }

    // ---- groups ----
    let by_key = by_name(
        &tenants,
        &mut out.notes,
        "group",
        |t| &t.live.groups,
        |g| &g.name,
    );
    let users_by_id: Vec<HashMap<&str, &LiveUser>> = tenants
        .iter()
        .map(|t| t.live.users.iter().map(|u| (u.id.as_str(), u)).collect())
        .collect();
    for ((key, _), entries) in &by_key {
        if let Some(declared) = input.declared_groups.get(key) {
            out.already_declared += 1;
            let missing: Vec<&str> = entries
                .iter()
                .map(|(ti, _)| tenants[*ti].name)
                .filter(|t| !declared.tenants.contains(*t))
                .collect();
            if !missing.is_empty() {
                out.notes.push(format!(
                    "group `{}` exists on {} but is declared (at {}) for other tenants only; add them to its `tenants:` to manage it there",
                    declared.name,
                    list(&missing),
                    declared.origin
                ));
            }
            continue;
        }
        let base_name = &entries[0].1.name;
        if let Some(problem) = name_problem(base_name) {
            out.notes.push(format!(
                "group `{base_name}` is not imported: {problem}, which zsc's configuration does not accept"
            ));
            continue;
        }
        // Members per tenant as declared userNames (keys), or why not.
        let mut resolved: Vec<(usize, &LiveGroup, BTreeSet<String>)> = Vec::new();
        for &(ti, g) in entries {
            let mut keys = BTreeSet::new();
            let mut unresolved = None;
            for id in &g.members {
                let key = users_by_id[ti]
                    .get(id.as_str())
                    .map(|u| name_key(&u.user_name))
                    .filter(|k| declared_for[ti].contains_key(k));
                match key {
                    Some(k) => {
                        keys.insert(k);
                    }
                    None => {
                        unresolved = Some(
                            users_by_id[ti]
                                .get(id.as_str())
                                .map_or(format!("id `{id}` (no such user)"), |u| {
                                    format!("`{}`", u.user_name)
                                }),
                        );
                        break;
                    }
                }
            }
            match unresolved {
                Some(member) => out.notes.push(format!(
                    "group `{}` on `{}` is not imported: its member {member} is not a user zsc declares there",
                    g.name, tenants[ti].name
                )),
                None => resolved.push((ti, g, keys)),
            }
        }
        let Some((base_ti, base, members)) = resolved.first().cloned() else {
            continue;
        };
        let mut scope = vec![(base_ti, base)];
        for (ti, g, keys) in resolved.iter().skip(1) {
            if g.name != base.name {
                // The plan would rename it to the declared spelling: not an import's business.
                out.notes.push(format!(
                    "group `{}` on `{}` is spelled `{}` on `{}`; imported for `{}` only, `{}`'s copy stays unmanaged",
                    base.name,
                    tenants[base_ti].name,
                    g.name,
                    tenants[*ti].name,
                    tenants[base_ti].name,
                    tenants[*ti].name
                ));
                continue;
            }
            let expected: BTreeSet<String> = members
                .iter()
                .filter(|k| declared_for[*ti].contains_key(*k))
                .cloned()
                .collect();
            if &expected == keys {
                scope.push((*ti, g));
            } else {
                out.notes.push(format!(
                    "group `{}` has different members on `{}` than on `{}`; imported for the tenants that agree with `{}`, `{}`'s copy stays unmanaged",
                    g.name,
                    tenants[*ti].name,
                    tenants[base_ti].name,
                    tenants[base_ti].name,
                    tenants[*ti].name
                ));
            }
        }
        let mut member_names: Vec<String> = members
            .iter()
            .map(|k| declared_for[base_ti][k].clone())
            .collect();
        member_names.sort_by_cached_key(|n| sort_key(n));
        let names: Vec<&str> = scope.iter().map(|(ti, _)| tenants[*ti].name).collect();
        out.groups.push(DeclaredGroup {
            name: base.name.clone(),
            members: member_names,
            tenants: scope_field(&names),
        });
        for &(ti, g) in &scope {
            out.state_ops
                .entry(tenants[ti].name.to_owned())
                .or_default()
                .push(StateOp::PutGroup {
                    group: ManagedGroup {
                        id: g.id.clone(),
                        name: base.name.clone(),
                        members: g.members.clone(),
                        protect: false,
                        wrote: None,
                    },
                });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str, display: Option<&str>, given: Option<&str>) -> LiveUser {
        LiveUser {
            id: id.to_owned(),
            user_name: name.to_owned(),
            active: true,
            attrs: UserAttrs {
                display_name: display.map(str::to_owned),
                given_name: given.map(str::to_owned),
                ..UserAttrs::default()
            },
        }
    }

    fn group(id: &str, name: &str, members: &[&str]) -> LiveGroup {
        LiveGroup {
            id: id.to_owned(),
            name: name.to_owned(),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    #[test]
    fn two_tenants_merge_into_one_declaration_with_tenant_lists() {
        let zia = LiveTenant {
            users: vec![
                user("1", "b@x.com", Some("B"), Some("ignored on zia")),
                user("2", "A@x.com", Some("A"), None),
            ],
            groups: vec![
                group("10", "Team", &["1", "2"]),
                group("11", "Spelling", &[]),
            ],
        };
        let zpa = LiveTenant {
            users: vec![
                user("u-a", "a@x.com", Some("A"), Some("Ann")),
                user("u-c", "c@x.com", Some("C"), None),
            ],
            groups: vec![
                group("g1", "Team", &["u-a"]),
                group("g2", "Only ZPA", &["u-c"]),
                group("g3", "SPELLING", &[]),
            ],
        };
        let input = ImportInput {
            tenants: vec![
                ImportTenant {
                    name: "zpa",
                    dialect: Dialect::Zpa,
                    live: &zpa,
                    allowed_domains: &[],
                },
                ImportTenant {
                    name: "zia",
                    dialect: Dialect::Zia,
                    live: &zia,
                    allowed_domains: &[],
                },
            ],
            configured: ["zia".to_owned(), "zpa".to_owned()].into(),
            declared_users: HashMap::new(),
            declared_groups: HashMap::new(),
        };
        let got = import(&input);
        let names: Vec<&str> = got.users.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names, ["A@x.com", "b@x.com", "c@x.com"]);
        // In both tenants: no `tenants:`; given_name comes from ZPA, the one that keeps it.
        assert_eq!(got.users[0].tenants, None);
        assert_eq!(got.users[0].attrs.given_name.as_deref(), Some("Ann"));
        // ZIA does not keep given_name: b's is not declared.
        assert_eq!(got.users[1].attrs.given_name, None);
        assert_eq!(got.users[1].tenants, Some(vec!["zia".to_owned()]));
        // Team: zia {A, b}; zpa {a}; b is not on zpa, so both agree.
        let team = got.groups.iter().find(|g| g.name == "Team").unwrap();
        assert_eq!(team.members, ["A@x.com", "b@x.com"]);
        assert_eq!(team.tenants, None);
        let only = got.groups.iter().find(|g| g.name == "Only ZPA").unwrap();
        assert_eq!(only.tenants, Some(vec!["zpa".to_owned()]));
        // Spelled differently: the first tenant's copy is imported, the other stays unmanaged
        // (declaring it would make the plan rename it).
        let spelling = got.groups.iter().find(|g| g.name == "Spelling").unwrap();
        assert_eq!(spelling.tenants, Some(vec!["zia".to_owned()]));
        assert_eq!(got.state_ops["zia"].len(), 4);
        assert_eq!(got.state_ops["zpa"].len(), 4);
        assert_eq!(got.notes.len(), 1, "{:?}", got.notes);
        assert!(got.notes[0].contains("is spelled `SPELLING` on `zpa`"));
    }

    #[test]
    fn conflicts_are_left_undeclared_or_unmanaged_with_notes() {
        let a = LiveTenant {
            users: vec![
                user("1", "a@x.com", Some("One"), None),
                user("2", "b@x.com", None, None),
            ],
            groups: vec![group("g", "G", &["1"]), group("h", "Dangling", &["nobody"])],
        };
        let b = LiveTenant {
            users: vec![
                user("1", "a@x.com", Some("Other"), None),
                user("2", "b@x.com", None, None),
            ],
            groups: vec![group("g", "G", &["1", "2"])],
        };
        let input = ImportInput {
            tenants: vec![
                ImportTenant {
                    name: "a",
                    dialect: Dialect::Scim,
                    live: &a,
                    allowed_domains: &[],
                },
                ImportTenant {
                    name: "b",
                    dialect: Dialect::Scim,
                    live: &b,
                    allowed_domains: &[],
                },
            ],
            configured: ["a".to_owned(), "b".to_owned()].into(),
            declared_users: HashMap::new(),
            declared_groups: HashMap::new(),
        };
        let got = import(&input);
        assert_eq!(got.users[0].attrs.display_name, None);
        let g = got.groups.iter().find(|g| g.name == "G").unwrap();
        assert_eq!(g.tenants, Some(vec!["a".to_owned()]));
        assert!(got.groups.iter().all(|g| g.name != "Dangling"));
        assert_eq!(got.notes.len(), 3, "{:#?}", got.notes);
    }
}
