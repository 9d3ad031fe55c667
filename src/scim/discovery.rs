//! Discovery: what a server says it supports (`GET /ServiceProviderConfig`, RFC 7643 §5), used
//! over the dialect table's defaults.
//!
//! One request per client (so per tenant per run), sent first without the token: Zscaler
//! documents the discovery endpoints as unauthenticated (zia/scim-api-examples), and a token is
//! not sent where it is not needed. A server that protects the document (401 or 403) is asked
//! once more with the token. A server that has no such document (404), or answers something
//! unreadable, is used with the dialect's defaults. Either way `-v` says which capabilities are
//! used and where they came from; where the document disagrees with the dialect table, the
//! document wins and `-v` says so.

use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde_json::Value;

use super::client::ScimClient;

/// What zsc relies on, as the server states it (or as the dialect assumes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `filter.supported`: `userName eq` / `displayName eq` lookups work.
    pub filter: bool,
    /// `filter.maxResults`: the most resources one answer holds.
    pub max_results: Option<usize>,
    /// `patch.supported`.
    pub patch: bool,
    /// Whether the server said so (false: the dialect's assumptions).
    pub from_server: bool,
    /// Where these came from, in words, for `-v`.
    pub source: String,
}

impl Capabilities {
    /// What every dialect assumes: filtering and PATCH work, pages as the table says.
    fn assumed() -> Capabilities {
        Capabilities {
            filter: true,
            max_results: None,
            patch: true,
            from_server: false,
            source: "the dialect's defaults".to_owned(),
        }
    }

    fn defaults_because(why: String) -> Capabilities {
        Capabilities {
            source: format!("the dialect's defaults ({why})"),
            ..Capabilities::assumed()
        }
    }
}

/// `/ServiceProviderConfig`, the parts zsc reads; anything missing means "as assumed".
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceProviderConfig {
    #[serde(default)]
    patch: Option<Supported>,
    #[serde(default)]
    filter: Option<Supported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Supported {
    #[serde(default)]
    supported: Option<Value>,
    #[serde(default)]
    max_results: Option<Value>,
}

fn flexible_bool(v: &Option<Value>) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn flexible_count(v: &Option<Value>) -> Option<usize> {
    match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
}

/// Read a `/ServiceProviderConfig` body. None: not a document zsc can use.
pub fn parse_service_provider_config(body: &[u8]) -> Option<Capabilities> {
    let spc: ServiceProviderConfig = serde_json::from_slice(body).ok()?;
    let mut caps = Capabilities::assumed();
    caps.from_server = true;
    caps.source = "the server's /ServiceProviderConfig".to_owned();
    if let Some(filter) = &spc.filter {
        caps.filter = flexible_bool(&filter.supported).unwrap_or(true);
        caps.max_results = flexible_count(&filter.max_results);
    }
    if let Some(patch) = &spc.patch {
        caps.patch = flexible_bool(&patch.supported).unwrap_or(true);
    }
    Some(caps)
}

impl ScimClient {
    /// Ask the server once what it supports, and adjust: a smaller `maxResults` lowers the page
    /// size. Never fails: without an answer the dialect's defaults stand.
    pub async fn discover(&self) -> &Capabilities {
        self.inner
            .capabilities
            .get_or_init(|| async {
                let caps = self.fetch_capabilities().await;
                self.adopt(&caps);
                caps
            })
            .await
    }

    /// What discovery found, or the dialect's assumptions before (or without) it.
    pub fn capabilities(&self) -> Capabilities {
        self.inner
            .capabilities
            .get()
            .cloned()
            .unwrap_or_else(Capabilities::assumed)
    }

    pub(super) fn can_filter(&self) -> bool {
        self.inner.capabilities.get().is_none_or(|c| c.filter)
    }

    /// Whether updates may use PATCH. Asks the server first if nothing has yet: applying a
    /// saved plan writes without reading anything before.
    pub(super) async fn can_patch(&self) -> bool {
        self.discover().await.patch
    }

    async fn fetch_capabilities(&self) -> Capabilities {
        match self.fetch_service_provider_config(false).await {
            Err(status @ (401 | 403)) => match self.fetch_service_provider_config(true).await {
                Ok(mut caps) => {
                    caps.source = format!(
                        "{}, read with the token (it answered {status} without)",
                        caps.source
                    );
                    caps
                }
                Err(again) => Capabilities::defaults_because(format!(
                    "/ServiceProviderConfig answered {status} without the token and {} with it",
                    describe_status(again)
                )),
            },
            Err(status) => Capabilities::defaults_because(format!(
                "/ServiceProviderConfig answered {}",
                describe_status(status)
            )),
            Ok(caps) => caps,
        }
    }

    /// One read of `/ServiceProviderConfig`; the status when it is no usable document (0: no
    /// answer, 1: not readable).
    async fn fetch_service_provider_config(&self, with_token: bool) -> Result<Capabilities, u16> {
        let inner = &self.inner;
        let url = format!("{}/ServiceProviderConfig", inner.base);
        inner.pacer.acquire().await;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = inner.http.get(&url).header(
            reqwest::header::ACCEPT,
            "application/scim+json, application/json",
        );
        if with_token {
            request = self.authorized(request);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(base = %inner.base, "no service provider config: {e}");
                return Err(0);
            }
        };
        let status = response.status().as_u16();
        tracing::debug!(base = %inner.base, status, with_token, "GET /ServiceProviderConfig");
        if status != 200 {
            return Err(status);
        }
        let body = response.bytes().await.map_err(|_| 0u16)?;
        parse_service_provider_config(&body).ok_or(1)
    }

    /// Use what the server said over the dialect table, saying where they disagree.
    fn adopt(&self, caps: &Capabilities) {
        let inner = &self.inner;
        let spec = inner.spec;
        let yes = |b: bool| if b { "yes" } else { "no" };
        tracing::info!(
            base = %inner.base,
            "capabilities: filter {}, PATCH {}, maxResults {}; from {}",
            yes(caps.filter),
            yes(caps.patch),
            caps.max_results.map_or_else(|| "not stated".to_owned(), |m| m.to_string()),
            caps.source
        );
        if !caps.from_server {
            return;
        }
        if let Some(max) = caps.max_results {
            if max != spec.max_page_size {
                tracing::info!(
                    base = %inner.base,
                    "the server's maxResults is {max}; the {} dialect assumes pages of up to {}; using the server's",
                    spec.name,
                    spec.max_page_size
                );
            }
            let page = inner.page_size.load(Ordering::Relaxed);
            if max < page {
                inner.page_size.store(max, Ordering::Relaxed);
            }
        }
        if !caps.filter {
            tracing::info!(
                base = %inner.base,
                "the server says it does not support filters; the {} dialect assumes {}; zsc looks objects up by listing instead",
                spec.name,
                spec.user_filters.join(", ")
            );
        }
        if !caps.patch {
            tracing::info!(
                base = %inner.base,
                "the server says it does not support PATCH; the {} dialect assumes it does; zsc updates with GET and PUT instead",
                spec.name
            );
        }
    }
}

/// A discovery status in words.
fn describe_status(status: u16) -> String {
    match status {
        0 => "nothing (no connection)".to_owned(),
        1 => "something that is not a service provider config".to_owned(),
        s => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_server_supports_tolerantly() {
        let caps = parse_service_provider_config(
            br#"{"patch":{"supported":"false"},"filter":{"supported":true,"maxResults":"200"}}"#,
        )
        .unwrap();
        assert!(!caps.patch);
        assert!(caps.filter);
        assert_eq!(caps.max_results, Some(200));
        assert!(caps.from_server);
    }

    #[test]
    fn missing_parts_mean_as_assumed_and_garbage_means_no_document() {
        let caps = parse_service_provider_config(b"{}").unwrap();
        assert!(caps.patch && caps.filter && caps.max_results.is_none());
        assert!(parse_service_provider_config(b"<html>not found</html>").is_none());
        let zero = parse_service_provider_config(br#"{"filter":{"maxResults":0}}"#).unwrap();
        assert_eq!(zero.max_results, None);
    }
}
