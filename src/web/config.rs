//! The `--web.config.file` format (exporter-toolkit's) and its validation into [`WebConfig`]: one
//! version of the file, checked whole before it is used. Unknown keys are errors.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;
use serde::Deserialize;
use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;

use super::auth::{check_bcrypt_hash, unknown_user_hash};
use super::error::{error, WebConfigError};
use super::files::Watched;
use super::rate_limit::{self, RateLimit};
use super::tls;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<tls::RawTls>,
    http_server_config: Option<RawHttp>,
    rate_limit: Option<rate_limit::RawRateLimit>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility; this exporter serves HTTP/1.1.
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// One validated version of the web configuration; the default is plain HTTP without
/// authentication.
#[derive(Default)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    pub(super) users: HashMap<String, String>,
    /// What an unknown user is verified against: a dummy of the users' cost.
    pub(super) unknown_user_hash: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) rate_limit: Option<RateLimit>,
    /// The files this version was read from (the configuration file first).
    pub(super) files: Vec<Watched>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

impl WebConfig {
    /// Reads and validates a web configuration file; relative paths are relative to its folder.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let place = path.display().to_string();
        let watched = Watched::now(path);
        let text = std::fs::read_to_string(path).map_err(|e| error(&place, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = WebConfig::parse(&text, base)?;
        config.files.insert(0, watched);
        if !config.users.is_empty() {
            warn_if_readable_by_others(path, "the web configuration file");
        }
        Ok(config)
    }

    /// Parses and validates YAML text; `base` resolves relative file paths.
    pub fn parse(text: &str, base: &Path) -> Result<WebConfig, WebConfigError> {
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            serde_norway::from_str(text).map_err(|e| error("web config", e.to_string()))?
        };
        let mut files = Vec::new();
        let tls = raw
            .tls_server_config
            .map(|t| tls::load(t, base, &mut files))
            .transpose()?
            .map(Arc::new);
        let mut users = HashMap::new();
        for (user, hash) in raw.basic_auth_users {
            if user.is_empty() || user.contains(':') {
                return Err(error(
                    "basic_auth_users",
                    format!("{user:?} is not a valid user name"),
                ));
            }
            check_bcrypt_hash(&user, &hash)?;
            users.insert(user, hash);
        }
        let mut headers = Vec::new();
        if let Some(http) = raw.http_server_config {
            if http.http2 == Some(true) {
                tracing::warn!("http_server_config.http2 is ignored: the exporter serves HTTP/1.1");
            }
            for (name, value) in http.headers {
                let place = format!("http_server_config.headers.{name}");
                if !ALLOWED_HEADERS
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&name))
                {
                    return Err(error(
                        &place,
                        format!("only {ALLOWED_HEADERS:?} may be set"),
                    ));
                }
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|e| error(&place, e.to_string()))?;
                let value = HeaderValue::try_from(value.as_str())
                    .map_err(|e| error(&place, e.to_string()))?;
                headers.push((name, value));
            }
        }
        let rate_limit = raw.rate_limit.map(rate_limit::load).transpose()?.flatten();
        let unknown_user_hash = unknown_user_hash(users.values().map(String::as_str));
        Ok(WebConfig {
            tls,
            users,
            unknown_user_hash,
            headers,
            rate_limit,
            files,
        })
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }

    pub fn basic_auth_enabled(&self) -> bool {
        !self.users.is_empty()
    }

    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.clone().map(tokio_rustls::TlsAcceptor::from)
    }

    pub fn summary(&self) -> String {
        let rate_limit = match self.rate_limit {
            Some(r) => format!(
                "{} per {}",
                r.burst,
                crate::duration::format_duration(r.interval)
            ),
            None => "off".to_string(),
        };
        format!(
            "tls {}, basic auth users {}, headers {}, rate limit {rate_limit}",
            if self.tls_enabled() { "on" } else { "off" },
            self.users.len(),
            self.headers.len()
        )
    }

    /// Adds the configured headers to a response.
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }

    /// The files this version was read from, as they are now.
    pub(super) fn files_now(&self) -> Vec<Watched> {
        self.files.iter().map(|w| Watched::now(&w.path)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_open_plain_http() {
        for text in ["", "  \n"] {
            let config = WebConfig::parse(text, Path::new(".")).expect("valid");
            assert!(!config.tls_enabled() && !config.basic_auth_enabled());
            assert!(config.rate_limit.is_none());
        }
    }

    #[test]
    fn numbers_are_range_checked_with_the_key() {
        for (text, place) in [
            ("rate_limit:\n  interval: 1s\n", "rate_limit.burst"),
            ("rate_limit:\n  interval: 1s\n  burst: 0\n", "rate_limit.burst"),
            ("rate_limit:\n  interval: 1s\n  burst: -3\n", "rate_limit.burst"),
            (
                "rate_limit:\n  interval: 1s\n  burst: 99999999999\n",
                "rate_limit.burst",
            ),
            ("rate_limit:\n  interval: 30d\n  burst: 1\n", "rate_limit.interval"),
            ("rate_limit:\n  interval: soon\n  burst: 1\n", "rate_limit.interval"),
            (
                "basic_auth_users:\n  alice: '$2y$31$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi'\n",
                "basic_auth_users.alice",
            ),
        ] {
            let err = WebConfig::parse(text, Path::new(".")).expect_err(text);
            assert_eq!(err.place, place, "{text}: {err}");
        }
    }

    #[test]
    fn rejects_what_exporter_toolkit_rejects() {
        for (text, place) in [
            (
                "basic_auth_users:\n  alice: plaintext\n",
                "basic_auth_users.alice",
            ),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                "http_server_config.headers.Server",
            ),
            (
                "tls_server_config:\n  key_file: k.pem\n",
                "tls_server_config",
            ),
            ("unknown_key: 1\n", "web config"),
        ] {
            let err = WebConfig::parse(text, Path::new(".")).expect_err(text);
            assert_eq!(err.place, place, "{text}: {err}");
        }
    }

    #[test]
    fn unknown_users_are_checked_at_the_configured_users_cost() {
        let text = "basic_auth_users:\n  alice: '$2y$05$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi'\n  bob: '$2y$05$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi'\n";
        let config = WebConfig::parse(text, Path::new(".")).expect("valid");
        let parts: bcrypt::HashParts = config.unknown_user_hash.parse().expect("a bcrypt hash");
        assert_eq!(parts.get_cost(), 5);
    }

    #[test]
    fn security_headers_are_applied() {
        let config = WebConfig::parse(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
            Path::new("."),
        )
        .expect("valid");
        let mut headers = HeaderMap::new();
        config.apply_headers(&mut headers);
        assert_eq!(headers["x-frame-options"], "deny");
        assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    }
}
