//! The `--web.config.file` format (exporter-toolkit's) and its validation into [`WebConfig`]: one
//! version of the file, checked whole before it is used. Unknown keys are errors.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;
use serde::Deserialize;
use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;

use super::auth::{check_bcrypt_hash, normalise_bcrypt_hash, unknown_user_hash};
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
    #[serde(default, deserialize_with = "unique_keys")]
    basic_auth_users: BTreeMap<String, String>,
}

/// A YAML mapping into a map, refusing a key given twice (as exporter-toolkit's strict YAML
/// does: `key "x" already set in map`) instead of keeping one of them.
fn unique_keys<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a mapping of strings")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, String>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!(
                        "key {key:?} already set in map"
                    )));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Visitor)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility; this exporter serves HTTP/1.1.
    http2: Option<bool>,
    #[serde(default, deserialize_with = "unique_keys")]
    headers: BTreeMap<String, String>,
}

/// Headers exporter-toolkit lets a web config set (names exactly as written here), and the
/// values allowed where it restricts them.
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
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
        let http2 = raw
            .http_server_config
            .as_ref()
            .and_then(|h| h.http2)
            .unwrap_or(true);
        let mut headers = Vec::new();
        if let Some(http) = raw.http_server_config {
            if http.http2 == Some(true) {
                tracing::warn!("http_server_config.http2 is ignored: the exporter serves HTTP/1.1");
            }
            for (name, value) in http.headers {
                let place = format!("http_server_config.headers.{name}");
                let Some((_, values)) = ALLOWED_HEADERS.iter().find(|(h, _)| *h == name) else {
                    return Err(error(
                        &place,
                        format!("HTTP header {name:?} can not be configured"),
                    ));
                };
                if !values.is_empty() && !values.contains(&value.as_str()) {
                    let expected: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
                    return Err(error(
                        &place,
                        format!(
                            "invalid value for {name}. Expected one of: [{}], but got: {value:?}",
                            expected.join(" ")
                        ),
                    ));
                }
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|e| error(&place, e.to_string()))?;
                let value = HeaderValue::try_from(value.as_str())
                    .map_err(|e| error(&place, e.to_string()))?;
                headers.push((name, value));
            }
        }
        let mut users = HashMap::new();
        for (user, hash) in raw.basic_auth_users {
            if user.is_empty() || user.contains(':') {
                return Err(error(
                    "basic_auth_users",
                    format!("{user:?} is not a valid user name"),
                ));
            }
            check_bcrypt_hash(&user, &hash)?;
            users.insert(user, normalise_bcrypt_hash(&hash));
        }
        // exporter-toolkit's order: headers, then the bcrypt hashes, then TLS.
        let mut files = Vec::new();
        let tls = match raw.tls_server_config {
            Some(t) => tls::load(t, base, http2, &mut files)?.map(Arc::new),
            None => None,
        };
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
#[path = "toolkit_testdata.rs"]
mod toolkit_testdata;

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
            ("rate_limit:\n  interval: 1s\n  burst: -3\n", "rate_limit.burst"),
            ("rate_limit:\n  interval: -1s\n  burst: 1\n", "rate_limit.interval"),
            ("rate_limit:\n  interval: -5\n  burst: 1\n", "rate_limit.interval"),
            // Go durations have no days.
            ("rate_limit:\n  interval: 30d\n  burst: 1\n", "rate_limit.interval"),
            ("rate_limit:\n  interval: soon\n  burst: 1\n", "rate_limit.interval"),
            (
                "basic_auth_users:\n  alice: '$2y$32$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi'\n",
                "basic_auth_users.alice",
            ),
            (
                "basic_auth_users:\n  alice: '$2y$03$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi'\n",
                "basic_auth_users.alice",
            ),
        ] {
            let err = WebConfig::parse(text, Path::new(".")).expect_err(text);
            assert_eq!(err.place, place, "{text}: {err}");
        }
    }

    #[test]
    fn rate_limit_intervals_are_go_durations_or_nanoseconds() {
        use std::time::Duration;
        for (text, interval, burst) in [
            ("interval: 1m30s\n  burst: 2", Duration::from_secs(90), 2),
            ("interval: 1.5s\n  burst: 1", Duration::from_millis(1500), 1),
            ("interval: 250ms\n  burst: 1", Duration::from_millis(250), 1),
            ("interval: 10us\n  burst: 1", Duration::from_micros(10), 1),
            (
                "interval: 1000000000\n  burst: 1",
                Duration::from_secs(1),
                1,
            ),
            // No upper bound (Go's Duration holds 292 years).
            (
                "interval: 8760h\n  burst: 1",
                Duration::from_secs(8760 * 3600),
                1,
            ),
            // An interval without burst: every request is refused, as Go's limiter does.
            ("interval: 1s", Duration::from_secs(1), 0),
        ] {
            let config =
                WebConfig::parse(&format!("rate_limit:\n  {text}\n"), Path::new(".")).expect(text);
            let limit = config.rate_limit.expect(text);
            assert_eq!((limit.interval, limit.burst), (interval, burst), "{text}");
        }
        for off in ["interval: 0", "interval: 0s", "burst: 5", "interval: '-0'"] {
            let config =
                WebConfig::parse(&format!("rate_limit:\n  {off}\n"), Path::new(".")).expect(off);
            assert!(config.rate_limit.is_none(), "{off}");
        }
    }

    #[test]
    fn bcrypt_hashes_of_every_go_prefix_and_cost_are_accepted() {
        let tail = "$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
        for prefix in ["$2a$", "$2b$", "$2x$", "$2y$", "$2$"] {
            for cost in ["04", "10", "18", "31"] {
                let hash = format!("{prefix}{cost}{tail}");
                let text = format!("basic_auth_users:\n  alice: '{hash}'\n");
                let config = WebConfig::parse(&text, Path::new(".")).expect(&hash);
                // Nothing is hashed at load: the unknown-user hash of cost 31 is made, not computed.
                let parts: bcrypt::HashParts =
                    config.unknown_user_hash.parse().expect("a bcrypt hash");
                assert_eq!(parts.get_cost(), cost.parse::<u32>().expect("cost"));
            }
        }
        // `$2$` verifies as the bcrypt crate's `$2a$` (Go computes the same for every prefix).
        let hash = bcrypt::hash_with_result("pw", 4)
            .expect("hash")
            .format_for_version(bcrypt::Version::TwoA);
        let go_2 = format!("$2${}", &hash[4..]);
        let config = WebConfig::parse(
            &format!("basic_auth_users:\n  u: '{go_2}'\n"),
            Path::new("."),
        )
        .expect("valid");
        assert!(bcrypt::verify("pw", &config.users["u"]).expect("valid hash"));
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
        for text in [
            format!("basic_auth_users:\n  alice: '{hash}'\n  alice: '{hash}'\n"),
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Frame-Options: deny\n".to_string(),
            "rate_limit:\n  burst: 1\n  burst: 2\n".to_string(),
        ] {
            let err = WebConfig::parse(&text, Path::new(".")).expect_err(&text);
            assert!(err.message.contains("already set") || err.message.contains("duplicate"), "{text}: {err}");
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
            ("auth_excluded_paths: [/health]\n", "web config"),
            ("bearer_auth_tokens: [secret]\n", "web config"),
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
