//! Terraform's HTTP backend protocol, as GitLab's managed Terraform state and Gitea's state
//! registry speak it:
//!
//! - `GET address`: the state; 204, 404 or an empty body mean there is none;
//! - `POST address` (`update_method`) with the state, and `?ID=<lock id>` while this run holds
//!   the lock;
//! - `LOCK lock_address` (`lock_method`; GitLab: `POST`) with the lock info (Terraform's seven
//!   fields); 409 or 423 with the holder's lock info when it is held;
//! - `UNLOCK unlock_address` (`unlock_method`; GitLab: `DELETE`) with the lock info;
//! - Basic auth from `username` and `password` (GitLab: `gitlab-ci-token` and the CI job token).
//!
//! The protocol has no conditional write, so a write is a compare-and-swap only as far as this
//! run can make it one: under the lock, it reads the state again and writes only if it is still
//! what this run read. The lock is what keeps two writers apart.
//!
//! The password is sent in the Authorization header and nowhere else: never in a URL, a message
//! or a log line (a server's answer quoted in an error has it masked).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::holder::LockHolder;
use super::{BackendError, PutError, Version};
use crate::config::HttpBackendConfig;
use crate::secret::Secret;

/// Attempts per request when the connection fails or the server answers 5xx.
const ATTEMPTS: u32 = 3;

pub struct HttpBackend {
    client: reqwest::Client,
    config: HttpBackendConfig,
    password: Option<Secret>,
    name: String,
}

/// An answer: status and body.
struct Answer {
    status: StatusCode,
    body: bytes::Bytes,
}

impl HttpBackend {
    /// `name` is how messages call it. The password is read here, from where the configuration
    /// says it is.
    pub fn new(config: &HttpBackendConfig, name: String) -> Result<HttpBackend, BackendError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let password = match &config.password {
            Some(source) => Some(source.resolve().map_err(|detail| BackendError::Failed {
                backend: name.clone(),
                action: "read its password",
                detail,
            })?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("zsc/", env!("CARGO_PKG_VERSION")))
            .timeout(super::request_timeout())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BackendError::Failed {
                backend: name.clone(),
                action: "set up HTTPS",
                detail: e.to_string(),
            })?;
        Ok(HttpBackend {
            client,
            config: config.clone(),
            password,
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the state is, for lock info.
    pub fn path(&self) -> &str {
        &self.config.address
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<Vec<u8>>,
        action: &'static str,
    ) -> Result<Answer, BackendError> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| BackendError::Failed {
            backend: self.name.clone(),
            action,
            detail: format!("invalid method: {e}"),
        })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.client.request(method.clone(), url);
            if let Some(username) = &self.config.username {
                request = request.basic_auth(username, self.password.as_ref().map(Secret::expose));
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let retry = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(body) if !status.is_server_error() || attempt >= ATTEMPTS => {
                            tracing::debug!(
                                backend = %self.name, %method, status = status.as_u16(),
                                "state backend request"
                            );
                            return Ok(Answer { status, body });
                        }
                        Ok(_) => format!("status {status}"),
                        Err(e) if attempt >= ATTEMPTS => {
                            return Err(self.unreachable(&e));
                        }
                        Err(e) => crate::net::describe_transport(&e),
                    }
                }
                Err(e) if attempt >= ATTEMPTS => return Err(self.unreachable(&e)),
                Err(e) => crate::net::describe_transport(&e),
            };
            tracing::debug!(backend = %self.name, %method, "retrying after: {retry}");
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> BackendError {
        BackendError::Unreachable {
            backend: self.name.clone(),
            detail: format!(
                "{} after {ATTEMPTS} attempts",
                crate::net::describe_transport(e)
            ),
        }
    }

    /// An answer that is not what the protocol allows, as an error.
    fn unexpected(&self, action: &'static str, answer: &Answer) -> BackendError {
        if matches!(
            answer.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return BackendError::Denied {
                backend: self.name.clone(),
                action,
                detail: format!("status {}", answer.status),
            };
        }
        let text = String::from_utf8_lossy(&answer.body);
        let mut text: String = text.trim().chars().take(200).collect();
        if let Some(password) = &self.password {
            text = text.replace(password.expose(), "[redacted]");
        }
        BackendError::Failed {
            backend: self.name.clone(),
            action,
            detail: if text.is_empty() {
                format!("status {}", answer.status)
            } else {
                format!("status {}: {text}", answer.status)
            },
        }
    }

    pub async fn get(&self) -> Result<Option<(bytes::Bytes, Version)>, BackendError> {
        let answer = self
            .send("GET", &self.config.address, None, "read the state")
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK if answer.body.iter().all(u8::is_ascii_whitespace) => Ok(None),
            StatusCode::OK => {
                let version = Version::Content(Sha256::digest(&answer.body).into());
                Ok(Some((answer.body, version)))
            }
            _ => Err(self.unexpected("read the state", &answer)),
        }
    }

    /// Writes `bytes` if the state is still `expected` (read again first: see the module docs).
    pub async fn put(
        &self,
        bytes: Vec<u8>,
        expected: &Version,
        lock_id: Option<&str>,
    ) -> Result<Version, PutError> {
        let now = self.get().await?.map_or(Version::Absent, |(_, v)| v);
        if &now != expected {
            return Err(PutError::Changed);
        }
        let url = match lock_id {
            Some(id) => with_query(&self.config.address, "ID", id),
            None => self.config.address.clone(),
        };
        let version = Version::Content(Sha256::digest(&bytes).into());
        let answer = self
            .send(
                &self.config.update_method,
                &url,
                Some(bytes),
                "write the state",
            )
            .await?;
        match answer.status {
            s if s.is_success() => Ok(version),
            StatusCode::CONFLICT | StatusCode::LOCKED => {
                Err(PutError::Failed(BackendError::Locked {
                    backend: self.name.clone(),
                    holder: parse_holder(&answer.body),
                }))
            }
            _ => Err(PutError::Failed(
                self.unexpected("write the state", &answer),
            )),
        }
    }

    pub async fn lock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        let body = serde_json::to_vec(holder).unwrap_or_default();
        let answer = self
            .send(
                &self.config.lock_method,
                &self.config.lock_address,
                Some(body),
                "lock the state",
            )
            .await?;
        match answer.status {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT | StatusCode::LOCKED => {
                let found = parse_holder(&answer.body);
                // A retried LOCK whose first answer was lost finds this run's own lock.
                if found.as_ref().is_some_and(|h| h.id == holder.id) {
                    return Ok(());
                }
                Err(BackendError::Locked {
                    backend: self.name.clone(),
                    holder: found,
                })
            }
            _ => Err(self.unexpected("lock the state", &answer)),
        }
    }

    pub async fn unlock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        let body = serde_json::to_vec(holder).unwrap_or_default();
        let url = with_query(&self.config.unlock_address, "ID", &holder.id);
        let answer = self
            .send(
                &self.config.unlock_method,
                &url,
                Some(body),
                "unlock the state",
            )
            .await?;
        match answer.status {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT | StatusCode::LOCKED => Err(BackendError::NotHolder {
                backend: self.name.clone(),
                id: holder.id.clone(),
                holder: parse_holder(&answer.body),
            }),
            _ => Err(self.unexpected("unlock the state", &answer)),
        }
    }

    /// Who holds the lock. The protocol cannot ask, so this tries to take it: if that works
    /// nobody held it (and it is released at once); if not, the answer names the holder.
    pub async fn holder(&self) -> Result<Option<LockHolder>, BackendError> {
        let probe = LockHolder::new("state unlock (checking the lock)", self.path());
        match self.lock(&probe).await {
            Ok(()) => {
                self.unlock(&probe).await?;
                Ok(None)
            }
            Err(BackendError::Locked { holder, .. }) => Ok(Some(
                holder
                    .map(|h| *h)
                    .unwrap_or_else(|| LockHolder::with_id("")),
            )),
            Err(e) => Err(e),
        }
    }
}

fn parse_holder(body: &[u8]) -> Option<Box<LockHolder>> {
    serde_json::from_slice::<LockHolder>(body)
        .ok()
        .map(Box::new)
}

/// `url` with `key=value` added to its query.
fn with_query(url: &str, key: &str, value: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair(key, value);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}
