//! Caching of credentials that expire: fetched once, served until shortly before they expire,
//! then fetched again by one caller while the others wait. A failed refresh keeps serving the
//! old credentials for as long as they are still valid.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

use super::{Credentials, CredentialsError, ProvideCredentials};

/// Fetches a fresh set and says until when it is valid.
pub type Fetch = Box<
    dyn Fn() -> BoxFuture<'static, Result<(Credentials, SystemTime), CredentialsError>>
        + Send
        + Sync,
>;

/// A provider that caches what `fetch` returns until `margin` before its expiry.
pub struct Refreshing {
    name: &'static str,
    fetch: Fetch,
    margin: Duration,
    cached: tokio::sync::Mutex<Option<(Arc<Credentials>, SystemTime)>>,
}

impl std::fmt::Debug for Refreshing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshing")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Refreshing {
    /// A provider named `name` (for logs) that calls `fetch` when the cached credentials are
    /// missing or within `margin` of their expiry.
    pub fn new(name: &'static str, margin: Duration, fetch: Fetch) -> Self {
        Refreshing {
            name,
            fetch,
            margin,
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

impl ProvideCredentials for Refreshing {
    fn credentials(&self) -> BoxFuture<'_, Result<Arc<Credentials>, CredentialsError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            let now = SystemTime::now();
            if let Some((credentials, expires)) = cached.as_ref() {
                if now + self.margin < *expires {
                    return Ok(Arc::clone(credentials));
                }
            }
            match (self.fetch)().await {
                Ok((credentials, expires)) => {
                    tracing::debug!(provider = self.name, "credentials refreshed");
                    let credentials = Arc::new(credentials);
                    *cached = Some((Arc::clone(&credentials), expires));
                    Ok(credentials)
                }
                Err(error) => match cached.as_ref() {
                    Some((credentials, expires)) if now < *expires => {
                        tracing::warn!(provider = self.name, error = %error, "refreshing credentials failed; using the current ones until they expire");
                        Ok(Arc::clone(credentials))
                    }
                    _ => Err(error),
                },
            }
        })
    }
}
