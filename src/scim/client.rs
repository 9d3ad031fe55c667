//! The SCIM 2.0 client: one per tenant, shared by every worker.
//!
//! This file holds the client and how it is set up; `transport.rs` sends requests (pacing,
//! authentication, retries, errors), `read.rs` reads tenants in full (accounting for short
//! listings), `listing.rs` pages through a resource, `lookup.rs` reads some objects (counts,
//! by id, by name), `write.rs` changes them, `discovery.rs` asks what a server supports and
//! `probe.rs` what `zsc doctor` asks.
//! The bearer token is attached in one place (`transport.rs`); it never appears in a log line
//! or an error.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::sync::Semaphore;

use crate::dialect::{Dialect, DialectSpec};
use crate::secret::Secret;

use super::error::ScimError;
use super::pacing::{Backoff, Pacer};

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
    /// Told how far reads have got, under this name (the tenant's).
    pub progress: Option<(String, ProgressSink)>,
    /// Where a full read takes memberships from.
    pub memberships: super::read::Memberships,
}

/// Told how far a read has got, for a progress display.
pub trait ReadProgress: Send + Sync {
    /// `tenant` has read `done` of `total` of `what` (`users`, `groups`, `group members`).
    fn advance(&self, tenant: &str, what: &str, done: usize, total: usize);
}

/// A [`ReadProgress`] to hand to clients.
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn ReadProgress>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
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
            progress: None,
            memberships: super::read::Memberships::default(),
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
    pub(super) token: Secret,
    pub(super) spec: &'static DialectSpec,
    /// The listing page size: the configured or dialect size, lowered by discovery when the
    /// server's `maxResults` is smaller.
    pub(super) page_size: AtomicUsize,
    pub(super) parallelism: usize,
    /// Whether user listings still ask to leave users' `groups` out (false once the server
    /// refused the parameter).
    pub(super) exclude_groups: AtomicBool,
    /// `parallelism` permits: at most that many requests are in flight at once, whatever
    /// reads them (a refresh lists users and groups side by side).
    pub(super) in_flight: Semaphore,
    pub(super) pacer: Pacer,
    pub(super) backoff: Backoff,
    pub(super) requests: AtomicU64,
    /// Bytes of answer bodies received (for the benchmark's CPU per MB).
    pub(super) bytes: AtomicU64,
    pub(super) progress: Option<(String, ProgressSink)>,
    /// Where a full read takes memberships from.
    pub(super) memberships: super::read::Memberships,
    /// What `/ServiceProviderConfig` said, once read (see `discovery.rs`).
    pub(super) capabilities: tokio::sync::OnceCell<super::discovery::Capabilities>,
    /// Whether `userName eq` / `displayName eq` find a name spelled in another case (asked
    /// once, when a targeted read first looks names up).
    pub(super) eq_folds_case: [tokio::sync::OnceCell<bool>; 2],
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
                bytes: AtomicU64::new(0),
                capabilities: tokio::sync::OnceCell::new(),
                eq_folds_case: Default::default(),
                progress: options.progress,
                memberships: options.memberships,
            }),
        })
    }

    pub fn spec(&self) -> &'static DialectSpec {
        self.inner.spec
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The listing page size in force (the configured or dialect size, lowered by discovery).
    pub fn page_size(&self) -> usize {
        self.inner.page_size.load(Ordering::Relaxed)
    }

    /// Say how far a read has got, if anyone listens.
    pub(super) fn advance(&self, what: &str, done: usize, total: usize) {
        if let Some((tenant, sink)) = &self.inner.progress {
            sink.0.advance(tenant, what, done, total);
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Bytes of answer bodies received so far.
    pub fn bytes_received(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }
}

/// Refuse a base URL that breaks the transport rule ([`crate::dialect::check_transport`]).
fn check_base_url(base: &str) -> Result<Url, ScimError> {
    crate::dialect::check_transport(base).map_err(ScimError::Setup)
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
        assert!(
            err.to_string().contains("only allowed to this machine"),
            "{err}"
        );
        assert!(!err.to_string().contains("scim.example.com"), "{err}");
    }
}
