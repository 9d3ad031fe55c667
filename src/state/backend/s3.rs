//! An S3 bucket, or an S3-compatible store at `endpoint`, through the `object_store` crate.
//!
//! - The state is one object (`key`); the lock is another beside it (`<key>.lock`), holding the
//!   lock info as JSON.
//! - The lock is created with `If-None-Match: *`: of two runs creating it at once, S3 lets
//!   exactly one succeed.
//! - The state is written with `If-Match: <ETag read>` (or `If-None-Match: *` when there was
//!   none), so every write is a compare-and-swap: a write that finds the state changed since it
//!   was read fails (412) and overwrites nothing, lock or no lock.
//!
//! Credentials come from the standard AWS environment chain, as `object_store` reads it:
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web identity
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`: GitHub's and GitLab's OIDC), ECS
//! container credentials, then EC2 instance metadata. None of them is ever in a message:
//! errors are described from their kind and the S3 error code, not echoed.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion,
};

use super::holder::LockHolder;
use super::{BackendError, PutError, Version};
use crate::config::S3BackendConfig;

pub struct S3Backend {
    store: Arc<dyn ObjectStore>,
    state: ObjectPath,
    lock: ObjectPath,
    bucket: String,
    name: String,
}

impl S3Backend {
    /// The bucket `config` names, with credentials from the environment.
    pub fn new(config: &S3BackendConfig, name: String) -> Result<S3Backend, BackendError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(200),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
            })
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(super::request_timeout())
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_allow_http(
                        config
                            .endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    ),
            );
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_some()
        {
            if let Ok(region) = std::env::var("AWS_DEFAULT_REGION") {
                builder = builder.with_region(region);
            }
        }
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_virtual_hosted_style_request(!config.use_path_style.unwrap_or(true));
        } else if let Some(path_style) = config.use_path_style {
            builder = builder.with_virtual_hosted_style_request(!path_style);
        }
        let store = builder.build().map_err(|e| BackendError::Failed {
            backend: name.clone(),
            action: "set up the S3 client",
            detail: short(&e.to_string()),
        })?;
        Ok(S3Backend::with_store(
            Arc::new(store),
            &config.bucket,
            &config.key,
            name,
        ))
    }

    /// The backend over any object store (tests use `object_store`'s in-memory one).
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        bucket: &str,
        key: &str,
        name: String,
    ) -> S3Backend {
        S3Backend {
            store,
            state: ObjectPath::from(key),
            lock: ObjectPath::from(format!("{key}.lock")),
            bucket: bucket.to_owned(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.state)
    }

    pub async fn get(&self) -> Result<Option<(bytes::Bytes, Version)>, BackendError> {
        match self.store.get(&self.state).await {
            Ok(result) => {
                let version = Version::Tag {
                    e_tag: result.meta.e_tag.clone(),
                    version: result.meta.version.clone(),
                };
                let bytes = result
                    .bytes()
                    .await
                    .map_err(|e| self.error("read the state", &e))?;
                Ok(Some((bytes, version)))
            }
            Err(object_store::Error::NotFound { source, .. }) => {
                if is_missing_bucket(&chain(source.as_ref())) {
                    return Err(self.missing_bucket());
                }
                // A missing object and a missing bucket can look alike: ask for the bucket.
                match self.store.list_with_delimiter(Some(&self.state)).await {
                    Err(object_store::Error::NotFound { .. }) => Err(self.missing_bucket()),
                    Err(e) if is_missing_bucket(&chain(&e)) => Err(self.missing_bucket()),
                    _ => Ok(None),
                }
            }
            Err(e) => Err(self.error("read the state", &e)),
        }
    }

    pub async fn put(
        &self,
        bytes: Vec<u8>,
        expected: &Version,
        _lock_id: Option<&str>,
    ) -> Result<Version, PutError> {
        let mode = match expected {
            Version::Tag { e_tag, version } => PutMode::Update(UpdateVersion {
                e_tag: e_tag.clone(),
                version: version.clone(),
            }),
            _ => PutMode::Create,
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.state, PutPayload::from(bytes), options)
            .await
        {
            Ok(result) => Ok(Version::Tag {
                e_tag: result.e_tag,
                version: result.version,
            }),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => Err(PutError::Changed),
            // If-Match on an object deleted since: it changed too.
            Err(object_store::Error::NotFound { source, .. })
                if !is_missing_bucket(&chain(source.as_ref())) =>
            {
                Err(PutError::Changed)
            }
            Err(e) => Err(PutError::Failed(self.error("write the state", &e))),
        }
    }

    pub async fn lock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        let body = serde_json::to_vec(holder).unwrap_or_default();
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.lock, PutPayload::from(body), options)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {
                let found = self.holder().await?;
                // A retried create whose first answer was lost finds this run's own lock.
                if found.as_ref().is_some_and(|h| h.id == holder.id) {
                    return Ok(());
                }
                Err(BackendError::Locked {
                    backend: self.name.clone(),
                    holder: found.map(Box::new),
                })
            }
            Err(e) => Err(self.error("lock the state", &e)),
        }
    }

    /// Removes the lock if `holder` (by id) holds it.
    pub async fn unlock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        let current = match self.store.get(&self.lock).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(self.error("read the lock", &e)),
        };
        let bytes = current
            .bytes()
            .await
            .map_err(|e| self.error("read the lock", &e))?;
        let found: Option<LockHolder> = serde_json::from_slice(&bytes).ok();
        if found.as_ref().map(|h| h.id.as_str()) != Some(holder.id.as_str()) {
            return Err(BackendError::NotHolder {
                backend: self.name.clone(),
                id: holder.id.clone(),
                holder: found.map(Box::new),
            });
        }
        match self.store.delete(&self.lock).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("remove the lock", &e)),
        }
    }

    pub async fn holder(&self) -> Result<Option<LockHolder>, BackendError> {
        match self.store.get(&self.lock).await {
            Ok(result) => {
                let bytes = result
                    .bytes()
                    .await
                    .map_err(|e| self.error("read the lock", &e))?;
                // A lock object zsc cannot read is still a lock: its holder is unknown.
                Ok(Some(
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| LockHolder::with_id("")),
                ))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read the lock", &e)),
        }
    }

    fn missing_bucket(&self) -> BackendError {
        BackendError::Missing {
            backend: self.name.clone(),
            detail: format!("bucket `{}` does not exist", self.bucket),
        }
    }

    /// An `object_store` error in zsc's words: what kind of failure, and the S3 error code
    /// where the answer gave one. Never the request, its headers or a signature.
    fn error(&self, action: &'static str, e: &object_store::Error) -> BackendError {
        let text = chain(e);
        let code = s3_code(&text);
        match e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => BackendError::Denied {
                backend: self.name.clone(),
                action,
                detail: code.unwrap_or_else(|| "access denied".to_owned()),
            },
            _ if is_missing_bucket(&text) => self.missing_bucket(),
            _ if code.as_deref().is_some_and(|c| {
                matches!(
                    c,
                    "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "AccessDenied"
                        | "ExpiredToken"
                        | "InvalidToken"
                )
            }) =>
            {
                BackendError::Denied {
                    backend: self.name.clone(),
                    action,
                    detail: code.unwrap_or_default(),
                }
            }
            _ if is_transport(&text) => BackendError::Unreachable {
                backend: self.name.clone(),
                detail: transport_detail(&text),
            },
            _ => BackendError::Failed {
                backend: self.name.clone(),
                action,
                detail: code.unwrap_or_else(|| short(&text)),
            },
        }
    }
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn is_missing_bucket(text: &str) -> bool {
    text.contains("NoSuchBucket") || text.contains("bucket does not exist")
}

/// The `<Code>` of an S3 error answer quoted in `text`, if any.
fn s3_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

fn is_transport(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "error sending request",
        "connection refused",
        "dns error",
        "timed out",
        "tcp connect error",
        "connection reset",
        "certificate",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn transport_detail(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    for (needle, said) in [
        ("connection refused", "connection refused"),
        ("dns error", "no such host"),
        ("timed out", "timed out"),
        ("certificate", "TLS certificate not trusted"),
        ("connection reset", "connection reset"),
    ] {
        if lower.contains(needle) {
            return said.to_owned();
        }
    }
    "could not connect".to_owned()
}

/// A message cut short, for errors without an S3 code.
fn short(text: &str) -> String {
    text.chars().take(300).collect()
}
