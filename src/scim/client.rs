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
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::dialect::{Dialect, DialectSpec};
use crate::model::{folded, name_key, LiveGroup, LiveTenant, LiveUser};
use crate::secret::Secret;

use super::error::ScimError;
use super::pacing::{parse_retry_after, Backoff, Pacer};
use super::wire::{escape_filter_value, ListResponse, ScimErrorBody, WireGroup, WireUser};

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
    /// Requests in flight at once to this tenant, whatever sends them (listings, look-ups,
    /// writes).
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
    pub(super) backoff: Backoff,
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
            // A server that cannot be reached at all (refused, no such host, TLS failure) is
            // given a few seconds, not the full backoff: it is a wrong URL or a server that is
            // down, and the person waiting should hear so.
            let unreachable = matches!(
                error,
                ScimError::Transport {
                    maybe_sent: false,
                    ..
                }
            );
            let limit = if unreachable {
                UNREACHABLE_ATTEMPTS.min(inner.backoff.max_attempts)
            } else {
                inner.backoff.max_attempts
            };
            if !repeatable || attempt >= limit {
                return Err(self.explain(error, attempt));
            }
            let mut delay = inner.backoff.delay(attempt, retry_after);
            if unreachable {
                delay = delay.min(Duration::from_secs(1));
            }
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
        let mut request = self
            .authorized(inner.http.request(method.clone(), url))
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
            place: self.place(),
            path: path.to_owned(),
            message: describe_transport(&e),
            maybe_sent: !e.is_connect(),
            attempts: 1,
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

    /// `scheme://host:port/base/path`: where this client's server is, for messages. Never a
    /// query string or credentials.
    pub(super) fn place(&self) -> String {
        match Url::parse(&self.inner.base) {
            Ok(url) => format!(
                "{}://{}{}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.port_or_known_default()
                    .map_or_else(String::new, |p| format!(":{p}")),
                url.path().trim_end_matches('/')
            ),
            Err(_) => String::new(),
        }
    }

    /// The error a request ends with, made to say what a person needs: how many attempts, and
    /// for a listing that is not there, that the URL is wrong.
    fn explain(&self, error: ScimError, attempts: u32) -> ScimError {
        match error {
            ScimError::Transport {
                method,
                place,
                path,
                message,
                maybe_sent,
                ..
            } => ScimError::Transport {
                method,
                place,
                path,
                message,
                maybe_sent,
                attempts,
            },
            ScimError::Status {
                status: 404,
                ref method,
                ref path,
                ..
            } if is_listing(path) => ScimError::Setup(format!(
                "{method} {}{}: 404 Not Found: there is no SCIM endpoint at this URL; check the \
                 tenant's `url` (scheme, host, port and base path; the {} dialect expects {})",
                self.place(),
                path.split('?').next().unwrap_or(path),
                self.inner.spec.name,
                self.inner.spec.url_shape
            )),
            other => other,
        }
    }

    /// `request` with the bearer token: the one place it is attached.
    pub(super) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(self.inner.token.expose())
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
            let fetched = self
                .concurrently(need_members, |client, (i, id)| async move {
                    client.get_group(&id).await.map(|g| (i, g))
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
        let path = format!("/Users/{}", path_segment(id));
        match self.get::<WireUser>(&path).await {
            Ok(wire) => wire
                .into_live()
                .map(Some)
                .map_err(|m| protocol("GET", &path, m)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One group by id, with its members; `None` if the server has none (404).
    pub async fn get_group(&self, id: &str) -> Result<Option<LiveGroup>, ScimError> {
        let path = format!("/Groups/{}", path_segment(id));
        match self.get::<WireGroup>(&path).await {
            Ok(wire) => wire
                .into_live()
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

/// Attempts for a server that cannot be reached at all: about three seconds of trying.
const UNREACHABLE_ATTEMPTS: u32 = 3;

/// A listing (`/Users?...`, `/Groups?...`), which a SCIM server never answers 404.
fn is_listing(path: &str) -> bool {
    ["/Users", "/Groups"]
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}?")))
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
