//! The one fan-out, the one per-item fetch built on it, and the one stale-merge of per-item
//! results held between runs.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use tencentcloud_ssl_api::client::ApiError;

/// The one fan-out: runs `call` on every item of `items` with at most `concurrency` calls in
/// flight (the rate limiter does the pacing; this only keeps the action busy under latency).
/// Results come in completion order.
pub(crate) async fn fan_out<S, F, Fut>(items: S, concurrency: usize, call: F) -> Vec<Fut::Output>
where
    S: futures::Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    use futures::StreamExt as _;
    items
        .map(call)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

/// The one per-item fetch: `call` for every key (at most `concurrency` in flight), each answer
/// with its key, in completion order. An answer that holds for every key (a credentials or
/// permission failure, or an action the endpoint does not offer) fails the whole fetch, so a
/// run fails before it touches what it holds and is reported as such, and no call starts after
/// it (the calls already in flight finish); other failures stay per key.
pub(crate) async fn fetch_each<K, T, F, Fut>(
    keys: impl IntoIterator<Item = K>,
    concurrency: usize,
    mut call: F,
) -> Result<Vec<(K, Result<T, ApiError>)>, ApiError>
where
    K: Clone,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let denied: parking_lot::Mutex<Option<ApiError>> = parking_lot::Mutex::new(None);
    let denied = &denied;
    let answers = fan_out(futures::stream::iter(keys), concurrency, |key: K| {
        let answer = call(key.clone());
        async move {
            if let Some(first) = denied.lock().clone() {
                return (key, Err(first));
            }
            let answer = answer.await;
            if let Err(e) = &answer {
                if holds_for_every_key(e) {
                    denied.lock().get_or_insert_with(|| e.clone());
                }
            }
            (key, answer)
        }
    })
    .await;
    if let Some((_, Err(e))) = answers
        .iter()
        .find(|(_, answer)| answer.as_ref().is_err_and(holds_for_every_key))
    {
        return Err(e.clone());
    }
    Ok(answers)
}

/// Whether `error` is about the account or the endpoint rather than the key asked about.
fn holds_for_every_key(error: &ApiError) -> bool {
    error.is_auth() || error.is_unavailable_action()
}

/// A per-item result kept between runs, and when the API last confirmed it.
#[derive(Debug, Clone)]
pub(crate) struct Held<T> {
    pub value: T,
    pub confirmed_at: Instant,
}

/// What one run learned about an item whose last result may be held.
pub(crate) enum Refresh<T> {
    /// A new answer.
    Fresh(T),
    /// The API says the held answer is still the current one (final and unchanged).
    Unchanged,
    /// Nothing usable this run (the call failed, or the API is still working on it): the held
    /// answer stays while within the staleness bound.
    Unanswered,
}

/// The one stale-merge: what to hold for an item after a run. A fresh answer replaces the held
/// one; an unchanged one is confirmed again; without an answer the held one is kept only while
/// its last confirmation is at most `stale_after` old, then withdrawn.
pub(crate) fn merge<T>(
    held: Option<Held<T>>,
    refresh: Refresh<T>,
    now: Instant,
    stale_after: Duration,
) -> Option<Held<T>> {
    match refresh {
        Refresh::Fresh(value) => Some(Held {
            value,
            confirmed_at: now,
        }),
        Refresh::Unchanged => held.map(|h| Held {
            confirmed_at: now,
            ..h
        }),
        Refresh::Unanswered => held.filter(|h| now.duration_since(h.confirmed_at) <= stale_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetch_each_keeps_failures_per_key_but_fails_on_credentials() {
        let denied = || ApiError::Api {
            action: "A".into(),
            code: "AuthFailure.SecretIdNotFound".into(),
            message: "no".into(),
            request_id: "r".into(),
        };
        let broken = || ApiError::Api {
            action: "A".into(),
            code: "InternalError".into(),
            message: "oops".into(),
            request_id: "r".into(),
        };
        let mut answers = fetch_each(1..=3u32, 2, |key| async move {
            if key == 2 {
                Err(broken())
            } else {
                Ok(key * 10)
            }
        })
        .await
        .expect("no credentials failure");
        answers.sort_by_key(|(key, _)| *key);
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0].1.as_ref().ok(), Some(&10));
        assert!(answers[1].1.is_err());
        let failed = fetch_each(1..=3u32, 2, |key| async move {
            if key == 3 {
                Err(denied())
            } else {
                Ok(key)
            }
        })
        .await;
        assert!(failed.is_err_and(|e| e.is_auth()));

        // One at a time: after the first permission failure no further call is made.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let calls = &calls;
        let denied_first = fetch_each(1..=50u32, 1, |_key| async move {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<u32, _>(ApiError::Api {
                action: "A".into(),
                code: "FailedOperation.CAMAuthorizedFail".into(),
                message: "no".into(),
                request_id: "r".into(),
            })
        })
        .await;
        assert!(denied_first.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        // An action the endpoint does not offer is not offered for any key either.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let calls = &calls;
        let not_offered = fetch_each(1..=50u32, 1, |_key| async move {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<u32, _>(ApiError::Api {
                action: "DescribeHostDeployRecord".into(),
                code: "InvalidAction".into(),
                message: "no such action".into(),
                request_id: "r".into(),
            })
        })
        .await;
        assert!(not_offered.is_err_and(|e| e.is_unavailable_action()));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn merge_keeps_held_values_only_within_the_bound() {
        let start = Instant::now();
        let held = |v: u32| {
            Some(Held {
                value: v,
                confirmed_at: start,
            })
        };
        let bound = Duration::from_secs(60);
        tokio::time::advance(Duration::from_secs(30)).await;
        let now = Instant::now();
        assert_eq!(
            merge(held(1), Refresh::Fresh(2), now, bound).map(|h| h.value),
            Some(2)
        );
        let unchanged = merge(held(1), Refresh::Unchanged, now, bound).expect("kept");
        assert_eq!((unchanged.value, unchanged.confirmed_at), (1, now));
        let failed = merge(held(1), Refresh::Unanswered, now, bound).expect("within the bound");
        assert_eq!(failed.confirmed_at, start, "a failure confirms nothing");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(merge(held(1), Refresh::Unanswered, Instant::now(), bound).is_none());
        assert!(merge(None::<Held<u32>>, Refresh::Unchanged, now, bound).is_none());
    }

    #[tokio::test]
    async fn fan_out_runs_everything_at_most_n_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let results = fan_out(futures::stream::iter(0..20u32), 3, |i| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        let mut sorted = results.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
    }
}
