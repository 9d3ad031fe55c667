//! Who holds a remote backend's lock: Terraform's lock info, the JSON an HTTP backend takes
//! with LOCK and answers a held lock with, and what the S3 lock object holds.
//!
//! Terraform sends seven fields (`ID`, `Operation`, `Info`, `Who`, `Version`, `Created`,
//! `Path`) and GitLab requires all of them, so zsc always sends all seven. A holder written by
//! another tool may leave some out; reading is lenient.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::state::lock::{hostname, rfc3339_utc};

/// A lock's holder, as Terraform's `LockInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// A fresh UUID per acquisition: what `zsc state unlock ID` names.
    #[serde(rename = "ID")]
    pub id: String,
    /// The command, e.g. `zsc apply`.
    #[serde(rename = "Operation", default)]
    pub operation: String,
    /// `pid 1234`: lets a later run on the same host see that the holder is gone.
    #[serde(rename = "Info", default)]
    pub info: String,
    /// `user@host`.
    #[serde(rename = "Who", default)]
    pub who: String,
    /// zsc's version.
    #[serde(rename = "Version", default)]
    pub version: String,
    /// When the lock was taken, RFC 3339 in UTC.
    #[serde(rename = "Created", default)]
    pub created: String,
    /// The state's location in the backend.
    #[serde(rename = "Path", default)]
    pub path: String,
}

impl LockHolder {
    /// This process, taking the lock for `command` on the state at `path`.
    pub fn new(command: &str, path: &str) -> LockHolder {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| "unknown".to_owned());
        LockHolder {
            id: uuid::Uuid::new_v4().to_string(),
            operation: format!("zsc {command}"),
            info: format!("pid {}", std::process::id()),
            who: format!("{user}@{}", hostname()),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            created: rfc3339_utc(SystemTime::now()),
            path: path.to_owned(),
        }
    }

    /// A holder known only by its id (`zsc state unlock ID`), for the unlock request.
    pub fn with_id(id: &str) -> LockHolder {
        LockHolder {
            id: id.to_owned(),
            operation: String::new(),
            info: String::new(),
            who: String::new(),
            version: String::new(),
            created: String::new(),
            path: String::new(),
        }
    }

    /// The holder's process id, when it is a zsc that said so.
    pub fn pid(&self) -> Option<u32> {
        self.info.strip_prefix("pid ")?.trim().parse().ok()
    }

    /// The host the holder ran on.
    pub fn host(&self) -> Option<&str> {
        self.who.rsplit_once('@').map(|(_, host)| host)
    }

    /// Whether the holder is a process of this machine that no longer runs: its lock can be
    /// released without `--force`. A holder on another machine is never known to be gone.
    pub fn is_gone(&self) -> bool {
        let (Some(pid), Some(host)) = (self.pid(), self.host()) else {
            return false;
        };
        host == hostname()
            && pid != std::process::id()
            && cfg!(target_os = "linux")
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }
}

impl fmt::Display for LockHolder {
    /// `` `zsc apply` by ci@runner-7 (pid 1234, since 2026-01-31T09:15:02Z, lock id …) ``
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operation = if self.operation.trim().is_empty() {
            "an unnamed operation"
        } else {
            self.operation.trim()
        };
        write!(f, "`{operation}`")?;
        if !self.who.is_empty() {
            write!(f, " by {}", self.who)?;
        }
        let mut details = Vec::new();
        if !self.info.trim().is_empty() {
            details.push(self.info.trim().to_owned());
        }
        if !self.created.is_empty() {
            details.push(format!("since {}", self.created));
        }
        details.push(format!("lock id {}", self.id));
        write!(f, " ({})", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_info_carries_terraforms_seven_fields() {
        let holder = LockHolder::new("apply", "prod/state.json");
        let json: serde_json::Value = serde_json::to_value(&holder).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "ID",
            "Operation",
            "Info",
            "Who",
            "Version",
            "Created",
            "Path",
        ] {
            assert!(keys.contains(&key), "{key} missing from {json}");
        }
        assert_eq!(holder.pid(), Some(std::process::id()));
        assert!(!holder.is_gone(), "this process runs");
        let shown = holder.to_string();
        assert!(shown.starts_with("`zsc apply` by "), "{shown}");
        assert!(shown.contains(&format!("lock id {}", holder.id)), "{shown}");
    }

    #[test]
    fn a_holder_from_another_tool_reads_leniently() {
        let holder: LockHolder =
            serde_json::from_str(r#"{"ID":"abc","Operation":"OperationTypeApply"}"#).unwrap();
        assert_eq!(holder.pid(), None);
        assert!(!holder.is_gone());
        assert_eq!(holder.to_string(), "`OperationTypeApply` (lock id abc)");
    }
}
