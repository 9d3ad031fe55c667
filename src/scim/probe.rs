//! `zsc doctor`'s probe: what a server actually does, asked with a few dozen GETs and nothing
//! else. It never writes, never retries what a server refuses (a 429 is waited out once), and
//! never records or shows a header that carries the token.
//!
//! Each question becomes a fact in [`Facts`] (`None`: the server gave nothing to tell by, such
//! as a tenant without users), which `ops::doctor` turns into what zsc will use and why.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::client::ScimClient;
use super::discovery::parse_service_provider_config;
use super::transport::{path_segment, query_escape};

/// What the probe learned of one server.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Facts {
    /// The addresses the host resolves to (`None`: not resolved).
    pub dns: Option<Vec<String>>,
    /// Why the host could not be resolved or reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
    /// `https` and the certificate verified by the system's trust store; `None` for `http`
    /// to this machine, or when nothing answered.
    pub tls_verified: Option<bool>,
    /// The status of `GET /ServiceProviderConfig` without the token, and with it.
    pub discovery_without_token: Option<u16>,
    pub discovery_with_token: Option<u16>,
    /// What `/ServiceProviderConfig` says (with or without the token, whichever answered).
    pub filter_supported: Option<bool>,
    pub patch_supported: Option<bool>,
    pub max_results: Option<usize>,
    /// The status of a one-user page with the token (200: the token is accepted).
    pub auth_status: Option<u16>,
    /// The server's counts (each listing's totalResults).
    pub users: Option<u64>,
    pub groups: Option<u64>,
    /// `count=1` returns at most one resource and a totalResults.
    pub count_works: Option<bool>,
    /// The page size asked for, what came back, and whether that is all it should be.
    pub page_size_asked: usize,
    pub page_size_returned: Option<usize>,
    pub page_size_honoured: Option<bool>,
    /// `userName eq` finds a listed user, and finds it spelled in another case.
    pub user_eq_finds: Option<bool>,
    pub user_eq_case_insensitive: Option<bool>,
    /// `displayName eq` finds a listed group.
    pub group_eq_finds: Option<bool>,
    /// `excludedAttributes=groups` on a user listing: `honoured`, `ignored` or `refused`.
    pub exclude_attributes: Option<String>,
    /// Users as listed carry `meta.lastModified`.
    pub listings_carry_last_modified: Option<bool>,
    /// `meta.lastModified gt` on users: `works`, `ignored` or `refused`.
    pub last_modified_filter: Option<String>,
    /// A user read by id carries an `ETag` header (or `meta.version`).
    pub etag: Option<bool>,
    /// Rate-limit headers seen on any answer (name: last value), `Retry-After` included.
    pub rate_limit_headers: BTreeMap<String, String>,
    /// Answers 429 during the probe, and the `Retry-After` of the last one.
    pub throttled: u32,
    pub retry_after: Option<String>,
    /// Group listings carry `members`; user listings carry `groups`.
    pub group_listings_carry_members: Option<bool>,
    pub user_listings_carry_groups: Option<bool>,
    /// A sample of memberships checked both ways (a group's member lists the group among its
    /// `groups`, and the other way round): how many were checked and how many agreed.
    pub memberships_checked: usize,
    pub memberships_agreed: usize,
}

/// What the probe found, with the latency of its requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Probed {
    pub facts: Facts,
    pub latency: Latency,
}

/// Request latencies, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub requests: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut ms: Vec<f64>) -> Latency {
        if ms.is_empty() {
            return Latency::default();
        }
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Latency {
            requests: ms.len(),
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            max_ms: ms[ms.len() - 1],
        }
    }
}

/// One answer.
struct Got {
    status: u16,
    body: Value,
    etag: bool,
}

/// How many users and groups a membership sample takes.
const SAMPLE: usize = 3;

struct Prober<'a> {
    client: &'a ScimClient,
    facts: Facts,
    latencies: Mutex<Vec<f64>>,
}

impl ScimClient {
    /// Ask the server what it does (see the module docs). Never fails: what could not be
    /// learned stays `None`, and why the server could not be reached is in the facts.
    pub async fn probe(&self) -> Probed {
        let mut p = Prober {
            client: self,
            facts: Facts {
                page_size_asked: self.page_size(),
                ..Facts::default()
            },
            latencies: Mutex::new(Vec::new()),
        };
        p.run().await;
        Probed {
            latency: Latency::of(p.latencies.into_inner().unwrap_or_default()),
            facts: p.facts,
        }
    }
}

impl Prober<'_> {
    async fn run(&mut self) {
        if !self.resolve().await {
            return;
        }
        self.discovery().await;
        let Some(first) = self.get("/Users?startIndex=1&count=1", true).await else {
            return;
        };
        self.facts.auth_status = Some(first.status);
        if first.status != 200 {
            return;
        }
        self.facts.tls_verified = self
            .client
            .base_url()
            .starts_with("https://")
            .then_some(true);
        self.facts.users = total(&first.body);
        self.facts.count_works =
            Some(resources(&first.body).len() <= 1 && total(&first.body).is_some());

        let users = self.user_page().await;
        self.user_filters(&users).await;
        self.projection().await;
        self.last_modified(&users).await;
        self.etag(&users).await;
        let groups = self.group_page().await;
        self.memberships(&users, &groups).await;
    }

    /// Resolve the host; false (and why) when it cannot be.
    async fn resolve(&mut self) -> bool {
        let Ok(url) = reqwest::Url::parse(self.client.base_url()) else {
            self.facts.unreachable = Some("the URL cannot be parsed".to_owned());
            return false;
        };
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let looked_up = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map(|addrs| addrs.map(|a| a.ip().to_string()).collect::<Vec<String>>());
        match looked_up {
            Ok(mut addrs) => {
                addrs.sort();
                addrs.dedup();
                self.facts.dns = Some(addrs);
                true
            }
            Err(e) => {
                self.facts.unreachable = Some(format!("`{host}` does not resolve: {e}"));
                false
            }
        }
    }

    async fn discovery(&mut self) {
        let without = self.get("/ServiceProviderConfig", false).await;
        self.facts.discovery_without_token = without.as_ref().map(|g| g.status);
        let with = self.get("/ServiceProviderConfig", true).await;
        self.facts.discovery_with_token = with.as_ref().map(|g| g.status);
        let doc = [without, with]
            .into_iter()
            .flatten()
            .find(|g| g.status == 200)
            .and_then(|g| serde_json::to_vec(&g.body).ok())
            .and_then(|b| parse_service_provider_config(&b));
        if let Some(caps) = doc {
            self.facts.filter_supported = Some(caps.filter);
            self.facts.patch_supported = Some(caps.patch);
            self.facts.max_results = caps.max_results;
        }
    }

    /// A full page of users as zsc would ask for it (without a projection).
    async fn user_page(&mut self) -> Vec<Value> {
        let asked = self.facts.page_size_asked;
        let Some(page) = self
            .get(&format!("/Users?startIndex=1&count={asked}"), true)
            .await
            .filter(|g| g.status == 200)
        else {
            return Vec::new();
        };
        let users = resources(&page.body).to_vec();
        self.facts.page_size_returned = Some(users.len());
        if let Some(total) = total(&page.body) {
            let expected = usize::try_from(total).unwrap_or(usize::MAX).min(asked);
            self.facts.page_size_honoured = Some(users.len() >= expected);
        }
        if !users.is_empty() {
            self.facts.listings_carry_last_modified = Some(users.iter().any(|u| {
                u.pointer("/meta/lastModified")
                    .is_some_and(Value::is_string)
            }));
            self.facts.user_listings_carry_groups = Some(users.iter().any(|u| {
                u.get("groups")
                    .and_then(Value::as_array)
                    .is_some_and(|g| !g.is_empty())
            }));
        }
        users
    }

    async fn user_filters(&mut self, users: &[Value]) {
        let Some((id, name)) = users
            .iter()
            .find_map(|u| Some((str_of(u, "id")?, str_of(u, "userName")?)))
        else {
            return;
        };
        let finds = |got: &Option<Got>| {
            got.as_ref().filter(|g| g.status == 200).map(|g| {
                resources(&g.body)
                    .iter()
                    .any(|u| str_of(u, "id").as_deref() == Some(id.as_str()))
            })
        };
        let exact = self
            .filter("Users", &format!("userName eq {}", quoted(&name)))
            .await;
        self.facts.user_eq_finds = Some(finds(&exact).unwrap_or(false));
        let swapped: String = name
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().next().unwrap_or(c)
                } else {
                    c.to_uppercase().next().unwrap_or(c)
                }
            })
            .collect();
        if swapped != name && self.facts.user_eq_finds == Some(true) {
            let other = self
                .filter("Users", &format!("userName eq {}", quoted(&swapped)))
                .await;
            self.facts.user_eq_case_insensitive = finds(&other);
        }
    }

    async fn projection(&mut self) {
        let param = self.client.spec().exclude_param;
        let n = self.facts.page_size_asked.min(100);
        let Some(plain) = self
            .get(&format!("/Users?startIndex=1&count={n}"), true)
            .await
        else {
            return;
        };
        let Some(projected) = self
            .get(
                &format!("/Users?startIndex=1&count={n}&{param}=groups"),
                true,
            )
            .await
        else {
            return;
        };
        let has_groups = |g: &Got| {
            resources(&g.body).iter().any(|u| {
                u.get("groups")
                    .and_then(Value::as_array)
                    .is_some_and(|g| !g.is_empty())
            })
        };
        self.facts.exclude_attributes = match projected.status {
            400 | 403 | 422 | 501 => Some("refused".to_owned()),
            200 if has_groups(&projected) => Some("ignored".to_owned()),
            200 if has_groups(&plain) => Some("honoured".to_owned()),
            _ => None,
        };
    }

    async fn last_modified(&mut self, users: &[Value]) {
        if users.is_empty() {
            return;
        }
        let past = self
            .filter("Users", "meta.lastModified gt \"2000-01-01T00:00:00Z\"")
            .await;
        let Some(past) = past else { return };
        if past.status != 200 {
            self.facts.last_modified_filter = Some("refused".to_owned());
            return;
        }
        let future = self
            .filter("Users", "meta.lastModified gt \"2999-01-01T00:00:00Z\"")
            .await;
        let future_total = future
            .filter(|g| g.status == 200)
            .and_then(|g| total(&g.body).or(Some(resources(&g.body).len() as u64)));
        let past_total = total(&past.body);
        self.facts.last_modified_filter = Some(
            if future_total == Some(0) && past_total.is_some_and(|t| t > 0) {
                "works"
            } else {
                "ignored"
            }
            .to_owned(),
        );
    }

    async fn etag(&mut self, users: &[Value]) {
        let Some(id) = users.iter().find_map(|u| str_of(u, "id")) else {
            return;
        };
        if let Some(got) = self
            .get(&format!("/Users/{}", path_segment(&id)), true)
            .await
        {
            if got.status == 200 {
                self.facts.etag = Some(got.etag || got.body.pointer("/meta/version").is_some());
            }
        }
    }

    /// A page of groups (as many as users were sampled from), and a `displayName eq` check.
    async fn group_page(&mut self) -> Vec<Value> {
        let n = self.facts.page_size_asked.min(100);
        let Some(page) = self
            .get(&format!("/Groups?startIndex=1&count={n}"), true)
            .await
            .filter(|g| g.status == 200)
        else {
            return Vec::new();
        };
        self.facts.groups = total(&page.body);
        let groups = resources(&page.body).to_vec();
        if !groups.is_empty() {
            self.facts.group_listings_carry_members =
                Some(groups.iter().any(|g| g.get("members").is_some()));
        }
        if let Some((id, name)) = groups
            .iter()
            .find_map(|g| Some((str_of(g, "id")?, str_of(g, "displayName")?)))
        {
            let got = self
                .filter("Groups", &format!("displayName eq {}", quoted(&name)))
                .await;
            self.facts.group_eq_finds = Some(got.is_some_and(|g| {
                g.status == 200
                    && resources(&g.body)
                        .iter()
                        .any(|r| str_of(r, "id").as_deref() == Some(id.as_str()))
            }));
        }
        groups
    }

    /// Check a sample of memberships both ways: a few groups' members list the group among
    /// their `groups`, and a few users' groups list the user among their members.
    async fn memberships(&mut self, users: &[Value], groups: &[Value]) {
        let mut checked = 0;
        let mut agreed = 0;
        // Groups with members (read by id where the listing leaves them out).
        let mut sampled_groups = Vec::new();
        for group in groups.iter().take(20) {
            if sampled_groups.len() >= SAMPLE {
                break;
            }
            let Some(id) = str_of(group, "id") else {
                continue;
            };
            let members = match group.get("members") {
                Some(m) => ids(m),
                None => match self
                    .get(&format!("/Groups/{}", path_segment(&id)), true)
                    .await
                {
                    Some(g) if g.status == 200 => {
                        ids(g.body.get("members").unwrap_or(&Value::Null))
                    }
                    _ => continue,
                },
            };
            if !members.is_empty() {
                sampled_groups.push((id, members));
            }
        }
        for (group, members) in &sampled_groups {
            if let Some(member) = members.first() {
                if let Some(user) = self
                    .get(&format!("/Users/{}", path_segment(member)), true)
                    .await
                {
                    if user.status == 200 {
                        checked += 1;
                        if ids(user.body.get("groups").unwrap_or(&Value::Null)).contains(group) {
                            agreed += 1;
                        }
                    }
                }
            }
        }
        for user in users
            .iter()
            .filter(|u| u.get("groups").is_some_and(|g| !ids(g).is_empty()))
            .take(SAMPLE)
        {
            let (Some(id), Some(group)) = (
                str_of(user, "id"),
                user.get("groups").and_then(|g| ids(g).into_iter().next()),
            ) else {
                continue;
            };
            if let Some(got) = self
                .get(&format!("/Groups/{}", path_segment(&group)), true)
                .await
            {
                if got.status == 200 {
                    checked += 1;
                    if ids(got.body.get("members").unwrap_or(&Value::Null)).contains(&id) {
                        agreed += 1;
                    }
                }
            }
        }
        self.facts.memberships_checked = checked;
        self.facts.memberships_agreed = agreed;
    }

    async fn filter(&mut self, resource: &str, filter: &str) -> Option<Got> {
        self.get(
            &format!(
                "/{resource}?filter={}&startIndex=1&count=10",
                query_escape(filter)
            ),
            true,
        )
        .await
    }

    /// One GET, paced like every request to the tenant, without retries but for one wait
    /// after a 429. `None` when nothing answered (the reason is kept in the facts).
    async fn get(&mut self, path: &str, with_token: bool) -> Option<Got> {
        for attempt in 0..2 {
            let inner = &self.client.inner;
            inner.pacer.acquire().await;
            inner.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = inner.http.get(format!("{}{path}", inner.base)).header(
                reqwest::header::ACCEPT,
                "application/scim+json, application/json",
            );
            if with_token {
                request = self.client.authorized(request);
            }
            let started = Instant::now();
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    self.facts.unreachable.get_or_insert_with(|| {
                        let kind = if e.is_connect() {
                            "could not connect"
                        } else {
                            "no answer"
                        };
                        let root =
                            std::iter::successors(std::error::Error::source(&e), |s| s.source())
                                .last()
                                .map(|s| format!(" ({s})"))
                                .unwrap_or_default();
                        format!("{kind}{root}")
                    });
                    if e.is_connect() && self.client.base_url().starts_with("https://") {
                        self.facts.tls_verified = Some(false);
                    }
                    return None;
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.ok().unwrap_or_default();
            self.latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(started.elapsed().as_secs_f64() * 1000.0);
            tracing::info!(method = "GET", path, status, with_token, "doctor request");
            for (name, value) in &headers {
                let lower = name.as_str().to_ascii_lowercase();
                if lower.contains("ratelimit")
                    || lower.contains("rate-limit")
                    || lower == "retry-after"
                {
                    if let Ok(v) = value.to_str() {
                        self.facts.rate_limit_headers.insert(lower, v.to_owned());
                    }
                }
            }
            if status == 429 {
                self.facts.throttled += 1;
                let after = headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let wait = after
                    .as_deref()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(2)
                    .min(10);
                self.facts.retry_after = after.or(Some("none".to_owned()));
                if attempt == 0 {
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    continue;
                }
            }
            return Some(Got {
                status,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                etag: headers.contains_key(reqwest::header::ETAG),
            });
        }
        None
    }
}

fn resources(body: &Value) -> &[Value] {
    body.get("Resources")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn total(body: &Value) -> Option<u64> {
    match body.get("totalResults")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string or number attribute as text (ZPA sends numeric ids as strings, some as numbers).
fn str_of(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `value`s of a multi-valued reference (`members`, `groups`).
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| items.iter().filter_map(|i| str_of(i, "value")).collect())
        .unwrap_or_default()
}

fn quoted(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
