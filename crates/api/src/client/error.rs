//! The client's error type: keeps the API's code, message and RequestId, and classifies every
//! failure for retries and for the `code` label of `tencentcloud_ssl_api_requests_total`.

use crate::credentials::CredentialsError;

/// How the client should react to a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttled: back off with jitter, slow the action's limiter, try again.
    Throttled,
    /// Transient server or network trouble: back off and try again a bounded number of times.
    Transient,
    /// Retrying cannot help (credentials, permissions, a bad request, a hostile answer).
    Never,
}

/// Transport failure classes; fixed strings so the `code` label stays low-cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The attempt ran past its timeout.
    Timeout,
    /// Could not connect to the endpoint.
    Connect,
    /// Anything else that broke the request or the answer's body.
    Other,
}

impl TransportKind {
    /// The `code` label value: `transport_timeout`, `transport_connect` or `transport_error`.
    pub fn code(self) -> &'static str {
        match self {
            TransportKind::Timeout => "transport_timeout",
            TransportKind::Connect => "transport_connect",
            TransportKind::Other => "transport_error",
        }
    }
}

/// A failed API call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an `Error` object.
    #[error("{action}: {code}: {message} (RequestId {request_id})")]
    Api {
        /// The action called (`X-TC-Action`).
        action: String,
        /// `Error.Code`, e.g. `RequestLimitExceeded` or `AuthFailure.SignatureFailure`.
        code: String,
        /// `Error.Message`.
        message: String,
        /// The answer's `RequestId`, for Tencent Cloud support.
        request_id: String,
    },
    /// A non-200 HTTP status (the API itself always answers 200).
    #[error("{action}: HTTP status {status}")]
    HttpStatus {
        /// The action called (`X-TC-Action`).
        action: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The server answered with a redirect (3xx). The API never redirects, and following one
    /// would send the signed request, and the `X-TC-Token` of temporary credentials, to another
    /// host; so it is refused and never retried.
    #[error("{action}: HTTP status {status} redirecting to {location:?}: redirects are refused")]
    Redirect {
        /// The action called (`X-TC-Action`).
        action: String,
        /// The 3xx status code.
        status: u16,
        /// Where the answer pointed ([`refused_location`]: no user info or query).
        location: String,
    },
    /// The request never got a complete answer.
    #[error("{action}: {}: {message}", kind.code())]
    Transport {
        /// The action called (`X-TC-Action`).
        action: String,
        /// Failure class, for the `code` label.
        kind: TransportKind,
        /// The transport error with its chain of causes.
        message: String,
    },
    /// The answer was not the JSON we expect (truncated, empty, wrong types, not JSON at all).
    #[error("{action}: undecodable answer: {message}")]
    Decode {
        /// The action called (`X-TC-Action`).
        action: String,
        /// The JSON error.
        message: String,
    },
    /// The answer was larger than the configured cap and was cut off.
    #[error("{action}: answer larger than {limit} bytes, cut off")]
    BodyTooLarge {
        /// The action called (`X-TC-Action`).
        action: String,
        /// The cap in bytes ([`ClientConfig::max_body_bytes`](super::ClientConfig::max_body_bytes)).
        limit: usize,
    },
    /// No usable credentials.
    #[error("{action}: {source}")]
    Credentials {
        /// The action that could not be signed.
        action: String,
        /// Why no credentials were available.
        source: CredentialsError,
    },
}

impl ApiError {
    /// The value of the `code` label: `OK` is never an error, so this is the API code or a fixed
    /// lower-case class for failures that have none.
    pub fn code(&self) -> String {
        match self {
            ApiError::Api { code, .. } => sanitize_code(code),
            ApiError::HttpStatus { status, .. } => format!("http_{status}"),
            ApiError::Redirect { .. } => "http_redirect".to_string(),
            ApiError::Transport { kind, .. } => kind.code().to_string(),
            ApiError::Decode { .. } => "decode_error".to_string(),
            ApiError::BodyTooLarge { .. } => "body_too_large".to_string(),
            ApiError::Credentials { .. } => "credentials_error".to_string(),
        }
    }

    /// The API error code, when the API gave one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ApiError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How the client reacts to this failure: throttling codes and HTTP 429 back off and retry,
    /// `InternalError*`, HTTP 5xx, transport and decode failures retry a bounded number of times,
    /// everything else is never retried.
    pub fn retry(&self) -> Retry {
        match self {
            ApiError::Api { code, .. } => classify_code(code),
            ApiError::HttpStatus { status, .. } if *status == 429 => Retry::Throttled,
            ApiError::HttpStatus { status, .. } if *status >= 500 => Retry::Transient,
            ApiError::HttpStatus { .. } => Retry::Never,
            ApiError::Transport { .. } | ApiError::Decode { .. } => Retry::Transient,
            ApiError::Redirect { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::Credentials { .. } => Retry::Never,
        }
    }

    /// True for failures that say the credentials or permissions are wrong: worth one clear log
    /// line, never a retry, and a loop over many items stops at the first.
    pub fn is_auth(&self) -> bool {
        matches!(self, ApiError::Credentials { .. })
            || self
                .api_code()
                .is_some_and(|c| c.starts_with("AuthFailure"))
            || self.is_permission()
    }

    /// The credentials are valid but may not do this: `UnauthorizedOperation*` and the SSL API's
    /// own permission codes (`FailedOperation.CAMAuthorizedFail`, `.AuthError`,
    /// `.NoProjectPermission`, `.RoleNotFoundAuthorization`, as its actions document them).
    pub fn is_permission(&self) -> bool {
        self.api_code().is_some_and(|code| {
            code.starts_with("UnauthorizedOperation")
                || matches!(
                    code,
                    "FailedOperation.CAMAuthorizedFail"
                        | "FailedOperation.AuthError"
                        | "FailedOperation.NoProjectPermission"
                        | "FailedOperation.RoleNotFoundAuthorization"
                )
        })
    }

    /// The endpoint does not offer the action (`InvalidAction`, `UnsupportedOperation*`): the
    /// international site, for one, does not describe every action of the SSL API.
    pub fn is_unavailable_action(&self) -> bool {
        self.api_code()
            .is_some_and(|code| code == "InvalidAction" || code.starts_with("UnsupportedOperation"))
    }
}

/// The `Location` of a refused redirect, fit for an error message and a log line: its user
/// info and query are dropped (they could carry anything), it is cut to 200 characters, and a
/// missing or unreadable header says so.
pub fn refused_location(headers: &reqwest::header::HeaderMap) -> String {
    let Some(value) = headers.get(reqwest::header::LOCATION) else {
        return "(no Location header)".to_string();
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let shown = match reqwest::Url::parse(&text) {
        Ok(mut url) => {
            // Both only fail for URLs that cannot have them, which then have none to drop.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        // A relative reference: the path only.
        Err(_) => text
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    shown.chars().take(200).collect()
}

/// Retry class of an API error code, from the reference's table.
pub fn classify_code(code: &str) -> Retry {
    if code.starts_with("RequestLimitExceeded") || code == "LimitExceeded.RateLimitExceeded" {
        Retry::Throttled
    } else if code == "InternalError" || code.starts_with("InternalError.") {
        Retry::Transient
    } else {
        Retry::Never
    }
}

/// A hostile API could put anything in `Code`; keep the label value short and in the code's
/// alphabet so it cannot blow up cardinality or the exposition.
fn sanitize_code(code: &str) -> String {
    let cleaned: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .take(80)
        .collect();
    if cleaned.is_empty() {
        "unknown_error".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_codes_are_auth_and_unoffered_actions_are_their_own_class() {
        let answer = |code: &str| ApiError::Api {
            action: "DescribeCertificates".into(),
            code: code.into(),
            message: String::new(),
            request_id: String::new(),
        };
        for code in [
            "AuthFailure.SignatureFailure",
            "UnauthorizedOperation",
            "UnauthorizedOperation.NoPermission",
            "FailedOperation.CAMAuthorizedFail",
            "FailedOperation.AuthError",
            "FailedOperation.NoProjectPermission",
            "FailedOperation.RoleNotFoundAuthorization",
        ] {
            let error = answer(code);
            assert!(error.is_auth(), "{code}");
            assert_eq!(error.retry(), Retry::Never, "{code} is never retried");
            assert!(!error.is_unavailable_action(), "{code}");
        }
        assert!(!answer("AuthFailure.SecretIdNotFound").is_permission());
        for code in [
            "InvalidAction",
            "UnsupportedOperation",
            "UnsupportedOperation.Region",
        ] {
            let error = answer(code);
            assert!(error.is_unavailable_action() && !error.is_auth(), "{code}");
        }
        for code in [
            "FailedOperation.CertificateNotFound",
            "InternalError",
            "RequestLimitExceeded",
        ] {
            let error = answer(code);
            assert!(!error.is_auth() && !error.is_unavailable_action(), "{code}");
        }
    }

    fn api(code: &str) -> ApiError {
        ApiError::Api {
            action: "DescribeCertificates".into(),
            code: code.into(),
            message: "m".into(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn classifies_reference_codes() {
        for code in [
            "RequestLimitExceeded",
            "RequestLimitExceeded.UinLimitExceeded",
            "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
            "RequestLimitExceeded.IPLimitExceeded",
            "LimitExceeded.RateLimitExceeded",
        ] {
            assert_eq!(api(code).retry(), Retry::Throttled, "{code}");
        }
        assert_eq!(api("InternalError").retry(), Retry::Transient);
        assert_eq!(
            api("InternalError.BackendTimeout").retry(),
            Retry::Transient
        );
        for code in [
            "AuthFailure.SignatureFailure",
            "AuthFailure.SignatureExpire",
            "InvalidParameter",
            "InvalidParameterValue.Foo",
            "MissingParameter",
            "FailedOperation.CertificateNotFound",
        ] {
            assert_eq!(api(code).retry(), Retry::Never, "{code}");
        }
        assert!(api("AuthFailure.SecretIdNotFound").is_auth());
        assert!(!api("InternalError").is_auth());
    }

    #[test]
    fn http_and_transport_classes() {
        let status = |s| ApiError::HttpStatus {
            action: "A".into(),
            status: s,
        };
        assert_eq!(status(502).retry(), Retry::Transient);
        assert_eq!(status(429).retry(), Retry::Throttled);
        assert_eq!(status(404).retry(), Retry::Never);
        assert_eq!(status(503).code(), "http_503");
        let timeout = ApiError::Transport {
            action: "A".into(),
            kind: TransportKind::Timeout,
            message: "deadline".into(),
        };
        assert_eq!(timeout.code(), "transport_timeout");
        assert_eq!(timeout.retry(), Retry::Transient);
    }

    #[test]
    fn redirects_are_never_retried_and_show_no_user_info_or_query() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LOCATION,
            reqwest::header::HeaderValue::from_static("https://u:pw@other.example/x?token=abc"),
        );
        let location = refused_location(&headers);
        assert_eq!(location, "https://other.example/x");
        headers.insert(
            reqwest::header::LOCATION,
            reqwest::header::HeaderValue::from_static("/elsewhere?token=abc"),
        );
        assert_eq!(refused_location(&headers), "/elsewhere");
        assert_eq!(
            refused_location(&reqwest::header::HeaderMap::new()),
            "(no Location header)"
        );
        let err = ApiError::Redirect {
            action: "A".into(),
            status: 302,
            location,
        };
        assert_eq!(err.retry(), Retry::Never);
        assert_eq!(err.code(), "http_redirect");
        let shown = err.to_string();
        assert!(
            shown.contains("302") && shown.contains("other.example"),
            "{shown}"
        );
    }

    #[test]
    fn hostile_codes_are_sanitized() {
        assert_eq!(api("Bad\"Code\n{x}").code(), "BadCodex");
        assert_eq!(api("\"\"").code(), "unknown_error");
        assert_eq!(api(&"A".repeat(500)).code().len(), 80);
    }

    #[test]
    fn display_keeps_code_message_and_request_id() {
        let shown = api("InternalError").to_string();
        assert!(shown.contains("InternalError") && shown.contains("RequestId r"));
    }
}
