//! Per-action pacing at the documented rate limits.
//!
//! Tencent counts limits per account and action. Rather than bursting and bouncing off
//! `RequestLimitExceeded`, every call reserves the next free slot on its action's schedule, slots
//! being `1/limit` seconds (plus a small safety margin) apart, and sleeps until it. Reservations are
//! taken in order under a short lock, so many concurrent callers keep the action busy exactly at its
//! limit and never above it. A throttling answer pushes the schedule back for everyone.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Default per-second limits from the API reference; anything not listed gets `DEFAULT_RATE`.
pub const DOCUMENTED_LIMITS: &[(&str, f64)] = &[
    ("CreateCertificateBindResourceSyncTask", 10.0),
    ("DescribeCertificateBindResourceTaskResult", 10.0),
    ("DescribeCertificateBindResourceTaskDetail", 10.0),
    ("DescribeHostUpdateRecord", 10.0),
    ("DescribeHostUpdateRecordDetail", 10.0),
    ("DescribeHostUploadUpdateRecord", 20.0),
    ("DescribeHostUploadUpdateRecordDetail", 20.0),
    ("DescribeCertificates", 20.0),
];

/// The common default limit of API 3.0 actions.
pub const DEFAULT_RATE: f64 = 20.0;

/// Slots are spaced this much wider than `1/limit`: arrival jitter then cannot put `limit + 1`
/// calls into one of the server's one-second windows.
pub const SAFETY_MARGIN: f64 = 0.02;

/// Paces one action.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `per_second` calls a second; a non-positive or non-finite rate means no pacing.
    pub fn new(per_second: f64) -> Self {
        let interval = if per_second.is_finite() && per_second > 0.0 {
            Duration::from_secs_f64((1.0 + SAFETY_MARGIN) / per_second)
        } else {
            Duration::ZERO
        };
        Pacer {
            interval,
            next_slot: Mutex::new(None),
        }
    }

    /// Spacing between two slots; zero when not pacing. Only the tests read it.
    #[cfg(test)]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Reserves the next slot and returns when it is due.
    pub fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut next = self.next_slot.lock();
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = self.reserve();
        tokio::time::sleep_until(slot).await;
    }

    /// After a throttling answer: nobody calls this action again before `now + pause`.
    pub fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut next = self.next_slot.lock();
        *next = Some(next.map_or(until, |n| n.max(until)));
    }
}

/// One pacer per action, built from the documented limits and any overrides.
#[derive(Debug)]
pub struct RateLimits {
    pacers: HashMap<String, Pacer>,
    default: Pacer,
}

impl RateLimits {
    /// Documented limits, with `overrides` (action → calls per second) replacing them.
    pub fn new(overrides: &HashMap<String, f64>) -> Self {
        let mut limits: HashMap<String, f64> = DOCUMENTED_LIMITS
            .iter()
            .map(|(action, rate)| (action.to_string(), *rate))
            .collect();
        limits.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        RateLimits {
            pacers: limits
                .into_iter()
                .map(|(action, rate)| (action, Pacer::new(rate)))
                .collect(),
            default: Pacer::new(DEFAULT_RATE),
        }
    }

    pub fn pacer(&self, action: &str) -> &Pacer {
        self.pacers.get(action).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_evenly_spaced_at_the_limit() {
        let pacer = Pacer::new(10.0);
        let start = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| pacer.reserve() - start).collect();
        let step = Duration::from_secs_f64(1.02 / 10.0);
        for (i, slot) in slots.iter().enumerate() {
            assert_eq!(*slot, step * i as u32);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_calls_in_any_one_second_window() {
        let pacer = Pacer::new(20.0);
        let start = Instant::now();
        let slots: Vec<f64> = (0..200)
            .map(|_| (pacer.reserve() - start).as_secs_f64())
            .collect();
        for (i, first) in slots.iter().enumerate() {
            let in_window = slots[i..].iter().take_while(|s| **s < first + 1.0).count();
            assert!(in_window <= 20, "{in_window} calls in a window");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pause_pushes_back_every_caller() {
        let pacer = Pacer::new(10.0);
        let start = Instant::now();
        pacer.pause(Duration::from_secs(2));
        assert!(pacer.reserve() - start >= Duration::from_secs(2));
    }

    #[test]
    fn overrides_replace_documented_limits() {
        let overrides = HashMap::from([("DescribeCertificates".to_string(), 5.0)]);
        let limits = RateLimits::new(&overrides);
        assert_eq!(
            limits.pacer("DescribeCertificates").interval(),
            Duration::from_secs_f64(1.02 / 5.0)
        );
        assert_eq!(
            limits
                .pacer("DescribeCertificateBindResourceTaskDetail")
                .interval(),
            Duration::from_secs_f64(1.02 / 10.0)
        );
        assert_eq!(
            limits.pacer("SomethingNew").interval(),
            Duration::from_secs_f64(1.02 / 20.0)
        );
    }
}
