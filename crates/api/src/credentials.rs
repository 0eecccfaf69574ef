//! API credentials and where they come from.
//!
//! A [`Secret`] never prints itself: `Debug` and `Display` show `<redacted>`, so a secret cannot
//! reach a log line or an error message by accident. Providers (see [`crate::providers`]) sit
//! behind [`ProvideCredentials`] so the client does not care whether a key came from the
//! environment, a file or a role; [`refresh::Refreshing`] caches credentials that expire.

pub mod refresh;

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

/// A string that must never be logged or exported.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing and for the `X-TC-Token` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for an empty secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One set of credentials, permanent or temporary.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `SecretId`: not a secret by itself (it travels in every `Authorization` header), but shown
    /// masked in `Debug` anyway to keep logs boring.
    pub secret_id: MaskedId,
    /// `SecretKey`: HMAC key material.
    pub secret_key: Secret,
    /// Session token of temporary credentials, sent as `X-TC-Token`.
    pub token: Option<Secret>,
}

/// A `SecretId` that shows only its first four and last four characters in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct MaskedId(String);

impl MaskedId {
    /// Wraps a `SecretId`.
    pub fn new(value: impl Into<String>) -> Self {
        MaskedId(value.into())
    }

    /// The ID itself (it is sent in clear in every `Authorization` header).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MaskedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() <= 8 {
            return f.write_str("****");
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        write!(f, "{head}****{tail}")
    }
}

/// Why no usable credentials could be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// No source had credentials.
    #[error("no credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY")]
    Missing,
    /// The named environment variable is set but empty.
    #[error("{0} is set but empty")]
    Empty(&'static str),
    /// A provider failed; the text says which and why, never a secret.
    #[error("credentials provider failed: {0}")]
    Provider(String),
    /// A credentials service (metadata, STS) answered with a redirect, which is never followed:
    /// it could carry the request, or the secrets of the answer, to another host.
    #[error(
        "credentials provider failed: {service} answered HTTP status {status} redirecting to {location:?}: redirects are refused"
    )]
    Redirected {
        /// The service: `metadata service` or `STS AssumeRoleWithWebIdentity`.
        service: &'static str,
        /// The 3xx status code.
        status: u16,
        /// Where the answer pointed, without user info or query
        /// ([`refused_location`](crate::client::refused_location)).
        location: String,
    },
}

/// Something that hands out current credentials; temporary ones may change between calls.
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// The credentials to sign the next request with.
    fn credentials(&self) -> BoxFuture<'_, Result<Arc<Credentials>, CredentialsError>>;
}

/// Credentials fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct StaticCredentials(Arc<Credentials>);

impl StaticCredentials {
    /// Always hands out `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        StaticCredentials(Arc::new(credentials))
    }
}

impl ProvideCredentials for StaticCredentials {
    fn credentials(&self) -> BoxFuture<'_, Result<Arc<Credentials>, CredentialsError>> {
        let credentials = Arc::clone(&self.0);
        Box::pin(async move { Ok(credentials) })
    }
}

/// Reads the Tencent Cloud SDK's environment variables through `lookup` (the process
/// environment in production, a map in tests): `TENCENTCLOUD_SECRET_ID`,
/// `TENCENTCLOUD_SECRET_KEY` and optionally `TENCENTCLOUD_SECURITY_TOKEN` (alias
/// `TENCENTCLOUD_SESSION_TOKEN`).
pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, CredentialsError> {
    let id = lookup("TENCENTCLOUD_SECRET_ID");
    let key = lookup("TENCENTCLOUD_SECRET_KEY");
    let (id, key) = match (id, key) {
        (Some(id), Some(key)) => (id, key),
        _ => return Err(CredentialsError::Missing),
    };
    if id.trim().is_empty() {
        return Err(CredentialsError::Empty("TENCENTCLOUD_SECRET_ID"));
    }
    if key.trim().is_empty() {
        return Err(CredentialsError::Empty("TENCENTCLOUD_SECRET_KEY"));
    }
    let token = lookup("TENCENTCLOUD_SECURITY_TOKEN")
        .or_else(|| lookup("TENCENTCLOUD_SESSION_TOKEN"))
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim()));
    Ok(Credentials {
        secret_id: MaskedId::new(id.trim()),
        secret_key: Secret::new(key.trim()),
        token,
    })
}

/// Warns when a file holding a secret can be read by group or others.
#[cfg(unix)]
pub fn warn_if_readable_by_others(path: &std::path::Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "{what} holds a secret and is readable by group or others; chmod 600 it"
            );
        }
    }
}

/// Warns when a file holding a secret can be read by group or others (a no-op off Unix).
#[cfg(not(unix))]
pub fn warn_if_readable_by_others(_path: &std::path::Path, _what: &str) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_id_key_and_token_alias() {
        let creds = from_env(env(&[
            ("TENCENTCLOUD_SECRET_ID", "AKIDabcdefgh1234"),
            ("TENCENTCLOUD_SECRET_KEY", "topsecretkey"),
            ("TENCENTCLOUD_SESSION_TOKEN", "tok"),
        ]))
        .expect("valid");
        assert_eq!(creds.secret_id.as_str(), "AKIDabcdefgh1234");
        assert_eq!(creds.secret_key.expose(), "topsecretkey");
        assert_eq!(creds.token.as_ref().map(Secret::expose), Some("tok"));
    }

    #[test]
    fn security_token_wins_over_session_token() {
        let creds = from_env(env(&[
            ("TENCENTCLOUD_SECRET_ID", "id"),
            ("TENCENTCLOUD_SECRET_KEY", "key"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "primary"),
            ("TENCENTCLOUD_SESSION_TOKEN", "alias"),
        ]))
        .expect("valid");
        assert_eq!(creds.token.as_ref().map(Secret::expose), Some("primary"));
    }

    #[test]
    fn missing_or_empty_is_an_error() {
        assert_eq!(from_env(env(&[])).unwrap_err(), CredentialsError::Missing);
        assert_eq!(
            from_env(env(&[
                ("TENCENTCLOUD_SECRET_ID", " "),
                ("TENCENTCLOUD_SECRET_KEY", "k")
            ]))
            .unwrap_err(),
            CredentialsError::Empty("TENCENTCLOUD_SECRET_ID")
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let creds = from_env(env(&[
            ("TENCENTCLOUD_SECRET_ID", "AKIDabcdefgh1234"),
            ("TENCENTCLOUD_SECRET_KEY", "topsecretkey"),
            ("TENCENTCLOUD_SECURITY_TOKEN", "sessiontoken"),
        ]))
        .expect("valid");
        let shown = format!("{creds:?} {}", creds.secret_key);
        assert!(!shown.contains("topsecretkey"));
        assert!(!shown.contains("sessiontoken"));
        assert!(!shown.contains("abcdefgh"));
        assert!(shown.contains("AKID****1234"));
    }
}
