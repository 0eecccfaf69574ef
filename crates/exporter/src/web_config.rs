//! `--web.config.file` in the Prometheus exporter-toolkit format: TLS (`tls_server_config`),
//! bcrypt basic auth (`basic_auth_users`) and response headers (`http_server_config.headers`).
//!
//! A wrong user, wrong password or missing header all get the same 401, on every path (health
//! endpoints included). bcrypt is slow on purpose, so a verified (user, password) pair is cached
//! by its SHA-256; unknown users still pay for one bcrypt verification, so timing does not tell
//! which part was wrong.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    /// Accepted for compatibility; rustls chooses among its own safe suites and curves.
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
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

/// Bound of the verified-credentials cache.
const AUTH_CACHE_ENTRIES: usize = 1024;
/// Verified against when the user is unknown, so every failure costs the same.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// The validated web configuration; the default is plain HTTP without authentication.
#[derive(Default)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    users: HashMap<String, String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// A web configuration error and where it is (`tls_server_config.cert_file: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct WebConfigError {
    /// The key the error is about.
    pub place: String,
    /// What is wrong with it.
    pub message: String,
}

fn error(place: &str, message: impl Into<String>) -> WebConfigError {
    WebConfigError {
        place: place.to_string(),
        message: message.into(),
    }
}

fn load_tls(raw: RawTls, base: &Path) -> Result<rustls::ServerConfig, WebConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let place = "tls_server_config";
    let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
    let cert_file = raw
        .cert_file
        .map(resolve)
        .ok_or_else(|| error(place, "cert_file is required"))?;
    let key_file = raw
        .key_file
        .map(resolve)
        .ok_or_else(|| error(place, "key_file is required"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|iter| iter.collect())
        .map_err(|e| {
            error(
                &format!("{place}.cert_file"),
                format!("{}: {e}", cert_file.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(error(
            &format!("{place}.cert_file"),
            format!("{}: no certificate", cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        error(
            &format!("{place}.key_file"),
            format!("{}: {e}", key_file.display()),
        )
    })?;
    warn_if_readable_by_others(&key_file, "the TLS key file");
    let version = |field: &str,
                   value: &Option<String>,
                   default: &'static rustls::SupportedProtocolVersion| {
        match value.as_deref() {
            None => Ok(default),
            Some("TLS12") => Ok(&rustls::version::TLS12),
            Some("TLS13") => Ok(&rustls::version::TLS13),
            Some(other) => Err(error(
                &format!("{place}.{field}"),
                format!("{other:?} is not supported (TLS12 or TLS13)"),
            )),
        }
    };
    let min = version("min_version", &raw.min_version, &rustls::version::TLS12)?;
    let max = version("max_version", &raw.max_version, &rustls::version::TLS13)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match (min.version, max.version)
    {
        (a, b) if a == b => vec![min],
        (rustls::ProtocolVersion::TLSv1_2, rustls::ProtocolVersion::TLSv1_3) => {
            vec![&rustls::version::TLS12, &rustls::version::TLS13]
        }
        _ => return Err(error(place, "min_version is above max_version")),
    };
    if raw.cipher_suites.is_some()
        || raw.curve_preferences.is_some()
        || raw.prefer_server_cipher_suites.is_some()
    {
        tracing::warn!("tls_server_config: cipher_suites, curve_preferences and prefer_server_cipher_suites are ignored; rustls uses its own safe defaults");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| error(place, e.to_string()))?;
    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca_file = raw
                .client_ca_file
                .map(resolve)
                .ok_or_else(|| error(&format!("{place}.client_ca_file"), format!("required with client_auth_type {auth_type}")))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca_file)
                .map_err(|e| error(&format!("{place}.client_ca_file"), format!("{}: {e}", ca_file.display())))?
            {
                let cert = cert.map_err(|e| error(&format!("{place}.client_ca_file"), e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| error(&format!("{place}.client_ca_file"), e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| error(place, e.to_string()))?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(error(
                &format!("{place}.client_auth_type"),
                format!("{auth_type} (a client certificate that is never verified) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
            ))
        }
        other => return Err(error(&format!("{place}.client_auth_type"), format!("unknown value {other:?}"))),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| error(place, format!("certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl WebConfig {
    /// Reads and validates a web configuration file; relative paths are relative to its folder.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let place = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| error(&place, e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let config = WebConfig::parse(&text, base)?;
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
        let tls = raw
            .tls_server_config
            .map(|t| load_tls(t, base))
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
            if bcrypt::verify("", &hash).is_err() {
                return Err(error(
                    &format!("basic_auth_users.{user}"),
                    "is not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n')",
                ));
            }
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
        Ok(WebConfig {
            tls,
            users,
            headers,
            verified: Mutex::new(HashSet::new()),
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
        format!(
            "tls {}, basic auth users {}, headers {}",
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

    fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
        headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        for part in [
            user,
            password,
            self.users.get(user).map_or("", String::as_str),
        ] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        digest.finalize().into()
    }

    /// The verdict when it is cheap: `Some(true)` without users or for a pair verified before,
    /// `Some(false)` without usable credentials; `None` when bcrypt must run ([`Self::authorized`]).
    pub fn quick_verdict(&self, headers: &HeaderMap) -> Option<bool> {
        if self.users.is_empty() {
            return Some(true);
        }
        let (user, password) = match Self::credentials(headers) {
            Some(pair) => pair,
            None => return Some(false),
        };
        let key = self.cache_key(&user, &password);
        let cached = self
            .verified
            .lock()
            .map(|set| set.contains(&key))
            .unwrap_or(false);
        cached.then_some(true)
    }

    /// Whether a request may proceed: no users configured, or valid basic credentials. Runs
    /// bcrypt on a cache miss: call it off the async threads.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        if let Some(verdict) = self.quick_verdict(headers) {
            return verdict;
        }
        let Some((user, password)) = Self::credentials(headers) else {
            return false;
        };
        let hash = self.users.get(&user);
        let matches =
            bcrypt::verify(&password, hash.map_or(DUMMY_HASH, String::as_str)).unwrap_or(false);
        let ok = matches && hash.is_some();
        if ok {
            if let Ok(mut set) = self.verified.lock() {
                if set.len() >= AUTH_CACHE_ENTRIES {
                    set.clear();
                }
                set.insert(self.cache_key(&user, &password));
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
        );
        headers
    }

    #[test]
    fn basic_auth_accepts_only_the_right_pair() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let config = WebConfig::parse(
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
            Path::new("."),
        )
        .expect("valid");
        assert!(config.authorized(&basic("alice", "s3cret")));
        assert!(config.authorized(&basic("alice", "s3cret")), "cached");
        assert!(!config.authorized(&basic("alice", "wrong")));
        assert!(!config.authorized(&basic("bob", "s3cret")));
        assert!(!config.authorized(&HeaderMap::new()));
        let mut garbage = HeaderMap::new();
        garbage.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(!config.authorized(&garbage));
    }

    #[test]
    fn default_is_open_plain_http() {
        let config = WebConfig::parse("", Path::new(".")).expect("empty is fine");
        assert!(config.authorized(&HeaderMap::new()));
        assert!(!config.tls_enabled());
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
