//! Reading a tenant: users and groups with members, page by page and concurrently, and made
//! complete where a listing comes back short; and look-ups by id and by name.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::model::{folded, name_key, LiveGroup, LiveTenant, LiveUser};

use super::client::ScimClient;
use super::error::ScimError;
use super::transport::{path_segment, protocol, query_escape};
use super::wire::{escape_filter_value, ListResponse, WireGroup, WireUser};

impl ScimClient {
    /// Read every user and group of the tenant, with group members, and make sure the picture
    /// is complete for what matters: see [`Expected`]. The first read of a run asks the server
    /// what it supports first (see `discovery.rs`).
    pub async fn read_tenant(&self, expected: &Expected) -> Result<LiveTenant, ScimError> {
        self.discover().await;
        let (users, groups) =
            tokio::try_join!(self.read_users(expected), self.read_groups(expected))?;
        Ok(LiveTenant { users, groups })
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

    async fn read_users(&self, expected: &Expected) -> Result<Vec<LiveUser>, ScimError> {
        let listing = self.list_users().await?;
        let (total, mut users) = (listing.total, listing.items);
        if listing.shortfall > 0 {
            let found = self
                .account_for(
                    "Users",
                    total,
                    &users,
                    &expected.users,
                    &expected.user_ids,
                    expected.accept_gap,
                    |c, id| async move { c.get_user(&id).await },
                    |c, name| async move { c.look_up_users_eq(&name).await },
                )
                .await?;
            users.extend(found);
        }
        Ok(users)
    }

    /// Every group with its members. Dialects whose listings omit members (ZPA) cost one more
    /// request per group.
    async fn read_groups(&self, expected: &Expected) -> Result<Vec<LiveGroup>, ScimError> {
        let listing = self.list_complete::<WireGroup>("Groups", "").await?;
        let total = listing.total;
        let shortfall = listing.shortfall;
        let groups = self.with_members(listing.items).await?;
        let mut groups = groups;
        if shortfall > 0 {
            let found = self
                .account_for(
                    "Groups",
                    total,
                    &groups,
                    &expected.groups,
                    &expected.group_ids,
                    expected.accept_gap,
                    |c, id| async move { c.get_group(&id).await },
                    |c, name| async move { c.look_up_groups_eq(&name).await },
                )
                .await?;
            groups.extend(found);
        }
        Ok(groups)
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
    async fn list_complete<W: Listed>(
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
    async fn list_page<W: Listed>(
        &self,
        resource: &str,
        start: usize,
        count: usize,
        extra: &str,
    ) -> Result<(Vec<W::Live>, Option<u64>), ScimError> {
        let path = list_path(resource, start, count, extra);
        let page: ListResponse<W> = self.get(&path).await?;
        let items = page
            .resources
            .into_iter()
            .map(|w| w.into_listed().map_err(|m| protocol("GET", &path, m)))
            .collect::<Result<_, _>>()?;
        Ok((items, page.total_results))
    }

    /// Page through a resource: the first page tells the total, the rest are fetched
    /// concurrently. Each id appears once in the result.
    async fn list_all<W: Listed>(
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
    async fn list_sequential<W: Listed>(
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
