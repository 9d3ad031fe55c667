//! Listings: page by page and concurrently, read twice when the first pass comes back short
//! of its count, each object once; what a listed resource becomes in the model.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::model::{LiveGroup, LiveUser};

use super::client::{Answer, Repeat, ScimClient};
use super::error::ScimError;
use super::transport::protocol;
use super::wire::{ListResponse, WireGroup, WireUser};

impl ScimClient {
    /// Page through a resource, reading it twice if the first pass comes back short of the
    /// server's totalResults (a page shifted under a concurrent change, or a server that skips
    /// objects); the result holds each id once and says how many are still unaccounted for.
    pub(super) async fn list_complete<W: Page>(
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
    pub(super) async fn list_page<W: Page>(
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
    pub(super) async fn list_all<W: Page>(
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
    pub(super) async fn list_sequential<W: Page>(
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
    pub(super) async fn concurrently<I, O, F, Fut>(
        &self,
        inputs: Vec<I>,
        f: F,
    ) -> Result<Vec<O>, ScimError>
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

/// Statuses with which a server refuses a query parameter it does not support (RFC 7644
/// §3.12: 400 invalidValue, 403, 501 Not Implemented; some answer 422).
pub(super) const REFUSED_PARAMETER: [u16; 4] = [400, 403, 422, 501];

/// A listing's distinct objects, the total the server reported, and how many of those are
/// missing from `items`.
pub(super) struct Listing<T> {
    pub(super) items: Vec<T>,
    pub(super) total: u64,
    pub(super) shortfall: u64,
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
pub(super) struct GroupIds {
    #[serde(default)]
    groups: Vec<crate::scim::wire::WireMember>,
}

impl GroupIds {
    pub(super) fn ids(self) -> Vec<String> {
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

pub(super) fn dedup_by_id<T: HasId>(items: Vec<T>) -> Vec<T> {
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
pub(super) fn progress_name(resource: &str) -> &'static str {
    match resource {
        "Users" => "users",
        "Groups" => "groups",
        _ => "objects",
    }
}

pub(super) fn list_path(resource: &str, start: usize, count: usize, extra: &str) -> String {
    format!("/{resource}?startIndex={start}&count={count}{extra}")
}
