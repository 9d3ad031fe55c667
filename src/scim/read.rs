//! Reading a tenant: users and groups with members, page by page and concurrently, and made
//! complete where a listing comes back short; and look-ups by id and by name.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::model::{folded, name_key, LiveGroup, LiveTenant, LiveUser};

use reqwest::Method;

use super::client::{Answer, Repeat, ScimClient};
use super::error::ScimError;
use super::transport::{path_segment, protocol, query_escape};
use super::wire::{escape_filter_value, ListResponse, WireGroup, WireUser};

impl ScimClient {
    /// Read every user and group of the tenant, with group members, and make sure the picture
    /// is complete for what matters: see [`Expected`]. The first read of a run asks the server
    /// what it supports first (see `discovery.rs`).
    pub async fn read_tenant(&self, expected: &Expected) -> Result<LiveTenant, ScimError> {
        Ok(self.read_tenant_counted(expected).await?.0)
    }

    /// [`Self::read_tenant`], and how many users and groups the server counted (each
    /// listing's `totalResults`): what a targeted refresh later compares its counts with.
    pub async fn read_tenant_counted(
        &self,
        expected: &Expected,
    ) -> Result<(LiveTenant, Totals), ScimError> {
        self.discover().await;
        if self.memberships_from_users() {
            return self.read_tenant_by_users(expected).await;
        }
        let ((users, user_total), (groups, group_total)) =
            tokio::try_join!(self.read_users(expected), self.read_groups(expected))?;
        Ok((
            LiveTenant { users, groups },
            Totals {
                users: user_total,
                groups: group_total,
            },
        ))
    }

    /// Whether memberships are read from users' `groups` (see [`Memberships`]).
    pub fn memberships_from_users(&self) -> bool {
        match self.inner.memberships {
            Memberships::FromGroups => false,
            Memberships::FromUsers => true,
            // Users' groups cost no request beyond the user listing zsc reads anyway; group
            // members cost one request per group where listings leave them out (ZPA).
            Memberships::Auto => !self.inner.spec.group_list_has_members,
        }
    }

    /// A full read with memberships taken from the user listing: users listed with their
    /// `groups`, groups listed without one more request each.
    async fn read_tenant_by_users(
        &self,
        expected: &Expected,
    ) -> Result<(LiveTenant, Totals), ScimError> {
        let (users, groups) = tokio::try_join!(
            self.read_users_with_groups(expected),
            self.read_groups_listed(expected)
        )?;
        let ((users, user_total), memberships) = users;
        let (mut groups, group_total) = groups;
        let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
        for (user, groups) in memberships {
            for group in groups {
                by_group.entry(group).or_default().push(user.clone());
            }
        }
        for (group, members_listed) in &mut groups {
            if !*members_listed {
                group.members = by_group.remove(&group.id).unwrap_or_default();
            }
        }
        Ok((
            LiveTenant {
                users,
                groups: groups.into_iter().map(|(g, _)| g).collect(),
            },
            Totals {
                users: user_total,
                groups: group_total,
            },
        ))
    }

    /// Every user with the ids of its groups (no `excludedAttributes`), accounted for as
    /// [`Self::read_users`] does; users found by look-up are read once more by id for their
    /// groups.
    #[allow(clippy::type_complexity)]
    async fn read_users_with_groups(
        &self,
        expected: &Expected,
    ) -> Result<((Vec<LiveUser>, u64), Vec<(String, Vec<String>)>), ScimError> {
        let listing = self.list_complete::<UserGroups>("Users", "").await?;
        let (total, listed) = (listing.total, listing.items);
        let mut memberships = Vec::with_capacity(listed.len());
        let mut users = Vec::with_capacity(listed.len());
        for UserWithGroups { user, groups } in listed {
            memberships.push((user.id.clone(), groups));
            users.push(user);
        }
        if listing.shortfall > 0 {
            let found = self.account_for_users(expected, total, &users).await?;
            for user in found {
                let groups = self
                    .get_user_groups(&user.id)
                    .await?
                    .map(|u| u.groups)
                    .unwrap_or_default();
                memberships.push((user.id.clone(), groups));
                users.push(user);
            }
        }
        Ok(((users, total), memberships))
    }

    /// Every user, listed without their read-only `groups` where the server allows.
    async fn list_users(&self) -> Result<Listing<LiveUser>, ScimError> {
        // Users' read-only `groups` repeat every membership (with a `$ref` URL each): as large
        // as the group listing itself. zsc reads memberships from the groups, so it asks the
        // server to leave them out (RFC 7644 §3.4.2.5), and reads them anyway from a server
        // that refuses the parameter.
        if !self.inner.exclude_groups.load(Ordering::Relaxed) {
            return self.list_complete::<WireUser>("Users", "").await;
        }
        let extra = format!("&{}=groups", self.inner.spec.exclude_param);
        match self.list_complete::<WireUser>("Users", &extra).await {
            Err(ScimError::Status { status, .. }) if REFUSED_PARAMETER.contains(&status) => {
                tracing::info!(
                    "Users: the server refused `{extra}` ({status}); listing without it"
                );
                self.inner.exclude_groups.store(false, Ordering::Relaxed);
                self.list_complete::<WireUser>("Users", "").await
            }
            listing => listing,
        }
    }

    async fn read_users(&self, expected: &Expected) -> Result<(Vec<LiveUser>, u64), ScimError> {
        let listing = self.list_users().await?;
        let (total, mut users) = (listing.total, listing.items);
        if listing.shortfall > 0 {
            let found = self.account_for_users(expected, total, &users).await?;
            users.extend(found);
        }
        Ok((users, total))
    }

    async fn account_for_users(
        &self,
        expected: &Expected,
        total: u64,
        users: &[LiveUser],
    ) -> Result<Vec<LiveUser>, ScimError> {
        self.account_for(
            "Users",
            total,
            users,
            &expected.users,
            &expected.user_ids,
            expected.accept_gap,
            |c, id| async move { c.get_user(&id).await },
            |c, name| async move { c.look_up_users_eq(&name).await },
        )
        .await
    }

    /// Every group with its members. Dialects whose listings omit members (ZPA) cost one more
    /// request per group.
    async fn read_groups(&self, expected: &Expected) -> Result<(Vec<LiveGroup>, u64), ScimError> {
        let listing = self.list_complete::<WireGroup>("Groups", "").await?;
        let total = listing.total;
        let shortfall = listing.shortfall;
        let mut groups = self.with_members(listing.items).await?;
        if shortfall > 0 {
            let found = self.account_for_groups(expected, total, &groups).await?;
            groups.extend(found);
        }
        Ok((groups, total))
    }

    /// Every group as listed, with whether the listing carried its members (found by
    /// look-up: read by id, so with members).
    async fn read_groups_listed(
        &self,
        expected: &Expected,
    ) -> Result<(Vec<(LiveGroup, bool)>, u64), ScimError> {
        let listing = self.list_complete::<WireGroup>("Groups", "").await?;
        let total = listing.total;
        let shortfall = listing.shortfall;
        let mut groups: Vec<(LiveGroup, bool)> = listing
            .items
            .into_iter()
            .map(|l| (l.group, l.members_listed))
            .collect();
        if shortfall > 0 {
            let listed: Vec<LiveGroup> = groups.iter().map(|(g, _)| g.clone()).collect();
            let found = self.account_for_groups(expected, total, &listed).await?;
            groups.extend(found.into_iter().map(|g| (g, true)));
        }
        Ok((groups, total))
    }

    async fn account_for_groups(
        &self,
        expected: &Expected,
        total: u64,
        groups: &[LiveGroup],
    ) -> Result<Vec<LiveGroup>, ScimError> {
        self.account_for(
            "Groups",
            total,
            groups,
            &expected.groups,
            &expected.group_ids,
            expected.accept_gap,
            |c, id| async move { c.get_group(&id).await },
            |c, name| async move { c.look_up_groups_eq(&name).await },
        )
        .await
    }

    /// Listed groups with their members: read one by one where the listing left them out.
    async fn with_members(&self, listed: Vec<ListedGroup>) -> Result<Vec<LiveGroup>, ScimError> {
        let mut groups: Vec<LiveGroup> = Vec::with_capacity(listed.len());
        let mut need_members = Vec::new();
        for (i, listed) in listed.into_iter().enumerate() {
            if !listed.members_listed && !self.inner.spec.group_list_has_members {
                need_members.push((i, listed.group.id.clone()));
            }
            groups.push(listed.group);
        }
        if !need_members.is_empty() {
            let total = need_members.len();
            let read = Arc::new(AtomicUsize::new(0));
            let fetched = self
                .concurrently(need_members, move |client, (i, id)| {
                    let read = Arc::clone(&read);
                    async move {
                        let group = client.get_group(&id).await?;
                        let done = read.fetch_add(1, Ordering::Relaxed) + 1;
                        client.advance("group members", done, total);
                        Ok((i, group))
                    }
                })
                .await?;
            for (i, g) in fetched {
                if let Some(g) = g {
                    groups[i].members = g.members;
                }
            }
        }
        Ok(groups)
    }

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

    async fn count_of(&self, resource: &str, bulky: &str) -> Result<Option<u64>, ScimError> {
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
    /// listed as missing. Groups come with their members.
    pub async fn read_some(&self, lookups: &Lookups) -> Result<Looked, ScimError> {
        self.discover().await;
        if (!lookups.user_names.is_empty() || !lookups.group_names.is_empty()) && !self.can_filter()
        {
            return Ok(Looked {
                unfilterable: true,
                ..Looked::default()
            });
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
            Users(Vec<LiveUser>),
            Groups(Vec<LiveGroup>),
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
                Got::Users(users) => looked.users.extend(users),
                Got::Groups(groups) => looked.groups.extend(groups),
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
    async fn account_for<T, ById, ByIdFut, ByName, ByNameFut>(
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

    async fn get_by_id<W: DeserializeOwned, T>(
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
        let found = self.look_up_users_eq(user_name).await?;
        if !found.is_empty() {
            return Ok(found);
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
        let found = self.look_up_groups_eq(name).await?;
        if !found.is_empty() {
            return Ok(found);
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

    /// `userName eq`: every match the server returns that has the name as zsc compares it.
    /// Nothing when the server cannot filter or refuses the filter.
    async fn look_up_users_eq(&self, user_name: &str) -> Result<Vec<LiveUser>, ScimError> {
        let Some(list) = self
            .filtered::<WireUser>(
                "Users",
                &format!("userName eq \"{}\"", escape_filter_value(user_name)),
            )
            .await?
        else {
            return Ok(Vec::new());
        };
        let key = folded(user_name);
        list.into_iter()
            .filter(|u| folded(&u.user_name) == key)
            .map(|u| u.into_live().map_err(|m| protocol("GET", "/Users", m)))
            .collect()
    }

    /// `displayName eq`, with members (read by id where the answer left them out).
    async fn look_up_groups_eq(&self, name: &str) -> Result<Vec<LiveGroup>, ScimError> {
        let Some(list) = self
            .filtered::<WireGroup>(
                "Groups",
                &format!("displayName eq \"{}\"", escape_filter_value(name)),
            )
            .await?
        else {
            return Ok(Vec::new());
        };
        let key = folded(name);
        let named: Vec<ListedGroup> = list
            .into_iter()
            .filter(|g| folded(&g.display_name) == key)
            .map(|g| g.into_listed().map_err(|m| protocol("GET", "/Groups", m)))
            .collect::<Result<_, _>>()?;
        self.with_members(named).await
    }

    /// A filtered listing's resources; `None` when the server cannot filter (it says so, or
    /// refuses this filter).
    async fn filtered<W: DeserializeOwned>(
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

    /// Page through a resource, reading it twice if the first pass comes back short of the
    /// server's totalResults (a page shifted under a concurrent change, or a server that skips
    /// objects); the result holds each id once and says how many are still unaccounted for.
    async fn list_complete<W: Page>(
        &self,
        resource: &str,
        extra: &str,
    ) -> Result<Listing<W::Live>, ScimError> {
        let first = self.list_all::<W>(resource, extra).await?;
        if first.shortfall == 0 {
            return Ok(first);
        }
        tracing::info!(
            "{resource}: read {} of the {} the server reported; reading again",
            first.items.len(),
            first.total
        );
        let second = self.list_all::<W>(resource, extra).await?;
        let total = first.total.max(second.total);
        let items = dedup_by_id(first.items.into_iter().chain(second.items).collect());
        Ok(Listing::new(items, total))
    }

    /// One page of a listing, converted to the model where it was read (on a worker thread,
    /// for the pages fetched concurrently). Also returns the page's totalResults.
    async fn list_page<W: Page>(
        &self,
        resource: &str,
        start: usize,
        count: usize,
        extra: &str,
    ) -> Result<(Vec<W::Live>, Option<u64>), ScimError> {
        let path = list_path(resource, start, count, extra);
        let answer = self
            .send(Method::GET, &path, None, Repeat::Idempotent)
            .await?;
        W::parse_page(self, &path, &answer)
    }

    /// Page through a resource: the first page tells the total, the rest are fetched
    /// concurrently. Each id appears once in the result.
    async fn list_all<W: Page>(
        &self,
        resource: &str,
        extra: &str,
    ) -> Result<Listing<W::Live>, ScimError> {
        let page = self.inner.page_size.load(Ordering::Relaxed);
        let (mut items, total) = self.list_page::<W>(resource, 1, page, extra).await?;
        let returned = items.len();
        let what = progress_name(resource);
        self.advance(what, returned, total.map_or(returned, |t| t as usize));
        let Some(total) = total else {
            let items = self.list_sequential::<W>(resource, extra, items).await?;
            let total = items.len() as u64;
            return Ok(Listing::new(items, total));
        };
        let total_usize = usize::try_from(total).unwrap_or(usize::MAX);
        if returned < total_usize && returned > 0 {
            // The server may cap pages below what we asked: step by what it returns.
            let step = returned.min(page);
            // A hostile or broken totalResults must not become millions of requests (or a
            // vector of them that does not fit in memory).
            const MAX_PAGES: usize = 100_000;
            let pages = (total_usize - returned).div_ceil(step);
            if pages > MAX_PAGES {
                return Err(protocol(
                    "GET",
                    &format!("/{resource}"),
                    format!(
                        "totalResults {total} in pages of {step} would take {pages} requests, \
                         more than the {MAX_PAGES} zsc allows"
                    ),
                ));
            }
            let starts: Vec<usize> = (returned + 1..=total_usize).step_by(step).collect();
            let resource: Arc<str> = resource.into();
            let extra: Arc<str> = extra.into();
            let read = Arc::new(AtomicUsize::new(returned));
            let pages = self
                .concurrently(starts, move |client, start| {
                    let (resource, extra) = (Arc::clone(&resource), Arc::clone(&extra));
                    let read = Arc::clone(&read);
                    async move {
                        let (items, _) = client
                            .list_page::<W>(&resource, start, step, &extra)
                            .await?;
                        let done = read.fetch_add(items.len(), Ordering::Relaxed) + items.len();
                        client.advance(what, done, total_usize);
                        Ok(items)
                    }
                })
                .await?;
            items.reserve(pages.iter().map(Vec::len).sum());
            for p in pages {
                items.extend(p);
            }
        }
        Ok(Listing::new(dedup_by_id(items), total))
    }

    /// Paging for servers that report no totalResults: until an empty or short page, bounded,
    /// and stopping if a page repeats.
    async fn list_sequential<W: Page>(
        &self,
        resource: &str,
        extra: &str,
        mut items: Vec<W::Live>,
    ) -> Result<Vec<W::Live>, ScimError> {
        const MAX_PAGES: usize = 100_000;
        let page = self.inner.page_size.load(Ordering::Relaxed);
        let mut seen: HashSet<String> = items.iter().map(|i| i.id().to_owned()).collect();
        let mut last = items.len();
        let mut start = items.len() + 1;
        for _ in 0..MAX_PAGES {
            if last == 0 || last < page {
                return Ok(dedup_by_id(items));
            }
            let (list, _) = self.list_page::<W>(resource, start, page, extra).await?;
            last = list.len();
            let before = seen.len();
            for item in &list {
                seen.insert(item.id().to_owned());
            }
            if last > 0 && seen.len() == before {
                // The same page again: the server ignores startIndex. Stop rather than loop.
                return Err(protocol(
                    "GET",
                    &format!("/{resource}"),
                    "the server returned the same page twice; it may ignore startIndex".to_owned(),
                ));
            }
            start += last;
            items.extend(list);
        }
        Err(protocol(
            "GET",
            &format!("/{resource}"),
            format!("more than {MAX_PAGES} pages without an end"),
        ))
    }

    /// Run `f` over `inputs` with at most `parallelism` at once; fail on the first error.
    async fn concurrently<I, O, F, Fut>(&self, inputs: Vec<I>, f: F) -> Result<Vec<O>, ScimError>
    where
        I: Send + 'static,
        O: Send + 'static,
        F: Fn(ScimClient, I) -> Fut,
        Fut: std::future::Future<Output = Result<O, ScimError>> + Send + 'static,
    {
        let permits = Arc::new(Semaphore::new(self.inner.parallelism));
        let mut tasks = JoinSet::new();
        for input in inputs {
            let permits = Arc::clone(&permits);
            let fut = f(self.clone(), input);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                fut.await
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(o)) => out.push(o),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(ScimError::Setup(format!("a worker failed: {e}"))),
            }
        }
        Ok(out)
    }
}

/// What a refresh must account for in a tenant: the objects state manages (by id) and the
/// names the configuration declares. If a listing comes back short, each of these that it did
/// not return is read by id or looked up by name, so that no plan creates an object the
/// listing skipped (see [`ScimClient::read_tenant`]).
#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub user_ids: Vec<String>,
    pub group_ids: Vec<String>,
    /// Go on when a listing stays short and a name is not found (`--accept-listing-gap`): for
    /// a server whose count is simply wrong.
    pub accept_gap: bool,
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
    /// The server cannot filter, so names cannot be looked up one by one: nothing was read.
    pub unfilterable: bool,
}

/// Statuses with which a server refuses a query parameter it does not support (RFC 7644
/// §3.12: 400 invalidValue, 403, 501 Not Implemented; some answer 422).
const REFUSED_PARAMETER: [u16; 4] = [400, 403, 422, 501];

/// A listing's distinct objects, the total the server reported, and how many of those are
/// missing from `items`.
struct Listing<T> {
    items: Vec<T>,
    total: u64,
    shortfall: u64,
}

impl<T> Listing<T> {
    fn new(items: Vec<T>, total: u64) -> Self {
        let shortfall = total.saturating_sub(items.len() as u64);
        Listing {
            items,
            total,
            shortfall,
        }
    }
}

/// A resource with an id, for de-duplicating listings.
pub trait HasId {
    fn id(&self) -> &str;
}

/// A live object with an id and a name, for accounting for a short listing.
pub trait Object: HasId {
    fn name(&self) -> &str;
}

impl Object for LiveUser {
    fn name(&self) -> &str {
        &self.user_name
    }
}

impl HasId for LiveGroup {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Object for LiveGroup {
    fn name(&self) -> &str {
        &self.name
    }
}

/// A resource as a listing returns it, and what it becomes in the model.
pub(crate) trait Listed: DeserializeOwned + Send + 'static {
    type Live: HasId + Send + 'static;

    /// Convert to the model; a resource without an id is a protocol error.
    fn into_listed(self) -> Result<Self::Live, String>;
}

impl HasId for LiveUser {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Listed for WireUser {
    type Live = LiveUser;

    fn into_listed(self) -> Result<LiveUser, String> {
        self.into_live()
    }
}

/// A listed group, and whether the listing carried its members (ZPA's leave them out).
pub(crate) struct ListedGroup {
    pub(super) group: LiveGroup,
    pub(super) members_listed: bool,
}

impl HasId for ListedGroup {
    fn id(&self) -> &str {
        &self.group.id
    }
}

impl Listed for WireGroup {
    type Live = ListedGroup;

    fn into_listed(self) -> Result<ListedGroup, String> {
        let members_listed = self.members.is_some();
        Ok(ListedGroup {
            group: self.into_live()?,
            members_listed,
        })
    }
}

/// A listing page's resources, converted to the model: what [`ScimClient::list_all`] pages
/// through.
pub(super) trait Page: Send + 'static {
    type Live: HasId + Send + 'static;

    /// The page's resources and its totalResults.
    fn parse_page(
        client: &ScimClient,
        path: &str,
        answer: &Answer,
    ) -> Result<(Vec<Self::Live>, Option<u64>), ScimError>;
}

impl<W: Listed> Page for W {
    type Live = W::Live;

    fn parse_page(
        client: &ScimClient,
        path: &str,
        answer: &Answer,
    ) -> Result<(Vec<W::Live>, Option<u64>), ScimError> {
        let page: ListResponse<W> = client.parse("GET", path, answer)?;
        let items = page
            .resources
            .into_iter()
            .map(|w| w.into_listed().map_err(|m| protocol("GET", path, m)))
            .collect::<Result<_, _>>()?;
        Ok((items, page.total_results))
    }
}

/// Users listed with the ids of their groups (for memberships read from users).
pub(super) struct UserGroups;

/// A user and the ids of the groups it belongs to, as the server lists them.
#[derive(Clone, Debug)]
pub struct UserWithGroups {
    pub user: LiveUser,
    pub groups: Vec<String>,
}

impl HasId for UserWithGroups {
    fn id(&self) -> &str {
        &self.user.id
    }
}

/// Only a resource's `groups`: read in a second pass over the same text, so that the typed
/// user (which never parses `groups`) stays as it is.
#[derive(serde::Deserialize)]
struct GroupIds {
    #[serde(default)]
    groups: Vec<crate::scim::wire::WireMember>,
}

impl GroupIds {
    fn ids(self) -> Vec<String> {
        self.groups.into_iter().map(|m| m.value).collect()
    }
}

impl Page for UserGroups {
    type Live = UserWithGroups;

    fn parse_page(
        client: &ScimClient,
        path: &str,
        answer: &Answer,
    ) -> Result<(Vec<UserWithGroups>, Option<u64>), ScimError> {
        let page: ListResponse<WireUser> = client.parse("GET", path, answer)?;
        let groups: ListResponse<GroupIds> = client.parse("GET", path, answer)?;
        if groups.resources.len() != page.resources.len() {
            return Err(protocol(
                "GET",
                path,
                "the page changed between two reads of it".into(),
            ));
        }
        let items = page
            .resources
            .into_iter()
            .zip(groups.resources)
            .map(|(user, groups)| {
                Ok(UserWithGroups {
                    user: user.into_live().map_err(|m| protocol("GET", path, m))?,
                    groups: groups.ids(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((items, page.total_results))
    }
}

/// What a full read counted: each listing's `totalResults`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub users: u64,
    pub groups: u64,
}

/// Where a refresh reads group memberships from (a tenant's `membership_source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Memberships {
    /// Each group's `members`: from the group listing, or one read per group where listings
    /// leave them out (ZPA).
    #[default]
    FromGroups,
    /// Each user's read-only `groups`, from the user listing (read without
    /// `excludedAttributes=groups`).
    FromUsers,
    /// Users' groups where group listings leave members out, groups' members elsewhere.
    Auto,
}

fn dedup_by_id<T: HasId>(items: Vec<T>) -> Vec<T> {
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(items.len());
        items.iter().map(|i| seen.insert(i.id())).collect()
    };
    if keep.iter().all(|k| *k) {
        return items;
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, keep)| keep.then_some(item))
        .collect()
}

/// What a listing of `resource` reads, in words for progress: `users`, `groups`.
fn progress_name(resource: &str) -> &'static str {
    match resource {
        "Users" => "users",
        "Groups" => "groups",
        _ => "objects",
    }
}

fn list_path(resource: &str, start: usize, count: usize, extra: &str) -> String {
    format!("/{resource}?startIndex={start}&count={count}{extra}")
}
