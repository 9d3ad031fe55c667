//! Reading some objects, not a listing: the counts, users and groups by id and by name
//! (`eq` filters), and what a targeted refresh asks for.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::model::{folded, name_key, LiveGroup, LiveUser};

use super::client::{Repeat, ScimClient};
use super::error::ScimError;
use super::listing::{
    dedup_by_id, GroupIds, Listed, ListedGroup, Object, UserWithGroups, REFUSED_PARAMETER,
};
use super::transport::{path_segment, protocol, query_escape};
use super::wire::{escape_filter_value, ListResponse, WireGroup, WireUser};

impl ScimClient {
    /// How many users and groups the server counts: the `totalResults` of a one-object page
    /// of each (two requests), asking to leave the bulky multi-valued attributes out.
    /// `None` for a resource whose answer carries no `totalResults`.
    pub async fn count(&self) -> Result<(Option<u64>, Option<u64>), ScimError> {
        self.discover().await;
        tokio::try_join!(
            self.count_of("Users", "groups"),
            self.count_of("Groups", "members")
        )
    }

    pub(super) async fn count_of(
        &self,
        resource: &str,
        bulky: &str,
    ) -> Result<Option<u64>, ScimError> {
        type Count = ListResponse<serde::de::IgnoredAny>;
        let projected = format!(
            "/{resource}?startIndex=1&count=1&{}={bulky}",
            self.inner.spec.exclude_param
        );
        let plain = format!("/{resource}?startIndex=1&count=1");
        let path = if self.inner.exclude_groups.load(Ordering::Relaxed) {
            projected
        } else {
            plain.clone()
        };
        let count: Count = match self.get(&path).await {
            Err(ScimError::Status { status, .. }) if REFUSED_PARAMETER.contains(&status) => {
                self.get(&plain).await?
            }
            other => other?,
        };
        Ok(count.total_results)
    }

    /// Users and groups by id and by name (`eq` filters only: never a scan of a listing),
    /// concurrently: what a targeted refresh reads. Ids the server has no object for are
    /// listed as missing. Groups come with their members. Names are only looked up where the
    /// answers can be trusted to hold every object of the name as zsc compares names: the
    /// server filters, takes each filter, and its `eq` finds a name spelled in another case
    /// ([`Self::eq_folds_case`]); otherwise nothing is read and the answer says
    /// `unfilterable`.
    pub async fn read_some(&self, lookups: &Lookups) -> Result<Looked, ScimError> {
        self.discover().await;
        let unfilterable = Looked {
            unfilterable: true,
            ..Looked::default()
        };
        if (!lookups.user_names.is_empty() || !lookups.group_names.is_empty()) && !self.can_filter()
        {
            return Ok(unfilterable);
        }
        for (names, resource) in [
            (&lookups.user_names, "Users"),
            (&lookups.group_names, "Groups"),
        ] {
            if !names.is_empty() && !self.eq_folds_case(resource).await? {
                return Ok(unfilterable);
            }
        }
        enum Job {
            UserId(String),
            GroupId(String),
            UserName(String),
            GroupName(String),
        }
        enum Got {
            User(String, Option<LiveUser>),
            Group(String, Option<LiveGroup>),
            /// `None`: the server refused the filter.
            Users(Option<Vec<LiveUser>>),
            Groups(Option<Vec<LiveGroup>>),
        }
        let jobs: Vec<Job> = lookups
            .user_ids
            .iter()
            .cloned()
            .map(Job::UserId)
            .chain(lookups.group_ids.iter().cloned().map(Job::GroupId))
            .chain(lookups.user_names.iter().cloned().map(Job::UserName))
            .chain(lookups.group_names.iter().cloned().map(Job::GroupName))
            .collect();
        let got = self
            .concurrently(jobs, |client, job| async move {
                Ok(match job {
                    Job::UserId(id) => {
                        let user = client.get_user(&id).await?;
                        Got::User(id, user)
                    }
                    Job::GroupId(id) => {
                        let group = client.get_group(&id).await?;
                        Got::Group(id, group)
                    }
                    Job::UserName(name) => Got::Users(client.look_up_users_eq(&name).await?),
                    Job::GroupName(name) => Got::Groups(client.look_up_groups_eq(&name).await?),
                })
            })
            .await?;
        let mut looked = Looked::default();
        for got in got {
            match got {
                Got::User(_, Some(user)) => looked.users.push(user),
                Got::User(id, None) => looked.missing_user_ids.push(id),
                Got::Group(_, Some(group)) => looked.groups.push(group),
                Got::Group(id, None) => looked.missing_group_ids.push(id),
                Got::Users(Some(users)) => looked.users.extend(users),
                Got::Groups(Some(groups)) => looked.groups.extend(groups),
                // A name the server would not look up: its absence proves nothing.
                Got::Users(None) | Got::Groups(None) => return Ok(unfilterable),
            }
        }
        looked.users = dedup_by_id(looked.users);
        looked.groups = dedup_by_id(looked.groups);
        Ok(looked)
    }

    /// A listing came back short of its totalResults even after a second read. Each object
    /// state manages that it did not contain is read by id, and each declared name it did not
    /// contain is looked up by name. If the server still counts more than was listed and
    /// found, any name not found could be one of the objects it hides: the read fails, naming
    /// them and the gap, rather than letting a plan create them twice (unless `accept_gap`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn account_for<T, ById, ByIdFut, ByName, ByNameFut>(
        &self,
        resource: &str,
        total: u64,
        listed: &[T],
        names: &[String],
        ids: &[String],
        accept_gap: bool,
        by_id: ById,
        by_name: ByName,
    ) -> Result<Vec<T>, ScimError>
    where
        T: Object,
        ById: Fn(ScimClient, String) -> ByIdFut,
        ByIdFut: std::future::Future<Output = Result<Option<T>, ScimError>>,
        ByName: Fn(ScimClient, String) -> ByNameFut,
        ByNameFut: std::future::Future<Output = Result<Vec<T>, ScimError>>,
    {
        let mut seen_ids: HashSet<String> = listed.iter().map(|o| o.id().to_owned()).collect();
        let seen_names: HashSet<String> = listed.iter().map(|o| name_key(o.name())).collect();
        let mut found: Vec<T> = Vec::new();
        let mut unfound: Vec<String> = Vec::new();
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !seen_ids.contains(id.as_str()))
            .collect();
        for id in missing {
            match by_id(self.clone(), id.clone()).await? {
                Some(object) => {
                    seen_ids.insert(object.id().to_owned());
                    found.push(object);
                }
                None => unfound.push(format!("id `{id}` (managed by zsc)")),
            }
        }
        let found_names: HashSet<String> = found.iter().map(|o| name_key(o.name())).collect();
        for name in names.iter().filter(|n| {
            let key = name_key(n);
            !seen_names.contains(&key) && !found_names.contains(&key)
        }) {
            let objects = by_name(self.clone(), name.clone()).await?;
            if objects.is_empty() {
                unfound.push(format!("`{name}`"));
            }
            for object in objects {
                if seen_ids.insert(object.id().to_owned()) {
                    found.push(object);
                }
            }
        }
        let accounted = listed.len() as u64 + found.len() as u64;
        let gap = total.saturating_sub(accounted);
        if gap > 0 && !unfound.is_empty() {
            const SHOWN: usize = 10;
            let mut shown: Vec<String> = unfound.iter().take(SHOWN).cloned().collect();
            if unfound.len() > SHOWN {
                shown.push(format!("and {} more", unfound.len() - SHOWN));
            }
            let hint = format!(
                "; lookups found {} more, so {gap} the server counts are unaccounted for, and any \
                 of these could be one of them: {}",
                found.len(),
                shown.join(", ")
            );
            if !accept_gap {
                return Err(ScimError::Incomplete {
                    resource: resource.to_owned(),
                    expected: total,
                    got: listed.len(),
                    hint: format!(
                        "{hint}; zsc refuses to plan from this read (it could create them a \
                         second time or stop managing them); if the server's count is simply \
                         wrong, allow it for one run with `--accept-listing-gap`"
                    ),
                });
            }
            tracing::warn!(
                "{resource}: the server reported {total} but listed {}{hint}; going on as \
                 `--accept-listing-gap` allows",
                listed.len()
            );
        } else {
            tracing::warn!(
                "{resource}: the server reported {total} but listed {}; every object zsc manages \
                 or the configuration declares is accounted for ({} found by lookup)",
                listed.len(),
                found.len()
            );
        }
        Ok(found)
    }

    /// One user by id; `None` if the server has none (404).
    pub async fn get_user(&self, id: &str) -> Result<Option<LiveUser>, ScimError> {
        self.get_by_id::<WireUser, _>("Users", id, WireUser::into_live)
            .await
    }

    /// One group by id, with its members; `None` if the server has none (404).
    pub async fn get_group(&self, id: &str) -> Result<Option<LiveGroup>, ScimError> {
        self.get_by_id::<WireGroup, _>("Groups", id, WireGroup::into_live)
            .await
    }

    /// One user by id with the ids of its groups; `None` if the server has none (404).
    pub async fn get_user_groups(&self, id: &str) -> Result<Option<UserWithGroups>, ScimError> {
        let path = format!("/Users/{}", path_segment(id));
        let answer = match self
            .send(Method::GET, &path, None, Repeat::Idempotent)
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let user: WireUser = self.parse("GET", &path, &answer)?;
        let groups: GroupIds = self.parse("GET", &path, &answer)?;
        let user = user.into_live().map_err(|m| protocol("GET", &path, m))?;
        Ok(Some(UserWithGroups {
            user,
            groups: groups.ids(),
        }))
    }

    pub(super) async fn get_by_id<W: DeserializeOwned, T>(
        &self,
        resource: &str,
        id: &str,
        into_live: fn(W) -> Result<T, String>,
    ) -> Result<Option<T>, ScimError> {
        let path = format!("/{resource}/{}", path_segment(id));
        match self.get::<W>(&path).await {
            Ok(wire) => into_live(wire)
                .map(Some)
                .map_err(|m| protocol("GET", &path, m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every user named `user_name` (case-insensitively, in NFC). By `userName eq` first; where
    /// that finds nothing (a server whose `eq` is case-sensitive, or that refuses an escaped
    /// quote, or cannot filter) by a paged scan of the listing that compares names as zsc does.
    pub async fn look_up_users(&self, user_name: &str) -> Result<Vec<LiveUser>, ScimError> {
        if let Some(found) = self.look_up_users_eq(user_name).await? {
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let key = folded(user_name);
        let listing = Box::pin(self.list_users()).await?;
        Ok(listing
            .items
            .into_iter()
            .filter(|u| folded(&u.user_name) == key)
            .collect())
    }

    /// Every group named `name`, with its members (see [`Self::look_up_users`]).
    pub async fn look_up_groups(&self, name: &str) -> Result<Vec<LiveGroup>, ScimError> {
        if let Some(found) = self.look_up_groups_eq(name).await? {
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let key = folded(name);
        let listing = Box::pin(self.list_complete::<WireGroup>("Groups", "")).await?;
        let named: Vec<ListedGroup> = listing
            .items
            .into_iter()
            .filter(|g| folded(&g.group.name) == key)
            .collect();
        self.with_members(named).await
    }

    /// `userName eq`: every match the server returns that has the name as zsc compares it;
    /// `None` when the server cannot filter or refuses the filter.
    pub(super) async fn look_up_users_eq(
        &self,
        user_name: &str,
    ) -> Result<Option<Vec<LiveUser>>, ScimError> {
        let Some(list) = self
            .filtered::<WireUser>(
                "Users",
                &format!("userName eq \"{}\"", escape_filter_value(user_name)),
            )
            .await?
        else {
            return Ok(None);
        };
        let key = folded(user_name);
        list.into_iter()
            .filter(|u| folded(&u.user_name) == key)
            .map(|u| u.into_live().map_err(|m| protocol("GET", "/Users", m)))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// `displayName eq`, with members (read by id where the answer left them out); `None`
    /// when the server cannot filter or refuses the filter.
    pub(super) async fn look_up_groups_eq(
        &self,
        name: &str,
    ) -> Result<Option<Vec<LiveGroup>>, ScimError> {
        let Some(list) = self
            .filtered::<WireGroup>(
                "Groups",
                &format!("displayName eq \"{}\"", escape_filter_value(name)),
            )
            .await?
        else {
            return Ok(None);
        };
        let key = folded(name);
        let named: Vec<ListedGroup> = list
            .into_iter()
            .filter(|g| folded(&g.display_name) == key)
            .map(|g| g.into_listed().map_err(|m| protocol("GET", "/Groups", m)))
            .collect::<Result<_, _>>()?;
        self.with_members(named).await.map(Some)
    }

    /// Whether `userName eq` (`resource` "Users") or `displayName eq` ("Groups") finds a name
    /// spelled in another case, as zsc compares names: the first object the server lists,
    /// looked up by its name with the case of each letter swapped (two requests, asked once
    /// per client). `false` when that cannot be told: the name has no letter with a case, or
    /// the server refuses the filter. A server with no object of the kind has nothing a
    /// look-up could miss.
    pub async fn eq_folds_case(&self, resource: &str) -> Result<bool, ScimError> {
        let (slot, attribute, field) = match resource {
            "Users" => (0, "userName", "userName"),
            _ => (1, "displayName", "displayName"),
        };
        self.inner.eq_folds_case[slot]
            .get_or_try_init(|| async {
                let path = format!("/{resource}?startIndex=1&count=1");
                let first: ListResponse<serde_json::Value> = self.get(&path).await?;
                let Some(object) = first.resources.first() else {
                    return Ok(first.total_results.unwrap_or(0) == 0);
                };
                let (Some(id), Some(name)) = (
                    object.get("id").and_then(serde_json::Value::as_str),
                    object.get(field).and_then(serde_json::Value::as_str),
                ) else {
                    return Ok(false);
                };
                let swapped: String = name
                    .chars()
                    .flat_map(|c| -> Vec<char> {
                        if c.is_lowercase() {
                            c.to_uppercase().collect()
                        } else {
                            c.to_lowercase().collect()
                        }
                    })
                    .collect();
                if swapped == name {
                    return Ok(false);
                }
                let filter = format!("{attribute} eq \"{}\"", escape_filter_value(&swapped));
                let found = self
                    .filtered::<serde_json::Value>(resource, &filter)
                    .await?
                    .unwrap_or_default();
                let folds = found
                    .iter()
                    .any(|o| o.get("id").and_then(serde_json::Value::as_str) == Some(id));
                tracing::info!(
                    "{resource}: `{attribute} eq` {} a name spelled in another case",
                    if folds { "finds" } else { "does not find" }
                );
                Ok(folds)
            })
            .await
            .copied()
    }

    /// A filtered listing's resources; `None` when the server cannot filter (it says so, or
    /// refuses this filter).
    pub(super) async fn filtered<W: DeserializeOwned>(
        &self,
        resource: &str,
        filter: &str,
    ) -> Result<Option<Vec<W>>, ScimError> {
        if !self.can_filter() {
            return Ok(None);
        }
        let path = format!("/{resource}?filter={}", query_escape(filter));
        match self.get::<ListResponse<W>>(&path).await {
            Ok(list) => Ok(Some(list.resources)),
            Err(ScimError::Status { status, .. }) if REFUSED_PARAMETER.contains(&status) => {
                tracing::info!("{resource}: the server refused the filter ({status}); scanning the listing instead");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// What a targeted refresh asks for: users and groups by id (managed objects), and by name
/// (declared objects zsc does not manage yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    pub user_ids: Vec<String>,
    pub group_ids: Vec<String>,
    pub user_names: Vec<String>,
    pub group_names: Vec<String>,
}

impl Lookups {
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty()
            && self.group_ids.is_empty()
            && self.user_names.is_empty()
            && self.group_names.is_empty()
    }
}

/// What [`ScimClient::read_some`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Looked {
    pub users: Vec<LiveUser>,
    pub groups: Vec<LiveGroup>,
    /// Ids asked for that the server has no object for (404).
    pub missing_user_ids: Vec<String>,
    pub missing_group_ids: Vec<String>,
    /// Names cannot be looked up one by one on this server (it cannot filter, refused a
    /// filter, or its `eq` tells case apart): nothing was read.
    pub unfilterable: bool,
}
