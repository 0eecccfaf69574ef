//! The configuration file (`--config.file`): YAML parsed into `raw` types, then validated into
//! [`Config`], so the rest of the program only ever sees checked values. Every error names the
//! place it is about (`accounts[2].credentials: …`). Unknown keys are errors.
//!
//! Without a file, flags and environment variables describe a single account
//! ([`Config::from_defaults`]). The flags reach this module as a plain [`Defaults`] struct, so
//! the configuration layer does not depend on the command-line parser.

mod cidr;
mod raw;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::{format_duration, parse_duration};
pub use cidr::Cidr;
use tencentcloud_ssl_api::client::{endpoint_host, DEFAULT_ENDPOINT};
pub use tencentcloud_ssl_api::providers::{CredentialsConfig, SecretSource};

/// A configuration error and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ConfigError {
    pub place: String,
    pub message: String,
}

fn error(place: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        place: place.into(),
        message: message.into(),
    }
}

/// What applies where the configuration file says nothing (the flags' values), and the whole
/// single-account configuration without a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// The `account` label of the single account.
    pub account: String,
    /// SSL API endpoint of the single account.
    pub endpoint: String,
    /// Timeout of one API request attempt.
    pub timeout: Duration,
    /// Per-action calls per second replacing the documented limits.
    pub rate_limits: HashMap<String, f64>,
    /// The share of its documented limit a per-certificate action is paced at by default.
    pub per_certificate_share: f64,
    /// Refresh interval of every collector but `deploy`.
    pub interval: Duration,
    /// Refresh interval of the `deploy` collector (one call per certificate per run).
    pub deploy_interval: Duration,
    /// How long one bind run waits for tasks still querying.
    pub bind_poll_timeout: Duration,
    /// Rollout records older than this are not exported.
    pub records_max_age: Duration,
    /// Certificate tag keys exported as labels (`--certificates.tag-label`), unless the file
    /// names its own.
    pub tag_labels: Vec<String>,
    /// Whether the `endpoints` collector runs unless the file says otherwise.
    pub endpoints_enabled: bool,
    /// Refresh interval of the `endpoints` collector.
    pub endpoints_interval: Duration,
    /// The `endpoints` collector's settings from the flags.
    pub endpoints: EndpointsConfig,
}

/// The opt-in `endpoints` collector: what it probes and how hard.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointsConfig {
    /// One probe in all: resolve, connect and TLS handshake.
    pub timeout: Duration,
    /// Probes in flight at once.
    pub concurrency: usize,
    /// Most endpoints probed per account and run; the rest are counted as `over_limit`.
    pub max_endpoints: usize,
    /// Most claims (an endpoint named for a certificate) tracked per account, about a fixed
    /// sample of endpoints; claims about the others are counted, not held.
    pub max_tracked: usize,
    /// `DOMAIN:PORT:ADDR` overrides, like curl's `--resolve`.
    pub resolve: Vec<ResolveOverride>,
    /// Probe only the endpoints an override names.
    pub resolved_only: bool,
    /// Extra trust roots (PEM) for chain validity, besides the built-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Resolved addresses in these networks are dialled even when they are loopback,
    /// link-local, unspecified or multicast (`endpoints.allow_cidrs`).
    pub allow_cidrs: Vec<Cidr>,
    /// Resolved addresses in these networks are never dialled (`endpoints.deny_cidrs`); it wins
    /// over `allow_cidrs`. Resolve overrides are dialled whatever the lists say.
    pub deny_cidrs: Vec<Cidr>,
    /// Nameservers the probes resolve names with, instead of those of `/etc/resolv.conf`
    /// (`endpoints.nameservers`; UDP, and TCP for truncated answers).
    pub nameservers: Vec<SocketAddr>,
}

impl Default for EndpointsConfig {
    fn default() -> Self {
        EndpointsConfig {
            timeout: Duration::from_secs(5),
            concurrency: 32,
            max_endpoints: 2000,
            max_tracked: 20_000,
            resolve: Vec::new(),
            resolved_only: false,
            ca_file: None,
            allow_cidrs: Vec::new(),
            deny_cidrs: Vec::new(),
            nameservers: Vec::new(),
        }
    }
}

/// One `DOMAIN:PORT:ADDR` override: connections to DOMAIN:PORT go to ADDR (an IP address, then
/// on PORT, or a socket address `IP:PORT` / `[IPv6]:PORT`), with SNI still DOMAIN. DOMAIN `*`
/// covers every domain on PORT that no override names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOverride {
    /// Lower case, without a trailing dot; `*` for every domain.
    pub domain: String,
    pub port: u16,
    pub addr: std::net::SocketAddr,
}

impl std::str::FromStr for ResolveOverride {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use std::net::{IpAddr, SocketAddr};
        let usage = || format!("{text:?} is not DOMAIN:PORT:ADDR (ADDR an IP address or IP:PORT)");
        let mut parts = text.trim().splitn(3, ':');
        let (Some(domain), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        let domain = tencentcloud_ssl_api::normalize_domain(domain).ok_or_else(usage)?;
        let port: u16 = port
            .trim()
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(usage)?;
        let addr = addr.trim();
        let addr = match addr.parse::<SocketAddr>() {
            Ok(socket) => socket,
            Err(_) => {
                let ip = addr.trim_start_matches('[').trim_end_matches(']');
                SocketAddr::new(ip.parse::<IpAddr>().map_err(|_| usage())?, port)
            }
        };
        Ok(ResolveOverride { domain, port, addr })
    }
}

/// One account to collect.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    /// The `account` label.
    pub name: String,
    pub endpoint: String,
    pub timeout: Duration,
    pub credentials: CredentialsConfig,
    /// Per-action calls per second replacing the documented limits (and the share).
    pub rate_limits: HashMap<String, f64>,
    /// The share of its documented limit a per-certificate action is paced at, unless
    /// `rate_limits` names it.
    pub per_certificate_share: f64,
    pub language: Option<String>,
}

/// Schedule of one collector; `None` when disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorsConfig {
    pub certificates: Option<Duration>,
    pub bind: Option<Duration>,
    pub upload_update: Option<Duration>,
    pub update: Option<Duration>,
    /// Deploy records (listed per certificate, so on an interval of its own).
    pub deploy: Option<Duration>,
    /// Endpoint probes (opt-in).
    pub endpoints: Option<Duration>,
    pub bind_poll_timeout: Duration,
}

/// Which certificates are collected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateFilter {
    pub ids: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub search_key: Option<String>,
    pub include_expired: bool,
}

/// A certificate tag key exported as a label of `tencentcloud_ssl_certificate_tags_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLabel {
    /// The tag key as the API writes it (`TagKey`), matched exactly.
    pub key: String,
    /// The label it becomes ([`tag_label_name`]).
    pub label: String,
}

/// The label a tag key becomes: `tag_` and the key with every character outside
/// `[a-zA-Z0-9_]` replaced by `_` (so `team`, `cost-center` and `团队` give `tag_team`,
/// `tag_cost_center` and `tag___`). Pure.
pub fn tag_label_name(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("tag_{sanitized}")
}

/// The tag keys of `certificates.tag_labels` as labels: each non-empty, and no two the same
/// label (`team-a` and `team_a` both give `tag_team_a`: refused, naming both).
fn tag_labels(keys: Vec<String>) -> Result<Vec<TagLabel>, ConfigError> {
    let mut labels: Vec<TagLabel> = Vec::with_capacity(keys.len());
    for (index, key) in keys.into_iter().enumerate() {
        let place = format!("certificates.tag_labels[{index}]");
        if key.trim().is_empty() {
            return Err(error(place, "must not be empty"));
        }
        let label = tag_label_name(&key);
        if let Some(taken) = labels.iter().find(|l| l.label == label) {
            return Err(error(
                place,
                format!(
                    "tag key {key:?} gives the label {label}, as tag key {:?} does: label names allow only [a-zA-Z0-9_]; keep one of them",
                    taken.key
                ),
            ));
        }
        labels.push(TagLabel { key, label });
    }
    Ok(labels)
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub accounts: Vec<AccountConfig>,
    pub collectors: CollectorsConfig,
    pub certificates: CertificateFilter,
    /// Tag keys exported as labels of `tencentcloud_ssl_certificate_tags_info`
    /// (`certificates.tag_labels`).
    pub tag_labels: Vec<TagLabel>,
    /// Rollout records older than this are not exported.
    pub records_max_age: Duration,
    /// Opt-in per-instance series (cardinality grows with every bound instance).
    pub detail_series: bool,
    /// How the `endpoints` collector probes (its interval is in `collectors`).
    pub endpoints: EndpointsConfig,
    /// Where the file was read from, for messages.
    pub source: Option<PathBuf>,
}

/// Interval of the `endpoints` collector when it is turned on without one.
pub const DEFAULT_ENDPOINTS_INTERVAL: Duration = Duration::from_secs(600);

/// Account names become label values and shard keys: keep them simple.
fn valid_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Bounds of the numbers flags and the file give (the same bounds for the same setting), so
/// every value is checked with an error naming its key and no later arithmetic can overflow.
pub mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// `--web.max-connections`.
    pub const MAX_CONNECTIONS: RangeInclusive<usize> = 1..=1_000_000;
    /// `--web.write-timeout`.
    pub const WRITE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(3600);
    /// `--web.response-timeout` when not zero (zero turns it off).
    pub const RESPONSE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(86_400);
    /// `--tencentcloud.timeout` and `accounts[].timeout`.
    pub const TIMEOUT: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(600);
    /// `--collector.interval` and `collectors.*.interval`.
    pub const INTERVAL: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(365 * 86_400);
    /// `--collector.bind.poll-timeout` and `collectors.bind.poll_timeout`.
    pub const POLL_TIMEOUT: RangeInclusive<Duration> = Duration::ZERO..=Duration::from_secs(86_400);
    /// `--collector.deploy.max-age` and `records.max_age`.
    pub const MAX_AGE: RangeInclusive<Duration> =
        Duration::from_secs(60)..=Duration::from_secs(10 * 365 * 86_400);
    /// `--collector.concurrency`.
    pub const CONCURRENCY: RangeInclusive<usize> = 1..=1024;
    /// `--collector.stale-intervals`.
    pub const STALE_INTERVALS: RangeInclusive<u32> = 1..=1000;
    /// `--tencentcloud.rate-limit` and `accounts[].rate_limits` (calls per second).
    pub const RATE: RangeInclusive<f64> = 0.001..=10_000.0;
    /// `--tencentcloud.per-certificate-share` and `accounts[].per_certificate_share`.
    pub const PER_CERTIFICATE_SHARE: RangeInclusive<f64> = 0.01..=1.0;
    /// `--collector.endpoints.timeout` and `endpoints.timeout`.
    pub const PROBE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(300);
    /// `--collector.endpoints.concurrency` and `endpoints.concurrency`.
    pub const PROBE_CONCURRENCY: RangeInclusive<usize> = 1..=4096;
    /// `--collector.endpoints.max` and `endpoints.max_endpoints`.
    pub const MAX_ENDPOINTS: RangeInclusive<usize> = 1..=1_000_000;
    /// `--collector.endpoints.max-tracked` and `endpoints.max_tracked`.
    pub const MAX_TRACKED: RangeInclusive<usize> = 1..=10_000_000;
    /// `--demo.certificates`.
    pub const DEMO_CERTIFICATES: RangeInclusive<usize> = 0..=100_000;
}

/// A setting with bounds: how its values are written in messages.
pub(crate) trait Bounded: PartialOrd + Copy {
    fn show(self) -> String;
}

impl Bounded for Duration {
    fn show(self) -> String {
        format_duration(self)
    }
}

impl Bounded for usize {
    fn show(self) -> String {
        self.to_string()
    }
}

/// `value` when it lies in `range`, else an error at `place` that gives the range.
pub(crate) fn within<T: Bounded>(
    place: &str,
    value: T,
    range: &RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(error(
            place,
            format!(
                "{} is out of range: must be between {} and {}",
                value.show(),
                range.start().show(),
                range.end().show()
            ),
        ))
    }
}

fn duration_at(
    place: &str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(text) => parse_duration(text).map_err(|e| error(place, e.to_string())),
    }
}

impl Config {
    /// The single account that flags and environment variables describe; an error when two
    /// tag keys give the same label.
    pub fn from_defaults(defaults: &Defaults) -> Result<Config, ConfigError> {
        let interval = defaults.interval;
        let tag_labels = tag_labels(defaults.tag_labels.clone())
            .map_err(|e| error("--certificates.tag-label", e.message))?;
        Ok(Config {
            accounts: vec![AccountConfig {
                name: defaults.account.clone(),
                endpoint: defaults.endpoint.clone(),
                timeout: defaults.timeout,
                credentials: CredentialsConfig::Chain,
                rate_limits: defaults.rate_limits.clone(),
                per_certificate_share: defaults.per_certificate_share,
                language: None,
            }],
            collectors: CollectorsConfig {
                certificates: Some(interval),
                bind: Some(interval),
                upload_update: Some(interval),
                update: Some(interval),
                deploy: Some(defaults.deploy_interval),
                endpoints: defaults
                    .endpoints_enabled
                    .then_some(defaults.endpoints_interval),
                bind_poll_timeout: defaults.bind_poll_timeout,
            },
            certificates: CertificateFilter {
                include_expired: true,
                ..CertificateFilter::default()
            },
            tag_labels,
            records_max_age: defaults.records_max_age,
            detail_series: false,
            endpoints: defaults.endpoints.clone(),
            source: None,
        })
    }

    /// Reads and validates a file; `defaults` supplies what the file leaves out.
    pub fn load(path: &Path, defaults: &Defaults) -> Result<Config, ConfigError> {
        let place = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| error(&place, e.to_string()))?;
        let mut config = Config::parse(&text, defaults)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates YAML text. Pure but for `defaults`.
    pub fn parse(text: &str, defaults: &Defaults) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = serde_norway::from_str(text).map_err(|e| {
            let message = e.to_string();
            // serde_norway's messages start with the path ("accounts[0].name: …") when it has one.
            match message.split_once(": ") {
                Some((place, rest)) if !place.contains(' ') => error(place, rest),
                _ => error("config", message),
            }
        })?;
        Config::validate(raw, defaults)
    }

    /// Validates a parsed file, section by section.
    fn validate(raw: raw::RawConfig, defaults: &Defaults) -> Result<Config, ConfigError> {
        if raw.accounts.is_empty() {
            return Err(error("accounts", "at least one account is required"));
        }
        let mut names = BTreeSet::new();
        let mut accounts = Vec::with_capacity(raw.accounts.len());
        for (index, account) in raw.accounts.into_iter().enumerate() {
            let account = validate_account(index, account, defaults)?;
            if !names.insert(account.name.clone()) {
                return Err(error(
                    format!("accounts[{index}].name"),
                    format!("{:?} is used twice", account.name),
                ));
            }
            accounts.push(account);
        }
        let collectors = validate_collectors(raw.collectors, defaults)?;
        let endpoints = raw.endpoints.validate(&defaults.endpoints)?;
        let mut raw_certificates = raw.certificates;
        let keys = match std::mem::take(&mut raw_certificates.tag_labels) {
            keys if keys.is_empty() => defaults.tag_labels.clone(),
            keys => keys,
        };
        let tag_labels = tag_labels(keys)?;
        let certificates = validate_certificates(raw_certificates)?;
        let records_max_age = duration_at(
            "records.max_age",
            raw.records.max_age.as_deref(),
            defaults.records_max_age,
        )?;
        within("records.max_age", records_max_age, &limits::MAX_AGE)?;
        Ok(Config {
            accounts,
            collectors,
            certificates,
            tag_labels,
            records_max_age,
            detail_series: raw.detail_series,
            endpoints,
            source: None,
        })
    }

    /// Files holding secrets that the configuration reads.
    pub fn secret_files(&self) -> Vec<&Path> {
        fn walk<'a>(c: &'a CredentialsConfig, out: &mut Vec<&'a Path>) {
            match c {
                CredentialsConfig::Static {
                    secret_id,
                    secret_key,
                    token,
                } => {
                    for s in [Some(secret_id), Some(secret_key), token.as_ref()]
                        .into_iter()
                        .flatten()
                    {
                        if let SecretSource::File(p) = s {
                            out.push(p);
                        }
                    }
                }
                CredentialsConfig::Profile { file: Some(p), .. } => out.push(p),
                CredentialsConfig::AssumeRole { base, .. } => walk(base, out),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for account in &self.accounts {
            walk(&account.credentials, &mut out);
        }
        out
    }

    /// Whether the file itself holds an inline secret.
    pub fn has_inline_secret(&self) -> bool {
        fn inline(c: &CredentialsConfig) -> bool {
            match c {
                CredentialsConfig::Static {
                    secret_key, token, ..
                } => {
                    matches!(secret_key, SecretSource::Inline(_))
                        || matches!(token, Some(SecretSource::Inline(_)))
                }
                CredentialsConfig::AssumeRole { base, .. } => inline(base),
                _ => false,
            }
        }
        self.accounts.iter().any(|a| inline(&a.credentials))
    }

    /// A one-line summary for logs and `--config.check` (no secrets).
    pub fn summary(&self) -> String {
        let enabled: Vec<&str> = [
            ("certificates", self.collectors.certificates),
            ("bind", self.collectors.bind),
            ("upload_update", self.collectors.upload_update),
            ("update", self.collectors.update),
            ("deploy", self.collectors.deploy),
            ("endpoints", self.collectors.endpoints),
        ]
        .iter()
        .filter(|(_, e)| e.is_some())
        .map(|(n, _)| *n)
        .collect();
        let accounts: BTreeMap<&str, &str> = self
            .accounts
            .iter()
            .map(|a| (a.name.as_str(), a.credentials.kind()))
            .collect();
        format!(
            "{} account(s) {accounts:?}; collectors {enabled:?}",
            self.accounts.len()
        )
    }
}

/// One account of the file, validated; `index` places its errors (`accounts[1].timeout`).
fn validate_account(
    index: usize,
    account: raw::RawAccount,
    defaults: &Defaults,
) -> Result<AccountConfig, ConfigError> {
    let place = format!("accounts[{index}]");
    if !valid_account_name(&account.name) {
        return Err(error(
            format!("{place}.name"),
            format!(
                "{:?} must be 1-64 characters of letters, digits, '-', '_' or '.'",
                account.name
            ),
        ));
    }
    let endpoint = account
        .endpoint
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    endpoint_host(&endpoint).map_err(|e| error(format!("{place}.endpoint"), e.to_string()))?;
    let timeout = duration_at(
        &format!("{place}.timeout"),
        account.timeout.as_deref(),
        defaults.timeout,
    )?;
    within(&format!("{place}.timeout"), timeout, &limits::TIMEOUT)?;
    for (action, rate) in &account.rate_limits {
        if !action.chars().all(|c| c.is_ascii_alphanumeric()) || action.is_empty() {
            return Err(error(
                format!("{place}.rate_limits"),
                format!("{action:?} is not an action name"),
            ));
        }
        if !limits::RATE.contains(rate) {
            return Err(error(
                format!("{place}.rate_limits.{action}"),
                format!(
                    "must be between {} and {} calls per second",
                    limits::RATE.start(),
                    limits::RATE.end()
                ),
            ));
        }
    }
    let per_certificate_share = account
        .per_certificate_share
        .unwrap_or(defaults.per_certificate_share);
    if !limits::PER_CERTIFICATE_SHARE.contains(&per_certificate_share) {
        return Err(error(
            format!("{place}.per_certificate_share"),
            format!(
                "{per_certificate_share} is out of range: must be between {} and {}",
                limits::PER_CERTIFICATE_SHARE.start(),
                limits::PER_CERTIFICATE_SHARE.end()
            ),
        ));
    }
    if let Some(language) = &account.language {
        if !matches!(language.as_str(), "zh-CN" | "en-US") {
            return Err(error(format!("{place}.language"), "must be zh-CN or en-US"));
        }
    }
    let credentials = match account.credentials {
        None => CredentialsConfig::Chain,
        Some(raw) => raw.validate(&format!("{place}.credentials"))?,
    };
    Ok(AccountConfig {
        name: account.name,
        endpoint,
        timeout,
        credentials,
        rate_limits: account.rate_limits.into_iter().collect(),
        per_certificate_share,
        language: account.language,
    })
}

/// The `collectors` section, validated: each collector's interval (or off), the bind poll
/// timeout, and whether the set makes sense (something on; endpoints with a source).
fn validate_collectors(
    raw: raw::RawCollectors,
    defaults: &Defaults,
) -> Result<CollectorsConfig, ConfigError> {
    let collector =
        |name: &str, raw: Option<raw::RawCollector>| -> Result<Option<Duration>, ConfigError> {
            let raw = raw.unwrap_or_default();
            // Endpoint probes are opt-in: off unless the flag or the file turns them on.
            let default_on = name != "endpoints" || defaults.endpoints_enabled;
            if !raw.enabled.unwrap_or(default_on) {
                return Ok(None);
            }
            let default = match name {
                "deploy" => defaults.deploy_interval,
                "endpoints" => defaults.endpoints_interval,
                _ => defaults.interval,
            };
            let every = duration_at(
                &format!("collectors.{name}.interval"),
                raw.interval.as_deref(),
                default,
            )?;
            within(
                &format!("collectors.{name}.interval"),
                every,
                &limits::INTERVAL,
            )?;
            Ok(Some(every))
        };
    let bind_poll_timeout = duration_at(
        "collectors.bind.poll_timeout",
        raw.bind.as_ref().and_then(|b| b.poll_timeout.as_deref()),
        defaults.bind_poll_timeout,
    )?;
    within(
        "collectors.bind.poll_timeout",
        bind_poll_timeout,
        &limits::POLL_TIMEOUT,
    )?;
    for (name, c) in [
        ("certificates", &raw.certificates),
        ("upload_update", &raw.upload_update),
        ("update", &raw.update),
        ("deploy", &raw.deploy),
        ("endpoints", &raw.endpoints),
    ] {
        if c.as_ref().is_some_and(|c| c.poll_timeout.is_some()) {
            return Err(error(
                format!("collectors.{name}.poll_timeout"),
                "only the bind collector polls tasks",
            ));
        }
    }
    let collectors = CollectorsConfig {
        certificates: collector("certificates", raw.certificates)?,
        bind: collector("bind", raw.bind)?,
        upload_update: collector("upload_update", raw.upload_update)?,
        update: collector("update", raw.update)?,
        deploy: collector("deploy", raw.deploy)?,
        endpoints: collector("endpoints", raw.endpoints)?,
        bind_poll_timeout,
    };
    // The collectors that name endpoints (for the endpoints collector).
    let no_endpoint_source = [
        collectors.bind,
        collectors.upload_update,
        collectors.update,
        collectors.deploy,
    ]
    .iter()
    .all(Option::is_none);
    if no_endpoint_source && collectors.certificates.is_none() && collectors.endpoints.is_none() {
        return Err(error("collectors", "every collector is disabled"));
    }
    if no_endpoint_source && collectors.endpoints.is_some() {
        return Err(error(
            "collectors.endpoints",
            "needs the bind collector or a rollout collector: they name the endpoints",
        ));
    }
    Ok(collectors)
}

/// The `certificates` section, validated into the filter of the certificate list.
fn validate_certificates(raw: raw::RawCertificates) -> Result<CertificateFilter, ConfigError> {
    let mut tags = Vec::new();
    for (index, tag) in raw.tags.into_iter().enumerate() {
        if tag.key.trim().is_empty() {
            return Err(error(
                format!("certificates.tags[{index}].key"),
                "must not be empty",
            ));
        }
        tags.push((tag.key, tag.value));
    }
    Ok(CertificateFilter {
        ids: raw.ids,
        tags,
        search_key: raw.search_key.filter(|k| !k.is_empty()),
        include_expired: raw.include_expired.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests;
