//! Command-line flags, in the Prometheus exporter style.
//!
//! Every number is range-checked when parsed, so clap's error names the flag, and no value can
//! make later arithmetic (deadlines, staleness bounds, pacing) overflow.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::config::{Defaults, EndpointsConfig, ResolveOverride, DEFAULT_ENDPOINTS_INTERVAL};
use crate::duration::parse_duration;
use tencentcloud_ssl_api::client::{DEFAULT_ENDPOINT, DEFAULT_PER_CERTIFICATE_SHARE};

/// Log verbosity of the exporter's own messages (dependencies log warnings and errors only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Prometheus exporter for Tencent Cloud SSL Certificate Service.
///
/// Credentials come from TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, plus
/// TENCENTCLOUD_SECURITY_TOKEN (alias TENCENTCLOUD_SESSION_TOKEN) for temporary credentials.
#[derive(Debug, Clone, Parser)]
#[command(name = "tencentcloud-ssl-exporter", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (YAML): accounts, credentials, collectors, filters. Without it, flags
    /// and environment variables describe a single account.
    #[arg(long = "config.file", value_name = "PATH")]
    pub config_file: Option<std::path::PathBuf>,

    /// Validate the configuration (and the web configuration) and exit.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Web configuration file (Prometheus exporter-toolkit format): TLS, basic auth, headers.
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub web_config_file: Option<std::path::PathBuf>,

    /// Collect only the accounts of shard I of N (0-based), by a stable hash of the account name.
    #[arg(long = "shard", value_parser = parse_shard, value_name = "I/N")]
    pub shard: Option<(u32, u32)>,

    /// Address to listen on for HTTP requests (":PORT" listens on every interface). Repeatable
    /// for several addresses, as exporter-toolkit has it.
    #[arg(
        long = "web.listen-address",
        default_value = ":9877",
        value_name = "ADDRESS",
        action = clap::ArgAction::Append
    )]
    pub listen_address: Vec<String>,

    /// Use the listeners systemd passes (socket activation: LISTEN_FDS, LISTEN_PID) instead of
    /// --web.listen-address (Linux only).
    #[cfg(target_os = "linux")]
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub telemetry_path: String,

    /// Exclude the exporter's own process metrics (process_*) from the telemetry path, as
    /// exporter-toolkit's exporters do.
    #[arg(long = "web.disable-exporter-metrics")]
    pub disable_exporter_metrics: bool,

    /// Most HTTP connections open at once; slow clients cannot take more than this.
    #[arg(long = "web.max-connections", default_value_t = 512, value_name = "N", value_parser = parse_max_connections)]
    pub max_connections: usize,

    /// A response whose client accepts no bytes for this long is dropped and its connection
    /// closed (clients that never read cannot hold connections).
    #[arg(long = "web.write-timeout", default_value = "5s", value_parser = parse_write_timeout, value_name = "DURATION")]
    pub write_timeout: Duration,

    /// A response not all sent this long after it started is dropped and its connection closed
    /// (clients reading a trickle at a time cannot hold connections); 0s turns the limit off.
    #[arg(long = "web.response-timeout", default_value = "2m", value_parser = parse_response_timeout, value_name = "DURATION")]
    pub response_timeout: Duration,

    /// SSL API endpoint, a full URL; its host (and port) is what gets signed.
    #[arg(long = "tencentcloud.endpoint", default_value = DEFAULT_ENDPOINT, value_name = "URL")]
    pub endpoint: String,

    /// Timeout of one API request attempt.
    #[arg(long = "tencentcloud.timeout", default_value = "15s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,

    /// Override the documented rate limit of an action, in calls per second
    /// (e.g. `DescribeCertificateBindResourceTaskDetail=5`); repeatable.
    #[arg(long = "tencentcloud.rate-limit", value_parser = parse_rate_limit, value_name = "ACTION=PER_SECOND")]
    pub rate_limits: Vec<(String, f64)>,

    /// Share of its documented limit an action called once per certificate
    /// (DescribeHostDeployRecord, DescribeCertificateDetail) is paced at, leaving the rest of the
    /// account's limit to the console; --tencentcloud.rate-limit overrides it per action.
    #[arg(long = "tencentcloud.per-certificate-share", default_value_t = DEFAULT_PER_CERTIFICATE_SHARE, value_parser = parse_per_certificate_share, value_name = "SHARE")]
    pub per_certificate_share: f64,

    /// Value of the `account` label on every series.
    #[arg(
        long = "tencentcloud.account",
        default_value = "default",
        value_name = "NAME"
    )]
    pub account: String,

    /// Refresh interval of every collector (default 5m; 15s with --demo).
    #[arg(long = "collector.interval", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Option<Duration>,

    /// Refresh interval of the deploy-record collector, which lists each certificate's records
    /// (one call per certificate per run; default the larger of 10m and --collector.interval,
    /// or --collector.interval with --demo).
    #[arg(long = "collector.deploy.interval", value_parser = parse_interval, value_name = "DURATION")]
    pub deploy_interval: Option<Duration>,

    /// How long one bind run waits for tasks still querying.
    #[arg(long = "collector.bind.poll-timeout", default_value = "2m", value_parser = parse_poll_timeout, value_name = "DURATION")]
    pub bind_poll_timeout: Duration,

    /// A certificate tag key to export as the label `tag_<key>` of
    /// tencentcloud_ssl_certificate_tags_info (characters outside [a-zA-Z0-9_] become _), for
    /// routing alerts by owner. Repeatable; the configuration file's certificates.tag_labels
    /// replaces these.
    #[arg(long = "certificates.tag-label", value_name = "KEY")]
    pub tag_labels: Vec<String>,

    /// Deploy records created longer ago than this are not exported.
    #[arg(long = "collector.deploy.max-age", default_value = "30d", value_parser = parse_max_age, value_name = "DURATION")]
    pub deploy_max_age: Duration,

    /// Calls of one action a collector keeps in flight (pacing is done by the rate limiter).
    #[arg(long = "collector.concurrency", default_value_t = 16, value_name = "N", value_parser = parse_concurrency)]
    pub concurrency: usize,

    /// Per-item results survive failed refreshes for this many intervals, then are withdrawn.
    #[arg(
        long = "collector.stale-intervals",
        default_value_t = 3,
        value_name = "N",
        value_parser = parse_stale_intervals
    )]
    pub stale_intervals: u32,

    /// Probe the endpoints (domains) the API says each certificate is bound to, and compare the
    /// certificate they serve with the API's (opt-in; on with --demo). Dials every such domain
    /// from this host: see docs/endpoint-probes.md before turning it on.
    #[arg(long = "collector.endpoints")]
    pub endpoints: bool,

    /// Refresh interval of the endpoints collector (default 10m; --collector.interval with
    /// --demo).
    #[arg(long = "collector.endpoints.interval", value_parser = parse_interval, value_name = "DURATION")]
    pub endpoints_interval: Option<Duration>,

    /// One endpoint probe in all: resolve, connect and TLS handshake.
    #[arg(long = "collector.endpoints.timeout", default_value = "5s", value_parser = parse_probe_timeout, value_name = "DURATION")]
    pub endpoints_timeout: Duration,

    /// Endpoint probes in flight at once.
    #[arg(long = "collector.endpoints.concurrency", default_value_t = 32, value_name = "N", value_parser = parse_probe_concurrency)]
    pub endpoints_concurrency: usize,

    /// Most endpoints probed per account and run; the rest are counted as over_limit.
    #[arg(long = "collector.endpoints.max", default_value_t = 2000, value_name = "N", value_parser = parse_max_endpoints)]
    pub endpoints_max: usize,

    /// Most claims (an endpoint the API names for a certificate) tracked per account: those
    /// about a fixed sample of endpoints (the smallest hashes of domain and port); claims about
    /// the others are only counted.
    #[arg(long = "collector.endpoints.max-tracked", default_value_t = 20_000, value_name = "N", value_parser = parse_max_tracked)]
    pub endpoints_max_tracked: usize,

    /// Dial ADDR for DOMAIN:PORT instead of resolving DOMAIN (SNI stays DOMAIN), like curl's
    /// --resolve; ADDR is an IP address or IP:PORT. Repeatable.
    #[arg(long = "collector.endpoints.resolve", value_name = "DOMAIN:PORT:ADDR")]
    pub endpoints_resolve: Vec<ResolveOverride>,

    /// Probe only the endpoints a --collector.endpoints.resolve override names.
    #[arg(long = "collector.endpoints.resolved-only")]
    pub endpoints_resolved_only: bool,

    /// PEM file of extra trust roots for chain validity (the Mozilla roots are built in).
    #[arg(long = "collector.endpoints.ca-file", value_name = "PATH")]
    pub endpoints_ca_file: Option<PathBuf>,

    /// Only log messages of at least this severity.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Log format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,

    /// Run against the built-in simulated SSL API (no Tencent Cloud account needed).
    #[arg(long = "demo")]
    pub demo: bool,

    /// Seed of the demo data set.
    #[arg(long = "demo.seed", default_value_t = 1, value_name = "N")]
    pub demo_seed: u64,

    /// Certificates in the demo data set.
    #[arg(long = "demo.certificates", default_value_t = 48, value_name = "N", value_parser = parse_demo_certificates)]
    pub demo_certificates: usize,

    /// Test hook, hidden from the help: `NAME[:TIMES]` makes the collector `NAME` panic at the
    /// start of its next TIMES runs (default 1), across restarts, so the tests of the real binary
    /// (tests/front_door.rs) can watch a supervised collector die, report `success 0`, and come
    /// back. Harmless in production: whoever can pass flags controls the process anyway.
    #[arg(long = "debug.panic-collector", hide = true, value_parser = parse_panic_collector, value_name = "NAME[:TIMES]")]
    pub panic_collector: Option<(String, u32)>,
}

pub use crate::config::limits;

/// Whether `value` is in `range`, as a message for the flag's error.
fn in_range<T: PartialOrd + std::fmt::Debug>(
    value: T,
    range: &RangeInclusive<T>,
    shown: impl Fn(&T) -> String,
) -> Result<T, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{} is out of range: must be between {} and {}",
            shown(&value),
            shown(range.start()),
            shown(range.end())
        ))
    }
}

/// A duration within `range`.
pub fn duration_in(value: &str, range: &RangeInclusive<Duration>) -> Result<Duration, String> {
    let duration = parse_duration(value).map_err(|e| e.to_string())?;
    in_range(duration, range, |d| crate::duration::format_duration(*d))
}

fn count_in<T>(value: &str, range: &RangeInclusive<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Debug + std::fmt::Display,
{
    let number: T = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))?;
    in_range(number, range, |n| n.to_string())
}

fn parse_max_connections(value: &str) -> Result<usize, String> {
    count_in(value, &limits::MAX_CONNECTIONS)
}

fn parse_write_timeout(value: &str) -> Result<Duration, String> {
    duration_in(value, &limits::WRITE_TIMEOUT)
}

fn parse_response_timeout(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Ok(duration);
    }
    in_range(duration, &limits::RESPONSE_TIMEOUT, |d| {
        crate::duration::format_duration(*d)
    })
    .map_err(|e| format!("{e} (or 0s for no limit)"))
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    duration_in(value, &limits::TIMEOUT)
}

fn parse_interval(value: &str) -> Result<Duration, String> {
    duration_in(value, &limits::INTERVAL)
}

fn parse_poll_timeout(value: &str) -> Result<Duration, String> {
    duration_in(value, &limits::POLL_TIMEOUT)
}

fn parse_max_age(value: &str) -> Result<Duration, String> {
    duration_in(value, &limits::MAX_AGE)
}

fn parse_concurrency(value: &str) -> Result<usize, String> {
    count_in(value, &limits::CONCURRENCY)
}

fn parse_probe_timeout(value: &str) -> Result<Duration, String> {
    duration_in(value, &limits::PROBE_TIMEOUT)
}

fn parse_probe_concurrency(value: &str) -> Result<usize, String> {
    count_in(value, &limits::PROBE_CONCURRENCY)
}

fn parse_max_endpoints(value: &str) -> Result<usize, String> {
    count_in(value, &limits::MAX_ENDPOINTS)
}

fn parse_max_tracked(value: &str) -> Result<usize, String> {
    count_in(value, &limits::MAX_TRACKED)
}

fn parse_stale_intervals(value: &str) -> Result<u32, String> {
    count_in(value, &limits::STALE_INTERVALS)
}

fn parse_demo_certificates(value: &str) -> Result<usize, String> {
    count_in(value, &limits::DEMO_CERTIFICATES)
}

/// Parses `NAME[:TIMES]` of `--debug.panic-collector`.
pub fn parse_panic_collector(value: &str) -> Result<(String, u32), String> {
    let (name, times) = match value.split_once(':') {
        Some((name, times)) => (name, count_in(times, &(1..=1000u32))?),
        None => (value, 1),
    };
    const NAMES: [&str; 5] = ["certificates", "bind", "upload_update", "update", "deploy"];
    if !NAMES.contains(&name) {
        return Err(format!("{name:?} is not a collector ({NAMES:?})"));
    }
    Ok((name.to_string(), times))
}

/// Parses `I/N` with `0 <= I < N`.
pub fn parse_shard(value: &str) -> Result<(u32, u32), String> {
    let (index, count) = value
        .split_once('/')
        .ok_or_else(|| format!("{value:?}: expected I/N, e.g. 0/3"))?;
    let index: u32 = index
        .trim()
        .parse()
        .map_err(|_| format!("{value:?}: {index:?} is not a number"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("{value:?}: {count:?} is not a number"))?;
    if count == 0 || index >= count {
        return Err(format!("{value:?}: need 0 <= I < N"));
    }
    Ok((index, count))
}

/// Parses the share of a documented limit (0.01 to 1).
fn parse_per_certificate_share(value: &str) -> Result<f64, String> {
    let share: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if !limits::PER_CERTIFICATE_SHARE.contains(&share) {
        return Err(format!(
            "{value:?}: the share must be between {} and {}",
            limits::PER_CERTIFICATE_SHARE.start(),
            limits::PER_CERTIFICATE_SHARE.end()
        ));
    }
    Ok(share)
}

/// Parses `Action=calls_per_second`.
pub fn parse_rate_limit(value: &str) -> Result<(String, f64), String> {
    let (action, rate) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: expected ACTION=PER_SECOND"))?;
    let action = action.trim();
    if action.is_empty() || !action.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("{value:?}: {action:?} is not an action name"));
    }
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("{value:?}: {rate:?} is not a number"))?;
    if !limits::RATE.contains(&rate) {
        return Err(format!(
            "{value:?}: the rate must be between {} and {} calls per second",
            limits::RATE.start(),
            limits::RATE.end()
        ));
    }
    Ok((action.to_string(), rate))
}

impl Cli {
    /// The listen addresses as socket address strings (":9877" → "0.0.0.0:9877").
    pub fn listen_sockets(&self) -> Vec<String> {
        self.listen_address
            .iter()
            .map(|address| match address.strip_prefix(':') {
                Some(port) => format!("0.0.0.0:{port}"),
                None => address.clone(),
            })
            .collect()
    }

    /// Whether the listeners come from systemd socket activation.
    pub fn systemd_socket(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.systemd_socket;
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// What the configuration takes from the flags.
    pub fn config_defaults(&self) -> Defaults {
        Defaults {
            account: self.account.clone(),
            endpoint: self.endpoint.clone(),
            timeout: self.timeout,
            rate_limits: self.rate_limits.iter().cloned().collect(),
            per_certificate_share: self.per_certificate_share,
            interval: self.effective_interval(),
            deploy_interval: self.deploy_interval.unwrap_or(if self.demo {
                self.effective_interval()
            } else {
                self.effective_interval().max(Duration::from_secs(600))
            }),
            bind_poll_timeout: self.bind_poll_timeout,
            records_max_age: self.deploy_max_age,
            tag_labels: self.tag_labels.clone(),
            endpoints_enabled: self.endpoints || self.demo,
            endpoints_interval: self.endpoints_interval.unwrap_or(if self.demo {
                self.effective_interval()
            } else {
                DEFAULT_ENDPOINTS_INTERVAL
            }),
            endpoints: EndpointsConfig {
                timeout: self.endpoints_timeout,
                concurrency: self.endpoints_concurrency,
                max_endpoints: self.endpoints_max,
                max_tracked: self.endpoints_max_tracked,
                resolve: self.endpoints_resolve.clone(),
                resolved_only: self.endpoints_resolved_only,
                ca_file: self.endpoints_ca_file.clone(),
                ..EndpointsConfig::default()
            },
        }
    }

    /// The refresh interval in force.
    pub fn effective_interval(&self) -> Duration {
        self.interval.unwrap_or(if self.demo {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(300)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_exporter_conventions() {
        let cli = Cli::try_parse_from(["x"]).expect("defaults parse");
        assert_eq!(cli.listen_sockets(), ["0.0.0.0:9877"]);
        assert!(!cli.systemd_socket());
        assert_eq!(cli.telemetry_path, "/metrics");
        assert_eq!(cli.endpoint, "https://ssl.tencentcloudapi.com");
        assert_eq!(cli.effective_interval(), Duration::from_secs(300));
        assert_eq!(cli.log_format, LogFormat::Logfmt);
    }

    #[test]
    fn parses_prometheus_style_flags() {
        let cli = Cli::try_parse_from([
            "x",
            "--web.listen-address=127.0.0.1:9999",
            "--collector.interval=30s",
            "--log.format=json",
            "--log.level=debug",
            "--tencentcloud.endpoint=http://127.0.0.1:8080",
        ])
        .expect("parse");
        assert_eq!(cli.listen_sockets(), ["127.0.0.1:9999"]);
        let both = Cli::try_parse_from([
            "x",
            "--web.listen-address=127.0.0.1:9999",
            "--web.listen-address=:9100",
        ])
        .expect("repeatable");
        assert_eq!(
            both.listen_sockets(),
            ["127.0.0.1:9999", "0.0.0.0:9100"],
            "given addresses replace the default"
        );
        assert_eq!(cli.effective_interval(), Duration::from_secs(30));
        assert_eq!(cli.log_level, LogLevel::Debug);
        assert!(Cli::try_parse_from(["x", "--collector.interval=soon"]).is_err());
    }

    #[test]
    fn shard_flag() {
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        for bad in ["3/3", "1/0", "a/2", "1", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limit_overrides() {
        let cli = Cli::try_parse_from([
            "x",
            "--tencentcloud.rate-limit=DescribeCertificates=5",
            "--tencentcloud.rate-limit",
            "DescribeHostUpdateRecordDetail=2.5",
        ])
        .expect("parse");
        assert_eq!(
            cli.rate_limits,
            [
                ("DescribeCertificates".to_string(), 5.0),
                ("DescribeHostUpdateRecordDetail".to_string(), 2.5)
            ]
        );
        for bad in [
            "Describe", "=5", "A=0", "A=-1", "A=fast", "A b=1", "A=inf", "A=1e-20", "A=NaN",
            "A=1e300",
        ] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_are_range_checked_and_the_error_names_the_flag() {
        for (flag, bad) in [
            ("--web.max-connections", "0"),
            ("--web.max-connections", "-1"),
            ("--web.max-connections", "99999999999999999999"),
            ("--web.write-timeout", "0s"),
            ("--web.write-timeout", "99999999y"),
            ("--web.response-timeout", "500ms"),
            ("--web.response-timeout", "2d"),
            ("--web.response-timeout", "soon"),
            ("--collector.stale-intervals", "0"),
            ("--collector.stale-intervals", "4294967295"),
            ("--collector.interval", "500ms"),
            ("--collector.interval", "200y"),
            ("--collector.concurrency", "0"),
            ("--collector.deploy.max-age", "584000000y"),
            ("--tencentcloud.timeout", "0s"),
            ("--tencentcloud.timeout", "1y"),
            ("--collector.bind.poll-timeout", "3650d"),
            ("--demo.certificates", "1000000000"),
            ("--debug.panic-collector", "nosuch"),
            ("--debug.panic-collector", "bind:0"),
        ] {
            let error = Cli::try_parse_from(["x", &format!("{flag}={bad}")])
                .expect_err(&format!("{flag}={bad}"))
                .to_string();
            assert!(error.contains(flag), "{flag}={bad}: {error}");
        }
        let cli = Cli::try_parse_from([
            "x",
            "--web.write-timeout=2s",
            "--debug.panic-collector=bind:2",
        ])
        .expect("valid");
        assert_eq!(cli.write_timeout, Duration::from_secs(2));
        assert_eq!(
            cli.response_timeout,
            Duration::from_secs(120),
            "the default"
        );
        let off = Cli::try_parse_from(["x", "--web.response-timeout=0s"]).expect("valid");
        assert_eq!(off.response_timeout, Duration::ZERO, "0s turns it off");
        let set = Cli::try_parse_from(["x", "--web.response-timeout=30s"]).expect("valid");
        assert_eq!(set.response_timeout, Duration::from_secs(30));
        assert_eq!(cli.panic_collector, Some(("bind".to_string(), 2)));
    }

    #[test]
    fn the_test_hook_is_not_in_the_help() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        assert!(!help.contains("debug.panic-collector"));
        assert!(help.contains("web.write-timeout"));
    }

    #[test]
    fn demo_defaults_to_a_short_interval() {
        let cli = Cli::try_parse_from(["x", "--demo"]).expect("parse");
        assert_eq!(cli.effective_interval(), Duration::from_secs(15));
    }
}
