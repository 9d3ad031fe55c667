//! Pacing and retries shared by every request to one tenant.
//!
//! A [`Pacer`] spaces requests to the tenant's rate limit across all workers, and a 429 seen by
//! any worker pushes every worker back. [`Backoff`] is exponential with full jitter, capped, and
//! gives way to a server's `Retry-After`.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Spaces requests `1/rate` apart and holds everyone back after a 429.
#[derive(Debug)]
pub struct Pacer {
    interval: Option<Duration>,
    slots: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    next: Instant,
    blocked_until: Instant,
}

impl Pacer {
    /// `rate`: requests per second; `None` or a non-positive rate means no pacing.
    pub fn new(rate: Option<f64>) -> Pacer {
        let interval = rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        let now = Instant::now();
        Pacer {
            interval,
            slots: Mutex::new(Slots {
                next: now,
                blocked_until: now,
            }),
        }
    }

    /// Wait for this request's slot.
    pub async fn acquire(&self) {
        let wait = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = now.max(slots.blocked_until).max(slots.next);
            if let Some(interval) = self.interval {
                slots.next = start + interval;
            }
            start - now
        };
        // tokio's timer counts whole milliseconds, so a shorter sleep would cost a full one.
        // At high rates (slots under 10 ms apart) a request up to 1 ms early goes now: its
        // slot is still taken, so the rate over any longer stretch holds. At documented limits
        // such as ZIA's 5 per second every wait is slept, so no second ever holds one more.
        let fine = self.interval.is_none_or(|i| i < Duration::from_millis(10));
        if wait >= Duration::from_millis(1) || (!wait.is_zero() && !fine) {
            tokio::time::sleep(wait).await;
        }
    }

    /// The server said "too many requests": nobody sends before `delay` has passed.
    pub fn hold_back(&self, delay: Duration) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + delay;
        if until > slots.blocked_until {
            slots.blocked_until = until;
        }
    }
}

/// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
/// Jitter"): attempt `n` sleeps a random time in `[0, min(cap, base * 2^n))`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// How long to wait before attempt `attempt + 1` (attempts count from 1).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.cap.max(Duration::from_secs(60)));
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jitter: f64 = rand::random();
        ceiling.mul_f64(jitter).max(Duration::from_millis(10))
    }
}

/// Parse `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_stays_under_the_cap_and_honours_retry_after() {
        let b = Backoff::default();
        for attempt in 1..30 {
            assert!(b.delay(attempt, None) <= b.cap);
        }
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[tokio::test]
    async fn pacer_spaces_requests() {
        let pacer = Pacer::new(Some(100.0));
        let start = Instant::now();
        for _ in 0..5 {
            pacer.acquire().await;
        }
        // Four gaps of 10 ms each: at least 40 ms, whatever the machine's speed.
        assert!(start.elapsed() >= Duration::from_millis(40));
    }
}
