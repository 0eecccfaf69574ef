//! The configuration file as written. Only `serde` lives here; meaning is given in `validate`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{
    duration_at, error, limits, within, Cidr, ConfigError, EndpointsConfig, ResolveOverride,
};
use tencentcloud_ssl_api::client::endpoint_host;
use tencentcloud_ssl_api::credentials::Secret;
use tencentcloud_ssl_api::providers::{
    CredentialsConfig, SecretSource, DEFAULT_METADATA_ENDPOINT, DEFAULT_STS_ENDPOINT,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    #[serde(default)]
    pub collectors: RawCollectors,
    #[serde(default)]
    pub certificates: RawCertificates,
    #[serde(default)]
    pub records: RawRecords,
    #[serde(default)]
    pub detail_series: bool,
    #[serde(default)]
    pub endpoints: RawEndpoints,
}

/// `endpoints:`: how the endpoints collector probes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoints {
    pub timeout: Option<String>,
    pub concurrency: Option<usize>,
    pub max_endpoints: Option<usize>,
    pub max_tracked: Option<usize>,
    #[serde(default)]
    pub resolve: Vec<String>,
    pub resolved_only: Option<bool>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub allow_cidrs: Vec<String>,
    #[serde(default)]
    pub deny_cidrs: Vec<String>,
    #[serde(default)]
    pub nameservers: Vec<String>,
}

impl RawEndpoints {
    /// Validated, with `defaults` (the flags) where the file says nothing; `resolve` entries
    /// are added to the flags' overrides.
    pub fn validate(self, defaults: &EndpointsConfig) -> Result<EndpointsConfig, ConfigError> {
        let timeout = duration_at(
            "endpoints.timeout",
            self.timeout.as_deref(),
            defaults.timeout,
        )?;
        within("endpoints.timeout", timeout, &limits::PROBE_TIMEOUT)?;
        let mut resolve = defaults.resolve.clone();
        for (index, text) in self.resolve.iter().enumerate() {
            resolve.push(
                text.parse::<ResolveOverride>()
                    .map_err(|e| error(format!("endpoints.resolve[{index}]"), e))?,
            );
        }
        let networks = |key: &str, texts: &[String], defaults: &[Cidr]| {
            let mut networks = defaults.to_vec();
            for (index, text) in texts.iter().enumerate() {
                networks.push(
                    text.parse::<Cidr>()
                        .map_err(|e| error(format!("endpoints.{key}[{index}]"), e))?,
                );
            }
            Ok::<_, ConfigError>(networks)
        };
        let allow_cidrs = networks("allow_cidrs", &self.allow_cidrs, &defaults.allow_cidrs)?;
        let deny_cidrs = networks("deny_cidrs", &self.deny_cidrs, &defaults.deny_cidrs)?;
        let mut nameservers = defaults.nameservers.clone();
        for (index, text) in self.nameservers.iter().enumerate() {
            nameservers.push(
                nameserver(text)
                    .map_err(|e| error(format!("endpoints.nameservers[{index}]"), e))?,
            );
        }
        Ok(EndpointsConfig {
            timeout,
            concurrency: within(
                "endpoints.concurrency",
                self.concurrency.unwrap_or(defaults.concurrency),
                &limits::PROBE_CONCURRENCY,
            )?,
            max_endpoints: within(
                "endpoints.max_endpoints",
                self.max_endpoints.unwrap_or(defaults.max_endpoints),
                &limits::MAX_ENDPOINTS,
            )?,
            max_tracked: within(
                "endpoints.max_tracked",
                self.max_tracked.unwrap_or(defaults.max_tracked),
                &limits::MAX_TRACKED,
            )?,
            resolve,
            resolved_only: self.resolved_only.unwrap_or(defaults.resolved_only),
            ca_file: self.ca_file.or_else(|| defaults.ca_file.clone()),
            allow_cidrs,
            deny_cidrs,
            nameservers,
        })
    }
}

/// A nameserver: an IP address (port 53) or a socket address (`IP:PORT`, `[IPv6]:PORT`). Pure.
fn nameserver(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    text.parse::<std::net::SocketAddr>().map_err(|_| {
        format!("{text:?} is not an IP address or IP:PORT, e.g. 10.0.0.2 or 10.0.0.2:53")
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub name: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub credentials: Option<RawCredentials>,
    #[serde(default)]
    pub rate_limits: BTreeMap<String, f64>,
    #[serde(default)]
    pub per_certificate_share: Option<f64>,
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollectors {
    pub certificates: Option<RawCollector>,
    pub bind: Option<RawCollector>,
    pub upload_update: Option<RawCollector>,
    pub update: Option<RawCollector>,
    pub deploy: Option<RawCollector>,
    pub endpoints: Option<RawCollector>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollector {
    pub enabled: Option<bool>,
    pub interval: Option<String>,
    pub poll_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificates {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub tags: Vec<RawTag>,
    pub search_key: Option<String>,
    pub include_expired: Option<bool>,
    #[serde(default)]
    pub tag_labels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecords {
    pub max_age: Option<String>,
}

/// `credentials:` of an account; `source` picks the kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentials {
    #[serde(default)]
    pub source: Option<String>,
    pub secret_id: Option<String>,
    pub secret_id_file: Option<PathBuf>,
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub profile: Option<String>,
    pub file: Option<PathBuf>,
    pub role_name: Option<String>,
    pub metadata_endpoint: Option<String>,
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub duration: Option<String>,
    pub region: Option<String>,
    pub sts_endpoint: Option<String>,
    pub provider_id: Option<String>,
    pub web_identity_token_file: Option<PathBuf>,
    pub base: Option<Box<RawCredentials>>,
}

/// Which fields each source accepts besides `source`.
const FIELDS: &[(&str, &[&str])] = &[
    ("chain", &[]),
    ("environment", &[]),
    (
        "static",
        &[
            "secret_id",
            "secret_id_file",
            "secret_key",
            "secret_key_file",
            "token",
            "token_file",
        ],
    ),
    ("profile", &["profile", "file"]),
    ("cvm_role", &["role_name", "metadata_endpoint"]),
    (
        "assume_role",
        &[
            "role_arn",
            "session_name",
            "duration",
            "region",
            "sts_endpoint",
            "base",
        ],
    ),
    (
        "oidc",
        &[
            "provider_id",
            "web_identity_token_file",
            "role_arn",
            "region",
            "session_name",
            "duration",
            "sts_endpoint",
        ],
    ),
];

fn secret(
    place: &str,
    name: &str,
    value: Option<String>,
    file: Option<PathBuf>,
    required: bool,
) -> Result<Option<SecretSource>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(error(place, format!("set {name} or {name}_file, not both"))),
        (Some(v), None) if v.trim().is_empty() => {
            Err(error(format!("{place}.{name}"), "must not be empty"))
        }
        (Some(v), None) => Ok(Some(SecretSource::Inline(Secret::new(v.trim())))),
        (None, Some(f)) => Ok(Some(SecretSource::File(f))),
        (None, None) if required => Err(error(place, format!("{name} or {name}_file is required"))),
        (None, None) => Ok(None),
    }
}

fn sts_endpoint(place: &str, value: Option<String>) -> Result<String, ConfigError> {
    let endpoint = value.unwrap_or_else(|| DEFAULT_STS_ENDPOINT.to_string());
    endpoint_host(&endpoint).map_err(|e| error(format!("{place}.sts_endpoint"), e.to_string()))?;
    Ok(endpoint)
}

fn session_duration(place: &str, value: Option<&str>) -> Result<Duration, ConfigError> {
    let duration = duration_at(
        &format!("{place}.duration"),
        value,
        Duration::from_secs(3600),
    )?;
    if !(Duration::from_secs(900)..=Duration::from_secs(43_200)).contains(&duration) {
        return Err(error(
            format!("{place}.duration"),
            "must be between 15m and 12h",
        ));
    }
    Ok(duration)
}

impl RawCredentials {
    fn set_fields(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        macro_rules! check {
            ($($field:ident),*) => { $( if self.$field.is_some() { set.push(stringify!($field)); } )* };
        }
        check!(
            secret_id,
            secret_id_file,
            secret_key,
            secret_key_file,
            token,
            token_file,
            profile,
            file,
            role_name,
            metadata_endpoint,
            role_arn,
            session_name,
            duration,
            region,
            sts_endpoint,
            provider_id,
            web_identity_token_file,
            base
        );
        set
    }

    pub fn validate(self, place: &str) -> Result<CredentialsConfig, ConfigError> {
        let source = self.source.clone().unwrap_or_else(|| {
            if self.secret_key.is_some() || self.secret_key_file.is_some() {
                "static".to_string()
            } else {
                "chain".to_string()
            }
        });
        let allowed = FIELDS
            .iter()
            .find(|(name, _)| *name == source)
            .map(|(_, fields)| *fields)
            .ok_or_else(|| {
                let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                error(
                    format!("{place}.source"),
                    format!("unknown source {source:?}; one of {known:?}"),
                )
            })?;
        if let Some(field) = self.set_fields().into_iter().find(|f| !allowed.contains(f)) {
            return Err(error(
                format!("{place}.{field}"),
                format!("does not apply to source {source:?}"),
            ));
        }
        let session_name = self
            .session_name
            .unwrap_or_else(|| "tencentcloud-ssl-exporter".to_string());
        Ok(match source.as_str() {
            "chain" => CredentialsConfig::Chain,
            "environment" => CredentialsConfig::Environment,
            "static" => CredentialsConfig::Static {
                secret_id: secret(
                    place,
                    "secret_id",
                    self.secret_id,
                    self.secret_id_file,
                    true,
                )?
                .ok_or_else(|| error(place, "secret_id is required"))?,
                secret_key: secret(
                    place,
                    "secret_key",
                    self.secret_key,
                    self.secret_key_file,
                    true,
                )?
                .ok_or_else(|| error(place, "secret_key is required"))?,
                token: secret(place, "token", self.token, self.token_file, false)?,
            },
            "profile" => CredentialsConfig::Profile {
                profile: self.profile.unwrap_or_else(|| "default".to_string()),
                file: self.file,
            },
            "cvm_role" => {
                let metadata_endpoint = self
                    .metadata_endpoint
                    .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_string());
                endpoint_host(&metadata_endpoint)
                    .map_err(|e| error(format!("{place}.metadata_endpoint"), e.to_string()))?;
                CredentialsConfig::CvmRole {
                    role_name: self.role_name,
                    metadata_endpoint,
                }
            }
            "assume_role" => {
                let role_arn = self
                    .role_arn
                    .filter(|r| r.starts_with("qcs::cam::"))
                    .ok_or_else(|| {
                        error(
                            format!("{place}.role_arn"),
                            "required, e.g. qcs::cam::uin/100000000001:roleName/ssl-exporter",
                        )
                    })?;
                let base = match self.base {
                    Some(base) => base.validate(&format!("{place}.base"))?,
                    None => CredentialsConfig::Chain,
                };
                if matches!(base, CredentialsConfig::AssumeRole { .. }) {
                    return Err(error(
                        format!("{place}.base"),
                        "cannot itself be assume_role",
                    ));
                }
                CredentialsConfig::AssumeRole {
                    role_arn,
                    duration: session_duration(place, self.duration.as_deref())?,
                    session_name,
                    region: self.region.unwrap_or_else(|| "ap-guangzhou".to_string()),
                    sts_endpoint: sts_endpoint(place, self.sts_endpoint)?,
                    base: Box::new(base),
                }
            }
            _ => CredentialsConfig::Oidc {
                provider_id: self.provider_id,
                token_file: self.web_identity_token_file,
                role_arn: self.role_arn,
                region: self.region,
                duration: session_duration(place, self.duration.as_deref())?,
                session_name,
                sts_endpoint: sts_endpoint(place, self.sts_endpoint)?,
            },
        })
    }
}
