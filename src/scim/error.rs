//! Errors from talking to a SCIM server, carrying what a person needs to act on them.

use std::time::Duration;

/// A failed SCIM request. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// The server answered with an error status.
    #[error("{method} {path}: {}", status_text(*.status, .scim_type.as_deref(), .detail.as_deref()))]
    Status {
        method: String,
        path: String,
        status: u16,
        scim_type: Option<String>,
        detail: Option<String>,
        retry_after: Option<Duration>,
    },
    /// No complete answer arrived (connection refused, reset, timed out, truncated body).
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
        /// Whether the request may have reached the server (and so may have taken effect).
        maybe_sent: bool,
    },
    /// The server answered 2xx with something that is not what SCIM says it should be.
    #[error("{method} {path}: unexpected response: {message}")]
    Protocol {
        method: String,
        path: String,
        message: String,
    },
    /// A listing did not add up: the server's pages and its totalResults disagree.
    #[error("{resource}: the server reported {expected} but zsc could read only {got} distinct ones{hint}")]
    Incomplete {
        resource: String,
        expected: u64,
        got: usize,
        hint: String,
    },
    /// The client could not be set up (bad URL, TLS setup).
    #[error("{0}")]
    Setup(String),
}

fn status_text(status: u16, scim_type: Option<&str>, detail: Option<&str>) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!("{status} {reason}").trim_end().to_owned();
    if let Some(t) = scim_type {
        out.push_str(&format!(" ({t})"));
    }
    if let Some(d) = detail.filter(|d| !d.is_empty()) {
        out.push_str(": ");
        out.push_str(d);
    }
    out
}

impl ScimError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ScimError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 409 with scimType `uniqueness` (or any 409 from a server that omits scimType).
    pub fn is_conflict(&self) -> bool {
        match self {
            ScimError::Status {
                status: 409,
                scim_type,
                detail,
                ..
            } => {
                scim_type.as_deref().is_none_or(|t| t == "uniqueness")
                    && !detail
                        .as_deref()
                        .is_some_and(|d| d.to_ascii_lowercase().contains("admin"))
            }
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Worth another attempt: throttling, a server error, or no complete answer.
    pub fn is_transient(&self) -> bool {
        match self {
            ScimError::Status { status, .. } => *status == 429 || *status >= 500,
            ScimError::Transport { .. } => true,
            _ => false,
        }
    }
}
