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
    /// No complete answer arrived (connection refused, DNS or TLS failure, reset, timed out,
    /// truncated body). The message names the server (scheme, host, port and base path, never
    /// a token) and how many attempts were made.
    #[error("{method} {place}{path}: {message}{}", attempts_text(*.attempts))]
    Transport {
        method: String,
        /// `scheme://host:port/base/path` of the tenant.
        place: String,
        path: String,
        message: String,
        /// Whether the request may have reached the server (and so may have taken effect).
        maybe_sent: bool,
        /// Requests sent before giving up (filled in when the client gives up).
        attempts: u32,
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

fn attempts_text(attempts: u32) -> String {
    match attempts {
        0 | 1 => String::new(),
        n => format!(" (gave up after {n} attempts)"),
    }
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
    if is_admin_refusal(status, detail) {
        out.push_str(ADMIN_ADVICE);
    }
    out
}

/// ZIA's answer to deleting a user linked to an admin account (help.zscaler.com/zia/
/// configuring-advanced-configuration-admins): not retried, not "already exists".
fn is_admin_refusal(status: u16, detail: Option<&str>) -> bool {
    status == 409
        && detail.is_some_and(|d| {
            let d = d.to_ascii_lowercase();
            d.contains("admin") && (d.contains("cannot") || d.contains("can't"))
        })
}

const ADMIN_ADVICE: &str = " (ZIA will not delete a user linked to an admin account under its default admin \
     setting, \"Do Nothing\"; remove the user's admin account in the ZIA admin portal first, change how SCIM \
     treats admin users (help.zscaler.com/zia/configuring-advanced-configuration-admins), or set \
     `remove_user_action: disable`; not retried)";

impl ScimError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ScimError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// ZIA refused to delete a user linked to an admin account (409 "Admin user cannot be
    /// deleted"): a permanent refusal, reported with advice, never retried.
    pub fn is_admin_refusal(&self) -> bool {
        match self {
            ScimError::Status { status, detail, .. } => {
                is_admin_refusal(*status, detail.as_deref())
            }
            _ => false,
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
            // 501 Not Implemented will not be implemented on a second try.
            ScimError::Status { status, .. } => {
                *status == 429 || (*status >= 500 && *status != 501)
            }
            ScimError::Transport { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(scim_type: Option<&str>, detail: &str) -> ScimError {
        ScimError::Status {
            method: "DELETE".into(),
            path: "/Users/1".into(),
            status: 409,
            scim_type: scim_type.map(str::to_owned),
            detail: Some(detail.into()),
            retry_after: None,
        }
    }

    #[test]
    fn zia_admin_refusal_is_not_a_uniqueness_conflict_and_carries_advice() {
        let e = conflict(None, "Admin user cannot be deleted");
        assert!(!e.is_conflict());
        assert!(!e.is_transient());
        assert!(e.is_admin_refusal());
        let text = e.to_string();
        assert!(text.contains("Admin user cannot be deleted"), "{text}");
        assert!(text.contains("remove_user_action: disable"), "{text}");
        let dup = conflict(Some("uniqueness"), "userName exists");
        assert!(dup.is_conflict() && !dup.is_admin_refusal());
    }
}
