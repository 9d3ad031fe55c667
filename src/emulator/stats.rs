//! Request counters for Users and Groups requests, served at `GET /_emulator/stats` so tests and
//! benchmarks can check how many requests a client spent and how they were answered.
//!
//! Discovery endpoints and `/_emulator/*` are not counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Users/Groups requests received.
    pub requests: u64,
    /// Per method, e.g. `"GET"`.
    pub by_method: BTreeMap<String, u64>,
    /// Per answered status, e.g. `"200"` (a dropped response counts under the status it would
    /// have had).
    pub by_status: BTreeMap<String, u64>,
    /// Per method and resource, e.g. `"GET /Users"` (list and get-by-id alike),
    /// `"PATCH /Groups"`.
    pub by_route: BTreeMap<String, u64>,
    /// 429 answers, from the rate limit and from `throttle_rate`.
    pub throttled: u64,
    /// 500/503 answers injected by `error_rate`.
    pub errors_injected: u64,
    /// Responses cut off by `drop_rate` (their change was made).
    pub dropped: u64,
    /// 2xx answers sent with a truncated or garbled body by `corrupt_rate` (change made).
    pub corrupted: u64,
    /// Answers held back by `slow_rate` (change made).
    pub slowed: u64,
}

impl Stats {
    /// Count a request as it arrives.
    pub(crate) fn record_request(&mut self, method: &str, resource: &str) {
        self.requests += 1;
        *self.by_method.entry(method.to_owned()).or_default() += 1;
        *self
            .by_route
            .entry(format!("{method} /{resource}"))
            .or_default() += 1;
    }

    /// Count the status it was answered with.
    pub(crate) fn record_status(&mut self, status: u16) {
        *self.by_status.entry(status.to_string()).or_default() += 1;
    }
}
