//! The request log: every Users and Groups request (method, path with query, the JSON body of
//! a write) with the status it was answered, in the order the answers were ready, for tests
//! that compare what an apply did with its plan. Served at `GET /_emulator/log`.
//!
//! Bounded, so a benchmark cannot grow it without limit: the oldest entries go first past
//! [`RequestLog::MAX_ENTRIES`] entries or [`RequestLog::MAX_BODY_BYTES`] of bodies. It never
//! holds a header (the token must not reach it), and logs no discovery or `/_emulator` request.

use std::collections::VecDeque;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One Users or Groups request and its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// E.g. `"PATCH"`.
    pub method: String,
    /// Under the SCIM base URL, with the query: `/Users?filter=...`, `/Groups/42`.
    pub path: String,
    /// The status answered; for a dropped or corrupted answer, the status it would have had
    /// (as `Stats::by_status` counts it).
    pub status: u16,
    /// The body of a write (POST, PUT, PATCH, DELETE) as JSON (a body that is not JSON as a
    /// string); `None` for reads and bodiless writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// A request as it arrived, waiting for its status.
pub(crate) struct Arrival {
    method: String,
    path: String,
    body: Bytes,
}

impl Arrival {
    /// Note a request, reading the body of a write (at most `limit` bytes) and putting it back
    /// for the handler. A body that cannot be read is an error the caller answers.
    pub async fn read(request: Request, limit: usize) -> (Arrival, Result<Request, axum::Error>) {
        let method = request.method().clone();
        let path = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |p| p.as_str().to_owned(),
        );
        let mut arrival = Arrival {
            method: method.as_str().to_owned(),
            path,
            body: Bytes::new(),
        };
        if !is_write(&method) {
            return (arrival, Ok(request));
        }
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, limit).await {
            Ok(bytes) => {
                arrival.body = bytes.clone();
                (arrival, Ok(Request::from_parts(parts, Body::from(bytes))))
            }
            Err(e) => (arrival, Err(e)),
        }
    }
}

fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// An answered request, its body kept as received until someone reads the log.
struct Entry {
    arrival: Arrival,
    status: u16,
}

/// The last requests answered, oldest first.
#[derive(Default)]
pub(crate) struct RequestLog {
    entries: VecDeque<Entry>,
    body_bytes: usize,
}

impl RequestLog {
    pub const MAX_ENTRIES: usize = 100_000;
    pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

    /// Log `arrival`, answered `status`, forgetting the oldest entries past the bounds.
    pub fn push(&mut self, arrival: Arrival, status: u16) {
        self.body_bytes += arrival.body.len();
        self.entries.push_back(Entry { arrival, status });
        while self.entries.len() > Self::MAX_ENTRIES
            || (self.body_bytes > Self::MAX_BODY_BYTES && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.body_bytes -= old.arrival.body.len();
            }
        }
    }

    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.iter().map(Entry::logged).collect()
    }

    pub fn clear(&mut self) {
        *self = RequestLog::default();
    }
}

impl Entry {
    fn logged(&self) -> LoggedRequest {
        let body = &self.arrival.body;
        LoggedRequest {
            method: self.arrival.method.clone(),
            path: self.arrival.path.clone(),
            status: self.status,
            body: (!body.is_empty()).then(|| {
                serde_json::from_slice(body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(body: &'static [u8]) -> Arrival {
        Arrival {
            method: "POST".into(),
            path: "/Users".into(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn bodies_read_as_json_or_text() {
        let mut log = RequestLog::default();
        log.push(arrival(br#"{"userName":"a"}"#), 201);
        log.push(arrival(b"{nope"), 400);
        log.push(arrival(b""), 204);
        let entries = log.entries();
        assert_eq!(entries[0].body, Some(serde_json::json!({"userName": "a"})));
        assert_eq!(entries[1].body, Some(Value::String("{nope".into())));
        assert_eq!((entries[2].status, entries[2].body.as_ref()), (204, None));
    }

    #[test]
    fn the_oldest_entries_go_first() {
        let mut log = RequestLog::default();
        for _ in 0..RequestLog::MAX_ENTRIES + 5 {
            log.push(arrival(b"{}"), 200);
        }
        assert_eq!(log.entries.len(), RequestLog::MAX_ENTRIES);
        assert_eq!(log.body_bytes, 2 * RequestLog::MAX_ENTRIES);
        log.clear();
        assert!(log.entries().is_empty());
    }
}
