//! How a tenant is read: `refresh:` (everything, or only what a plan can touch),
//! `max_refresh_age:` (how old the last full read may be before a targeted plan reads
//! everything again) and `membership_source:` (where memberships are read from).
//!
//! Types and their YAML words only; `validate/tenants.rs` reads them, `ops` acts on them.

use std::fmt;
use std::time::Duration;

/// What `zsc plan` reads of a tenant by default (`--refresh=` overrides it for a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefreshMode {
    /// Every user and group (the default).
    #[default]
    Full,
    /// Only what the plan can touch, with one count per resource type (see `ops::targeted`).
    Changed,
}

impl RefreshMode {
    pub const WORDS: [&'static str; 2] = ["full", "changed"];

    pub fn parse(word: &str) -> Option<RefreshMode> {
        match word {
            "full" => Some(RefreshMode::Full),
            "changed" => Some(RefreshMode::Changed),
            _ => None,
        }
    }
}

/// Where a refresh reads group memberships from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipSource {
    /// Each group's `members` (ZPA's group listings leave them out: one more read per group).
    #[default]
    Groups,
    /// Each user's read-only `groups`, from the user listing zsc reads anyway.
    Users,
    /// The cheaper of the two, from the server's counts.
    Auto,
}

impl MembershipSource {
    pub const WORDS: [&'static str; 3] = ["groups", "users", "auto"];

    pub fn parse(word: &str) -> Option<MembershipSource> {
        match word {
            "groups" => Some(MembershipSource::Groups),
            "users" => Some(MembershipSource::Users),
            "auto" => Some(MembershipSource::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MembershipSource::Groups => "groups",
            MembershipSource::Users => "users",
            MembershipSource::Auto => "auto",
        }
    }
}

impl fmt::Display for MembershipSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's read settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPolicy {
    pub refresh: RefreshMode,
    /// A targeted plan reads everything when the last full read is older than this.
    pub max_refresh_age: Duration,
    pub membership_source: MembershipSource,
}

impl ReadPolicy {
    /// 24 hours: a day's drift at most goes unchecked by targeted plans.
    pub const DEFAULT_MAX_REFRESH_AGE: Duration = Duration::from_secs(24 * 3600);
}

impl Default for ReadPolicy {
    fn default() -> Self {
        ReadPolicy {
            refresh: RefreshMode::Full,
            max_refresh_age: Self::DEFAULT_MAX_REFRESH_AGE,
            membership_source: MembershipSource::Groups,
        }
    }
}

/// A duration as written in the configuration: a whole number followed by `s`, `m`, `h` or
/// `d` (`90m`, `24h`, `7d`), or a whole number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// A duration in the shortest of the words [`parse_duration`] reads: `24h`, `90m`, `45s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("-1h"), None);
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }
}
