//! Runs each collector on its own schedule and publishes its results.
//!
//! Every (account, collector) pair is one task: run, publish, sleep until `interval` after the
//! run started. A run that takes longer than the interval is followed by the next one at once:
//! runs are skipped, never stacked, and one slow or failing collector never delays another.
//!
//! Each task is supervised: one that panics or returns is logged at `error`, published as
//! `tencentcloud_ssl_collector_success 0` at once (its data stays until its staleness bound),
//! counted in `tencentcloud_ssl_collector_restarts_total`, and started again, with a fresh
//! collector (no state of the dead one is trusted), after an exponential backoff.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::collector::Collector;
use crate::metrics::{series, Exposition, RunReport, SnapshotBuilder};
use crate::readiness::{FirstRun, Readiness};
use crate::telemetry::Telemetry;

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
    /// Where restarts are counted.
    pub telemetry: Telemetry,
    pub shutdown: CancellationToken,
    /// Test hook of the hidden `--debug.panic-collector` flag; `None` in normal operation.
    pub deliberate_panics: Option<Arc<DeliberatePanics>>,
}

/// The hidden `--debug.panic-collector=NAME:TIMES` flag: the next TIMES runs of collector NAME
/// (any account, across restarts) start by panicking, so the tests of the real binary can watch
/// a supervised collector die and come back.
#[derive(Debug)]
pub(crate) struct DeliberatePanics {
    pub collector: String,
    pub left: AtomicU32,
}

impl DeliberatePanics {
    /// Whether this run of `collector` must panic (and counts it).
    fn due(&self, collector: &str) -> bool {
        collector == self.collector && deliberate_panic_due(Some(&self.left))
    }
}

/// Most per-item errors logged for one run; the rest are counted.
const LOGGED_ERRORS: usize = 5;

/// How often an action the endpoint said it does not offer is asked for again.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(3600);
/// First pause before a dead collector is started again; doubles with each death in a row.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause before a restart.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(300);
/// A collector that lived this long before dying starts its backoff from the beginning again.
const HEALTHY_LIFETIME: Duration = Duration::from_secs(600);

/// Pause before restart number `deaths` (0-based) of a row of deaths.
fn restart_backoff(deaths: u32) -> Duration {
    RESTART_BACKOFF
        .saturating_mul(1u32 << deaths.min(16))
        .min(MAX_RESTART_BACKOFF)
}

/// Spawns the supervised task that runs a collector made by `make` until shutdown; `make` is
/// called again for every restart. The collector's first run is registered at once (so
/// readiness knows, before the server answers, whether to wait for it).
pub(crate) fn spawn<C, F>(make: F, schedule: Schedule) -> tokio::task::JoinHandle<()>
where
    C: Collector,
    F: Fn() -> C + Send + 'static,
{
    let first = make();
    let first_run =
        schedule
            .readiness
            .starting(&schedule.account, first.name(), first.gates_readiness());
    tokio::spawn(supervise(make, first, schedule, first_run))
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

async fn supervise<C, F>(make: F, first: C, schedule: Schedule, first_run: Arc<FirstRun>)
where
    C: Collector,
    F: Fn() -> C + Send + 'static,
{
    let mut deaths = 0u32;
    let mut next = Some(first);
    loop {
        let mut collector = next.take().unwrap_or_else(&make);
        collector.report_progress_to(first_run.progress());
        let name = collector.name();
        let source_of = collector.source_of();
        let account = schedule.account.as_str();
        let born = Instant::now();
        let task = tokio::spawn(run(collector, schedule.clone(), Arc::clone(&first_run)));
        // On shutdown the task sees the same token and returns at once.
        let outcome = task.await;
        if schedule.shutdown.is_cancelled() {
            return;
        }
        match outcome {
            Ok(()) => tracing::error!(
                account,
                collector = name,
                "collector task returned unexpectedly; restarting it"
            ),
            Err(error) if error.is_panic() => {
                let payload = error.into_panic();
                tracing::error!(
                    account,
                    collector = name,
                    panic = panic_message(payload.as_ref()),
                    "collector task panicked; restarting it"
                );
            }
            Err(error) => tracing::error!(
                account,
                collector = name,
                error = %error,
                "collector task ended; restarting it"
            ),
        }
        schedule.exposition.mark_failed(account, name);
        schedule.telemetry.collector_restarted(account, name);
        if let Some(book) = source_of {
            book.tried(name);
        }
        // A death ends the first run too: its outcome (success 0) is what is served.
        first_run.ended();
        if born.elapsed() >= HEALTHY_LIFETIME {
            deaths = 0;
        }
        let backoff = restart_backoff(deaths);
        deaths = deaths.saturating_add(1);
        tokio::select! {
            _ = schedule.shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
    }
}

/// Whether a countdown of deliberate panics has one left (and takes it).
fn deliberate_panic_due(hook: Option<&AtomicU32>) -> bool {
    hook.is_some_and(|left| {
        left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    })
}

async fn run<C: Collector>(mut collector: C, schedule: Schedule, first_run: Arc<FirstRun>) {
    let name = collector.name();
    let account = schedule.account.as_str();
    // The action the endpoint said it does not offer, once it has said so (logged once).
    let mut unavailable: Option<String> = None;
    loop {
        if schedule
            .deliberate_panics
            .as_ref()
            .is_some_and(|hook| hook.due(name))
        {
            panic!("--debug.panic-collector: deliberate panic of the {name} collector");
        }
        // The cadence counts from here; the run's duration from the end of its wait.
        let cycle = Instant::now();
        tokio::select! {
            _ = schedule.shutdown.cancelled() => return,
            _ = collector.before_run() => {}
        }
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = schedule.shutdown.cancelled() => return,
            outcome = collector.collect() => outcome,
        };
        let duration = started.elapsed();
        let keep_for = schedule
            .interval
            .max(duration)
            .saturating_mul(schedule.stale_intervals.max(1));
        let unavailable_now = matches!(&outcome, Err(e) if e.unavailable_action().is_some());
        if !unavailable_now {
            unavailable = None;
        }
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
                let problem = collected.errors.first().map(|first| {
                    format!(
                        "{} item(s) could not be collected; the first: {first}",
                        collected.errors.len()
                    )
                });
                RunReport {
                    success: collected.errors.is_empty(),
                    snapshot: Some(collected.snapshot),
                    duration,
                    keep_for,
                    problem,
                    headlines: Some(collected.headlines),
                    next_run_unix: next_run_unix(cycle + schedule.interval),
                }
            }
            Err(error) if error.unavailable_action().is_some() => {
                let action = error.unavailable_action().unwrap_or_default().to_string();
                if unavailable.as_deref() != Some(action.as_str()) {
                    tracing::warn!(
                        account,
                        collector = name,
                        action = %action,
                        error = %error,
                        "the endpoint does not offer this action: nothing to collect, asking again every hour (the international site, for one, lacks some actions)"
                    );
                }
                unavailable = Some(action.clone());
                let mut builder = SnapshotBuilder::new(account);
                builder.sample(
                    series::ActionUnavailable {
                        collector: name,
                        action: &action,
                    },
                    1.0,
                );
                RunReport {
                    snapshot: Some(builder.finish()),
                    // Not failing: there is nothing this endpoint can tell it.
                    success: true,
                    duration,
                    // True until it is asked again (an hour, not an interval): never withdrawn
                    // as stale meanwhile, which would show the collector as failing.
                    keep_for: UNAVAILABLE_RETRY
                        .max(keep_for)
                        .saturating_mul(schedule.stale_intervals.max(1)),
                    problem: Some(error.in_plain_words()),
                    headlines: Some(Default::default()),
                    next_run_unix: next_run_unix(cycle + UNAVAILABLE_RETRY.max(schedule.interval)),
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
                    problem: Some(error.in_plain_words()),
                    headlines: None,
                    next_run_unix: next_run_unix(cycle + schedule.interval),
                }
            }
        };
        schedule.exposition.publish(account, name, report);
        // After the publish: a scrape never sees "complete" without the run's data.
        first_run.ended();
        let wait = if unavailable_now {
            UNAVAILABLE_RETRY.max(schedule.interval)
        } else {
            schedule.interval
        };
        tokio::select! {
            _ = schedule.shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(cycle + wait) => {}
        }
    }
}

/// `at` as unix seconds (wall clock).
fn next_run_unix(at: Instant) -> Option<f64> {
    let now = tencentcloud_ssl_api::time::now_unix_millis() as f64 / 1000.0;
    Some(now + at.saturating_duration_since(Instant::now()).as_secs_f64())
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::collector::{CollectError, Collected};
    use crate::metrics::{Format, Snapshot};

    /// A collector that panics on its first `panics` runs (across incarnations), then succeeds.
    struct Flaky {
        panics: Arc<AtomicU32>,
        runs: Arc<AtomicU32>,
    }

    impl Collector for Flaky {
        fn name(&self) -> &'static str {
            "certificates"
        }

        fn gates_readiness(&self) -> bool {
            true
        }

        fn collect(
            &mut self,
        ) -> impl std::future::Future<Output = Result<Collected, CollectError>> + Send {
            let panics = Arc::clone(&self.panics);
            let runs = Arc::clone(&self.runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if deliberate_panic_due(Some(&panics)) {
                    panic!("flaky collector");
                }
                Ok(Collected {
                    snapshot: Snapshot::default(),
                    errors: Vec::new(),
                    headlines: Default::default(),
                })
            }
        }
    }

    /// A collector whose action the endpoint does not offer (then does, once `offered`).
    struct Unoffered {
        runs: Arc<AtomicU32>,
        offered: Arc<AtomicBool>,
    }

    impl Collector for Unoffered {
        fn name(&self) -> &'static str {
            "deploy"
        }

        fn collect(
            &mut self,
        ) -> impl std::future::Future<Output = Result<Collected, CollectError>> + Send {
            self.runs.fetch_add(1, Ordering::SeqCst);
            let offered = self.offered.load(Ordering::SeqCst);
            async move {
                if offered {
                    return Ok(Collected {
                        snapshot: Snapshot::default(),
                        errors: Vec::new(),
                        headlines: Default::default(),
                    });
                }
                Err(CollectError::Api(
                    tencentcloud_ssl_api::client::ApiError::Api {
                        action: "DescribeHostDeployRecord".into(),
                        code: "InvalidAction".into(),
                        message: "the action is not found".into(),
                        request_id: "r".into(),
                    },
                ))
            }
        }
    }

    /// A source of endpoints whose every run panics.
    struct DoomedSource {
        book: Arc<crate::targets::TargetBook>,
    }

    impl Collector for DoomedSource {
        fn name(&self) -> &'static str {
            "deploy"
        }

        fn source_of(&self) -> Option<Arc<crate::targets::TargetBook>> {
            Some(Arc::clone(&self.book))
        }

        async fn collect(&mut self) -> Result<Collected, CollectError> {
            panic!("doomed source")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_dies_in_every_incarnation_does_not_hold_the_first_probes_back() {
        let telemetry = Telemetry::new();
        let exposition = Arc::new(Exposition::new(telemetry.clone(), "v", "r"));
        let schedule = schedule(&exposition, &telemetry);
        let shutdown = schedule.shutdown.clone();
        let book = Arc::new(crate::targets::TargetBook::new(vec!["deploy"], 100));
        let make = {
            let book = Arc::clone(&book);
            move || DoomedSource {
                book: Arc::clone(&book),
            }
        };
        let task = spawn(make, schedule);
        assert!(!book.complete(), "nothing tried yet");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            book.complete(),
            "the death counts as tried: the endpoints collector's first probes go ahead"
        );
        assert!(book.targets().targets.is_empty(), "and claims nothing");
        shutdown.cancel();
        task.await.expect("supervisor ends");
    }

    fn text(exposition: &Exposition) -> String {
        let prepared = exposition.prepared(Format::Text, false);
        let text: Vec<u8> = prepared.chunks.iter().flat_map(|c| c.to_vec()).collect();
        String::from_utf8_lossy(&text).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn an_action_the_endpoint_does_not_offer_is_named_not_failing_and_asked_hourly() {
        let telemetry = Telemetry::new();
        let exposition = Arc::new(Exposition::new(telemetry.clone(), "v", "r"));
        let mut schedule = schedule(&exposition, &telemetry);
        schedule.interval = Duration::from_secs(60);
        let shutdown = schedule.shutdown.clone();
        let (runs, offered) = (
            Arc::new(AtomicU32::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let make = {
            let (runs, offered) = (Arc::clone(&runs), Arc::clone(&offered));
            move || Unoffered {
                runs: Arc::clone(&runs),
                offered: Arc::clone(&offered),
            }
        };
        let task = spawn(make, schedule);
        assert!(telemetry.render().contains(
            "tencentcloud_ssl_collector_first_run_complete{account=\"a\",collector=\"deploy\"} 0"
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let served = text(&exposition);
        assert!(served.contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"deploy\"} 1\n"
        ));
        assert!(served.contains(
            "tencentcloud_ssl_action_unavailable{account=\"a\",collector=\"deploy\",action=\"DescribeHostDeployRecord\"} 1\n"
        ));
        assert!(telemetry.render().contains(
            "tencentcloud_ssl_collector_first_run_complete{account=\"a\",collector=\"deploy\"} 1"
        ), "the first run ended, without success or failure");
        let status = exposition.status();
        assert!(status[0]
            .problem
            .as_deref()
            .is_some_and(|p| p.starts_with("action not offered by this endpoint")));
        // Not every minute (its interval): every hour; meanwhile still named and not failing,
        // long after three intervals (its usual staleness bound).
        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        exposition.expire_stale();
        let served = text(&exposition);
        assert!(served.contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"deploy\"} 1\n"
        ));
        assert!(served.contains(
            "tencentcloud_ssl_action_unavailable{account=\"a\",collector=\"deploy\",action=\"DescribeHostDeployRecord\"} 1\n"
        ));
        offered.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(30 * 60 + 10)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "asked again after an hour");
        assert!(!text(&exposition).contains("tencentcloud_ssl_action_unavailable{"));
        shutdown.cancel();
        task.await.expect("supervisor ends on shutdown");
    }

    fn schedule(exposition: &Arc<Exposition>, telemetry: &Telemetry) -> Schedule {
        Schedule {
            account: "a".to_string(),
            interval: Duration::from_secs(3600),
            stale_intervals: 3,
            exposition: Arc::clone(exposition),
            readiness: Arc::new(Readiness::new(telemetry.clone())),
            telemetry: telemetry.clone(),
            shutdown: CancellationToken::new(),
            deliberate_panics: None,
        }
    }

    fn success(exposition: &Exposition) -> Option<String> {
        let prepared = exposition.prepared(Format::Text, false);
        let text: Vec<u8> = prepared.chunks.iter().flat_map(|c| c.to_vec()).collect();
        String::from_utf8_lossy(&text)
            .lines()
            .find(|l| l.starts_with("tencentcloud_ssl_collector_success{"))
            .map(str::to_string)
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_collector_reports_failure_is_counted_and_restarts_with_backoff() {
        let telemetry = Telemetry::new();
        let exposition = Arc::new(Exposition::new(telemetry.clone(), "v", "r"));
        let schedule = schedule(&exposition, &telemetry);
        let readiness = Arc::clone(&schedule.readiness);
        let shutdown = schedule.shutdown.clone();
        let (panics, runs) = (Arc::new(AtomicU32::new(2)), Arc::new(AtomicU32::new(0)));
        let make = {
            let (panics, runs) = (Arc::clone(&panics), Arc::clone(&runs));
            move || Flaky {
                panics: Arc::clone(&panics),
                runs: Arc::clone(&runs),
            }
        };
        let task = spawn(make, schedule);
        assert!(!readiness.answer().0, "waits for the first run");
        // The first death: success 0 at once, ready (the first run ended), one restart counted.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            success(&exposition).as_deref(),
            Some("tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 0")
        );
        assert!(readiness.answer().0);
        // Backoff 1 s, then a second death, backoff 2 s, then a good run.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "still backing off");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(
            success(&exposition).as_deref(),
            Some("tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 1")
        );
        assert!(telemetry.render().contains(
            "tencentcloud_ssl_collector_restarts_total{account=\"a\",collector=\"certificates\"} 2"
        ));
        shutdown.cancel();
        task.await.expect("supervisor ends on shutdown");
    }

    #[test]
    fn the_test_hook_panics_only_the_named_collector_as_often_as_asked() {
        let hook = DeliberatePanics {
            collector: "bind".to_string(),
            left: AtomicU32::new(2),
        };
        assert!(!hook.due("certificates"));
        assert!(hook.due("bind"));
        assert!(hook.due("bind"));
        assert!(!hook.due("bind"));
    }

    #[test]
    fn restart_backoff_doubles_and_is_capped() {
        assert_eq!(restart_backoff(0), Duration::from_secs(1));
        assert_eq!(restart_backoff(3), Duration::from_secs(8));
        assert_eq!(restart_backoff(40), MAX_RESTART_BACKOFF);
    }
}
