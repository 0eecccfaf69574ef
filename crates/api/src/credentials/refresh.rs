//! Caching of credentials that expire: fetched once, served until shortly before they expire,
//! then fetched again by one caller at a time.
//!
//! While the cached credentials are still valid, a refresh never makes anyone wait: the caller
//! that starts it waits for it (at most [`REFRESH_TIMEOUT`]), every other caller is served the
//! cached set at once, and after an attempt (failed, or one that returned credentials still
//! inside the margin, as a CVM role's near its expiry does) the next one waits
//! [`RETRY_AFTER`], so a near-expiry credential is not fetched again on every API call. Only
//! when nothing valid is cached do callers wait for the one fetch in flight (and share its
//! error if it fails).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::{Credentials, CredentialsError, ProvideCredentials};

/// Fetches a fresh set and says until when it is valid.
pub type Fetch = Box<
    dyn Fn() -> BoxFuture<'static, Result<(Credentials, SystemTime), CredentialsError>>
        + Send
        + Sync,
>;

/// Longest one refresh may take (an STS call with its retries can take far longer); past it the
/// attempt counts as failed.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);
/// Least time between two refresh attempts while the cached credentials are still valid.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// What the provider knows.
#[derive(Default)]
struct State {
    /// The last good credentials and their expiry.
    cached: Option<(Arc<Credentials>, SystemTime)>,
    /// When the last attempt ended.
    attempted: Option<Instant>,
    /// The error of the last attempt, if it failed, and when it ended.
    failed: Option<(CredentialsError, Instant)>,
}

/// A provider that caches what `fetch` returns until `margin` before its expiry.
pub struct Refreshing {
    name: &'static str,
    fetch: Fetch,
    margin: Duration,
    state: Mutex<State>,
    /// Held by the one caller fetching.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Refreshing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshing")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a caller should do, decided under the state lock.
enum Decision {
    /// Hand these out.
    Serve(Arc<Credentials>),
    /// Refresh, with these to fall back on (still valid) if the refresh fails.
    Refresh(Option<Arc<Credentials>>),
}

impl Refreshing {
    /// A provider named `name` (for logs) that calls `fetch` when the cached credentials are
    /// missing or within `margin` of their expiry.
    pub fn new(name: &'static str, margin: Duration, fetch: Fetch) -> Self {
        Refreshing {
            name,
            fetch,
            margin,
            state: Mutex::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Fresh enough to serve without a refresh, still valid at all, or neither.
    fn plan(&self, state: &State) -> Decision {
        let now = SystemTime::now();
        match &state.cached {
            Some((credentials, expires))
                if now.checked_add(self.margin).is_some_and(|t| t < *expires) =>
            {
                Decision::Serve(Arc::clone(credentials))
            }
            Some((credentials, expires)) if now < *expires => {
                let recently = state.attempted.is_some_and(|at| at.elapsed() < RETRY_AFTER);
                if recently {
                    Decision::Serve(Arc::clone(credentials))
                } else {
                    Decision::Refresh(Some(Arc::clone(credentials)))
                }
            }
            _ => Decision::Refresh(None),
        }
    }

    /// Runs one bounded fetch and records its outcome.
    async fn refresh(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let outcome = match tokio::time::timeout(REFRESH_TIMEOUT, (self.fetch)()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(CredentialsError::Provider(format!(
                "{}: refreshing credentials took longer than {}s",
                self.name,
                REFRESH_TIMEOUT.as_secs()
            ))),
        };
        let mut state = self.state.lock();
        let now = Instant::now();
        state.attempted = Some(now);
        match outcome {
            Ok((credentials, expires)) => {
                tracing::debug!(provider = self.name, "credentials refreshed");
                let credentials = Arc::new(credentials);
                state.cached = Some((Arc::clone(&credentials), expires));
                state.failed = None;
                Ok(credentials)
            }
            Err(error) => {
                state.failed = Some((error.clone(), now));
                Err(error)
            }
        }
    }
}

impl ProvideCredentials for Refreshing {
    fn credentials(&self) -> BoxFuture<'_, Result<Arc<Credentials>, CredentialsError>> {
        Box::pin(async move {
            let fallback = match self.plan(&self.state.lock()) {
                Decision::Serve(credentials) => return Ok(credentials),
                Decision::Refresh(fallback) => fallback,
            };
            let _refreshing = match (fallback, self.refreshing.try_lock()) {
                (_, Ok(guard)) => guard,
                // Someone else is refreshing and the cached ones are still valid: use them.
                (Some(credentials), Err(_)) => return Ok(credentials),
                // Nothing valid: wait for the fetch in flight, and take its outcome.
                (None, Err(_)) => {
                    let waited_from = Instant::now();
                    let guard = self.refreshing.lock().await;
                    let state = self.state.lock();
                    if let Decision::Serve(credentials) = self.plan(&state) {
                        return Ok(credentials);
                    }
                    if let Some((error, at)) = &state.failed {
                        if *at >= waited_from {
                            return Err(error.clone());
                        }
                    }
                    drop(state);
                    guard
                }
            };
            // Under the refresh lock: another caller may have finished a refresh just before.
            let fallback = match self.plan(&self.state.lock()) {
                Decision::Serve(credentials) => return Ok(credentials),
                Decision::Refresh(fallback) => fallback,
            };
            match self.refresh().await {
                Ok(credentials) => Ok(credentials),
                Err(error) => match fallback {
                    Some(credentials) => {
                        tracing::warn!(provider = self.name, error = %error, "refreshing credentials failed; using the current ones until they expire");
                        Ok(credentials)
                    }
                    None => Err(error),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{MaskedId, Secret};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn credentials(id: &str) -> Credentials {
        Credentials {
            secret_id: MaskedId::new(id),
            secret_key: Secret::new("key"),
            token: None,
        }
    }

    /// A provider whose fetches are counted; `answer` decides each one (by its number).
    fn provider(
        calls: Arc<AtomicU32>,
        answer: impl Fn(u32) -> BoxFuture<'static, Result<(Credentials, SystemTime), CredentialsError>>
            + Send
            + Sync
            + 'static,
    ) -> Arc<Refreshing> {
        Arc::new(Refreshing::new(
            "test",
            Duration::from_secs(300),
            Box::new(move || answer(calls.fetch_add(1, Ordering::SeqCst) + 1)),
        ))
    }

    fn in_secs(secs: u64) -> SystemTime {
        SystemTime::now() + Duration::from_secs(secs)
    }

    #[tokio::test(start_paused = true)]
    async fn a_near_expiry_credential_is_not_fetched_on_every_call() {
        let calls = Arc::new(AtomicU32::new(0));
        // As a CVM role near its expiry: every answer is valid for 200 s, inside the 300 s margin.
        let provider = provider(Arc::clone(&calls), |_| {
            Box::pin(async { Ok((credentials("AKIDnear"), in_secs(200))) })
        });
        for _ in 0..50 {
            provider.credentials().await.expect("valid");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one fetch, then the backoff"
        );
        tokio::time::advance(RETRY_AFTER).await;
        provider.credentials().await.expect("valid");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_refresh_blocks_nobody_while_the_old_credentials_are_valid() {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = provider(Arc::clone(&calls), |n| {
            Box::pin(async move {
                if n == 1 {
                    return Ok((credentials("AKIDfirst"), in_secs(200)));
                }
                // STS retrying for ages.
                tokio::time::sleep(Duration::from_secs(100)).await;
                Ok((credentials("AKIDlate"), in_secs(3600)))
            })
        });
        provider.credentials().await.expect("first");
        tokio::time::advance(RETRY_AFTER).await;
        let refresher = {
            let provider = Arc::clone(&provider);
            tokio::spawn(async move { provider.credentials().await })
        };
        tokio::task::yield_now().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the refresh is running");
        let started = Instant::now();
        let other = provider.credentials().await.expect("served at once");
        assert_eq!(other.secret_id.as_str(), "AKIDfirst");
        assert_eq!(Instant::now(), started, "no wait behind the refresh");
        // The refresh is bounded: its caller falls back to the still-valid set.
        let refreshed = refresher.await.expect("task").expect("fallback");
        assert_eq!(refreshed.secret_id.as_str(), "AKIDfirst");
        assert_eq!(Instant::now() - started, REFRESH_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn without_valid_credentials_callers_share_one_failing_fetch() {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = provider(Arc::clone(&calls), |_| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Err(CredentialsError::Provider("metadata service down".into()))
            })
        });
        let mut waiting = Vec::new();
        for _ in 0..5 {
            let provider = Arc::clone(&provider);
            waiting.push(tokio::spawn(async move { provider.credentials().await }));
        }
        for task in waiting {
            assert!(task.await.expect("task").is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_credentials_are_served_from_the_cache() {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = provider(Arc::clone(&calls), |n| {
            Box::pin(async move { Ok((credentials(&format!("AKID{n}")), in_secs(3600))) })
        });
        for _ in 0..10 {
            assert_eq!(
                provider.credentials().await.expect("ok").secret_id.as_str(),
                "AKID1"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
