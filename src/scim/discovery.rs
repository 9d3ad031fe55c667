//! Discovery: what a server says it supports (`GET /ServiceProviderConfig`, RFC 7643 §5), used
//! over the dialect table's defaults, and the PUT fallbacks for a server without PATCH.
//!
//! One request per client (so per tenant per run), sent without the token: Zscaler documents
//! the discovery endpoints as unauthenticated (zia/scim-api-examples), and a token is not sent
//! where it is not needed. A server that has no such document (404), refuses it or answers
//! something unreadable is used with the dialect's defaults, silently (logged at -vv); where
//! the document disagrees with the dialect table, the document wins and `-v` says so.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::{LiveUser, UserAttrs};

use super::client::{path_segment, protocol, wire_members, MemberRef, Repeat, ScimClient};
use super::error::ScimError;
use super::wire::{WireUser, GROUP_SCHEMA};

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
}

impl Capabilities {
    /// What every dialect assumes: filtering and PATCH work, pages as the table says.
    fn assumed() -> Capabilities {
        Capabilities {
            filter: true,
            max_results: None,
            patch: true,
            from_server: false,
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

    pub(super) fn can_patch(&self) -> bool {
        self.inner.capabilities.get().is_none_or(|c| c.patch)
    }

    async fn fetch_capabilities(&self) -> Capabilities {
        let inner = &self.inner;
        let url = format!("{}/ServiceProviderConfig", inner.base);
        inner.pacer.acquire().await;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let response = inner
            .http
            .get(&url)
            .header(
                reqwest::header::ACCEPT,
                "application/scim+json, application/json",
            )
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(base = %inner.base, "no service provider config ({e}); using the {} defaults", inner.spec.name);
                return Capabilities::assumed();
            }
        };
        let status = response.status().as_u16();
        if status != 200 {
            tracing::debug!(base = %inner.base, status, "no service provider config; using the {} defaults", inner.spec.name);
            return Capabilities::assumed();
        }
        let Ok(body) = response.bytes().await else {
            return Capabilities::assumed();
        };
        match parse_service_provider_config(&body) {
            Some(caps) => caps,
            None => {
                tracing::debug!(base = %inner.base, "the service provider config is not readable; using the {} defaults", inner.spec.name);
                Capabilities::assumed()
            }
        }
    }

    /// Use what the server said over the dialect table, saying where they disagree.
    fn adopt(&self, caps: &Capabilities) {
        let inner = &self.inner;
        let spec = inner.spec;
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

    /// Update a user without PATCH: read it, then PUT it whole with `after` and `active`.
    pub(super) async fn replace_user(
        &self,
        id: &str,
        after: &UserAttrs,
        active: Option<bool>,
    ) -> Result<(), ScimError> {
        let path = format!("/Users/{}", path_segment(id));
        let current: WireUser = self.get(&path).await?;
        let live: LiveUser = current
            .clone()
            .into_live()
            .map_err(|m| protocol("GET", &path, m))?;
        let mut body = WireUser::from_model(&live.user_name, active.unwrap_or(live.active), after);
        body.id = Some(live.id);
        let body = serde_json::to_value(body).unwrap_or(Value::Null);
        self.send(Method::PUT, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }

    /// Rename and/or change members without PATCH: read the group, then PUT it whole.
    pub(super) async fn replace_group(
        &self,
        id: &str,
        name: Option<&str>,
        add: &[MemberRef],
        remove: &[String],
    ) -> Result<(), ScimError> {
        let path = format!("/Groups/{}", path_segment(id));
        // Read as JSON, not as a WireGroup: the members that stay go back exactly as the
        // server gave them (with their `display` and `$ref`, which WireMember does not parse).
        let current: Value = self.get(&path).await?;
        let current_name = current
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = json!({
            "schemas": [GROUP_SCHEMA],
            "id": id,
            "displayName": name.unwrap_or(current_name),
            "members": members_after(&current, add, remove),
        });
        self.send(Method::PUT, &path, Some(&body), Repeat::Idempotent)
            .await
            .map(drop)
    }
}

/// A group's members after a change: the current ones as the server wrote them, less
/// `remove`, plus those of `add` not already there.
fn members_after(current: &Value, add: &[MemberRef], remove: &[String]) -> Vec<Value> {
    let id_of = |member: &Value| match member.get("value") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut members: Vec<Value> = current
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| id_of(m).is_none_or(|id| !remove.contains(&id)))
        .cloned()
        .collect();
    for m in wire_members(add) {
        if !members
            .iter()
            .any(|have| id_of(have).as_deref() == Some(m.value.as_str()))
        {
            members.push(serde_json::to_value(m).unwrap_or(Value::Null));
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_keeps_the_members_that_stay_as_the_server_wrote_them() {
        let current = json!({"displayName": "G", "members": [
            {"value": "1", "display": "a@example.com", "$ref": "https://x/Users/1"},
            {"value": 2, "display": "b@example.com"},
        ]});
        let add = [
            MemberRef {
                id: "1".into(),
                user_name: "a@example.com".into(),
            },
            MemberRef {
                id: "3".into(),
                user_name: "c@example.com".into(),
            },
        ];
        let members = members_after(&current, &add, &["2".to_owned()]);
        assert_eq!(
            members,
            vec![
                json!({"value": "1", "display": "a@example.com", "$ref": "https://x/Users/1"}),
                json!({"value": "3", "display": "c@example.com"}),
            ]
        );
    }

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
