//! `rate_limit` (`interval`, `burst`): the token bucket of Go's `rate.NewLimiter(rate.Every(
//! interval), burst)` over every request, checked before authentication; over it, 429.

use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use tokio::time::Instant;

use super::error::{error, WebConfigError};
use crate::duration::parse_duration;

/// exporter-toolkit's `rate_limit`: one request per `interval` on average, `burst` at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    interval: Option<String>,
    burst: Option<i64>,
}

/// `rate_limit.interval` bounds (besides 0, which turns the limit off).
const RATE_LIMIT_INTERVALS: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(86_400);
/// `rate_limit.burst` bounds.
const RATE_LIMIT_BURSTS: std::ops::RangeInclusive<i64> = 1..=1_000_000;
/// The `rate_limit` of a web configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    /// One token every `interval`.
    pub interval: Duration,
    /// Tokens the bucket holds (and starts with).
    pub burst: u32,
}

/// The validated `rate_limit`; `None` when it is off (no interval, or 0).
pub(super) fn load(raw: RawRateLimit) -> Result<Option<RateLimit>, WebConfigError> {
    let interval = match raw.interval.as_deref() {
        None => Duration::ZERO,
        Some(text) => {
            parse_duration(text).map_err(|e| error("rate_limit.interval", e.to_string()))?
        }
    };
    if interval.is_zero() {
        // As in exporter-toolkit: no interval, no limit.
        return Ok(None);
    }
    if !RATE_LIMIT_INTERVALS.contains(&interval) {
        return Err(error(
            "rate_limit.interval",
            "must be 0 (no limit) or between 1ms and 24h",
        ));
    }
    let burst = raw.burst.unwrap_or(0);
    if !RATE_LIMIT_BURSTS.contains(&burst) {
        return Err(error(
            "rate_limit.burst",
            format!(
                "must be between {} and {} with an interval (0 would refuse every request)",
                RATE_LIMIT_BURSTS.start(),
                RATE_LIMIT_BURSTS.end()
            ),
        ));
    }
    Ok(Some(RateLimit {
        interval,
        burst: u32::try_from(burst).unwrap_or(u32::MAX),
    }))
}

/// Go's `rate.Limiter` as `Allow` uses it: a bucket of `burst` tokens, refilled one per
/// `interval`, starting full.
#[derive(Debug)]
pub(super) struct Bucket {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub(super) fn new(limit: RateLimit) -> Self {
        Bucket {
            limit,
            state: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    /// Takes a token if there is one.
    pub(super) fn allow(&self) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock();
        let (tokens, last) = *state;
        let refilled =
            now.saturating_duration_since(last).as_secs_f64() / self.limit.interval.as_secs_f64();
        let tokens = (tokens + refilled).min(f64::from(self.limit.burst));
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_refills_one_token_per_interval_up_to_burst() {
        let bucket = Bucket::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 2,
        });
        assert!(bucket.allow() && bucket.allow());
        assert!(!bucket.allow());
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert!(bucket.allow() && !bucket.allow());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(bucket.allow() && bucket.allow());
        assert!(!bucket.allow(), "refills to burst only");
    }
}
