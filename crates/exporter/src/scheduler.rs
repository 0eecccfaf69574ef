//! Runs each collector on its own schedule and publishes its results.
//!
//! Every (account, collector) pair is one task: run, publish, sleep until `interval` after the
//! run started. A run that takes longer than the interval is followed by the next one at once:
//! runs are skipped, never stacked, and one slow or failing collector never delays another.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::collector::Collector;
use crate::metrics::{Exposition, RunReport};
use crate::readiness::Readiness;

/// Where a collector task publishes, and when it stops.
#[derive(Clone)]
pub(crate) struct Schedule {
    pub account: String,
    pub interval: Duration,
    /// Published data may be served for this many intervals (or run durations, if longer)
    /// without a newer good run.
    pub stale_intervals: u32,
    pub exposition: Arc<Exposition>,
    pub readiness: Arc<Readiness>,
    pub shutdown: CancellationToken,
}

/// Most per-item errors logged for one run; the rest are counted.
const LOGGED_ERRORS: usize = 5;

/// Spawns the task that runs `collector` until shutdown.
pub(crate) fn spawn<C: Collector>(collector: C, schedule: Schedule) -> tokio::task::JoinHandle<()> {
    schedule.readiness.expect_one();
    tokio::spawn(run(collector, schedule))
}

async fn run<C: Collector>(mut collector: C, schedule: Schedule) {
    let name = collector.name();
    let account = schedule.account.as_str();
    let mut first = true;
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = schedule.shutdown.cancelled() => return,
            outcome = collector.collect() => outcome,
        };
        let duration = started.elapsed();
        let keep_for = schedule.interval.max(duration) * schedule.stale_intervals.max(1);
        let report = match outcome {
            Ok(collected) => {
                for error in collected.errors.iter().take(LOGGED_ERRORS) {
                    tracing::warn!(account, collector = name, error = %error, "collection error");
                }
                if collected.errors.len() > LOGGED_ERRORS {
                    tracing::warn!(
                        account,
                        collector = name,
                        more = collected.errors.len() - LOGGED_ERRORS,
                        "further collection errors not logged"
                    );
                }
                tracing::info!(
                    account,
                    collector = name,
                    duration_seconds = duration.as_secs_f64(),
                    series = collected.snapshot.series(),
                    errors = collected.errors.len(),
                    "collection finished"
                );
                RunReport {
                    success: collected.errors.is_empty(),
                    snapshot: Some(collected.snapshot),
                    duration,
                    keep_for,
                }
            }
            Err(error) => {
                if error.is_auth() {
                    tracing::error!(
                        account,
                        collector = name,
                        error = %error,
                        "collection failed: credentials or permissions rejected; not retrying before the next interval"
                    );
                } else {
                    tracing::warn!(account, collector = name, error = %error, "collection failed");
                }
                RunReport {
                    snapshot: None,
                    success: false,
                    duration,
                    keep_for,
                }
            }
        };
        schedule.exposition.publish(account, name, report);
        if first {
            schedule.readiness.first_run_done();
            first = false;
        }
        tokio::select! {
            _ = schedule.shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(started + schedule.interval) => {}
        }
    }
}

/// Withdraws data past its staleness bound even when no collector publishes.
pub(crate) fn spawn_housekeeping(
    exposition: Arc<Exposition>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => exposition.expire_stale(),
            }
        }
    })
}
