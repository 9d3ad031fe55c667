//! `zsc doctor`: probe each tenant's server read-only (see [`crate::scim::probe`]) and say
//! what zsc will use there, and why. It never writes to a tenant or to state, and never shows
//! a token.

use serde::Serialize;

use crate::config::{MembershipSource, TenantConfig};
use crate::dialect::{check_base_url_shape, UrlVerdict};
use crate::error::Error;
use crate::scim::probe::{Facts, Latency};

use super::tenants::Tenants;
use super::{ReadSettings, Workspace};

/// The report's format version (for the JSON people attach to bug reports).
pub const DOCTOR_FORMAT_VERSION: u32 = 1;

/// What `zsc doctor` found, per tenant.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub zsc_version: &'static str,
    pub tenants: Vec<TenantReport>,
}

impl Report {
    /// Whether any check failed (the command then exits 1).
    pub fn failed(&self) -> bool {
        self.tenants
            .iter()
            .any(|t| t.checks.iter().any(|c| c.status == Status::Fail))
    }
}

/// One tenant's checks, the facts behind them, and what zsc will use.
#[derive(Clone, Debug, Serialize)]
pub struct TenantReport {
    pub tenant: String,
    pub kind: String,
    pub dialect: String,
    /// The base URL (never with credentials; the token is never part of a report).
    pub url: String,
    pub checks: Vec<Check>,
    pub facts: Facts,
    pub latency: Latency,
    /// What zsc will use for this tenant, and why.
    pub uses: Vec<Use>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Nothing to tell by (a tenant without users, say).
    Unknown,
}

/// One line of the report: a question, its answer, and how good that is.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

/// A choice zsc makes for the tenant.
#[derive(Clone, Debug, Serialize)]
pub struct Use {
    pub what: &'static str,
    pub choice: String,
    pub why: String,
}

/// `zsc doctor [--tenant T]`.
pub async fn doctor(ws: &Workspace, tenant: Option<&str>) -> Result<Report, Error> {
    if let Some(name) = tenant {
        if !ws.config.tenants.contains_key(name) {
            return Err(Error::Refusal(format!(
                "no tenant `{name}` in the configuration (declared: {})",
                ws.config
                    .tenants
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let tenants = Tenants::connect(&ws.config, &ReadSettings::default()).await?;
    let mut reports = Vec::new();
    for (name, config) in &ws.config.tenants {
        if tenant.is_some_and(|t| t != name) {
            continue;
        }
        let client = &tenants.clients[name];
        let probed = client.probe().await;
        let url = client.base_url().to_owned();
        reports.push(TenantReport {
            tenant: name.clone(),
            kind: config.kind.to_string(),
            dialect: config.dialect.to_string(),
            checks: checks(config, &url, &probed.facts),
            uses: uses(config, client.spec(), &probed.facts),
            url,
            facts: probed.facts,
            latency: probed.latency,
        });
    }
    tenants.shutdown().await?;
    Ok(Report {
        format_version: DOCTOR_FORMAT_VERSION,
        zsc_version: env!("CARGO_PKG_VERSION"),
        tenants: reports,
    })
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The checks, in the order a person reads them.
fn checks(config: &TenantConfig, url: &str, f: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |name, status, detail: String| {
        out.push(Check {
            name,
            status,
            detail,
        })
    };
    match (config.url.as_deref(), reqwest::Url::parse(url)) {
        (None, _) => push("url", Status::Ok, "the built-in emulated tenant".to_owned()),
        (Some(_), Ok(parsed)) => match check_base_url_shape(config.dialect, &parsed) {
            UrlVerdict::Ok => push(
                "url",
                Status::Ok,
                format!("fits the {} shape", config.dialect),
            ),
            UrlVerdict::Warn(m) => push("url", Status::Warn, m),
            UrlVerdict::Err(m) => push("url", Status::Fail, m),
        },
        (Some(_), Err(e)) => push("url", Status::Fail, format!("not a URL: {e}")),
    }
    match (&f.dns, &f.unreachable) {
        (Some(addrs), _) => push(
            "dns",
            Status::Ok,
            format!("resolves to {}", addrs.join(", ")),
        ),
        (None, Some(why)) => push("dns", Status::Fail, why.clone()),
        (None, None) => push("dns", Status::Unknown, "not resolved".to_owned()),
    }
    if f.dns.is_some() {
        match (f.tls_verified, url.starts_with("https://")) {
            (_, false) => push(
                "tls",
                Status::Ok,
                "not used: plain http to this machine".to_owned(),
            ),
            (Some(true), _) => push(
                "tls",
                Status::Ok,
                "the certificate is trusted by the system's trust store".to_owned(),
            ),
            (Some(false), _) | (None, true) => push(
                "tls",
                Status::Fail,
                f.unreachable
                    .clone()
                    .unwrap_or_else(|| "no TLS connection was made".to_owned()),
            ),
        }
    }
    match f.auth_status {
        Some(200) => push("auth", Status::Ok, "the token is accepted (200)".to_owned()),
        Some(status) => push(
            "auth",
            Status::Fail,
            format!("a one-user page answered {status}: check the token and its scope"),
        ),
        None => push(
            "auth",
            Status::Fail,
            f.unreachable
                .clone()
                .unwrap_or_else(|| "nothing answered".to_owned()),
        ),
    }
    let status = |s: Option<u16>| s.map_or_else(|| "no answer".to_owned(), |s| s.to_string());
    push(
        "service_provider_config",
        match (f.discovery_without_token, f.discovery_with_token) {
            (Some(200), _) => Status::Ok,
            (_, Some(200)) => Status::Warn,
            _ => Status::Warn,
        },
        format!(
            "{} without the token, {} with it; filter {}, PATCH {}, maxResults {}",
            status(f.discovery_without_token),
            status(f.discovery_with_token),
            f.filter_supported.map_or("not stated", yes),
            f.patch_supported.map_or("not stated", yes),
            f.max_results
                .map_or_else(|| "not stated".to_owned(), |m| m.to_string())
        ),
    );
    if f.auth_status != Some(200) {
        return out;
    }
    push(
        "count",
        if f.count_works == Some(true) {
            Status::Ok
        } else {
            Status::Warn
        },
        match f.count_works {
            Some(true) => format!(
                "a one-object page carries totalResults ({}, {})",
                f.users
                    .map_or("? users".to_owned(), |n| crate::render::count(
                        n as usize, "user", "users"
                    )),
                f.groups
                    .map_or("? groups".to_owned(), |n| crate::render::count(
                        n as usize, "group", "groups"
                    ))
            ),
            _ => "a one-object page carries no totalResults or more than one object: targeted \
                  refreshes cannot count"
                .to_owned(),
        },
    );
    push(
        "page_size",
        match f.page_size_honoured {
            Some(true) => Status::Ok,
            Some(false) => Status::Warn,
            None => Status::Unknown,
        },
        format!(
            "asked for {}, got {}",
            f.page_size_asked,
            f.page_size_returned
                .map_or_else(|| "nothing".to_owned(), |n| n.to_string())
        ),
    );
    push(
        "user_name_eq",
        match (f.user_eq_finds, f.user_eq_case_insensitive) {
            (Some(true), Some(true) | None) => Status::Ok,
            (Some(true), Some(false)) => Status::Warn,
            (Some(false), _) => Status::Warn,
            (None, _) => Status::Unknown,
        },
        match (f.user_eq_finds, f.user_eq_case_insensitive) {
            (Some(true), Some(true)) => "finds a user, in any case".to_owned(),
            (Some(true), Some(false)) => {
                "finds a user only spelled exactly as stored (case-sensitive)".to_owned()
            }
            (Some(true), None) => "finds a user (case not tested: no letters)".to_owned(),
            (Some(false), _) => "does not find a listed user".to_owned(),
            (None, _) => "no user to look up".to_owned(),
        },
    );
    push(
        "display_name_eq",
        match f.group_eq_finds {
            Some(true) => Status::Ok,
            Some(false) => Status::Warn,
            None => Status::Unknown,
        },
        match f.group_eq_finds {
            Some(true) => "finds a group".to_owned(),
            Some(false) => "does not find a listed group".to_owned(),
            None => "no group to look up".to_owned(),
        },
    );
    push(
        "excluded_attributes",
        match f.exclude_attributes.as_deref() {
            Some("honoured") => Status::Ok,
            Some(_) => Status::Warn,
            None => Status::Unknown,
        },
        f.exclude_attributes.clone().map_or_else(
            || "no user with groups to tell by".to_owned(),
            |v| format!("`excludedAttributes=groups` is {v}"),
        ),
    );
    push(
        "last_modified",
        Status::Ok,
        format!(
            "listings carry meta.lastModified: {}; `meta.lastModified gt` filter: {}",
            f.listings_carry_last_modified.map_or("unknown", yes),
            f.last_modified_filter.as_deref().unwrap_or("unknown")
        ),
    );
    push(
        "etag",
        Status::Ok,
        f.etag.map_or_else(
            || "unknown".to_owned(),
            |e| {
                if e {
                    "a user carries an ETag".to_owned()
                } else {
                    "no ETag".to_owned()
                }
            },
        ),
    );
    push(
        "rate_limit",
        if f.throttled > 0 {
            Status::Warn
        } else {
            Status::Ok
        },
        format!(
            "headers: {}; 429 answers: {}{}",
            if f.rate_limit_headers.is_empty() {
                "none".to_owned()
            } else {
                f.rate_limit_headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            f.throttled,
            f.retry_after
                .as_deref()
                .map(|r| format!(" (Retry-After: {r})"))
                .unwrap_or_default()
        ),
    );
    push(
        "memberships",
        if f.memberships_checked > 0 && f.memberships_agreed < f.memberships_checked {
            Status::Warn
        } else if f.memberships_checked == 0 {
            Status::Unknown
        } else {
            Status::Ok
        },
        format!(
            "group listings carry members: {}; user listings carry groups: {}; both agree on {} of {} sampled",
            f.group_listings_carry_members.map_or("unknown", yes),
            f.user_listings_carry_groups.map_or("unknown", yes),
            f.memberships_agreed,
            f.memberships_checked
        ),
    );
    out
}

/// What zsc will use for the tenant, given what the server does.
fn uses(config: &TenantConfig, spec: &crate::dialect::DialectSpec, f: &Facts) -> Vec<Use> {
    let mut out = Vec::new();
    let mut push = |what, choice: String, why: String| out.push(Use { what, choice, why });
    let mut page = f.page_size_asked;
    let mut why = format!(
        "the {} dialect's maximum, or the tenant's `page_size`",
        spec.name
    );
    if let Some(max) = f.max_results.filter(|m| *m < page) {
        page = max;
        why = "the server's maxResults".to_owned();
    }
    if let (Some(false), Some(got)) = (f.page_size_honoured, f.page_size_returned) {
        if got > 0 {
            page = got;
            why = format!(
                "the server returned {got} when asked for more (zsc steps by what it returns)"
            );
        }
    }
    push("page_size", page.to_string(), why);
    let filter = f.filter_supported != Some(false) && f.user_eq_finds != Some(false);
    push(
        "look_ups",
        if filter {
            "`userName eq` / `displayName eq`".to_owned()
        } else {
            "a scan of the listing".to_owned()
        },
        match (filter, f.user_eq_case_insensitive) {
            (true, Some(false)) => "filters work but compare case-sensitively: zsc looks the \
                                    declared spelling up, and scans the listing when that finds \
                                    nothing"
                .to_owned(),
            (true, _) => "the server filters".to_owned(),
            (false, _) => "the server does not filter, or its filter finds nothing".to_owned(),
        },
    );
    push(
        "updates",
        if f.patch_supported == Some(false) {
            "GET, then PUT of the server's own representation".to_owned()
        } else {
            "PATCH".to_owned()
        },
        if f.patch_supported == Some(false) {
            "the server says it does not support PATCH".to_owned()
        } else {
            "PATCH is supported (or not denied)".to_owned()
        },
    );
    let from_users = match config.read.membership_source {
        MembershipSource::Groups => false,
        MembershipSource::Users => true,
        MembershipSource::Auto => !spec.group_list_has_members,
    };
    let agree = f.memberships_checked > 0 && f.memberships_agreed == f.memberships_checked;
    push(
        "membership_source",
        format!(
            "{} (`membership_source: {}`)",
            if from_users {
                "users' groups"
            } else {
                "groups' members"
            },
            config.read.membership_source
        ),
        if !spec.group_list_has_members && f.user_listings_carry_groups == Some(true) && agree {
            format!(
                "group listings leave members out, so reading them costs one request per group \
                 ({} groups); user listings carry groups and agreed with groups on all {} \
                 sampled: `membership_source: users` (or `auto`) costs nothing extra",
                f.groups.map_or("?".to_owned(), |g| g.to_string()),
                f.memberships_checked
            )
        } else if !spec.group_list_has_members {
            "group listings leave members out; users' groups were not confirmed to agree on a \
             sample, so keep `groups`"
                .to_owned()
        } else {
            "group listings carry members: reading them costs nothing extra".to_owned()
        },
    );
    push(
        "user_listings",
        if from_users || f.exclude_attributes.as_deref() == Some("refused") {
            "without a projection".to_owned()
        } else {
            format!("with `{}=groups`", spec.exclude_param)
        },
        match f.exclude_attributes.as_deref() {
            Some("refused") => "the server refuses the parameter".to_owned(),
            Some("ignored") => "the server ignores it (the pages stay as large)".to_owned(),
            _ if from_users => "memberships are read from users' groups".to_owned(),
            _ => "users' groups repeat every membership; zsc reads them from the groups".to_owned(),
        },
    );
    let targeted = f.count_works == Some(true) && filter;
    push(
        "targeted_refresh",
        if !targeted {
            "not possible: plans read in full"
        } else if f.user_eq_case_insensitive == Some(false) {
            "possible without new names: a plan that looks a name up reads in full"
        } else {
            "possible"
        }
        .to_owned(),
        format!(
            "{}; tenant default `refresh: {}`",
            if targeted && f.user_eq_case_insensitive == Some(false) {
                "one-object pages carry totalResults, but `userName eq` tells case apart, so a \
                 name it does not find may be there spelled otherwise"
            } else if targeted {
                "one-object pages carry totalResults and names can be looked up"
            } else if f.count_works != Some(true) {
                "no usable totalResults to count with"
            } else {
                "names cannot be looked up one by one"
            },
            match config.read.refresh {
                crate::config::RefreshMode::Full => "full",
                crate::config::RefreshMode::Changed => "changed",
            }
        ),
    );
    push(
        "incremental_reads",
        "not used".to_owned(),
        format!(
            "zsc does not rely on meta.lastModified (listings carry it: {}; the `gt` filter: {}); \
             targeted refreshes count instead",
            f.listings_carry_last_modified.map_or("unknown", yes),
            f.last_modified_filter.as_deref().unwrap_or("unknown")
        ),
    );
    let rate = config.rate_limit.or(spec.rate_limit_rps);
    push(
        "pacing",
        rate.map_or_else(|| "none".to_owned(), |r| format!("{r} requests/second")),
        match (config.rate_limit, f.throttled) {
            (Some(_), _) => "the tenant's `rate_limit`".to_owned(),
            (None, 0) => format!("the {} dialect's default", spec.name),
            (None, n) => format!(
                "the {} dialect's default; the server answered 429 {n} times during the probe: \
                 lower `rate_limit`",
                spec.name
            ),
        },
    );
    out
}
