//! `--web.config.file` in the Prometheus exporter-toolkit format: TLS (`tls_server_config`),
//! bcrypt basic auth (`basic_auth_users`), response headers (`http_server_config.headers`) and a
//! request rate limit (`rate_limit`).
//!
//! [`WebConfig`] is one validated version of the file; [`FrontDoor`] is what the server asks about
//! every connection and request, and it follows the file:
//!
//! - **Reloads.** Once a second the file and every file it names (`cert_file`, `key_file`,
//!   `client_ca_file`) are `stat`ed (device, inode, size, modification and change times, symlinks
//!   followed, so a Kubernetes secret volume's atomic `..data` swap is seen). When one changed,
//!   the whole configuration is read again; a valid new version is used from the next handshake
//!   and request on, an invalid or unreadable one is logged and the last good one kept, and
//!   `tencentcloud_ssl_web_config_last_reload_successful` says which. Turning TLS on or off needs a
//!   restart (a reload that does is refused), so a typo cannot silently serve plain HTTP.
//! - **Basic auth.** A wrong user, wrong password or missing header all get the same 401, on every
//!   path (health endpoints included). bcrypt is slow on purpose, so as in exporter-toolkit at most
//!   one hash runs at a time (one lock) and the outcome of every (user, password, stored hash) is
//!   cached, right or wrong, keyed by a salted SHA-256 (never the password itself). The cache is
//!   read on the async thread before the hashing lock is taken: a scraper whose password was
//!   checked once is never queued behind a storm of guesses. Right and wrong outcomes are kept in
//!   separate bounded sets, so guesses cannot evict the scraper's entry. Unknown users pay for one
//!   bcrypt verification against a fixed hash, so timing does not tell which part was wrong. At
//!   most `MAX_WAITING_HASHES` (128) requests wait for the hashing lock; beyond, new credentials are
//!   answered 429 at once (nothing cached), so guesses cannot hold every connection slot.
//! - **`rate_limit`** (`interval`, `burst`): the token bucket of Go's `rate.NewLimiter(rate.Every(
//!   interval), burst)` over every request, checked before authentication; over it, 429. An
//!   unchanged `rate_limit` keeps its bucket across reloads.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use base64::Engine as _;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::HeaderMap;
use parking_lot::Mutex;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::duration::parse_duration;
use crate::telemetry::Telemetry;
use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    rate_limit: Option<RawRateLimit>,
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

/// exporter-toolkit's `rate_limit`: one request per `interval` on average, `burst` at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<String>,
    burst: Option<i64>,
}

/// Headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Bound of each of the two outcome caches (right pairs, wrong pairs).
const AUTH_CACHE_ENTRIES: usize = 4096;
/// Verified against when the user is unknown, so every failure costs the same. This is
/// exporter-toolkit's: bcrypt of "fakepassword" at cost 10.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// bcrypt costs accepted in `basic_auth_users`: above 16 one verification takes seconds.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=16;
/// `rate_limit.interval` bounds (besides 0, which turns the limit off).
const RATE_LIMIT_INTERVALS: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(86_400);
/// `rate_limit.burst` bounds.
const RATE_LIMIT_BURSTS: std::ops::RangeInclusive<i64> = 1..=1_000_000;
/// How often the files are checked for changes.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A reload that failed is tried again this often even when no watched file changed (it may
/// have failed on a file the new version names and the old one did not).
const RETRY_FAILED_EVERY: Duration = Duration::from_secs(10);

/// The `rate_limit` of a web configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// One token every `interval`.
    pub interval: Duration,
    /// Tokens the bucket holds (and starts with).
    pub burst: u32,
}

/// What identifies one version of a file: a change of any of these is a change of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

/// The fingerprint of `path` now (symlinks followed); `None` when it cannot be read.
fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        (
            metadata.dev(),
            metadata.ino(),
            metadata.ctime(),
            metadata.ctime_nsec(),
        )
    };
    Some(Fingerprint {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        #[cfg(unix)]
        inode,
    })
}

/// A file a configuration was read from, and its fingerprint just before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watched {
    path: PathBuf,
    fingerprint: Option<Fingerprint>,
}

impl Watched {
    fn now(path: &Path) -> Watched {
        Watched {
            path: path.to_path_buf(),
            fingerprint: fingerprint(path),
        }
    }
}

/// One validated version of the web configuration; the default is plain HTTP without
/// authentication.
#[derive(Default)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    users: HashMap<String, String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    rate_limit: Option<RateLimit>,
    /// The files this version was read from (the configuration file first).
    files: Vec<Watched>,
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

fn load_tls(
    raw: RawTls,
    base: &Path,
    files: &mut Vec<Watched>,
) -> Result<rustls::ServerConfig, WebConfigError> {
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
    files.push(Watched::now(&cert_file));
    files.push(Watched::now(&key_file));
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
            files.push(Watched::now(&ca_file));
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

fn load_rate_limit(raw: RawRateLimit) -> Result<Option<RateLimit>, WebConfigError> {
    let interval = match raw.interval.as_deref() {
        None => Duration::ZERO,
        Some(text) => {
            parse_duration(text).map_err(|e| error("rate_limit.interval", e.to_string()))?
        }
    };
    if interval.is_zero() {
        // As in exporter-toolkit: no interval, no limit.
        return Ok(None);
    }
    if !RATE_LIMIT_INTERVALS.contains(&interval) {
        return Err(error(
            "rate_limit.interval",
            "must be 0 (no limit) or between 1ms and 24h",
        ));
    }
    let burst = raw.burst.unwrap_or(0);
    if !RATE_LIMIT_BURSTS.contains(&burst) {
        return Err(error(
            "rate_limit.burst",
            format!(
                "must be between {} and {} with an interval (0 would refuse every request)",
                RATE_LIMIT_BURSTS.start(),
                RATE_LIMIT_BURSTS.end()
            ),
        ));
    }
    Ok(Some(RateLimit {
        interval,
        burst: u32::try_from(burst).unwrap_or(u32::MAX),
    }))
}

/// Checks a `basic_auth_users` value without running bcrypt (reloads stay cheap).
fn check_bcrypt_hash(user: &str, hash: &str) -> Result<(), WebConfigError> {
    let place = format!("basic_auth_users.{user}");
    let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
        error(
            &place,
            "is not a bcrypt hash (htpasswd -nBC 10 \"\" | tr -d ':\\n')",
        )
    })?;
    if !BCRYPT_COSTS.contains(&parts.get_cost()) {
        return Err(error(
            &place,
            format!(
                "bcrypt cost {} is outside {}..={} (higher costs make every new password take seconds)",
                parts.get_cost(),
                BCRYPT_COSTS.start(),
                BCRYPT_COSTS.end()
            ),
        ));
    }
    Ok(())
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
            .map(|t| load_tls(t, base, &mut files))
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
        let rate_limit = raw.rate_limit.map(load_rate_limit).transpose()?.flatten();
        Ok(WebConfig {
            tls,
            users,
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

    /// The `rate_limit`, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
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
    fn files_now(&self) -> Vec<Watched> {
        self.files.iter().map(|w| Watched::now(&w.path)).collect()
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
}

/// A set of at most `capacity` keys; the oldest is forgotten first.
#[derive(Debug)]
struct BoundedSet {
    keys: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl BoundedSet {
    fn new(capacity: usize) -> Self {
        BoundedSet {
            keys: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    fn insert(&mut self, key: [u8; 32]) {
        if !self.keys.insert(key) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Outcomes of bcrypt verifications already made.
#[derive(Debug)]
struct Outcomes {
    right: BoundedSet,
    wrong: BoundedSet,
}

impl Outcomes {
    fn get(&self, key: &[u8; 32]) -> Option<bool> {
        if self.right.contains(key) {
            Some(true)
        } else if self.wrong.contains(key) {
            Some(false)
        } else {
            None
        }
    }
}

/// Most requests waiting for (or running) a bcrypt verification; more are answered 429 at
/// once, so guesses cannot hold every connection slot, each waiting for its turn.
const MAX_WAITING_HASHES: usize = 128;

/// What basic auth says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    Right,
    Wrong,
    /// Not checked: too many requests already wait for bcrypt.
    Busy,
}

/// One of the [`MAX_WAITING_HASHES`] places of the hashing queue, given back on drop.
struct QueuePlace<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a std::sync::atomic::AtomicUsize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WAITING_HASHES).then_some(n + 1)
            })
            .ok()
            .map(|_| QueuePlace(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Basic-auth verification: the outcome cache and the one hashing lock.
#[derive(Debug)]
struct Auth {
    /// Per-process random salt of the cache keys.
    salt: [u8; 32],
    outcomes: Mutex<Outcomes>,
    /// Held for the whole of one bcrypt verification (moved into the blocking task, so a client
    /// that goes away cannot start a second hash beside the first).
    hashing: Arc<tokio::sync::Mutex<()>>,
    /// Requests holding a [`QueuePlace`].
    waiting: std::sync::atomic::AtomicUsize,
}

/// 32 random bytes from the standard library's per-process random hash keys.
fn random_salt() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut salt = [0u8; 32];
    for (i, chunk) in salt.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(i);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    salt
}

impl Auth {
    fn new() -> Self {
        Auth {
            salt: random_salt(),
            outcomes: Mutex::new(Outcomes {
                right: BoundedSet::new(AUTH_CACHE_ENTRIES),
                wrong: BoundedSet::new(AUTH_CACHE_ENTRIES),
            }),
            hashing: Arc::new(tokio::sync::Mutex::new(())),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn key(&self, user: &str, password: &str, stored: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(self.salt);
        for part in [user, password, stored] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.finalize().into()
    }

    /// Whether `headers` carry credentials `config` accepts. Cached outcomes are answered here;
    /// otherwise bcrypt runs on the blocking pool, one verification at a time, behind at most
    /// [`MAX_WAITING_HASHES`] others ([`Checked::Busy`] beyond).
    async fn authorized(&self, config: &WebConfig, headers: &HeaderMap) -> Checked {
        if config.users.is_empty() {
            return Checked::Right;
        }
        let Some((user, password)) = WebConfig::credentials(headers) else {
            return Checked::Wrong;
        };
        let known = config.users.contains_key(&user);
        let stored = config
            .users
            .get(&user)
            .map_or(DUMMY_HASH, String::as_str)
            .to_string();
        let key = self.key(&user, &password, &stored);
        let verdict = |ok: bool| {
            if ok && known {
                Checked::Right
            } else {
                Checked::Wrong
            }
        };
        if let Some(ok) = self.outcomes.lock().get(&key) {
            return verdict(ok);
        }
        let Some(_place) = QueuePlace::take(&self.waiting) else {
            return Checked::Busy;
        };
        let guard = Arc::clone(&self.hashing).lock_owned().await;
        // Another request may have checked the same pair while this one waited.
        if let Some(ok) = self.outcomes.lock().get(&key) {
            return verdict(ok);
        }
        let matches = tokio::task::spawn_blocking(move || {
            let _hashing = guard;
            bcrypt::verify(password.as_bytes(), &stored).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let mut outcomes = self.outcomes.lock();
        if matches {
            outcomes.right.insert(key);
        } else {
            outcomes.wrong.insert(key);
        }
        verdict(matches)
    }

    /// Cached outcomes (right, wrong); only the tests read it.
    #[cfg(test)]
    fn cached(&self) -> (usize, usize) {
        let outcomes = self.outcomes.lock();
        (outcomes.right.len(), outcomes.wrong.len())
    }
}

/// Go's `rate.Limiter` as `Allow` uses it: a bucket of `burst` tokens, refilled one per
/// `interval`, starting full.
#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        Bucket {
            limit,
            state: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    /// Takes a token if there is one.
    fn allow(&self) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock();
        let (tokens, last) = *state;
        let refilled =
            now.saturating_duration_since(last).as_secs_f64() / self.limit.interval.as_secs_f64();
        let tokens = (tokens + refilled).min(f64::from(self.limit.burst));
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

/// What the front door decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through to the handlers.
    Allowed,
    /// Missing or wrong credentials: 401.
    Unauthorized,
    /// Over `rate_limit`: 429.
    RateLimited,
    /// Credentials not cached, and too many requests already wait for bcrypt: 429.
    HashingBusy,
}

/// What one reload check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// No watched file changed (or there is no file).
    Unchanged,
    /// A new version is in use.
    Reloaded,
    /// The new version is invalid or unreadable; the last good one is kept.
    Failed(WebConfigError),
}

/// A reload attempt that failed.
#[derive(Debug)]
struct Failed {
    /// Its error (logged once per distinct message).
    message: String,
    at: Instant,
    /// The watched files as they were when it was tried.
    seen: Vec<Watched>,
}

/// State of the reload checks.
#[derive(Debug)]
struct Reloading {
    failed: Option<Failed>,
}

/// The live web configuration the server consults: the current good version, the bcrypt cache,
/// the rate-limit bucket, and the reloads.
pub struct FrontDoor {
    path: Option<PathBuf>,
    current: ArcSwap<WebConfig>,
    auth: Auth,
    bucket: ArcSwapOption<Bucket>,
    reloading: Mutex<Reloading>,
    telemetry: Telemetry,
}

impl std::fmt::Debug for FrontDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontDoor")
            .field("path", &self.path)
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

impl FrontDoor {
    /// The front door of `config`, read from `path` (followed for changes) when there is one.
    pub fn new(path: Option<PathBuf>, config: WebConfig, telemetry: Telemetry) -> FrontDoor {
        telemetry.web_config_reloaded(true);
        FrontDoor {
            path,
            bucket: ArcSwapOption::new(config.rate_limit.map(|r| Arc::new(Bucket::new(r)))),
            current: ArcSwap::from_pointee(config),
            auth: Auth::new(),
            reloading: Mutex::new(Reloading { failed: None }),
            telemetry,
        }
    }

    /// Plain HTTP without authentication, nothing to follow.
    pub fn open(telemetry: Telemetry) -> FrontDoor {
        FrontDoor::new(None, WebConfig::default(), telemetry)
    }

    /// The version in use.
    pub fn config(&self) -> Arc<WebConfig> {
        self.current.load_full()
    }

    /// The acceptor of the next handshake (the current certificate, key and client CAs).
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.current.load().tls_acceptor()
    }

    /// Adds the current version's headers to a response.
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        self.current.load().apply_headers(headers);
    }

    /// Rate limit first (as exporter-toolkit), then basic auth.
    pub async fn admit(&self, headers: &HeaderMap) -> Verdict {
        if let Some(bucket) = self.bucket.load().as_ref() {
            if !bucket.allow() {
                return Verdict::RateLimited;
            }
        }
        let config = self.current.load_full();
        match self.auth.authorized(&config, headers).await {
            Checked::Right => Verdict::Allowed,
            Checked::Wrong => Verdict::Unauthorized,
            Checked::Busy => Verdict::HashingBusy,
        }
    }

    /// Reads the configuration again if one of its files changed (or a failed reload is due for
    /// another try). Blocking file IO: run it off the async threads.
    pub fn reload_if_changed(&self) -> Reload {
        let Some(path) = &self.path else {
            return Reload::Unchanged;
        };
        let current = self.current.load_full();
        let mut reloading = self.reloading.lock();
        // Taken before anything is read, so a change while reading is seen next time.
        let seen = current.files_now();
        let due = match &reloading.failed {
            None => seen != current.files,
            Some(failed) => failed.seen != seen || failed.at.elapsed() >= RETRY_FAILED_EVERY,
        };
        if !due {
            return Reload::Unchanged;
        }
        let loaded = WebConfig::load(path).and_then(|new| {
            if new.tls_enabled() != current.tls_enabled() {
                return Err(error(
                    "tls_server_config",
                    "turning TLS on or off needs a restart; keeping the running configuration",
                ));
            }
            Ok(new)
        });
        match loaded {
            Ok(new) => {
                if new.rate_limit != current.rate_limit {
                    self.bucket
                        .store(new.rate_limit.map(|r| Arc::new(Bucket::new(r))));
                }
                tracing::info!(file = %path.display(), web = %new.summary(), "web configuration reloaded");
                self.current.store(Arc::new(new));
                reloading.failed = None;
                self.telemetry.web_config_reloaded(true);
                Reload::Reloaded
            }
            Err(e) => {
                let message = e.to_string();
                if reloading.failed.as_ref().map(|f| &f.message) != Some(&message) {
                    tracing::error!(file = %path.display(), error = %message, "reloading the web configuration failed; serving the last good one");
                }
                reloading.failed = Some(Failed {
                    message,
                    at: Instant::now(),
                    seen,
                });
                self.telemetry.web_config_reloaded(false);
                Reload::Failed(e)
            }
        }
    }

    /// Checks for changes every [`RELOAD_CHECK_EVERY`] until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        if self.path.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(RELOAD_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let front = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || front.reload_if_changed()).await;
        }
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

    fn door(text: &str) -> FrontDoor {
        let config = WebConfig::parse(text, Path::new(".")).expect("valid");
        FrontDoor::new(None, config, Telemetry::new())
    }

    #[tokio::test]
    async fn basic_auth_accepts_only_the_right_pair() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let door = door(&format!("basic_auth_users:\n  alice: '{hash}'\n"));
        let allowed = |v: Verdict| v == Verdict::Allowed;
        assert!(allowed(door.admit(&basic("alice", "s3cret")).await));
        assert!(
            allowed(door.admit(&basic("alice", "s3cret")).await),
            "cached"
        );
        assert!(!allowed(door.admit(&basic("alice", "wrong")).await));
        assert!(
            !allowed(door.admit(&basic("alice", "wrong")).await),
            "cached"
        );
        assert!(!allowed(door.admit(&basic("bob", "s3cret")).await));
        assert!(!allowed(door.admit(&HeaderMap::new()).await));
        let mut garbage = HeaderMap::new();
        garbage.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(door.admit(&garbage).await, Verdict::Unauthorized);
        // One right pair, two wrong ones (the unknown user against the fixed hash).
        assert_eq!(door.auth.cached(), (1, 2));
    }

    #[tokio::test]
    async fn default_is_open_plain_http() {
        let door = door("");
        assert_eq!(door.admit(&HeaderMap::new()).await, Verdict::Allowed);
        assert!(!door.config().tls_enabled());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_pair_is_answered_while_the_hashing_lock_is_held() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let door = door(&format!("basic_auth_users:\n  alice: '{hash}'\n"));
        assert_eq!(
            door.admit(&basic("alice", "s3cret")).await,
            Verdict::Allowed
        );
        // A storm holds the lock: the cached scraper must not wait for it.
        let _held = Arc::clone(&door.auth.hashing).lock_owned().await;
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            door.admit(&basic("alice", "s3cret")),
        )
        .await;
        assert_eq!(answer, Ok(Verdict::Allowed));
        let guess = tokio::time::timeout(
            Duration::from_millis(200),
            door.admit(&basic("alice", "guess")),
        )
        .await;
        assert!(guess.is_err(), "a new guess waits for the hashing lock");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn guesses_beyond_the_hashing_queue_are_turned_away_at_once() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let door = Arc::new(door(&format!("basic_auth_users:\n  alice: '{hash}'\n")));
        assert_eq!(
            door.admit(&basic("alice", "s3cret")).await,
            Verdict::Allowed
        );
        let held = Arc::clone(&door.auth.hashing).lock_owned().await;
        let mut queued = Vec::new();
        for i in 0..MAX_WAITING_HASHES {
            let door = Arc::clone(&door);
            queued.push(tokio::spawn(async move {
                door.admit(&basic("alice", &format!("guess-{i}"))).await
            }));
        }
        while door.auth.waiting.load(std::sync::atomic::Ordering::Acquire) < MAX_WAITING_HASHES {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            door.admit(&basic("alice", "one-too-many")).await,
            Verdict::HashingBusy
        );
        assert_eq!(
            door.admit(&basic("alice", "s3cret")).await,
            Verdict::Allowed,
            "cached"
        );
        drop(held);
        for task in queued {
            assert_eq!(task.await.expect("task"), Verdict::Unauthorized);
        }
        assert_eq!(
            door.auth.waiting.load(std::sync::atomic::Ordering::Acquire),
            0
        );
    }

    #[test]
    fn outcome_caches_are_bounded_and_keep_the_newest() {
        let mut set = BoundedSet::new(3);
        for i in 0..10u8 {
            set.insert([i; 32]);
        }
        assert_eq!(set.len(), 3);
        assert!(set.contains(&[9; 32]) && !set.contains(&[0; 32]));
    }

    #[test]
    fn cache_keys_hide_the_password_and_separate_the_parts() {
        let auth = Auth::new();
        let key = auth.key("alice", "s3cret", DUMMY_HASH);
        assert_ne!(key, auth.key("alices", "3cret", DUMMY_HASH));
        assert_ne!(
            key,
            Auth::new().key("alice", "s3cret", DUMMY_HASH),
            "salted"
        );
        let shown = format!("{key:?}");
        assert!(!shown.contains("s3cret"));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_is_a_token_bucket_like_exporter_toolkit() {
        let door = door("rate_limit:\n  interval: 1s\n  burst: 2\n");
        assert_eq!(
            door.config().rate_limit(),
            Some(RateLimit {
                interval: Duration::from_secs(1),
                burst: 2
            })
        );
        let headers = HeaderMap::new();
        assert_eq!(door.admit(&headers).await, Verdict::Allowed);
        assert_eq!(door.admit(&headers).await, Verdict::Allowed);
        assert_eq!(door.admit(&headers).await, Verdict::RateLimited);
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(door.admit(&headers).await, Verdict::Allowed);
        assert_eq!(door.admit(&headers).await, Verdict::RateLimited);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(door.admit(&headers).await, Verdict::Allowed);
        assert_eq!(door.admit(&headers).await, Verdict::Allowed);
        assert_eq!(
            door.admit(&headers).await,
            Verdict::RateLimited,
            "refills to burst only"
        );
        let off = WebConfig::parse("rate_limit:\n  interval: 0s\n  burst: 5\n", Path::new("."));
        assert!(off.expect("valid").rate_limit().is_none());
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
    fn a_broken_new_version_keeps_the_last_good_one_and_says_so() {
        let dir = std::env::temp_dir().join(format!("web-config-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("web.yml");
        let write = |text: &str| {
            let tmp = dir.join("web.yml.tmp");
            std::fs::write(&tmp, text).expect("write");
            std::fs::rename(&tmp, &path).expect("rename");
        };
        write("http_server_config:\n  headers:\n    X-Frame-Options: deny\n");
        let telemetry = Telemetry::new();
        let door = FrontDoor::new(
            Some(path.clone()),
            WebConfig::load(&path).expect("valid"),
            telemetry.clone(),
        );
        assert_eq!(door.reload_if_changed(), Reload::Unchanged);
        write("http_server_config:\n  headers:\n    Server: nope\n");
        assert!(matches!(door.reload_if_changed(), Reload::Failed(_)));
        assert!(telemetry
            .render()
            .contains("tencentcloud_ssl_web_config_last_reload_successful 0"));
        let mut headers = HeaderMap::new();
        door.apply_headers(&mut headers);
        assert_eq!(headers["x-frame-options"], "deny", "the last good version");
        assert_eq!(
            door.reload_if_changed(),
            Reload::Unchanged,
            "no retry before it is due"
        );
        write("http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n");
        assert_eq!(door.reload_if_changed(), Reload::Reloaded);
        let mut headers = HeaderMap::new();
        door.apply_headers(&mut headers);
        assert_eq!(headers["x-frame-options"], "sameorigin");
        assert!(telemetry
            .render()
            .contains("tencentcloud_ssl_web_config_last_reload_successful 1"));
        let _ = std::fs::remove_dir_all(&dir);
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
