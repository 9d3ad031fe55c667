//! The emulator's two error types: [`EmulatorError`] for whoever starts or stops the server, and
//! [`ApiError`], a SCIM error response (RFC 7644 §3.12) that a handler returns to the client.
//!
//! Nothing here decides *when* an error happens; handlers and the store do.

use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::scim::wire::ScimErrorBody;

/// Why the emulator could not start, save its data or stop.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read emulator data file `{path}`: {source}")]
    ReadData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("emulator data file `{path}` is not valid JSON emulator data: {source}")]
    CorruptData {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("emulator data file `{path}` is inconsistent: {detail}")]
    InvalidData { path: PathBuf, detail: String },
    #[error("cannot write emulator data file `{path}`: {source}")]
    WriteData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("emulator cannot use its listener: {0}")]
    Listener(#[source] std::io::Error),
    #[error("emulator server failed: {0}")]
    Server(String),
}

/// The content type of every SCIM response (RFC 7644 §3.1).
pub(crate) const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A SCIM error answered to the client: status, optional `scimType` and a human-readable detail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {detail}")]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    /// `Retry-After` seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidValue", detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidPath", detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidSyntax", detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request("invalidFilter", detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "authentication required: send `Authorization: Bearer <token>` with a valid token",
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, detail)
    }

    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ScimErrorBody::new(self.status.as_u16(), self.scim_type, self.detail);
        let mut response = super::routes::scim_json(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
