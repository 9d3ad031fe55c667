//! Fault injection: the knobs ([`Faults`]) and the seeded dice and token bucket that turn them
//! into a verdict per request ([`FaultState::admit`]); the switches that make the emulator
//! behave like other servers, and their names ([`Quirk`]); which objects listings and lookups
//! hide ([`Hiding`]).
//!
//! Pure decision-making: nothing here sleeps, touches HTTP or the store. The middleware in
//! `routes/` acts on the verdict, the handlers and the store on the switches. Faults apply to
//! Users and Groups requests only, never to `/_emulator/*`, and to discovery only through
//! `discovery`, `discovery_needs_token` and `no_patch`.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What to break, and how often, and which behaviours of other servers to take on (the
/// boolean switches, also named by [`Quirk`]). `Faults::default()` breaks nothing and switches
/// nothing on.
///
/// Rates are shares of requests between 0.0 and 1.0 (values outside are clamped). Checks run in
/// this order: latency, rate limit, injected error, throttle; a request that passes them all is
/// processed, and may then have its response dropped, or else corrupted or slowed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Milliseconds added to every Users/Groups request before anything else.
    pub latency_ms: u64,
    /// Share of requests answered 500 or 503 (alternately) with a SCIM error body, unchanged.
    pub error_rate: f64,
    /// Share of requests answered 429, unchanged.
    pub throttle_rate: f64,
    /// `Retry-After` seconds sent with a `throttle_rate` 429; `None` sends no `Retry-After`
    /// (Zscaler does not document one). The default is `None`.
    pub retry_after_secs: Option<u64>,
    /// Share of requests whose change IS made and whose response is then cut off mid-message
    /// (the client sees a connection error).
    pub drop_rate: f64,
    /// Requests per second allowed (token bucket holding one second's worth, at least one
    /// request); above it 429 with `Retry-After` computed from the bucket (at least 1 second).
    pub rate_limit: Option<f64>,
    /// A page-size cap lower than the dialect's.
    pub page_size_cap: Option<usize>,
    /// Seed of the dice, so a run with faults is reproducible.
    pub seed: u64,
    /// Every Nth object (by creation order) is silently left out of unfiltered listings while
    /// `totalResults` still counts it: the pagination bug that makes sync tools create
    /// existing users again.
    pub omit_from_lists: Option<u64>,
    /// Filtered listings find nothing and GET by id answers 404: lookups that cannot help.
    pub failing_lookups: bool,
    /// Filtered listings (`eq` lookups) and GET by id miss exactly the objects
    /// `omit_from_lists` hides, and find every listed object: a server that reports
    /// `totalResults` 100, lists 95 distinct users however often it is read, and whose
    /// `userName eq` lookups return nothing for the 5 it hides. Nothing without
    /// `omit_from_lists`.
    pub lookups_miss_omitted: bool,
    /// Accept a second user with a userName that already exists (a sloppy server that does not
    /// enforce uniqueness, so only the client can prevent duplicates). A `userName eq` lookup
    /// then finds every user of that name.
    pub duplicate_user_names: bool,
    /// Accept a second group with a displayName that already exists (case-insensitively)
    /// instead of answering 409: RFC 7643 §4.2 gives displayName `uniqueness: none`. A
    /// `displayName eq` lookup then finds every group of that name.
    pub duplicate_group_names: bool,
    /// A schema-validating server (like the Python `scim2-server`): a POST or PUT of a user or
    /// group carrying an attribute outside the schemas its `schemas` array declares answers 400
    /// `invalidSyntax` `"Extra inputs are not permitted: <attr>"`. A top-level `department` is
    /// such an attribute (it belongs in the enterprise extension), except in the `zia` dialect,
    /// which documents it there.
    pub strict_schemas: bool,
    /// PUT replaces the whole resource as RFC 7644 §3.5.1 allows: every attribute the body
    /// omits is cleared, including those the emulator keeps without modelling them (`title`,
    /// `phoneNumbers`, enterprise `employeeNumber`, ...), which a PUT otherwise leaves alone.
    /// (Modelled attributes a PUT omits are cleared either way.)
    pub put_clears_omitted: bool,
    /// A PATCH `replace` without a `path` whose value carries a multi-valued attribute
    /// (a user's `emails`, a group's `members`) appends the values to the list instead of
    /// replacing it, so a user can end with two `primary: true` emails: a real server's bug.
    /// A `replace` with `path: "emails"` (or `"members"`) still replaces.
    pub append_on_multi_replace: bool,
    /// `userName eq` and `displayName eq` filters compare case-sensitively, where the emulator
    /// otherwise folds case. (Uniqueness stays case-insensitive.)
    pub case_sensitive_filters: bool,
    /// How `/ServiceProviderConfig` answers (for testing a client's discovery).
    pub discovery: Discovery,
    /// `/ServiceProviderConfig`, `/Schemas` and `/ResourceTypes` answer 401 with a SCIM error
    /// body without the bearer token, and normally with it (Zscaler documents them as open;
    /// RFC 7644 §4 lets a server protect them).
    pub discovery_needs_token: bool,
    /// A server without PATCH: `/ServiceProviderConfig` says `patch.supported: false` and every
    /// PATCH of a user or group answers 501 with a SCIM error body, changing nothing.
    pub no_patch: bool,
    /// Share of requests whose change IS made and whose 2xx answer then arrives complete but
    /// not valid JSON: alternately cut in half (with a matching Content-Length) and replaced by
    /// a garbled document. Tests a client's handling of truncated and malformed bodies.
    pub corrupt_rate: f64,
    /// Share of requests whose change IS made and whose answer is then held back `slow_ms`
    /// milliseconds: a server slower than the client's timeout.
    pub slow_rate: f64,
    /// How long a `slow_rate` answer is held back.
    pub slow_ms: u64,
    /// Unfiltered listing pages after the first start this many objects earlier than asked, as
    /// if that many objects were inserted at the front while a client pages: later pages
    /// repeat objects of earlier ones, and the last ones are never listed.
    pub shift_pages: Option<usize>,
    /// Listings that carry `attributes` or `excludedAttributes` answer 400: a server without
    /// RFC 7644 §3.4.2.5 projection.
    pub refuse_projection: bool,
}

/// A behaviour of another server that the emulator can take on, by name: `zsc emulator
/// --quirk NAME`. Each switches on the boolean of [`Faults`] of the same name (with `_` for
/// `-`), documented there. (Not to be confused with `quirks.rs`, which holds what every server
/// of a dialect does.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quirk {
    StrictSchemas,
    PutClearsOmitted,
    NoPatch,
    DuplicateUserNames,
    DuplicateGroupNames,
    DiscoveryNeedsToken,
    CaseSensitiveFilters,
    AppendOnMultiReplace,
    LookupsMissOmitted,
    FailingLookups,
    RefuseProjection,
}

impl Quirk {
    pub const ALL: [Quirk; 11] = [
        Quirk::StrictSchemas,
        Quirk::PutClearsOmitted,
        Quirk::NoPatch,
        Quirk::DuplicateUserNames,
        Quirk::DuplicateGroupNames,
        Quirk::DiscoveryNeedsToken,
        Quirk::CaseSensitiveFilters,
        Quirk::AppendOnMultiReplace,
        Quirk::LookupsMissOmitted,
        Quirk::FailingLookups,
        Quirk::RefuseProjection,
    ];

    /// The name on the command line, e.g. `strict-schemas`.
    pub fn name(self) -> &'static str {
        self.describe().0
    }

    /// One line saying what the server does.
    pub fn help(self) -> &'static str {
        self.describe().1
    }

    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Quirk::StrictSchemas => (
                "strict-schemas",
                "refuse (400) POST/PUT attributes outside the declared schemas, e.g. a top-level department outside zia",
            ),
            Quirk::PutClearsOmitted => (
                "put-clears-omitted",
                "PUT clears every attribute it omits, also title, phoneNumbers, enterprise employeeNumber, ...",
            ),
            Quirk::NoPatch => (
                "no-patch",
                "no PATCH: ServiceProviderConfig says patch.supported false, PATCH answers 501",
            ),
            Quirk::DuplicateUserNames => (
                "duplicate-user-names",
                "accept a second user with an existing userName",
            ),
            Quirk::DuplicateGroupNames => (
                "duplicate-group-names",
                "accept a second group with an existing displayName (RFC 7643: uniqueness none)",
            ),
            Quirk::DiscoveryNeedsToken => (
                "discovery-needs-token",
                "ServiceProviderConfig, Schemas and ResourceTypes answer 401 without the token",
            ),
            Quirk::CaseSensitiveFilters => (
                "case-sensitive-filters",
                "userName eq and displayName eq compare case-sensitively",
            ),
            Quirk::AppendOnMultiReplace => (
                "append-on-multi-replace",
                "a PATCH replace without a path appends to emails and members instead of replacing",
            ),
            Quirk::LookupsMissOmitted => (
                "lookups-miss-omitted",
                "filtered lookups and GET by id miss the objects --omit-from-lists hides",
            ),
            Quirk::FailingLookups => (
                "failing-lookups",
                "filtered lookups find nothing and GET by id answers 404",
            ),
            Quirk::RefuseProjection => (
                "refuse-projection",
                "listings with attributes or excludedAttributes answer 400",
            ),
        }
    }

    /// The switch of `faults` this quirk turns on.
    fn switch(self, faults: &mut Faults) -> &mut bool {
        match self {
            Quirk::StrictSchemas => &mut faults.strict_schemas,
            Quirk::PutClearsOmitted => &mut faults.put_clears_omitted,
            Quirk::NoPatch => &mut faults.no_patch,
            Quirk::DuplicateUserNames => &mut faults.duplicate_user_names,
            Quirk::DuplicateGroupNames => &mut faults.duplicate_group_names,
            Quirk::DiscoveryNeedsToken => &mut faults.discovery_needs_token,
            Quirk::CaseSensitiveFilters => &mut faults.case_sensitive_filters,
            Quirk::AppendOnMultiReplace => &mut faults.append_on_multi_replace,
            Quirk::LookupsMissOmitted => &mut faults.lookups_miss_omitted,
            Quirk::FailingLookups => &mut faults.failing_lookups,
            Quirk::RefuseProjection => &mut faults.refuse_projection,
        }
    }
}

impl std::fmt::Display for Quirk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Quirk {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Quirk::ALL
            .into_iter()
            .find(|quirk| quirk.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Quirk::ALL.iter().map(|q| q.name()).collect();
                format!("no quirk `{name}`; known: {}", names.join(", "))
            })
    }
}

impl Faults {
    /// These faults with `quirk` switched on as well.
    pub fn with_quirk(mut self, quirk: Quirk) -> Faults {
        *quirk.switch(&mut self) = true;
        self
    }
}

/// Which objects listings and lookups hide (`omit_from_lists`, `failing_lookups`,
/// `lookups_miss_omitted`), copied out of [`Faults`] so a handler can ask while holding the
/// store. Objects are named by their slot in creation order, counted from 0 per resource type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hiding {
    omit_every: Option<u64>,
    lookups_fail: bool,
    lookups_miss_omitted: bool,
}

impl Hiding {
    /// Whether unfiltered listings leave the object out.
    pub fn omitted_from_lists(&self, slot: u32) -> bool {
        self.omit_every
            .is_some_and(|n| (u64::from(slot) + 1) % n == 0)
    }

    /// Whether a filtered listing or a GET by id misses the object.
    pub fn missed_by_lookups(&self, slot: u32) -> bool {
        self.lookups_fail || (self.lookups_miss_omitted && self.omitted_from_lists(slot))
    }
}

impl Faults {
    pub(crate) fn hiding(&self) -> Hiding {
        Hiding {
            omit_every: self.omit_from_lists.filter(|n| *n > 0),
            lookups_fail: self.failing_lookups,
            lookups_miss_omitted: self.lookups_miss_omitted,
        }
    }
}

/// How the emulator answers `GET /ServiceProviderConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discovery {
    /// What the emulator supports, with `filter.maxResults` the page cap in force.
    #[default]
    Standard,
    /// 404, as a server without discovery answers.
    Missing,
    /// This document instead.
    Custom(serde_json::Value),
}

/// The verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Over the rate limit: 429 with this `Retry-After`.
    RateLimited { retry_after: u64 },
    /// Answer this 5xx status without doing anything.
    Error { status: u16 },
    /// Answer 429, with `Retry-After` when configured.
    Throttled { retry_after: Option<u64> },
    /// Process the request; `drop` says whether to cut the response afterwards.
    Proceed { drop: bool },
}

/// What to do to the answer of a request that was processed and not dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spoil {
    None,
    /// Send a body that is not valid JSON (truncated when `truncate`, garbled otherwise).
    Corrupt {
        truncate: bool,
    },
    /// Hold the answer back this long.
    Slow {
        ms: u64,
    },
}

/// The live fault settings with their random and rate-limiting state.
pub(crate) struct FaultState {
    faults: Faults,
    rng: StdRng,
    bucket: Option<TokenBucket>,
    /// Alternates injected errors between 500 and 503.
    next_error_is_503: bool,
    /// Alternates corrupted bodies between truncated and garbled.
    next_corrupt_truncates: bool,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let mut state = FaultState {
            faults: Faults::default(),
            rng: StdRng::seed_from_u64(0),
            bucket: None,
            next_error_is_503: false,
            next_corrupt_truncates: true,
        };
        state.set(faults);
        state
    }

    /// Replace the settings; the dice are reseeded and the bucket starts full.
    pub fn set(&mut self, faults: Faults) {
        self.rng = StdRng::seed_from_u64(faults.seed);
        self.bucket = faults
            .rate_limit
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .map(|rate| TokenBucket::new(rate, Instant::now()));
        self.next_error_is_503 = false;
        self.next_corrupt_truncates = true;
        self.faults = faults;
    }

    /// Decide what happens to the answer of a processed, undropped request. Draws nothing when
    /// both rates are zero, so older fault settings keep their dice.
    pub fn spoil(&mut self) -> Spoil {
        if self.roll(self.faults.corrupt_rate) {
            let truncate = self.next_corrupt_truncates;
            self.next_corrupt_truncates = !truncate;
            return Spoil::Corrupt { truncate };
        }
        if self.roll(self.faults.slow_rate) {
            return Spoil::Slow {
                ms: self.faults.slow_ms,
            };
        }
        Spoil::None
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Decide the fate of one request arriving at `now` (after its latency was served).
    pub fn admit(&mut self, now: Instant) -> Verdict {
        if let Some(bucket) = &mut self.bucket {
            if let Err(retry_after) = bucket.take(now) {
                return Verdict::RateLimited { retry_after };
            }
        }
        if self.roll(self.faults.error_rate) {
            let status = if self.next_error_is_503 { 503 } else { 500 };
            self.next_error_is_503 = !self.next_error_is_503;
            return Verdict::Error { status };
        }
        if self.roll(self.faults.throttle_rate) {
            return Verdict::Throttled {
                retry_after: self.faults.retry_after_secs,
            };
        }
        Verdict::Proceed {
            drop: self.roll(self.faults.drop_rate),
        }
    }

    /// True with probability `rate`; draws nothing when the rate is zero, so enabling one kind of
    /// fault does not shift the dice of another between runs.
    fn roll(&mut self, rate: f64) -> bool {
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        rate >= 1.0 || self.rng.random::<f64>() < rate
    }
}

/// A token bucket refilled at `rate` per second, holding at most one second's worth (and at
/// least one token).
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, now: Instant) -> Self {
        let capacity = rate.max(1.0);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Take a token, or say how many whole seconds (at least 1) until one is available.
    fn take(&mut self, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_quirk_switches_on_the_field_of_its_name() {
        let off = serde_json::to_value(Faults::default()).unwrap();
        for quirk in Quirk::ALL {
            let on = serde_json::to_value(Faults::default().with_quirk(quirk)).unwrap();
            let changed: Vec<&String> = on
                .as_object()
                .unwrap()
                .iter()
                .filter(|(key, value)| off[key.as_str()] != **value)
                .map(|(key, _)| key)
                .collect();
            assert_eq!(changed, [&quirk.name().replace('-', "_")], "{quirk}");
            assert_eq!(on[changed[0].as_str()], true);
            assert_eq!(quirk.name().parse::<Quirk>(), Ok(quirk));
        }
        assert!("no-such"
            .parse::<Quirk>()
            .unwrap_err()
            .contains("strict-schemas"));
        let both = Faults::default()
            .with_quirk(Quirk::StrictSchemas)
            .with_quirk(Quirk::NoPatch);
        assert!(both.strict_schemas && both.no_patch && !both.put_clears_omitted);
    }

    #[test]
    fn default_faults_break_nothing() {
        let mut state = FaultState::new(Faults::default());
        for _ in 0..100 {
            assert_eq!(
                state.admit(Instant::now()),
                Verdict::Proceed { drop: false }
            );
        }
    }

    #[test]
    fn bucket_allows_one_seconds_worth_then_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5.0, start);
        for _ in 0..5 {
            assert_eq!(bucket.take(start), Ok(()));
        }
        assert_eq!(bucket.take(start), Err(1));
        assert_eq!(bucket.take(start + Duration::from_millis(200)), Ok(()));
    }

    #[test]
    fn slow_rates_wait_whole_seconds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.25, start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Err(4));
    }

    #[test]
    fn injected_errors_alternate_500_and_503() {
        let mut state = FaultState::new(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let now = Instant::now();
        assert_eq!(state.admit(now), Verdict::Error { status: 500 });
        assert_eq!(state.admit(now), Verdict::Error { status: 503 });
    }

    #[test]
    fn same_seed_same_dice() {
        let faults = Faults {
            error_rate: 0.3,
            drop_rate: 0.3,
            seed: 7,
            ..Faults::default()
        };
        let run = || {
            let mut state = FaultState::new(faults.clone());
            (0..50)
                .map(|_| state.admit(Instant::now()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
