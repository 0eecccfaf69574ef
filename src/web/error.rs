//! The one error type of the web configuration: what is wrong, and the key it is about.

/// A web configuration error and where it is (`tls_server_config.cert_file: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct WebConfigError {
    /// The key the error is about.
    pub place: String,
    /// What is wrong with it.
    pub message: String,
}

pub(super) fn error(place: &str, message: impl Into<String>) -> WebConfigError {
    WebConfigError {
        place: place.to_string(),
        message: message.into(),
    }
}
