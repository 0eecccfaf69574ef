//! The exporter's own live metrics about its API traffic, kept in a `prometheus` registry.
//!
//! These counters move during a collection, so they are not part of a collector snapshot: the
//! exposition module renders this registry into a small tail at most once a second and serves it
//! after the prepared snapshot bytes.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

/// Metric names of this module (the rest of the contract lives in `metrics::contract`).
pub const API_REQUESTS_TOTAL: &str = "tencentcloud_ssl_api_requests_total";
pub const API_REQUEST_DURATION_SECONDS: &str = "tencentcloud_ssl_api_request_duration_seconds";

/// Registry plus handles to its metrics; one per process, shared by every account's client.
#[derive(Debug, Clone)]
pub struct Telemetry {
    registry: Registry,
    /// Every API answer (or failure to get one), by account, action and code (`OK`, the API's
    /// error code, or a fixed transport class such as `transport_timeout`).
    pub api_requests: IntCounterVec,
    /// Latency of single API attempts (retries counted separately), by account and action.
    pub api_request_duration: HistogramVec,
}

impl Telemetry {
    pub fn new() -> Self {
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
        registry
            .register(Box::new(api_requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(api_request_duration.clone()))
            .expect("registered once");
        Telemetry {
            registry,
            api_requests,
            api_request_duration,
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
        assert!(text.contains("tencentcloud_ssl_api_request_duration_seconds_count{account=\"default\",action=\"DescribeCertificates\"} 2"));
    }
}
