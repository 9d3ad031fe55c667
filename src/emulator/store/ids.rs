//! New resource ids in the dialect's style, reproducible for a seed, and `meta` timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::emulator::quirks::IdStyle;
use crate::scim::wire::WireMeta;

pub(super) fn new_meta(resource_type: &str) -> WireMeta {
    let now = now_rfc3339();
    WireMeta {
        resource_type: Some(resource_type.to_owned()),
        created: Some(now.clone()),
        last_modified: Some(now),
        location: None,
    }
}

/// Now as RFC 3339 UTC with seconds, e.g. `2024-05-01T12:00:00Z`.
pub(super) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// New ids, reproducible for a given seed.
pub(super) struct IdGen {
    rng: StdRng,
    created: u64,
}

impl IdGen {
    /// Numeric ids count up from here; ZPA's examples show six-digit numbers ("290277").
    const NUMERIC_BASE: u64 = 290_000;

    pub(super) fn new(seed: u64) -> Self {
        IdGen {
            rng: StdRng::seed_from_u64(seed),
            created: 0,
        }
    }

    pub(super) fn next(&mut self, style: IdStyle) -> String {
        self.created += 1;
        let numeric = match style {
            IdStyle::Uuid => false,
            IdStyle::Numeric => true,
            IdStyle::Mixed => self.created % 3 == 1,
        };
        if numeric {
            (Self::NUMERIC_BASE + self.created).to_string()
        } else {
            let mut bytes = [0u8; 16];
            self.rng.fill_bytes(&mut bytes);
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn ids_follow_the_dialect() {
        let mut ids = IdGen::new(1);
        assert!(ids.next(IdStyle::Numeric).parse::<u64>().is_ok());
        assert!(uuid::Uuid::parse_str(&ids.next(IdStyle::Uuid)).is_ok());
        let mixed: Vec<_> = (0..6).map(|_| ids.next(IdStyle::Mixed)).collect();
        assert_eq!(
            mixed.iter().filter(|id| id.parse::<u64>().is_ok()).count(),
            2
        );
    }
}
