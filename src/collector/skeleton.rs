//! The skeleton every collector shares: the [`Collector`] interface, what a run returns, the
//! settings of one account, the [`Findings`] of what runs could not take at face value, and
//! [`Core`], what every collector holds and the steps every run takes around its own work (a
//! snapshot builder sized like the last one with the findings in it; publishing the endpoints
//! its answers name; telling the target book when a run failed), and [`Progress`], how far a
//! long run has got.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus::{IntGauge, IntGaugeVec};

use crate::headlines::Headlines;
use crate::metrics::{series, Snapshot, SnapshotBuilder};
use crate::targets::{Claims, TargetBook};
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::SkippedItem;

/// Result of a run that produced data.
#[derive(Debug)]
pub(crate) struct Collected {
    pub snapshot: Snapshot,
    /// Failures of single items; non-empty means the run is reported as failed.
    pub errors: Vec<String>,
    /// The headline numbers this run saw, for the landing page.
    pub headlines: Headlines,
}

/// A run that produced nothing worth publishing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl CollectError {
    /// Credentials or permission failures: reported once, never retried in a loop.
    pub fn is_auth(&self) -> bool {
        match self {
            CollectError::Api(e) => e.is_auth(),
        }
    }

    /// The action the endpoint said it does not offer, when that is what happened.
    pub fn unavailable_action(&self) -> Option<&str> {
        match self {
            CollectError::Api(error @ ApiError::Api { action, .. })
                if error.is_unavailable_action() =>
            {
                Some(action)
            }
            _ => None,
        }
    }

    /// What went wrong, in the words an operator looks for first (credentials, permission,
    /// throttling, an action the endpoint does not offer, the network), then the error itself.
    pub fn in_plain_words(&self) -> String {
        let CollectError::Api(error) = self;
        let code = error.api_code().unwrap_or_default();
        let class = if error.is_permission() {
            "permission denied"
        } else if error.is_auth() {
            "credentials rejected"
        } else if code.starts_with("RequestLimitExceeded") {
            "throttled by the API"
        } else if error.is_unavailable_action() {
            "action not offered by this endpoint"
        } else if matches!(error, ApiError::Transport { .. }) {
            "network"
        } else {
            "API error"
        };
        format!("{class}: {error}")
    }
}

/// The interface every collector implements.
pub(crate) trait Collector: Send + 'static {
    /// The `collector` label value.
    fn name(&self) -> &'static str;

    /// One complete run; state kept between runs (caches of final results) lives in `self`.
    fn collect(&mut self) -> impl Future<Output = Result<Collected, CollectError>> + Send;

    /// A wait before each run that is not part of its duration (jitter, or waiting for the
    /// collectors that feed this one); none by default.
    fn before_run(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }

    /// Whether `/-/ready` waits for its first run. True only for a collector whose first run
    /// costs a few calls whatever the account's size (one list, paged), so readiness comes
    /// within a minute at any size; one whose calls grow with the account (a call per
    /// certificate, per bound certificate or per record) or that waits for others keeps the
    /// default, false: its first run is shown as such
    /// (`tencentcloud_ssl_collector_first_run_complete 0`, the landing page, the readiness
    /// answer), and its families are absent until it ends.
    fn gates_readiness(&self) -> bool {
        false
    }

    /// Hands the collector the [`Progress`] its runs report to; a collector that counts its
    /// items keeps it (in [`Core`]), the others ignore it.
    fn report_progress_to(&mut self, _progress: Progress) {}

    /// The target book a source of endpoints publishes its claims to; none by default. When
    /// the collector's task dies, the supervisor tells the book the source was
    /// [tried](TargetBook::tried), as a failed run does, so the endpoints collector's first
    /// probes never wait for a source that panics in every incarnation.
    fn source_of(&self) -> Option<Arc<TargetBook>> {
        None
    }
}

/// How far a collector's run has got, in the items of its current per-item step (the deploy
/// collector: certificates whose records are listed, then records whose details are fetched;
/// a step's calls are what a long first run spends its time on): exported as
/// `tencentcloud_ssl_collector_run_items{state="planned"|"done"}` once the collector first
/// reports, and shown on the landing page and in the readiness answer while its first run
/// lasts. Clones share the counts; the default one counts without exporting (tests, and a
/// collector built before the scheduler hands it its own).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    shared: Arc<ProgressCounts>,
}

#[derive(Debug, Default)]
struct ProgressCounts {
    planned: AtomicU64,
    done: AtomicU64,
    reported: AtomicBool,
    /// The family and labels it is exported under, when it is.
    family: Option<(IntGaugeVec, String, &'static str)>,
    /// The (planned, done) series, made at the first report (a collector that never reports
    /// has none).
    gauges: OnceLock<(IntGauge, IntGauge)>,
}

impl Progress {
    /// Progress of `collector` of `account`, exported in `family` (labels account, collector,
    /// state).
    pub(crate) fn exported(family: IntGaugeVec, account: &str, collector: &'static str) -> Self {
        Progress {
            shared: Arc::new(ProgressCounts {
                family: Some((family, account.to_string(), collector)),
                ..ProgressCounts::default()
            }),
        }
    }

    fn gauges(&self) -> Option<&(IntGauge, IntGauge)> {
        let shared = &*self.shared;
        let (family, account, collector) = shared.family.as_ref()?;
        Some(shared.gauges.get_or_init(|| {
            let gauge = |state| family.with_label_values(&[account.as_str(), collector, state]);
            (gauge("planned"), gauge("done"))
        }))
    }

    /// A run starts a step of `items` items, none done yet.
    pub(crate) fn plan(&self, items: usize) {
        let items = u64::try_from(items).unwrap_or(u64::MAX);
        self.shared.planned.store(items, Ordering::Release);
        self.shared.done.store(0, Ordering::Release);
        self.shared.reported.store(true, Ordering::Release);
        if let Some((planned, done)) = self.gauges() {
            planned.set(i64::try_from(items).unwrap_or(i64::MAX));
            done.set(0);
        }
    }

    /// The step turns out to have `items` more items (found while it runs).
    pub(crate) fn extend(&self, items: usize) {
        let items = u64::try_from(items).unwrap_or(u64::MAX);
        self.shared.planned.fetch_add(items, Ordering::AcqRel);
        if let Some((planned, _)) = self.gauges() {
            planned.add(i64::try_from(items).unwrap_or(i64::MAX));
        }
    }

    /// One more item of the step is done (answered or failed).
    pub(crate) fn advance(&self) {
        self.shared.done.fetch_add(1, Ordering::AcqRel);
        if let Some((_, done)) = self.gauges() {
            done.inc();
        }
    }

    /// (done, planned) of the latest step, once the collector has reported one.
    pub(crate) fn get(&self) -> Option<(u64, u64)> {
        let shared = &*self.shared;
        shared.reported.load(Ordering::Acquire).then(|| {
            (
                shared.done.load(Ordering::Acquire),
                shared.planned.load(Ordering::Acquire),
            )
        })
    }
}

/// Settings shared by the collectors of one account.
#[derive(Debug, Clone)]
pub(crate) struct CollectorSettings {
    /// The `account` label.
    pub account: String,
    /// Refresh interval; also the unit of the staleness bound of cached per-item results.
    pub interval: Duration,
    /// How many refresh intervals a per-item result may be served after its last good fetch.
    pub stale_intervals: u32,
    /// Calls of one action kept in flight by a collector; the rate limiter does the pacing, this
    /// only needs to be large enough to keep the action busy at its limit under API latency.
    pub concurrency: usize,
    /// Publish opt-in per-instance series (`tencentcloud_ssl_certificate_bound_instance_info`).
    pub detail_series: bool,
}

impl CollectorSettings {
    /// How long a per-item result may be served after its last good fetch: the same bound as
    /// a whole snapshot's, `stale_intervals` times the longer of the interval and the current
    /// run's duration (`run`), so a slow run never withdraws what it is still refreshing.
    pub fn stale_after(&self, run: Duration) -> Duration {
        self.interval
            .max(run)
            .saturating_mul(self.stale_intervals.max(1))
    }
}

/// The two kinds of [`Findings`], each counted in its own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Finding {
    /// An item that could not be decoded (`tencentcloud_ssl_decode_errors_total`).
    Undecoded,
    /// Totals that disagreed with the rows (`tencentcloud_ssl_totals_mismatches_total`).
    TotalsMismatch,
}

/// What runs could not take at face value, kept for the life of a collector: items that could
/// not be decoded and totals that disagreed with the rows received. Each is logged at warn as it
/// is found (with the item's ID), the same finding again at debug for [`REPEAT_WARNING_AFTER`]
/// (an answer the exporter cannot read is read again every run: one warning an hour says it,
/// not one a run), and every one is counted: the cumulative counts are written into every
/// snapshot as `tencentcloud_ssl_decode_errors_total` and
/// `tencentcloud_ssl_totals_mismatches_total`.
#[derive(Debug)]
pub(crate) struct Findings {
    account: String,
    collector: &'static str,
    counts: parking_lot::Mutex<BTreeMap<(Finding, &'static str), u64>>,
    warned: parking_lot::Mutex<Warned>,
}

/// How long the same finding (the same action, ID, field and error) is logged at debug after
/// its warning.
pub(crate) const REPEAT_WARNING_AFTER: Duration = Duration::from_secs(3600);

/// When each finding was last warned of; entries older than [`REPEAT_WARNING_AFTER`] are let go
/// once per that period, so the map holds at most an hour of distinct findings.
#[derive(Debug)]
struct Warned {
    at: std::collections::HashMap<u64, Instant>,
    next_prune: Instant,
}

impl Warned {
    /// Whether the finding `key` is to be warned of at `now` (not warned of within the period);
    /// if so, it is remembered as warned now.
    fn warn_now(&mut self, key: u64, now: Instant) -> bool {
        if now >= self.next_prune {
            self.at
                .retain(|_, at| now.duration_since(*at) < REPEAT_WARNING_AFTER);
            self.next_prune = now + REPEAT_WARNING_AFTER;
        }
        match self.at.get(&key) {
            Some(at) if now.duration_since(*at) < REPEAT_WARNING_AFTER => false,
            _ => {
                self.at.insert(key, now);
                true
            }
        }
    }
}

/// Logs at warn when the first argument is true, else at debug.
macro_rules! warn_or_debug {
    ($warn:expr, $($event:tt)*) => {
        if $warn {
            tracing::warn!($($event)*)
        } else {
            tracing::debug!($($event)*)
        }
    };
}

impl Findings {
    /// Findings of `collector`, whose counters start at 0 for each of the `actions` it calls (a
    /// counter that exists from the start makes `increase()` and dashboards work at once).
    pub(crate) fn new(
        account: &str,
        collector: &'static str,
        actions: &[&'static str],
    ) -> Findings {
        let counts = actions
            .iter()
            .flat_map(|a| {
                [
                    ((Finding::Undecoded, *a), 0),
                    ((Finding::TotalsMismatch, *a), 0),
                ]
            })
            .collect();
        Findings {
            account: account.to_string(),
            collector,
            counts: parking_lot::Mutex::new(counts),
            warned: parking_lot::Mutex::new(Warned {
                at: Default::default(),
                next_prune: Instant::now() + REPEAT_WARNING_AFTER,
            }),
        }
    }

    fn count(&self, finding: Finding, action: &'static str, n: u64) {
        *self.counts.lock().entry((finding, action)).or_default() += n;
    }

    /// Whether the finding named by `parts` is to be logged at warn now (see [`Findings`]).
    fn warn_now(&self, parts: &[&str]) -> bool {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        parts.hash(&mut hasher);
        self.warned.lock().warn_now(hasher.finish(), Instant::now())
    }

    /// Items of an `action` answer that were skipped because they could not be decoded.
    pub(crate) fn skipped(&self, action: &'static str, items: &[SkippedItem]) {
        for item in items {
            warn_or_debug!(
                self.warn_now(&["skipped", action, &item.id, &item.error]),
                account = %self.account,
                collector = self.collector,
                action,
                id = %item.id,
                error = %item.error,
                "skipped an item the exporter cannot decode; the rest of the answer is used"
            );
        }
        if !items.is_empty() {
            self.count(Finding::Undecoded, action, items.len() as u64);
        }
    }

    /// A `field` of an `action` answer about `id` that could not be understood (`error`): left
    /// out, the rest of the item used; logged at warn and counted with the decode errors.
    pub(crate) fn unreadable_field(
        &self,
        action: &'static str,
        id: &str,
        field: &str,
        error: &str,
    ) {
        warn_or_debug!(
            self.warn_now(&["unreadable", action, id, field, error]),
            account = %self.account,
            collector = self.collector,
            action,
            id,
            field,
            error,
            "left out a field the exporter cannot read; the rest of the item is used"
        );
        self.count(Finding::Undecoded, action, 1);
    }

    /// An `action` answer about `id` that contradicts itself (`error` says how, and what was
    /// used): logged at warn and counted with the decode errors, as not understood.
    pub(crate) fn contradiction(&self, action: &'static str, id: &str, error: &str) {
        warn_or_debug!(
            self.warn_now(&["contradiction", action, id, error]),
            account = %self.account,
            collector = self.collector,
            action,
            id,
            error,
            "the answer contradicts itself"
        );
        self.count(Finding::Undecoded, action, 1);
    }

    /// Totals an `action` answer stated for `what` (a record, a region; empty for a whole list)
    /// that disagree with the rows received: (field, stated, received) each. Counted once.
    pub(crate) fn totals_mismatch(
        &self,
        action: &'static str,
        what: &str,
        disagreements: &[(&str, u64, u64)],
    ) {
        if disagreements.is_empty() {
            return;
        }
        let fields: Vec<String> = disagreements
            .iter()
            .map(|(field, stated, received)| format!("{field} {stated} (received {received})"))
            .collect();
        let totals = fields.join(", ");
        warn_or_debug!(
            self.warn_now(&["totals", action, what, &totals]),
            account = %self.account,
            collector = self.collector,
            action,
            what,
            totals = %totals,
            "the answer's totals disagree with the rows received; exporting what was received"
        );
        self.count(Finding::TotalsMismatch, action, 1);
    }

    /// Writes the cumulative counts into `builder`.
    pub(crate) fn write(&self, builder: &mut SnapshotBuilder) {
        let collector = self.collector;
        for ((family, action), n) in self.counts.lock().iter() {
            let (action, n) = (*action, *n as f64);
            match family {
                Finding::Undecoded => builder.sample(series::DecodeErrors { collector, action }, n),
                Finding::TotalsMismatch => {
                    builder.sample(series::TotalsMismatches { collector, action }, n)
                }
            }
        }
    }
}

/// What every collector holds besides its own state: its name, the account's client and
/// settings, its findings, the sizes of its last snapshot, and where it publishes endpoints.
#[derive(Debug)]
pub(crate) struct Core {
    /// The `collector` label, and the source name of what it publishes to the target book.
    pub name: &'static str,
    pub client: Client,
    pub settings: CollectorSettings,
    pub findings: Findings,
    /// Text sizes of the last snapshot, to size the next one's buffers.
    last_sizes: Vec<usize>,
    /// Where the endpoints its answers name are published (endpoints collector on).
    targets: Option<Arc<TargetBook>>,
    /// Where its runs report how far they have got.
    pub progress: Progress,
}

impl Core {
    /// The core of collector `name`, whose findings start at 0 for each of the `actions` it calls.
    pub(crate) fn new(
        name: &'static str,
        client: Client,
        settings: CollectorSettings,
        actions: &[&'static str],
    ) -> Core {
        Core {
            findings: Findings::new(&settings.account, name, actions),
            name,
            client,
            settings,
            last_sizes: Vec::new(),
            targets: None,
            progress: Progress::default(),
        }
    }

    /// Also publishes the endpoints its answers name to `book`.
    pub(crate) fn publish_to(&mut self, book: Arc<TargetBook>) {
        self.targets = Some(book);
    }

    /// Whether its answers' endpoints are wanted (so worth collecting).
    pub(crate) fn publishes(&self) -> bool {
        self.targets.is_some()
    }

    /// The book its answers' endpoints are published to, if they are wanted.
    pub(crate) fn target_book(&self) -> Option<&Arc<TargetBook>> {
        self.targets.as_ref()
    }

    /// Publishes `claims` (made only when they are wanted), valid for `valid_for`.
    pub(crate) fn publish(&self, claims: impl FnOnce() -> Claims, valid_for: Duration) {
        if let Some(book) = &self.targets {
            book.publish(self.name, claims(), valid_for);
        }
    }

    /// Passes a run's outcome through; when it failed, tells the target book the source was
    /// tried, so the endpoints collector need not wait for it.
    pub(crate) fn tried(
        &self,
        outcome: Result<Collected, CollectError>,
    ) -> Result<Collected, CollectError> {
        if let (Err(_), Some(book)) = (&outcome, &self.targets) {
            book.tried(self.name);
        }
        outcome
    }

    /// A snapshot builder sized like the last snapshot, holding the findings so far.
    pub(crate) fn builder(&self) -> SnapshotBuilder {
        let mut builder = self.bare_builder();
        self.findings.write(&mut builder);
        builder
    }

    /// A builder for the run's samples without the findings, for a run that still finds
    /// things after it starts writing: it writes them (`findings.write`) before sealing.
    pub(crate) fn bare_builder(&self) -> SnapshotBuilder {
        SnapshotBuilder::sized_like(&self.settings.account, &self.last_sizes)
    }

    /// Writes the size of `map`, one of the maps the collector keeps between runs.
    pub(crate) fn entries(&self, builder: &mut SnapshotBuilder, map: &str, entries: usize) {
        let collector = self.name;
        builder.sample(series::InternalEntries { collector, map }, entries as f64);
    }

    /// Seals `builder` into the run's snapshot, remembering its sizes for the next run.
    pub(crate) fn seal(&mut self, builder: SnapshotBuilder) -> Snapshot {
        let snapshot = builder.finish();
        self.last_sizes = snapshot.sizes();
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_shared_by_clones_and_exported_from_the_first_report() {
        let family = IntGaugeVec::new(
            prometheus::Opts::new("items", "items"),
            &["account", "collector", "state"],
        )
        .expect("valid");
        let progress = Progress::exported(family.clone(), "a", "deploy");
        use prometheus::core::Collector as _;
        let series = || {
            family
                .collect()
                .iter()
                .map(|f| f.get_metric().len())
                .sum::<usize>()
        };
        assert_eq!(progress.get(), None);
        assert_eq!(series(), 0, "no series before the first report");
        let held = progress.clone();
        held.plan(3);
        held.advance();
        held.advance();
        assert_eq!(progress.get(), Some((2, 3)));
        let gauge = |state| family.with_label_values(&["a", "deploy", state]).get();
        assert_eq!((gauge("done"), gauge("planned")), (2, 3));
        // A new step starts from none done.
        progress.plan(5);
        assert_eq!(held.get(), Some((0, 5)));
        assert_eq!(gauge("done"), 0);
        let detached = Progress::default();
        detached.plan(1);
        detached.advance();
        assert_eq!(detached.get(), Some((1, 1)));
    }

    #[test]
    fn a_finding_is_warned_of_once_an_hour_and_counted_every_time() {
        let start = Instant::now();
        let mut warned = Warned {
            at: Default::default(),
            next_prune: start + REPEAT_WARNING_AFTER,
        };
        let minute = Duration::from_secs(60);
        assert!(warned.warn_now(1, start), "first seen: warn");
        assert!(!warned.warn_now(1, start + minute), "next run: debug");
        assert!(warned.warn_now(2, start + minute), "another finding: warn");
        assert!(
            warned.warn_now(1, start + REPEAT_WARNING_AFTER),
            "an hour on: warn again"
        );
        // The prune an hour on let the others go: only what was warned of within the hour stays.
        assert_eq!(warned.at.len(), 2);
        assert!(!warned.warn_now(2, start + REPEAT_WARNING_AFTER));
        let later = start + 3 * REPEAT_WARNING_AFTER;
        assert!(warned.warn_now(3, later));
        assert_eq!(warned.at.len(), 1, "a quiet hour empties the map");

        // Findings count each occurrence, warned or not.
        let findings = Findings::new("a", "certificates", &["DescribeCertificates"]);
        for _ in 0..3 {
            findings.unreadable_field("DescribeCertificates", "c1", "CertEndTime", "not a time");
        }
        let counted = findings.counts.lock()[&(Finding::Undecoded, "DescribeCertificates")];
        assert_eq!(counted, 3);
    }
}
