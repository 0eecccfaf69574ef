//! Per-action pacing at the documented rate limits.
//!
//! Tencent counts limits per account and action. Rather than bursting and bouncing off
//! `RequestLimitExceeded`, every call reserves the next free slot on its action's schedule, slots
//! being `1/limit` seconds (plus a small safety margin) apart, and sleeps until it. Reservations are
//! taken in order under a short lock, so many concurrent callers keep the action busy exactly at its
//! limit and never above it. A throttling answer pushes the schedule back for everyone, callers
//! that had already reserved a slot inside the pause included: they take a new slot after it.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Per-second limits from the API reference's action pages ("默认接口请求频率限制：N次/秒"; tccli's
/// `api.json` states none); anything not listed gets [`DEFAULT_RATE`].
pub const DOCUMENTED_LIMITS: &[(&str, f64)] = &[
    ("CreateCertificateBindResourceSyncTask", 10.0),
    ("DescribeCertificateBindResourceTaskResult", 10.0),
    ("DescribeCertificateBindResourceTaskDetail", 10.0),
    ("DescribeHostUpdateRecord", 10.0),
    ("DescribeHostUpdateRecordDetail", 10.0),
    ("DescribeHostDeployRecord", 10.0),
    ("DescribeHostDeployRecordDetail", 10.0),
    ("DescribeHostUploadUpdateRecord", 20.0),
    ("DescribeHostUploadUpdateRecordDetail", 20.0),
    ("DescribeCertificates", 10.0),
    ("DescribeCertificateDetail", 10.0),
];

/// The common default limit of API 3.0 actions.
pub const DEFAULT_RATE: f64 = 20.0;

/// Actions the exporter calls once per certificate. By default they are paced at
/// [`DEFAULT_PER_CERTIFICATE_SHARE`] of their documented limit, so that a large account leaves
/// the rest of the limit (counted per account and action, console included) to the console and
/// the team's scripts; an override sets their pace outright.
pub const PER_CERTIFICATE_ACTIONS: &[&str] =
    &["DescribeHostDeployRecord", "DescribeCertificateDetail"];

/// The share of its documented limit a per-certificate action is paced at by default.
pub const DEFAULT_PER_CERTIFICATE_SHARE: f64 = 0.5;

/// The documented limit of `action` (calls per second).
pub fn documented_limit(action: &str) -> f64 {
    DOCUMENTED_LIMITS
        .iter()
        .find(|(name, _)| *name == action)
        .map_or(DEFAULT_RATE, |(_, rate)| *rate)
}

/// Slots are spaced this much wider than `1/limit`: arrival jitter then cannot put `limit + 1`
/// calls into one of the server's one-second windows.
pub const SAFETY_MARGIN: f64 = 0.02;

/// Widest spacing of two slots, whatever the rate (one call a day): a tiny positive rate cannot
/// overflow the duration arithmetic.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// The schedule of one action.
#[derive(Debug, Default)]
struct Schedule {
    /// The next free slot.
    next_slot: Option<Instant>,
    /// No call fires before this (set by [`Pacer::pause`]).
    paused_until: Option<Instant>,
}

/// Paces one action.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    schedule: Mutex<Schedule>,
}

impl Pacer {
    /// A pacer for `per_second` calls a second; a non-positive or non-finite rate means no pacing,
    /// a tiny positive one paces at most [`MAX_INTERVAL`] apart.
    pub fn new(per_second: f64) -> Self {
        let interval = if per_second.is_finite() && per_second > 0.0 {
            Duration::try_from_secs_f64((1.0 + SAFETY_MARGIN) / per_second)
                .unwrap_or(MAX_INTERVAL)
                .min(MAX_INTERVAL)
        } else {
            Duration::ZERO
        };
        Pacer {
            interval,
            schedule: Mutex::new(Schedule::default()),
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
        let mut schedule = self.schedule.lock();
        let slot = schedule.next_slot.map_or(now, |n| n.max(now));
        schedule.next_slot = Some(slot.checked_add(self.interval).unwrap_or(slot));
        slot
    }

    /// Waits for this caller's slot. A slot reserved before a pause but falling inside it does
    /// not fire: the caller takes a new one after the pause (spaced like every other).
    pub async fn acquire(&self) {
        loop {
            let slot = self.reserve();
            tokio::time::sleep_until(slot).await;
            let paused_until = self.schedule.lock().paused_until;
            if paused_until.is_none_or(|until| slot >= until) {
                return;
            }
        }
    }

    /// After a throttling answer: nobody calls this action again before `now + pause`.
    pub fn pause(&self, pause: Duration) {
        let now = Instant::now();
        let until = now.checked_add(pause.min(MAX_INTERVAL)).unwrap_or(now);
        let mut schedule = self.schedule.lock();
        schedule.next_slot = Some(schedule.next_slot.map_or(until, |n| n.max(until)));
        schedule.paused_until = Some(schedule.paused_until.map_or(until, |p| p.max(until)));
    }
}

/// One pacer per action, built from the documented limits, the per-certificate share and any
/// overrides.
#[derive(Debug)]
pub struct RateLimits {
    pacers: HashMap<String, (f64, Pacer)>,
    default: Pacer,
}

impl RateLimits {
    /// Documented limits, per-certificate actions at `per_certificate_share` of theirs (a share
    /// outside (0, 1] or not finite counts as 1), and `overrides` (action → calls per second)
    /// replacing either, in both directions.
    pub fn new(overrides: &HashMap<String, f64>, per_certificate_share: f64) -> Self {
        let share = if per_certificate_share.is_finite()
            && per_certificate_share > 0.0
            && per_certificate_share <= 1.0
        {
            per_certificate_share
        } else {
            1.0
        };
        let mut limits: HashMap<String, f64> = DOCUMENTED_LIMITS
            .iter()
            .map(|(action, rate)| (action.to_string(), *rate))
            .collect();
        for action in PER_CERTIFICATE_ACTIONS {
            limits.insert(action.to_string(), documented_limit(action) * share);
        }
        limits.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        RateLimits {
            pacers: limits
                .into_iter()
                .map(|(action, rate)| (action, (rate, Pacer::new(rate))))
                .collect(),
            default: Pacer::new(DEFAULT_RATE),
        }
    }

    pub fn pacer(&self, action: &str) -> &Pacer {
        self.pacers
            .get(action)
            .map_or(&self.default, |(_, pacer)| pacer)
    }

    /// The pace in force for `action`, in calls per second.
    pub fn pace(&self, action: &str) -> f64 {
        self.pacers
            .get(action)
            .map_or(DEFAULT_RATE, |(rate, _)| *rate)
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

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_callers_that_reserved_a_slot_inside_it() {
        let pacer = std::sync::Arc::new(Pacer::new(10.0));
        let start = Instant::now();
        // Five callers reserve slots 0, 0.102, 0.204, … s before the throttling answer comes.
        let mut callers = Vec::new();
        for _ in 0..5 {
            let pacer = std::sync::Arc::clone(&pacer);
            callers.push(tokio::spawn(async move {
                pacer.acquire().await;
                Instant::now() - start
            }));
        }
        tokio::task::yield_now().await;
        pacer.pause(Duration::from_secs(2));
        let mut fired = Vec::new();
        for caller in callers {
            fired.push(caller.await.expect("caller"));
        }
        fired.sort();
        // Only a slot already due when the pause came (t = 0) may fire before its end; the rest
        // wait for it and keep their spacing after it.
        let after: Vec<Duration> = fired.into_iter().filter(|t| !t.is_zero()).collect();
        assert!(after.len() >= 4, "{after:?}");
        assert!(
            after.iter().all(|t| *t >= Duration::from_secs(2)),
            "{after:?}"
        );
        let step = Duration::from_secs_f64(1.02 / 10.0);
        for pair in after.windows(2) {
            assert!(pair[1] - pair[0] >= step, "{after:?}");
        }
    }

    #[test]
    fn tiny_and_huge_rates_do_not_panic() {
        assert_eq!(Pacer::new(1e-20).interval(), MAX_INTERVAL);
        assert_eq!(Pacer::new(f64::MIN_POSITIVE).interval(), MAX_INTERVAL);
        assert_eq!(Pacer::new(f64::INFINITY).interval(), Duration::ZERO);
        assert_eq!(Pacer::new(f64::NAN).interval(), Duration::ZERO);
        assert!(Pacer::new(1e300).interval() < Duration::from_nanos(1));
        let pacer = Pacer::new(1e-20);
        pacer.pause(Duration::MAX);
        let _ = pacer.reserve();
        let _ = pacer.reserve();
    }

    #[test]
    fn overrides_replace_documented_limits() {
        let overrides = HashMap::from([("DescribeCertificates".to_string(), 5.0)]);
        let limits = RateLimits::new(&overrides, DEFAULT_PER_CERTIFICATE_SHARE);
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

    #[test]
    fn per_certificate_actions_take_a_share_that_overrides_replace_both_ways() {
        let limits = RateLimits::new(&HashMap::new(), DEFAULT_PER_CERTIFICATE_SHARE);
        assert_eq!(limits.pace("DescribeHostDeployRecord"), 5.0);
        assert_eq!(limits.pace("DescribeCertificateDetail"), 5.0);
        assert_eq!(
            limits.pacer("DescribeHostDeployRecord").interval(),
            Duration::from_secs_f64(1.02 / 5.0)
        );
        assert_eq!(limits.pace("DescribeHostDeployRecordDetail"), 10.0);
        assert_eq!(limits.pace("DescribeCertificates"), 10.0);
        assert_eq!(limits.pace("SomethingNew"), DEFAULT_RATE);
        let whole = RateLimits::new(&HashMap::new(), 1.0);
        assert_eq!(whole.pace("DescribeHostDeployRecord"), 10.0);
        let nonsense = RateLimits::new(&HashMap::new(), f64::NAN);
        assert_eq!(nonsense.pace("DescribeHostDeployRecord"), 10.0);
        let up = HashMap::from([("DescribeHostDeployRecord".to_string(), 10.0)]);
        assert_eq!(
            RateLimits::new(&up, 0.5).pace("DescribeHostDeployRecord"),
            10.0
        );
        let down = HashMap::from([("DescribeHostDeployRecord".to_string(), 1.0)]);
        assert_eq!(
            RateLimits::new(&down, 0.5).pace("DescribeHostDeployRecord"),
            1.0
        );
    }
}
