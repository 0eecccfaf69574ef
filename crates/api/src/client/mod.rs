//! The signed SSL API client.
//!
//! [`Client::call`] serialises a request once, then for each attempt: waits for its action's
//! rate-limit slot, signs the exact bytes with the current credentials, sends them with a timeout,
//! reads at most `max_body_bytes` of the answer and decodes the `{"Response": …}` envelope.
//! Throttling, `InternalError*`, HTTP 5xx, transport failures and undecodable answers are retried
//! with jittered exponential backoff; credential, permission and parameter errors never are.
//! Every attempt is reported to the client's [`Observer`] with its result code (the exporter
//! counts them in `tencentcloud_ssl_api_requests_total{code}`).

mod error;
mod ratelimit;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::credentials::ProvideCredentials;
use crate::signing::{self, SigningInput};
use crate::time;
pub use error::{classify_code, refused_location, ApiError, Retry, TransportKind};
use ratelimit::RateLimits;
pub use ratelimit::{
    documented_limit, DEFAULT_PER_CERTIFICATE_SHARE, DEFAULT_RATE, DOCUMENTED_LIMITS,
    PER_CERTIFICATE_ACTIONS,
};

/// API version of every SSL action this exporter calls.
pub const API_VERSION: &str = "2019-12-05";
/// Service name in the credential scope.
pub const SERVICE: &str = "ssl";
/// Default endpoint (mainland China); the international one is `https://ssl.intl.tencentcloudapi.com`.
pub const DEFAULT_ENDPOINT: &str = "https://ssl.tencentcloudapi.com";
const CONTENT_TYPE: &str = "application/json";
const USER_AGENT: &str = concat!("tencentcloud-ssl-exporter/", env!("CARGO_PKG_VERSION"));

/// Sees every attempt the client makes: one report per attempt, retries included.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// `code` is `OK`, the API's error code, or a fixed class such as `transport_timeout`
    /// ([`ApiError::code`]); `elapsed` is the attempt's own duration.
    fn attempt(&self, account: &str, action: &str, code: &str, elapsed: Duration);
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn attempt(&self, _account: &str, _action: &str, _code: &str, _elapsed: Duration) {}
}

/// Backoff settings for retried attempts.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time, with full jitter.
    pub base_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `retry` (1-based): uniformly random in
    /// `[d/2, d]` with `d = min(max, base * 2^(retry-1))`, so retries spread out but never
    /// collapse to zero.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_backoff);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }
}

/// Everything needed to build a client for one account.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Full URL of the endpoint; its host (and port, when not the default) is what gets signed.
    pub endpoint: String,
    /// Whole-request timeout of one attempt.
    pub timeout: Duration,
    /// Answers larger than this are cut off and treated as errors.
    pub max_body_bytes: usize,
    /// Attempts and backoff of retried calls.
    pub retry: RetryPolicy,
    /// Per-action calls per second, replacing the documented limits (and the share).
    pub rate_limits: HashMap<String, f64>,
    /// The share of its documented limit a per-certificate action is paced at, unless
    /// `rate_limits` names it (see [`PER_CERTIFICATE_ACTIONS`]).
    pub per_certificate_share: f64,
    /// `X-TC-Language` (`zh-CN` or `en-US`), if set.
    pub language: Option<String>,
    /// Service name of the credential scope: `ssl`, or `sts` for the credential providers.
    pub service: String,
    /// `X-TC-Version`.
    pub version: String,
    /// `X-TC-Region`; the SSL actions need none.
    pub region: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            timeout: Duration::from_secs(15),
            max_body_bytes: 32 * 1024 * 1024,
            retry: RetryPolicy::default(),
            rate_limits: HashMap::new(),
            per_certificate_share: DEFAULT_PER_CERTIFICATE_SHARE,
            language: None,
            service: SERVICE.to_string(),
            version: API_VERSION.to_string(),
            region: None,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The endpoint URL is not usable (endpoint, reason).
    #[error("invalid endpoint {0:?}: {1}")]
    Endpoint(String, String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

#[derive(Debug)]
struct Inner {
    account: String,
    http: reqwest::Client,
    url: reqwest::Url,
    /// `host[:port]` exactly as the `Host` header will carry it.
    host: String,
    credentials: Arc<dyn ProvideCredentials>,
    limits: RateLimits,
    retry: RetryPolicy,
    max_body_bytes: usize,
    language: Option<String>,
    service: String,
    version: String,
    region: Option<String>,
    observer: Arc<dyn Observer>,
}

/// A cheap-to-clone handle to one account's client; clones share limiters and connections.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Parses an endpoint URL and returns it with the `Host` header value it implies.
pub fn endpoint_host(endpoint: &str) -> Result<(reqwest::Url, String), ClientBuildError> {
    let bad = |why: &str| ClientBuildError::Endpoint(endpoint.to_string(), why.to_string());
    let url = reqwest::Url::parse(endpoint).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the endpoint URL"));
    }
    let host = url.host_str().ok_or_else(|| bad("no host"))?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok((url, host))
}

/// A builder of every HTTP client of this crate: redirects are never followed. The API never
/// redirects, and following one would carry the signed request and the `X-TC-Token` of
/// temporary credentials (or a metadata or STS answer's secrets) to wherever it points; a 3xx
/// answer is reported as the error it is instead.
pub fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}

impl Client {
    /// A client of `account` (reported to `observer` with every attempt) as `config` describes.
    pub fn new(
        account: &str,
        config: &ClientConfig,
        credentials: Arc<dyn ProvideCredentials>,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, ClientBuildError> {
        let (url, host) = endpoint_host(&config.endpoint)?;
        let http = http_builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                account: account.to_string(),
                http,
                url,
                host,
                credentials,
                limits: RateLimits::new(&config.rate_limits, config.per_certificate_share),
                retry: config.retry.clone(),
                max_body_bytes: config.max_body_bytes,
                language: config.language.clone(),
                service: config.service.clone(),
                version: config.version.clone(),
                region: config.region.clone(),
                observer,
            }),
        })
    }

    /// The account this client calls for.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The pace in force for `action`, in calls per second: its documented limit, a share of it
    /// for a per-certificate action, or the override configured.
    pub fn pace(&self, action: &str) -> f64 {
        self.inner.limits.pace(action)
    }

    /// Calls `action` with `request` as its JSON body, retrying as the policy allows.
    pub async fn call<Req, Resp>(
        &self,
        action: &'static str,
        request: &Req,
    ) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let body = serde_json::to_vec(request).map_err(|e| ApiError::Decode {
            action: action.to_string(),
            message: format!("cannot encode request: {e}"),
        })?;
        let pacer = self.inner.limits.pacer(action);
        let mut attempt = 1;
        loop {
            pacer.acquire().await;
            let started = std::time::Instant::now();
            let result = self.attempt::<Resp>(action, &body).await;
            let code = match &result {
                Ok(_) => "OK".to_string(),
                Err(e) => e.code(),
            };
            self.inner
                .observer
                .attempt(&self.inner.account, action, &code, started.elapsed());
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retry = error.retry();
            if retry == Retry::Never || attempt >= self.inner.retry.max_attempts {
                return Err(error);
            }
            let backoff = self.inner.retry.backoff(attempt);
            if retry == Retry::Throttled {
                pacer.pause(backoff);
            }
            tracing::debug!(
                account = %self.inner.account,
                action,
                attempt,
                code = %code,
                backoff_ms = backoff.as_millis() as u64,
                "retrying API call"
            );
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn attempt<Resp: DeserializeOwned>(
        &self,
        action: &'static str,
        body: &[u8],
    ) -> Result<Resp, ApiError> {
        let inner = &self.inner;
        let credentials =
            inner
                .credentials
                .credentials()
                .await
                .map_err(|source| ApiError::Credentials {
                    action: action.to_string(),
                    source,
                })?;
        let timestamp = time::now_unix();
        let signed = signing::sign(&SigningInput {
            secret_id: credentials.secret_id.as_str(),
            secret_key: credentials.secret_key.expose(),
            timestamp,
            host: &inner.host,
            service: &inner.service,
            content_type: CONTENT_TYPE,
            payload: body,
        });
        let mut request = inner
            .http
            .post(inner.url.clone())
            .header("Content-Type", CONTENT_TYPE)
            .header("Host", &inner.host)
            .header("X-TC-Action", action)
            .header("X-TC-Version", &inner.version)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("Authorization", signed.authorization)
            .body(body.to_vec());
        if let Some(token) = &credentials.token {
            request = request.header("X-TC-Token", token.expose());
        }
        if let Some(region) = &inner.region {
            request = request.header("X-TC-Region", region);
        }
        if let Some(language) = &inner.language {
            request = request.header("X-TC-Language", language);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(action, &e))?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            return Err(ApiError::Redirect {
                action: action.to_string(),
                status,
                location: refused_location(response.headers()),
            });
        }
        if status != 200 {
            return Err(ApiError::HttpStatus {
                action: action.to_string(),
                status,
            });
        }
        let too_large = || ApiError::BodyTooLarge {
            action: action.to_string(),
            limit: inner.max_body_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > inner.max_body_bytes as u64)
        {
            return Err(too_large());
        }
        // Sized from Content-Length when the server sends one: no doubling while reading.
        let expected = response.content_length().unwrap_or(0) as usize;
        let mut bytes = Vec::with_capacity(expected.min(inner.max_body_bytes));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(action, &e))?
        {
            if bytes.len() + chunk.len() > inner.max_body_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        parse_response(action, &bytes)
    }
}

fn transport_error(action: &str, error: &reqwest::Error) -> ApiError {
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ApiError::Transport {
        action: action.to_string(),
        kind,
        message,
    }
}

#[derive(Deserialize)]
struct ErrorProbe {
    #[serde(rename = "Response")]
    response: ErrorProbeInner,
}

#[derive(Deserialize)]
struct ErrorProbeInner {
    #[serde(rename = "Error", default)]
    error: Option<ErrorBody>,
    #[serde(rename = "RequestId", default)]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "Code", default)]
    code: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(rename = "Response")]
    response: T,
}

/// Decodes an API answer: the error envelope if present, else `Response` as `T`.
/// Pure, so it is tested on literal bodies.
pub fn parse_response<T: DeserializeOwned>(action: &str, body: &[u8]) -> Result<T, ApiError> {
    let decode = |e: serde_json::Error| ApiError::Decode {
        action: action.to_string(),
        message: e.to_string(),
    };
    let probe: ErrorProbe = serde_json::from_slice(body).map_err(decode)?;
    if let Some(error) = probe.response.error {
        return Err(ApiError::Api {
            action: action.to_string(),
            code: error.code.unwrap_or_default(),
            message: error.message.unwrap_or_default(),
            request_id: probe.response.request_id.unwrap_or_default(),
        });
    }
    let envelope: Envelope<T> = serde_json::from_slice(body).map_err(decode)?;
    Ok(envelope.response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Count {
        #[serde(rename = "TotalCount")]
        total_count: u64,
    }

    #[test]
    fn parses_success_and_error_envelopes() {
        let ok: Count =
            parse_response("A", br#"{"Response":{"TotalCount":3,"RequestId":"r"}}"#).expect("ok");
        assert_eq!(ok, Count { total_count: 3 });
        let err = parse_response::<Count>(
            "A",
            br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"rid-1"}}"#,
        )
        .unwrap_err();
        match err {
            ApiError::Api {
                code,
                message,
                request_id,
                ..
            } => {
                assert_eq!(code, "AuthFailure.SignatureFailure");
                assert_eq!(message, "bad");
                assert_eq!(request_id, "rid-1");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_are_decode_errors() {
        for body in [
            &b""[..],
            b"{",
            b"<html>502 Bad Gateway</html>",
            br#"{"Response":{"TotalCount":"#,
            br#"{"Response":{"TotalCount":-1}}"#,
            br#"{"Response":{"TotalCount":"many"}}"#,
            br#"{"NotResponse":{}}"#,
            b"\xff\xfe{}",
        ] {
            let err = parse_response::<Count>("A", body).unwrap_err();
            assert!(
                matches!(err, ApiError::Decode { .. }),
                "{body:?} gave {err:?}"
            );
            assert_eq!(err.retry(), Retry::Transient);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!(
            "{{\"Response\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse_response::<serde_json::Value>("A", deep.as_bytes()).is_err());
    }

    #[test]
    fn endpoint_host_includes_non_default_port() {
        assert_eq!(
            endpoint_host("https://ssl.tencentcloudapi.com")
                .expect("ok")
                .1,
            "ssl.tencentcloudapi.com"
        );
        assert_eq!(
            endpoint_host("http://127.0.0.1:8080/").expect("ok").1,
            "127.0.0.1:8080"
        );
        assert_eq!(
            endpoint_host("https://ssl.intl.tencentcloudapi.com:443")
                .expect("ok")
                .1,
            "ssl.intl.tencentcloudapi.com"
        );
        assert!(endpoint_host("ftp://x").is_err());
        assert!(endpoint_host("not a url").is_err());
        assert!(endpoint_host("https://id:key@host").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = policy.backoff(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }
}
