//! The exporter's own live metrics, kept in a `prometheus` registry: its API traffic, the front
//! door (requests refused, connections dropped, web configuration reloads), collector
//! restarts, and which collectors are still on their first run (and how far it has got).
//!
//! These move between collections, so they are not part of a collector snapshot: the exposition
//! module renders this registry into a small tail at most once a second and serves it after the
//! prepared snapshot bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Metric names of this module (the rest of the contract lives in `metrics::contract`).
pub const API_REQUESTS_TOTAL: &str = "tencentcloud_ssl_api_requests_total";
pub const API_REQUEST_DURATION_SECONDS: &str = "tencentcloud_ssl_api_request_duration_seconds";
pub const WEB_REQUESTS_REJECTED_TOTAL: &str = "tencentcloud_ssl_web_requests_rejected_total";
pub const WEB_CONNECTIONS_DROPPED_TOTAL: &str = "tencentcloud_ssl_web_connections_dropped_total";
pub const WEB_CONFIG_LAST_RELOAD_SUCCESSFUL: &str =
    "tencentcloud_ssl_web_config_last_reload_successful";
pub const WEB_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP: &str =
    "tencentcloud_ssl_web_config_last_reload_success_timestamp_seconds";
pub const COLLECTOR_RESTARTS_TOTAL: &str = "tencentcloud_ssl_collector_restarts_total";
pub const COLLECTOR_FIRST_RUN_COMPLETE: &str = "tencentcloud_ssl_collector_first_run_complete";
pub const COLLECTOR_RUN_ITEMS: &str = "tencentcloud_ssl_collector_run_items";

/// Why a request was refused (`reason` of [`WEB_REQUESTS_REJECTED_TOTAL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Missing or wrong basic-auth credentials (401).
    Unauthorized,
    /// Over the web configuration's `rate_limit` (429).
    RateLimited,
    /// New credentials while too many requests already wait for bcrypt (429).
    HashingBusy,
}

impl Rejection {
    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Unauthorized => "unauthorized",
            Rejection::RateLimited => "rate_limited",
            Rejection::HashingBusy => "hashing_busy",
        }
    }
}

/// Why a connection was cut (`reason` of [`WEB_CONNECTIONS_DROPPED_TOTAL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The client accepted no bytes of a response for `--web.write-timeout`.
    WriteTimeout,
    /// The TLS handshake did not finish within the header timeout.
    TlsHandshakeTimeout,
    /// A response was not all sent within `--web.response-timeout` (a client reading it a
    /// trickle at a time).
    ResponseTimeout,
}

impl Cut {
    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Cut::WriteTimeout => "write_timeout",
            Cut::TlsHandshakeTimeout => "tls_handshake_timeout",
            Cut::ResponseTimeout => "response_timeout",
        }
    }
}

/// API calls of one account so far (see [`Telemetry::api_calls_by_account`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiCalls {
    pub answers: u64,
    pub failed: u64,
    pub throttled: u64,
}

/// Registry plus handles to its metrics; one per process, shared by every account's client.
#[derive(Debug, Clone)]
pub struct Telemetry {
    registry: Registry,
    /// Every API answer (or failure to get one), by account, action and code (`OK`, the API's
    /// error code, or a fixed transport class such as `transport_timeout`).
    pub api_requests: IntCounterVec,
    /// Latency of single API attempts (retries counted separately), by account and action.
    pub api_request_duration: HistogramVec,
    /// Requests refused before reaching a handler, by reason ([`Rejection`]).
    pub web_requests_rejected: IntCounterVec,
    /// Connections cut by the server, by reason ([`Cut`]).
    pub web_connections_dropped: IntCounterVec,
    /// 1 if the last (re)load of `--web.config.file` succeeded, 0 if the last good one is kept.
    pub web_config_last_reload_successful: IntGauge,
    /// When the web configuration was last loaded successfully (unix seconds).
    pub web_config_last_reload_success_timestamp: Gauge,
    /// Collector tasks restarted after a panic or an unexpected exit, by account and collector.
    pub collector_restarts: IntCounterVec,
    /// 0 while a collector is on its first run, 1 once that run has ended (whatever its
    /// outcome), by account and collector; every enabled collector has one from the start.
    pub collector_first_run_complete: IntGaugeVec,
    /// Items of the current per-item step of a collector's run, planned and done, by account,
    /// collector and state, for the collectors that count them.
    pub collector_run_items: IntGaugeVec,
    /// Bumped after every change that a scrape must see at once (a state the server acts on,
    /// such as the web configuration in force): the exposition re-renders its cached tail when
    /// this moved, instead of waiting for the tail's age limit.
    epoch: Arc<AtomicU64>,
}

/// A metric definition that is static and valid, registered once in a fresh registry.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    // Registering a fresh, uniquely named metric in a fresh registry cannot fail.
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

impl Telemetry {
    /// The exporter's telemetry, with the process metrics of the exporter itself
    /// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, … on Linux).
    pub fn new() -> Self {
        let telemetry = Telemetry::without_exporter_metrics();
        #[cfg(target_os = "linux")]
        {
            // A fresh registry, and the only process collector in it: cannot fail.
            let _ = telemetry.registry.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        telemetry
    }

    /// The exporter's telemetry without its process metrics (`--web.disable-exporter-metrics`).
    pub fn without_exporter_metrics() -> Self {
        let registry = Registry::new();
        let api_requests = IntCounterVec::new(
            Opts::new(
                API_REQUESTS_TOTAL,
                "SSL API requests by action and result code (OK, API error code, or transport class).",
            ),
            &["account", "action", "code"],
        )
        .expect("static metric definition is valid");
        let api_request_duration = HistogramVec::new(
            HistogramOpts::new(
                API_REQUEST_DURATION_SECONDS,
                "Duration of single SSL API request attempts.",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["account", "action"],
        )
        .expect("static metric definition is valid");
        let web_requests_rejected = IntCounterVec::new(
            Opts::new(
                WEB_REQUESTS_REJECTED_TOTAL,
                "HTTP requests refused before any handler: unauthorized (401), rate_limited (429, the web config's rate_limit) or hashing_busy (429, new credentials while too many wait for bcrypt).",
            ),
            &["reason"],
        )
        .expect("static metric definition is valid");
        let web_connections_dropped = IntCounterVec::new(
            Opts::new(
                WEB_CONNECTIONS_DROPPED_TOTAL,
                "HTTP connections cut by the server: write_timeout (the client accepted no bytes for --web.write-timeout), response_timeout (a response not all sent within --web.response-timeout) or tls_handshake_timeout.",
            ),
            &["reason"],
        )
        .expect("static metric definition is valid");
        let web_config_last_reload_successful = IntGauge::new(
            WEB_CONFIG_LAST_RELOAD_SUCCESSFUL,
            "Whether the last reload of --web.config.file (and the TLS files it names) succeeded; 0 means the last good configuration is still served.",
        )
        .expect("static metric definition is valid");
        let web_config_last_reload_success_timestamp = Gauge::new(
            WEB_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
            "When --web.config.file (and the TLS files it names) was last loaded successfully.",
        )
        .expect("static metric definition is valid");
        let collector_restarts = IntCounterVec::new(
            Opts::new(
                COLLECTOR_RESTARTS_TOTAL,
                "Collector tasks restarted after a panic or an unexpected exit.",
            ),
            &["account", "collector"],
        )
        .expect("static metric definition is valid");
        let collector_first_run_complete = IntGaugeVec::new(
            Opts::new(
                COLLECTOR_FIRST_RUN_COMPLETE,
                "1 once the collector's first run has ended (successful or not), 0 while it lasts: until then its families are absent (not collected yet, never zero).",
            ),
            &["account", "collector"],
        )
        .expect("static metric definition is valid");
        let collector_run_items = IntGaugeVec::new(
            Opts::new(
                COLLECTOR_RUN_ITEMS,
                "Items of the current per-item step of the collector's run, planned and done so far (deploy: certificates whose records are listed, then records whose details are fetched; upload_update, update: records whose details are fetched); for collectors that count them.",
            ),
            &["account", "collector", "state"],
        )
        .expect("static metric definition is valid");
        // Always present, so an alert on a reload failure has a series from the start.
        web_config_last_reload_successful.set(1);
        for reason in [
            Rejection::Unauthorized,
            Rejection::RateLimited,
            Rejection::HashingBusy,
        ] {
            web_requests_rejected.with_label_values(&[reason.label()]);
        }
        for reason in [
            Cut::WriteTimeout,
            Cut::TlsHandshakeTimeout,
            Cut::ResponseTimeout,
        ] {
            web_connections_dropped.with_label_values(&[reason.label()]);
        }
        Telemetry {
            api_requests: register(&registry, api_requests),
            api_request_duration: register(&registry, api_request_duration),
            web_requests_rejected: register(&registry, web_requests_rejected),
            web_connections_dropped: register(&registry, web_connections_dropped),
            web_config_last_reload_successful: register(
                &registry,
                web_config_last_reload_successful,
            ),
            web_config_last_reload_success_timestamp: register(
                &registry,
                web_config_last_reload_success_timestamp,
            ),
            collector_restarts: register(&registry, collector_restarts),
            collector_first_run_complete: register(&registry, collector_first_run_complete),
            collector_run_items: register(&registry, collector_run_items),
            registry,
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts a refused request.
    pub fn rejected(&self, reason: Rejection) {
        self.web_requests_rejected
            .with_label_values(&[reason.label()])
            .inc();
    }

    /// Counts a connection the server cut.
    pub fn dropped(&self, reason: Cut) {
        self.web_connections_dropped
            .with_label_values(&[reason.label()])
            .inc();
    }

    /// Records the outcome of a web configuration (re)load.
    pub fn web_config_reloaded(&self, ok: bool) {
        self.web_config_last_reload_successful.set(i64::from(ok));
        if ok {
            let now = tencentcloud_ssl_api::time::now_unix_millis() as f64 / 1000.0;
            self.web_config_last_reload_success_timestamp.set(now);
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// How many changes that a scrape must see at once have been made (see `epoch`).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Counts a collector restart.
    pub fn collector_restarted(&self, account: &str, collector: &str) {
        self.collector_restarts
            .with_label_values(&[account, collector])
            .inc();
    }

    /// Records whether a collector's first run has ended; an end is seen by the next scrape.
    pub fn first_run(&self, account: &str, collector: &str, complete: bool) {
        self.collector_first_run_complete
            .with_label_values(&[account, collector])
            .set(i64::from(complete));
        if complete {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records one attempt.
    pub fn observe(&self, account: &str, action: &str, code: &str, seconds: f64) {
        self.api_requests
            .with_label_values(&[account, action, code])
            .inc();
        self.api_request_duration
            .with_label_values(&[account, action])
            .observe(seconds);
    }

    /// The registry in the text exposition format.
    /// API calls so far by account: (answers of any kind, answers that were not `OK`,
    /// throttled answers).
    pub fn api_calls_by_account(&self) -> std::collections::BTreeMap<String, ApiCalls> {
        use prometheus::core::Collector as _;
        let mut by_account = std::collections::BTreeMap::<String, ApiCalls>::new();
        for family in self.api_requests.collect() {
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_string())
                        .unwrap_or_default()
                };
                let n = metric.get_counter().get_value() as u64;
                let code = label("code");
                let calls = by_account.entry(label("account")).or_default();
                calls.answers += n;
                if code != "OK" {
                    calls.failed += n;
                }
                if code.starts_with("RequestLimitExceeded") || code == "http_429" {
                    calls.throttled += n;
                }
            }
        }
        by_account
    }

    pub fn render(&self) -> String {
        let families = self.registry.gather();
        TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_default()
    }
}

impl tencentcloud_ssl_api::client::Observer for Telemetry {
    fn attempt(&self, account: &str, action: &str, code: &str, elapsed: std::time::Duration) {
        self.observe(account, action, code, elapsed.as_secs_f64());
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let telemetry = Telemetry::new();
        telemetry.observe("default", "DescribeCertificates", "OK", 0.02);
        telemetry.observe(
            "default",
            "DescribeCertificates",
            "RequestLimitExceeded",
            0.01,
        );
        let text = telemetry.render();
        assert!(text.contains(
            "tencentcloud_ssl_api_requests_total{account=\"default\",action=\"DescribeCertificates\",code=\"OK\"} 1"
        ));
        assert_eq!(
            telemetry.api_calls_by_account()["default"],
            ApiCalls {
                answers: 2,
                failed: 1,
                throttled: 1
            }
        );
        #[cfg(target_os = "linux")]
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n# TYPE {family} ")), "{family}");
        }
        let without = Telemetry::without_exporter_metrics().render();
        assert!(
            !without.contains("process_")
                && without.contains("tencentcloud_ssl_web_config_last_reload_successful")
        );
        assert!(text.contains("tencentcloud_ssl_api_request_duration_seconds_count{account=\"default\",action=\"DescribeCertificates\"} 2"));
    }

    #[test]
    fn front_door_metrics_start_at_zero_and_count() {
        let telemetry = Telemetry::new();
        let text = telemetry.render();
        assert!(text
            .contains("tencentcloud_ssl_web_requests_rejected_total{reason=\"rate_limited\"} 0"));
        assert!(text.contains("tencentcloud_ssl_web_config_last_reload_successful 1"));
        assert!(text.contains(
            "tencentcloud_ssl_web_connections_dropped_total{reason=\"response_timeout\"} 0"
        ));
        telemetry.rejected(Rejection::Unauthorized);
        telemetry.dropped(Cut::WriteTimeout);
        telemetry.web_config_reloaded(false);
        telemetry.collector_restarted("a", "bind");
        let text = telemetry.render();
        assert!(text
            .contains("tencentcloud_ssl_web_requests_rejected_total{reason=\"unauthorized\"} 1"));
        assert!(text.contains(
            "tencentcloud_ssl_web_connections_dropped_total{reason=\"write_timeout\"} 1"
        ));
        assert!(text.contains("tencentcloud_ssl_web_config_last_reload_successful 0"));
        assert!(text.contains(
            "tencentcloud_ssl_collector_restarts_total{account=\"a\",collector=\"bind\"} 1"
        ));
    }
}
