//! Sending requests: every request goes through [`ScimClient::send`], which paces,
//! authenticates, retries what is safe to retry and turns answers into [`ScimError`]s with the
//! server's detail, naming the server (scheme, host, port, base path; never a token).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{Answer, Repeat, ScimClient};
use super::error::ScimError;
use super::pacing::parse_retry_after;
use super::wire::ScimErrorBody;

impl ScimClient {
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
            message: crate::net::describe_transport(&e),
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
        inner
            .bytes
            .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
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
}

/// Attempts for a server that cannot be reached at all: about three seconds of trying.
const UNREACHABLE_ATTEMPTS: u32 = 3;

/// A listing (`/Users?...`, `/Groups?...`), which a SCIM server never answers 404.
fn is_listing(path: &str) -> bool {
    ["/Users", "/Groups"]
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}?")))
}

pub(super) fn protocol(method: &str, path: &str, message: String) -> ScimError {
    ScimError::Protocol {
        method: method.to_owned(),
        path: path.to_owned(),
        message,
    }
}

/// Percent-encode a query value.
pub(super) fn query_escape(value: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;
    use crate::scim::client::ClientOptions;
    use crate::scim::listing::Listed;
    use crate::scim::wire::{ListResponse, WireGroup, WireUser};
    use crate::secret::Secret;

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
