//! The layers around handlers: debug logging of method, path and status (never headers: the
//! token must not reach a log); counting and logging Users/Groups requests (the request log)
//! and serving their faults; and the bearer-token check (on discovery only under the
//! `discovery_needs_token` fault).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::emulator::error::ApiError;
use crate::emulator::faults::{Spoil, Verdict};
use crate::emulator::request_log::Arrival;

use super::{App, BODY_LIMIT};

pub(super) async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "emulator");
    response
}

/// What the fault and stats middleware needs: the shared state and which resource it guards.
#[derive(Clone)]
pub(super) struct Guard {
    shared: App,
    resource: &'static str,
}

impl Guard {
    pub(super) fn new(shared: &App, resource: &'static str) -> Self {
        Guard {
            shared: Arc::clone(shared),
            resource,
        }
    }
}

/// Count and log the request, serve its faults (latency, rate limit, injected error,
/// throttle), run it, and cut off, corrupt or slow its answer when the dice say so.
pub(super) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let app = &guard.shared;
    app.stats()
        .record_request(request.method().as_str(), guard.resource);
    let (arrival, request) = Arrival::read(request, BODY_LIMIT).await;
    let (response, drop) = match request {
        Ok(request) => serve_with_faults(app, request, next).await,
        Err(e) => (unreadable_body(e).into_response(), false),
    };
    record_answer(app, arrival, response.status().as_u16(), drop);
    if drop {
        return cut_off(response).await;
    }
    if !response.status().is_success() {
        return response;
    }
    spoil(app, response).await
}

/// Serve the latency, then the verdict: an injected answer, or the handler's with whether to
/// cut it off.
async fn serve_with_faults(app: &App, request: Request, next: Next) -> (Response, bool) {
    let latency = app.faults().faults().latency_ms;
    if latency > 0 {
        match Instant::now().checked_add(Duration::from_millis(latency)) {
            Some(deadline) => wait_precisely(deadline).await,
            None => tokio::time::sleep(Duration::from_millis(latency)).await,
        }
    }
    let verdict = app.faults().admit(Instant::now());
    match verdict {
        Verdict::RateLimited { retry_after } => {
            app.stats().throttled += 1;
            let error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "too many requests: over the rate limit",
            )
            .with_retry_after(Some(retry_after));
            (error.into_response(), false)
        }
        Verdict::Error { status } => {
            app.stats().errors_injected += 1;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                ApiError::new(status, None, "injected fault: try again").into_response(),
                false,
            )
        }
        Verdict::Throttled { retry_after } => {
            app.stats().throttled += 1;
            let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, None, "too many requests")
                .with_retry_after(retry_after);
            (error.into_response(), false)
        }
        Verdict::Proceed { drop } => (next.run(request).await, drop),
    }
}

/// A write body that could not be read: over the size limit, or cut off by the client.
fn unreadable_body(e: axum::Error) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        format!("the request body could not be read (at most {BODY_LIMIT} bytes): {e}"),
    )
}

/// Count the status and log the request with it (before any spoiling of the answer).
fn record_answer(app: &App, arrival: Arrival, status: u16, dropped: bool) {
    {
        let mut stats = app.stats();
        stats.record_status(status);
        if dropped {
            stats.dropped += 1;
        }
    }
    app.request_log().push(arrival, status);
}

/// Corrupt or slow a successful answer when the dice say so.
async fn spoil(app: &App, response: Response) -> Response {
    let spoil = app.faults().spoil();
    match spoil {
        Spoil::None => response,
        Spoil::Corrupt { truncate } => {
            app.stats().corrupted += 1;
            corrupt(response, truncate).await
        }
        Spoil::Slow { ms } => {
            app.stats().slowed += 1;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response
        }
    }
}

/// The answer with a body that is complete as HTTP but not valid JSON: its first half, or the
/// body with its first `{` and `"` garbled (an empty body becomes `{"Resources": [`).
async fn corrupt(response: Response, truncate: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let spoiled: Vec<u8> = if bytes.is_empty() {
        b"{\"Resources\": [".to_vec()
    } else if truncate {
        bytes[..bytes.len() / 2].to_vec()
    } else {
        let mut text = bytes.to_vec();
        for b in text.iter_mut().take(64) {
            if *b == b'{' || *b == b'"' {
                *b = b'<';
            }
        }
        text
    };
    if parts.status == StatusCode::NO_CONTENT {
        parts.status = StatusCode::OK;
    }
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(spoiled.len() as u64),
    );
    Response::from_parts(parts, Body::from(spoiled))
}

/// The answer with a Content-Length larger than the body that follows: the server ends the
/// connection when the body runs out, so the client sees an incomplete message after the change
/// was made.
async fn cut_off(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let sent = bytes.slice(..bytes.len() / 2);
    if parts.status == StatusCode::NO_CONTENT {
        // A 204 cannot announce a body.
        parts.status = StatusCode::OK;
    }
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len() as u64 + 1),
    );
    // A streamed body has no known length, so the promised Content-Length is what counts.
    Response::from_parts(
        parts,
        Body::from_stream(Body::from(sent).into_data_stream()),
    )
}

pub(super) async fn require_token(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if app.token_matches(token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// The token check on discovery endpoints, which answer without one unless the
/// `discovery_needs_token` fault is on.
pub(super) async fn require_token_for_discovery(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    let needed = app.faults().faults().discovery_needs_token;
    if needed {
        require_token(State(app), request, next).await
    } else {
        next.run(request).await
    }
}

/// Wait until `deadline`, to within a fraction of a millisecond. tokio's timer counts whole
/// milliseconds and rounds up, so its `sleep(10 ms)` takes 11–12 ms: injected latency would be
/// 10–20% more than asked, and benchmarks measured against it wrong by as much. The bulk is
/// slept on the timer; the last stretch on a blocking thread, whose sleep is precise.
async fn wait_precisely(deadline: Instant) {
    const TIMER_SLACK: Duration = Duration::from_millis(3);
    if let Some(coarse) = deadline.checked_sub(TIMER_SLACK) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}
