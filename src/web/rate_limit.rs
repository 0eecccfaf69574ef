//! `rate_limit` (`interval`, `burst`): the token bucket of Go's `rate.NewLimiter(rate.Every(
//! interval), burst)` over every request, checked before authentication; over it, 429.

use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use tokio::time::Instant;

use super::error::{error, WebConfigError};

/// exporter-toolkit's `rate_limit`: one request per `interval` on average, `burst` at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    interval: Option<GoDuration>,
    burst: Option<i64>,
}

/// A Go `time.Duration` in YAML: a duration string (`1m30s`), or an integer of nanoseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GoDuration {
    Nanoseconds(i64),
    Text(String),
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?unit)+` with units ns, us (µs, μs), ms,
/// s, m, h, or `0`; returns whether it is negative, and its size.
pub(super) fn parse_go_duration(text: &str) -> Result<(bool, Duration), String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok((negative, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let frac_len = after.bytes().take_while(u8::is_ascii_digit).count();
            frac = &after[..frac_len];
            rest = &after[frac_len..];
        }
        if int.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| invalid())?
        };
        let mut part = int.checked_mul(unit).ok_or_else(invalid)?;
        let mut scale = unit;
        for digit in frac.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            part += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(part).ok_or_else(invalid)?;
    }
    // Go's Duration is an int64 of nanoseconds.
    if total > i64::MAX as u128 {
        return Err(invalid());
    }
    let nanos = u64::try_from(total).map_err(|_| invalid())?;
    Ok((negative, Duration::from_nanos(nanos)))
}

/// The `rate_limit` of a web configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    /// One token every `interval`.
    pub interval: Duration,
    /// Tokens the bucket holds (and starts with); 0 refuses every request, as in Go.
    pub burst: u64,
}

/// The validated `rate_limit`; `None` when it is off (no interval, or 0).
pub(super) fn load(raw: RawRateLimit) -> Result<Option<RateLimit>, WebConfigError> {
    let negative = || {
        error(
            "rate_limit.interval",
            "must not be negative (0 or absent turns the limit off)",
        )
    };
    let interval = match raw.interval {
        None => Duration::ZERO,
        Some(GoDuration::Nanoseconds(n)) => {
            Duration::from_nanos(u64::try_from(n).map_err(|_| negative())?)
        }
        Some(GoDuration::Text(text)) => {
            let (is_negative, d) =
                parse_go_duration(&text).map_err(|e| error("rate_limit.interval", e))?;
            if is_negative && !d.is_zero() {
                return Err(negative());
            }
            d
        }
    };
    let burst = raw.burst.unwrap_or(0);
    let burst =
        u64::try_from(burst).map_err(|_| error("rate_limit.burst", "must not be negative"))?;
    if interval.is_zero() {
        // As in exporter-toolkit: no interval, no limit.
        return Ok(None);
    }
    if burst == 0 {
        tracing::warn!("rate_limit has an interval and burst 0: every request is answered 429 Too Many Requests, as exporter-toolkit does");
    }
    Ok(Some(RateLimit { interval, burst }))
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
            state: Mutex::new((limit.burst as f64, Instant::now())),
        }
    }

    /// Takes a token if there is one.
    pub(super) fn allow(&self) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock();
        let (tokens, last) = *state;
        let refilled =
            now.saturating_duration_since(last).as_secs_f64() / self.limit.interval.as_secs_f64();
        let tokens = (tokens + refilled).min(self.limit.burst as f64);
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
