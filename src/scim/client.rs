//! The SCIM 2.0 client: one per tenant, shared by every worker.
//!
//! Every request goes through [`ScimClient::send`], which paces, authenticates, retries what is
//! safe to retry and turns answers into [`ScimError`]s with the server's detail. The bearer
//! token is attached there and nowhere else; it never appears in a log line or an error.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::dialect::{Dialect, DialectSpec};
use crate::model::{folded, name_key, LiveGroup, LiveTenant, LiveUser, UserAttrs};
use crate::secret::Secret;

use super::error::ScimError;
use super::pacing::{parse_retry_after, Backoff, Pacer};
use super::wire::{
    escape_filter_value, ListResponse, PatchOperation, PatchRequest, ScimErrorBody, WireGroup,
    WireMember, WireUser, ENTERPRISE_SCHEMA,
};

/// How to reach one tenant.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub base_url: String,
    pub token: Secret,
    pub dialect: Dialect,
    /// Page size for listings (capped at the dialect's maximum).
    pub page_size: Option<usize>,
    /// Requests per second; `None` uses the dialect's documented limit.
    pub rate_limit: Option<f64>,
    /// Concurrent requests for listings.
    pub parallelism: usize,
    /// Limit for one request, from sending to the last byte of the answer.
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl ClientOptions {
    pub fn new(base_url: impl Into<String>, token: Secret, dialect: Dialect) -> ClientOptions {
        ClientOptions {
            base_url: base_url.into(),
            token,
            dialect,
            page_size: None,
            rate_limit: None,
            parallelism: dialect.spec().default_parallelism,
            timeout: Duration::from_secs(60),
            backoff: Backoff::default(),
        }
    }
}

/// A created object, and whether it already existed (the create met "already exists", or a
/// retried create found the first attempt had landed) and was adopted instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created<T> {
    pub value: T,
    pub adopted: bool,
}

/// The outcome of a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    Deleted,
    /// The server answered 404: someone (or an earlier attempt) deleted it already.
    AlreadyGone,
}

/// A member reference to send: the user's id and userName.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    pub id: String,
    pub user_name: String,
}

/// Whether a request may be repeated after an uncertain outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Repeating it has the same effect as sending it once (GET, PUT, PATCH, DELETE).
    Idempotent,
    /// A create: repeated only when the server surely did not act on it (429, refused
    /// connection); otherwise the caller looks the object up first.
    OnlyIfNotReceived,
}

#[derive(Clone)]
pub struct ScimClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    token: Secret,
    pub(super) spec: &'static DialectSpec,
    /// The listing page size: the configured or dialect size, lowered by discovery when the
    /// server's `maxResults` is smaller.
    pub(super) page_size: AtomicUsize,
    parallelism: usize,
    /// Whether user listings still ask to leave users' `groups` out (false once the server
    /// refused the parameter).
    exclude_groups: AtomicBool,
    /// `parallelism` permits: at most that many requests are in flight at once, whatever
    /// reads them (a refresh lists users and groups side by side).
    in_flight: Semaphore,
    pub(super) pacer: Pacer,
    backoff: Backoff,
    pub(super) requests: AtomicU64,
    /// What `/ServiceProviderConfig` said, once read (see `discovery.rs`).
    pub(super) capabilities: tokio::sync::OnceCell<super::discovery::Capabilities>,
}

/// An answer with a success status.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: bytes::Bytes,
}

impl ScimClient {
    pub fn new(options: ClientOptions) -> Result<ScimClient, ScimError> {
        // reqwest is built with rustls but no crypto provider; ring is ours. Installing twice
        // is harmless (the second attempt reports the first is in place).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = options.base_url.trim_end_matches('/').to_owned();
        check_base_url(&base)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("zsc/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(options.parallelism.max(1) * 2)
            .build()
            .map_err(|e| ScimError::Setup(format!("could not set up HTTPS: {e}")))?;
        let spec = options.dialect.spec();
        let page_size = options
            .page_size
            .unwrap_or(spec.max_page_size)
            .clamp(1, spec.max_page_size);
        let rate = options.rate_limit.or(spec.rate_limit_rps);
        Ok(ScimClient {
            inner: Arc::new(Inner {
                http,
                base,
                token: options.token,
                spec,
                page_size: AtomicUsize::new(page_size),
                parallelism: options.parallelism.max(1),
                in_flight: Semaphore::new(options.parallelism.max(1)),
                exclude_groups: AtomicBool::new(true),
                pacer: Pacer::new(rate),
                backoff: options.backoff,
                requests: AtomicU64::new(0),
                capabilities: tokio::sync::OnceCell::new(),
            }),
        })
    }

    pub fn spec(&self) -> &'static DialectSpec {
        self.inner.spec
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Send one request, pacing and retrying. `path` is relative to the base URL and may carry
    /// a query string. Returns the successful answer or the last error.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Answer, ScimError> {
        let inner = &self.inner;
        let url = format!("{}{}", inner.base, path);
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // Held for this attempt only: a request waiting out a backoff leaves its slot free.
            let permit = inner.in_flight.acquire().await;
            inner.pacer.acquire().await;
            inner.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let result = self.send_once(&method, &url, path, body.as_deref()).await;
            drop(permit);
            let elapsed = started.elapsed();
            let error = match result {
                Ok(answer) => {
                    tracing::info!(
                        method = %method, path, status = answer.status,
                        ms = elapsed.as_millis() as u64, "scim request"
                    );
                    return Ok(answer);
                }
                Err(e) => e,
            };
            tracing::info!(method = %method, path, error = %error, ms = elapsed.as_millis() as u64, attempt, "scim request failed");
            let retry_after = match &error {
                ScimError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            let repeatable = match (&error, repeat) {
                (_, Repeat::Idempotent) => error.is_transient(),
                (ScimError::Status { status: 429, .. }, Repeat::OnlyIfNotReceived) => true,
                (ScimError::Transport { maybe_sent, .. }, Repeat::OnlyIfNotReceived) => !maybe_sent,
                _ => false,
            };
            if !repeatable || attempt >= inner.backoff.max_attempts {
                return Err(error);
            }
            let delay = inner.backoff.delay(attempt, retry_after);
            if error.status() == Some(429) {
                // Everyone slows down, not just the worker that was told.
                inner.pacer.hold_back(delay);
            }
            tracing::info!(method = %method, path, "retrying in {} ms after: {error}", delay.as_millis());
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer, ScimError> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(method.clone(), url)
            .bearer_auth(inner.token.expose())
            .header(
                reqwest::header::ACCEPT,
                "application/scim+json, application/json",
            );
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                .body(body.to_vec());
        }
        let transport = |e: reqwest::Error| ScimError::Transport {
            method: method.to_string(),
            path: path.to_owned(),
            message: describe_transport(&e),
            maybe_sent: !e.is_connect(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(Answer { status, body });
        }
        let parsed: Option<ScimErrorBody> = serde_json::from_slice(&body).ok();
        let detail = parsed.as_ref().and_then(|b| b.detail.clone()).or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            (!text.is_empty() && text.len() < 300).then(|| text.to_owned())
        });
        Err(ScimError::Status {
            method: method.to_string(),
            path: path.to_owned(),
            status,
            scim_type: parsed.and_then(|b| b.scim_type),
            detail,
            retry_after,
        })
    }

    pub(super) fn parse<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        answer: &Answer,
    ) -> Result<T, ScimError> {
        let invalid = |message: String| ScimError::Protocol {
            method: method.to_owned(),
            path: path.to_owned(),
            message: format!("invalid JSON ({message})"),
        };
        // One UTF-8 check of the whole body (word at a time over ASCII) instead of one per
        // string: a page of 1,000 groups holds about 400,000 strings.
        let text = std::str::from_utf8(&answer.body).map_err(|e| {
            invalid(format!(
                "invalid UTF-8 at byte {} of the body",
                e.valid_up_to()
            ))
        })?;
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ScimError> {
        let answer = self
            .send(Method::GET, path, None, Repeat::Idempotent)
            .await?;
        self.parse("GET", path, &answer)
    }

    // ---- reading -------------------------------------------------------------------------

    /// Read every user and group of the tenant, with group members, and make sure the picture
    /// is complete for what matters: see [`Expected`]. The first read of a run asks the server
    /// what it supports first (one request, see `discovery.rs`).
    pub async fn read_tenant(&self, expected: &Expected) -> Result<LiveTenant, ScimError> {
        self.discover().await;
        let (users, groups) = tokio::try_join!(
            self.read_users(&expected.users),
            self.read_groups(&expected.groups)
        )?;
        Ok(LiveTenant { users, groups })
    }

    async fn read_users(&self, expected: &[String]) -> Result<Vec<LiveUser>, ScimError> {
        // Users' read-only `groups` repeat every membership (with a `$ref` URL each): as large
        // as the group listing itself. zsc reads memberships from the groups, so it asks the
        // server to leave them out (RFC 7644 §3.4.2.5), and reads them anyway from a server
        // that refuses the parameter.
        let listing: Listing<LiveUser> = if self.inner.exclude_groups.load(Ordering::Relaxed) {
            let extra = format!("&{}=groups", self.inner.spec.exclude_param);
            match self.list_complete::<WireUser>("Users", &extra).await {
                Err(ScimError::Status { status, .. }) if REFUSED_PARAMETER.contains(&status) => {
                    tracing::info!(
                        "Users: the server refused `{extra}` ({status}); listing without it"
                    );
                    self.inner.exclude_groups.store(false, Ordering::Relaxed);
                    self.list_complete::<WireUser>("Users", "").await?
                }
                listing => listing?,
            }
        } else {
            self.list_complete::<WireUser>("Users", "").await?
        };
        let mut users = listing.items;
        if listing.shortfall > 0 {
            let seen: HashSet<String> = users.iter().map(|u| name_key(&u.user_name)).collect();
            let probe = users.first().map(|u| u.user_name.clone());
            let found = self
                .account_for(
                    "Users",
                    listing.total,
                    users.len(),
                    expected,
                    &seen,
                    probe,
                    |c, n| async move { c.find_user(&n).await },
                )
                .await?;
            users.extend(found);
        }
        Ok(users)
    }

    /// Every group with its members. Dialects whose listings omit members (ZPA) cost one more
    /// request per group.
    async fn read_groups(&self, expected: &[String]) -> Result<Vec<LiveGroup>, ScimError> {
        let listing = self.list_complete::<WireGroup>("Groups", "").await?;
        let mut groups: Vec<LiveGroup> = Vec::with_capacity(listing.items.len());
        let mut need_members = Vec::new();
        for (i, listed) in listing.items.into_iter().enumerate() {
            if !listed.members_listed && !self.inner.spec.group_list_has_members {
                need_members.push(i);
            }
            groups.push(listed.group);
        }
        if !need_members.is_empty() {
            let ids: Vec<(usize, String)> = need_members
                .into_iter()
                .map(|i| (i, groups[i].id.clone()))
                .collect();
            let fetched = self
                .concurrently(ids, |client, (i, id)| async move {
                    client.get_group(&id).await.map(|g| (i, g))
                })
                .await?;
            for (i, g) in fetched {
                groups[i].members = g.members;
            }
        }
        if listing.shortfall > 0 {
            let seen: HashSet<String> = groups.iter().map(|g| name_key(&g.name)).collect();
            let probe = groups.first().map(|g| g.name.clone());
            let found = self
                .account_for(
                    "Groups",
                    listing.total,
                    groups.len(),
                    expected,
                    &seen,
                    probe,
                    |c, n| async move { c.find_group(&n).await },
                )
                .await?;
            groups.extend(found);
        }
        Ok(groups)
    }

    /// A listing came back short of its totalResults even after a second read. Look up each
    /// expected name it did not contain. Lookups are trusted only if they find `probe`, an
    /// object the listing did return; a name that neither the listing nor a trusted lookup
    /// accounts for fails the read, naming it, rather than letting a plan create it twice.
    #[allow(clippy::too_many_arguments)]
    async fn account_for<T, F, Fut>(
        &self,
        resource: &str,
        total: u64,
        listed: usize,
        expected: &[String],
        seen: &HashSet<String>,
        probe: Option<String>,
        look_up: F,
    ) -> Result<Vec<T>, ScimError>
    where
        F: Fn(ScimClient, String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ScimError>>,
    {
        let trusted = match probe {
            Some(name) => look_up(self.clone(), name).await?.is_some(),
            None => false,
        };
        let mut found = Vec::new();
        let mut unaccounted = Vec::new();
        for name in expected.iter().filter(|n| !seen.contains(&name_key(n))) {
            match look_up(self.clone(), name.clone()).await? {
                Some(object) => found.push(object),
                None if trusted => {}
                None => unaccounted.push(name.as_str()),
            }
        }
        if !unaccounted.is_empty() {
            const SHOWN: usize = 10;
            let mut names: Vec<String> = unaccounted
                .iter()
                .take(SHOWN)
                .map(|n| format!("`{n}`"))
                .collect();
            if unaccounted.len() > SHOWN {
                names.push(format!("and {} more", unaccounted.len() - SHOWN));
            }
            return Err(ScimError::Incomplete {
                resource: resource.to_owned(),
                expected: total,
                got: listed,
                hint: format!(
                    ", and lookups by name cannot tell whether these exist: {}; refusing to plan \
                     from a partial read (they could be created twice)",
                    names.join(", ")
                ),
            });
        }
        tracing::warn!(
            "{resource}: the server reported {total} but listed {listed}; every one zsc manages \
             or the configuration declares was found by lookup ({} found, the rest do not exist)",
            found.len()
        );
        Ok(found)
    }

    pub async fn get_group(&self, id: &str) -> Result<LiveGroup, ScimError> {
        let path = format!("/Groups/{}", path_segment(id));
        let wire: WireGroup = self.get(&path).await?;
        wire.into_live().map_err(|m| protocol("GET", &path, m))
    }

    /// Look a user up by userName (case-insensitively, whatever the server's filter does). A
    /// server that says it cannot filter is read in full instead.
    pub async fn find_user(&self, user_name: &str) -> Result<Option<LiveUser>, ScimError> {
        if !self.can_filter() {
            let key = folded(user_name);
            let users = Box::pin(self.read_users(&[])).await?;
            return Ok(users.into_iter().find(|u| folded(&u.user_name) == key));
        }
        let path = format!(
            "/Users?filter={}",
            query_escape(&format!(
                "userName eq \"{}\"",
                escape_filter_value(user_name)
            ))
        );
        let list: ListResponse<WireUser> = self.get(&path).await?;
        let key = folded(user_name);
        list.resources
            .into_iter()
            .find(|u| folded(&u.user_name) == key)
            .map(|u| u.into_live().map_err(|m| protocol("GET", &path, m)))
            .transpose()
    }

    /// Look a group up by displayName, with its members. A server that says it cannot filter
    /// is read in full instead.
    pub async fn find_group(&self, name: &str) -> Result<Option<LiveGroup>, ScimError> {
        if !self.can_filter() {
            let key = folded(name);
            let groups = Box::pin(self.read_groups(&[])).await?;
            return Ok(groups.into_iter().find(|g| folded(&g.name) == key));
        }
        let path = format!(
            "/Groups?filter={}",
            query_escape(&format!("displayName eq \"{}\"", escape_filter_value(name)))
        );
        let list: ListResponse<WireGroup> = self.get(&path).await?;
        let key = folded(name);
        let Some(found) = list
            .resources
            .into_iter()
            .find(|g| folded(&g.display_name) == key)
        else {
            return Ok(None);
        };
        let listed = found.into_listed().map_err(|m| protocol("GET", &path, m))?;
        if listed.members_listed {
            Ok(Some(listed.group))
        } else {
            self.get_group(&listed.group.id).await.map(Some)
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
            let pages = self
                .concurrently(starts, move |client, start| {
                    let (resource, extra) = (Arc::clone(&resource), Arc::clone(&extra));
                    async move {
                        let (items, _) = client
                            .list_page::<W>(&resource, start, step, &extra)
                            .await?;
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

    // ---- writing -------------------------------------------------------------------------

    /// Create a user, or adopt it if it turns out to exist already.
    pub async fn create_user(
        &self,
        user_name: &str,
        active: bool,
        attrs: &UserAttrs,
    ) -> Result<Created<LiveUser>, ScimError> {
        let body = self.user_body(user_name, active, attrs);
        let max = self.inner.backoff.max_attempts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .send(
                    Method::POST,
                    "/Users",
                    Some(&body),
                    Repeat::OnlyIfNotReceived,
                )
                .await
            {
                Ok(answer) => {
                    if answer.body.iter().all(u8::is_ascii_whitespace) {
                        // Created without a body: read it back to learn its id.
                        if let Some(user) = self.find_user(user_name).await? {
                            return Ok(Created {
                                value: user,
                                adopted: false,
                            });
                        }
                        return Err(protocol(
                            "POST",
                            "/Users",
                            format!("created `{user_name}` but it cannot be found afterwards"),
                        ));
                    }
                    let wire: WireUser = self.parse("POST", "/Users", &answer)?;
                    let value = wire
                        .into_live()
                        .map_err(|m| protocol("POST", "/Users", m))?;
                    return Ok(Created {
                        value,
                        adopted: false,
                    });
                }
                Err(e) if e.is_conflict() || (e.is_transient() && attempt < max) => {
                    // It exists (409), or it may exist (the answer was lost): look before
                    // sending again, so nothing is created twice.
                    if let Some(user) = self.find_user(user_name).await? {
                        return Ok(Created {
                            value: user,
                            adopted: true,
                        });
                    }
                    if e.is_conflict() {
                        return Err(e);
                    }
                    let delay = self.inner.backoff.delay(attempt, None);
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn user_body(&self, user_name: &str, active: bool, attrs: &UserAttrs) -> Value {
        let wire = WireUser::from_model(user_name, active, attrs);
        serde_json::to_value(wire).unwrap_or(Value::Null)
    }

    /// Change a user's attributes and/or `active`, sending only what differs.
    pub async fn update_user(
        &self,
        id: &str,
        before: &UserAttrs,
        after: &UserAttrs,
        active: Option<bool>,
    ) -> Result<(), ScimError> {
        let ops = user_patch_ops(before, after, active);
        if ops.is_empty() {
            return Ok(());
        }
        if !self.can_patch() {
            return self.replace_user(id, after, active).await;
        }
        let path = format!("/Users/{}", path_segment(id));
        let body = serde_json::to_value(PatchRequest::new(ops)).unwrap_or(Value::Null);
        self.send(Method::PATCH, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    pub async fn delete_user(&self, id: &str) -> Result<Gone, ScimError> {
        self.delete(&format!("/Users/{}", path_segment(id))).await
    }

    pub async fn delete_group(&self, id: &str) -> Result<Gone, ScimError> {
        self.delete(&format!("/Groups/{}", path_segment(id))).await
    }

    async fn delete(&self, path: &str) -> Result<Gone, ScimError> {
        match self
            .send(Method::DELETE, path, None, Repeat::Idempotent)
            .await
        {
            Ok(_) => Ok(Gone::Deleted),
            Err(e) if e.is_not_found() => Ok(Gone::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// Create a group with its members inline (one request), or adopt it if it exists.
    pub async fn create_group(
        &self,
        name: &str,
        members: &[MemberRef],
    ) -> Result<Created<LiveGroup>, ScimError> {
        let inline = self.inner.spec.create_group_with_members;
        let body = json!({
            "schemas": [super::wire::GROUP_SCHEMA],
            "displayName": name,
            "members": if inline { wire_members(members) } else { Vec::new() },
        });
        let max = self.inner.backoff.max_attempts;
        let mut attempt = 0;
        let created = loop {
            attempt += 1;
            match self
                .send(
                    Method::POST,
                    "/Groups",
                    Some(&body),
                    Repeat::OnlyIfNotReceived,
                )
                .await
            {
                Ok(answer) if !answer.body.iter().all(u8::is_ascii_whitespace) => {
                    let wire: WireGroup = self.parse("POST", "/Groups", &answer)?;
                    let mut group = wire
                        .into_live()
                        .map_err(|m| protocol("POST", "/Groups", m))?;
                    if group.members.is_empty() && inline {
                        group.members = members.iter().map(|m| m.id.clone()).collect();
                    }
                    break Created {
                        value: group,
                        adopted: false,
                    };
                }
                Ok(_) => match self.find_group(name).await? {
                    Some(group) => {
                        break Created {
                            value: group,
                            adopted: false,
                        }
                    }
                    None => {
                        return Err(protocol(
                            "POST",
                            "/Groups",
                            format!("created `{name}` but it cannot be found afterwards"),
                        ))
                    }
                },
                Err(e) if e.is_conflict() || (e.is_transient() && attempt < max) => {
                    if let Some(group) = self.find_group(name).await? {
                        break Created {
                            value: group,
                            adopted: true,
                        };
                    }
                    if e.is_conflict() {
                        return Err(e);
                    }
                    tokio::time::sleep(self.inner.backoff.delay(attempt, None)).await;
                }
                Err(e) => return Err(e),
            }
        };
        // Members the create did not carry (an adopted group, or a dialect that refuses them
        // inline) go in by PATCH.
        let have: HashSet<&str> = created.value.members.iter().map(String::as_str).collect();
        let missing: Vec<MemberRef> = members
            .iter()
            .filter(|m| !have.contains(m.id.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(created);
        }
        let patched = self.patch_members(&created.value.id, &missing, &[]).await;
        if let Some(e) = patched.error {
            return Err(e);
        }
        let mut created = created;
        created
            .value
            .members
            .extend(missing.into_iter().map(|m| m.id));
        Ok(created)
    }

    pub async fn rename_group(&self, id: &str, name: &str) -> Result<(), ScimError> {
        if !self.can_patch() {
            return self.replace_group(id, Some(name), &[], &[]).await;
        }
        let path = format!("/Groups/{}", path_segment(id));
        let body = serde_json::to_value(PatchRequest::new(vec![PatchOperation {
            op: "replace".to_owned(),
            path: None,
            value: Some(json!({ "displayName": name })),
        }]))
        .unwrap_or(Value::Null);
        self.send(Method::PATCH, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    /// Add and remove members with as few PATCH requests as the dialect's batch size allows
    /// (adds first, then removals, each request full up to the batch size). Stops at the first
    /// failed request and says how far it got, so that what was done can be recorded.
    pub async fn patch_members(
        &self,
        group_id: &str,
        add: &[MemberRef],
        remove: &[String],
    ) -> MembersPatched {
        if !self.can_patch() {
            let remove: Vec<String> = remove.to_vec();
            return match self.replace_group(group_id, None, add, &remove).await {
                Ok(()) => MembersPatched {
                    added: add.len(),
                    removed: remove.len(),
                    requests: 2,
                    error: None,
                },
                Err(e) => MembersPatched {
                    error: Some(e),
                    ..MembersPatched::default()
                },
            };
        }
        let batch = self.inner.spec.member_patch_batch.max(1);
        let path = format!("/Groups/{}", path_segment(group_id));
        let mut done = MembersPatched::default();
        while done.added < add.len() || done.removed < remove.len() {
            let adds = &add[done.added..(done.added + batch).min(add.len())];
            let room = batch - adds.len();
            let removes = &remove[done.removed..(done.removed + room).min(remove.len())];
            let mut ops = Vec::with_capacity(1 + removes.len());
            if !adds.is_empty() {
                ops.push(PatchRequest::add_members(&wire_members(adds)));
            }
            ops.extend(removes.iter().map(|id| PatchRequest::remove_member(id)));
            let body = serde_json::to_value(PatchRequest::new(ops)).unwrap_or(Value::Null);
            if let Err(e) = self
                .send(Method::PATCH, &path, Some(&body), Repeat::Idempotent)
                .await
            {
                done.error = Some(e);
                return done;
            }
            done.added += adds.len();
            done.removed += removes.len();
            done.requests += 1;
        }
        done
    }
}

/// How far a batched member PATCH got: the first `added` additions and `removed` removals are
/// done; `error` is why it stopped early.
#[derive(Debug, Default)]
pub struct MembersPatched {
    pub added: usize,
    pub removed: usize,
    pub requests: usize,
    pub error: Option<ScimError>,
}

/// The names a refresh must account for in a tenant: the users and groups that state manages
/// or the configuration declares. If a listing comes back short, each of these that it did not
/// return is looked up by name, so that no plan creates an object the listing skipped.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub users: Vec<String>,
    pub groups: Vec<String>,
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
    group: LiveGroup,
    members_listed: bool,
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

pub(super) fn wire_members(members: &[MemberRef]) -> Vec<WireMember> {
    members
        .iter()
        .map(|m| WireMember {
            value: m.id.clone(),
            display: Some(m.user_name.clone()),
            reference: None,
        })
        .collect()
}

/// The PATCH operations that turn `before` into `after` (and set `active`).
fn user_patch_ops(
    before: &UserAttrs,
    after: &UserAttrs,
    active: Option<bool>,
) -> Vec<PatchOperation> {
    let mut replace = Map::new();
    let mut ops = Vec::new();
    let mut remove = |path: &str| {
        ops.push(PatchOperation {
            op: "remove".to_owned(),
            path: Some(path.to_owned()),
            value: None,
        })
    };
    if let Some(active) = active {
        replace.insert("active".into(), Value::Bool(active));
    }
    if before.display_name != after.display_name {
        match &after.display_name {
            Some(v) => drop(replace.insert("displayName".into(), json!(v))),
            None => remove("displayName"),
        }
    }
    if before.given_name != after.given_name || before.family_name != after.family_name {
        let mut name = Map::new();
        for (key, old, new) in [
            ("givenName", &before.given_name, &after.given_name),
            ("familyName", &before.family_name, &after.family_name),
        ] {
            match new {
                Some(v) => drop(name.insert(key.into(), json!(v))),
                None if old.is_some() => remove(&format!("name.{key}")),
                None => {}
            }
        }
        if !name.is_empty() {
            replace.insert("name".into(), Value::Object(name));
        }
    }
    if before.email != after.email {
        match &after.email {
            Some(v) => drop(replace.insert(
                "emails".into(),
                json!([{ "value": v, "primary": true, "type": "work" }]),
            )),
            None => remove("emails"),
        }
    }
    if before.external_id != after.external_id {
        match &after.external_id {
            Some(v) => drop(replace.insert("externalId".into(), json!(v))),
            None => remove("externalId"),
        }
    }
    if before.department != after.department {
        match &after.department {
            Some(v) => {
                replace.insert(ENTERPRISE_SCHEMA.into(), json!({ "department": v }));
            }
            None => remove(&format!("{ENTERPRISE_SCHEMA}:department")),
        }
    }
    if !replace.is_empty() {
        ops.insert(
            0,
            PatchOperation {
                op: "replace".to_owned(),
                path: None,
                value: Some(Value::Object(replace)),
            },
        );
    }
    ops
}

fn list_path(resource: &str, start: usize, count: usize, extra: &str) -> String {
    format!("/{resource}?startIndex={start}&count={count}{extra}")
}

pub(super) fn protocol(method: &str, path: &str, message: String) -> ScimError {
    ScimError::Protocol {
        method: method.to_owned(),
        path: path.to_owned(),
        message,
    }
}

/// Percent-encode a query value.
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-encode an id for use as one path segment.
pub(super) fn path_segment(id: &str) -> String {
    query_escape(id)
}

/// Refuse anything but https, and http to loopback (the emulator, tests).
pub fn check_base_url(base: &str) -> Result<Url, ScimError> {
    let url =
        Url::parse(base).map_err(|e| ScimError::Setup(format!("invalid URL `{base}`: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ScimError::Setup(format!(
            "refusing plain http:// to `{}`: a bearer token must not travel unencrypted; use https:// (http:// is allowed only for loopback)",
            url.host_str().unwrap_or("")
        ))),
        other => Err(ScimError::Setup(format!(
            "unsupported URL scheme `{other}` in `{base}`; use https://"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A transport error in words, without the URL (which the caller already names) and never
/// with headers.
fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "the connection failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut root = None;
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    match root {
        Some(r) => format!("{kind} ({r})"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_refused_except_for_loopback() {
        assert!(check_base_url("http://127.0.0.1:8080/scim/v2").is_ok());
        assert!(check_base_url("http://localhost/scim").is_ok());
        assert!(check_base_url("http://[::1]:9/scim").is_ok());
        assert!(check_base_url("https://scim.zscaler.net/1/2/scim").is_ok());
        let err = check_base_url("http://scim.example.com/scim").unwrap_err();
        assert!(err.to_string().contains("refusing plain http://"));
    }

    #[test]
    fn patch_ops_send_only_what_changed() {
        let before = UserAttrs {
            display_name: Some("A".into()),
            department: Some("X".into()),
            ..UserAttrs::default()
        };
        let after = UserAttrs {
            display_name: Some("B".into()),
            department: None,
            ..UserAttrs::default()
        };
        let ops = user_patch_ops(&before, &after, None);
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].value, Some(json!({"displayName": "B"})));
        assert_eq!(
            ops[1].path.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
        );
    }

    #[test]
    fn bodies_that_are_not_utf8_json_or_resources_are_protocol_errors() {
        let client = ScimClient::new(ClientOptions::new(
            "http://127.0.0.1:9/scim/v2",
            Secret::new("token"),
            Dialect::Scim,
        ))
        .unwrap();
        let answer = |body: &[u8]| Answer {
            status: 200,
            body: bytes::Bytes::copy_from_slice(body),
        };
        let parse = |body: &[u8]| {
            client
                .parse::<ListResponse<WireUser>>("GET", "/Users", &answer(body))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let not_utf8 = parse(b"{\"Resources\":[{\"userName\":\"\xff\"}]}");
        assert!(not_utf8.contains("invalid UTF-8 at byte 27"), "{not_utf8}");
        let truncated = parse(b"{\"Resources\":[{\"userName\":");
        assert!(truncated.contains("invalid JSON"), "{truncated}");

        let page: ListResponse<WireUser> = client
            .parse(
                "GET",
                "/Users",
                &answer(br#"{"Resources":[{"userName":"ann@example.com"}]}"#),
            )
            .unwrap();
        let user = page.resources.into_iter().next().unwrap();
        let no_id = user.into_listed().map(|_| ()).unwrap_err();
        assert_eq!(no_id, "user `ann@example.com` has no id");
        let group: WireGroup = serde_json::from_str(r#"{"id":"g1","displayName":"G"}"#).unwrap();
        let listed = group.into_listed().unwrap();
        assert!(!listed.members_listed, "a listing without members says so");
    }
}
