//! The one fan-out, the one per-item fetch built on it (alone, or feeding a second fetch as its
//! answers come in), and the one stale-merge of per-item results held between runs.

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
    answers(items, concurrency, call).collect().await
}

/// [`fan_out`]'s answers as a stream, each as soon as it comes.
fn answers<S, F, Fut>(
    items: S,
    concurrency: usize,
    call: F,
) -> impl futures::Stream<Item = Fut::Output>
where
    S: futures::Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    use futures::StreamExt as _;
    items.map(call).buffer_unordered(concurrency.max(1))
}

/// The first answer of a fetch that holds for every key (a credentials or permission failure,
/// or an action the endpoint does not offer): once there is one, no further call starts (those
/// in flight finish), and the fetch fails with it.
#[derive(Default)]
struct Denial(parking_lot::Mutex<Option<ApiError>>);

impl Denial {
    /// `answer` for `key`, unless a call was already denied (then that failure, without
    /// calling); a credentials or permission failure is remembered.
    async fn guard<K, T>(
        &self,
        key: K,
        answer: impl Future<Output = Result<T, ApiError>>,
    ) -> (K, Result<T, ApiError>) {
        if let Some(first) = self.0.lock().clone() {
            return (key, Err(first));
        }
        let answer = answer.await;
        if let Err(e) = &answer {
            if holds_for_every_key(e) {
                self.0.lock().get_or_insert_with(|| e.clone());
            }
        }
        (key, answer)
    }

    /// The failure remembered, if any.
    fn failure(&self) -> Option<ApiError> {
        self.0.lock().clone()
    }
}

/// Each key's answer, in completion order.
pub(crate) type Answers<K, T> = Vec<(K, Result<T, ApiError>)>;

/// The one per-item fetch: `call` for every key (at most `concurrency` in flight), each answer
/// with its key, in completion order. An answer that holds for every key (a credentials or
/// permission failure, or an action the endpoint does not offer) fails the whole fetch, so a
/// run fails before it touches what it holds and is reported as such, and no call starts after
/// it (the calls already in flight finish); other failures stay per key.
pub(crate) async fn fetch_each<K, T, F, Fut>(
    keys: impl IntoIterator<Item = K>,
    concurrency: usize,
    mut call: F,
) -> Result<Answers<K, T>, ApiError>
where
    K: Clone,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let denial = Denial::default();
    let denial = &denial;
    let answers = fan_out(futures::stream::iter(keys), concurrency, |key: K| {
        denial.guard(key.clone(), call(key))
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

/// The one pipeline: [`fetch_each`] of `first` over `keys`, and, as each of its answers comes
/// in, `follow` names the items it makes worth fetching (from an answer or a failure), each
/// fetched with `then` at once, while the first calls go on. Each stage keeps at most
/// `concurrency` calls in flight, each action at its own pace. An answer that holds for every key
/// (see [`fetch_each`]) in either stage fails the whole, and no call of either stage starts after
/// it.
/// Returns both stages' answers, in completion order.
pub(crate) async fn fetch_each_then<K, T, I, U, F, Fut, N, G, Gut>(
    keys: impl IntoIterator<Item = K>,
    concurrency: usize,
    mut first: F,
    mut follow: N,
    mut then: G,
) -> Result<(Answers<K, T>, Answers<I, U>), ApiError>
where
    K: Clone,
    I: Clone,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
    N: FnMut(&K, &Result<T, ApiError>) -> Vec<I>,
    G: FnMut(I) -> Gut,
    Gut: Future<Output = Result<U, ApiError>>,
{
    use futures::StreamExt as _;
    let denial = Denial::default();
    let denial = &denial;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<I>();
    let firsts = async {
        let sender = sender;
        let mut firsts = Vec::new();
        let mut answers = std::pin::pin!(answers(
            futures::stream::iter(keys),
            concurrency,
            |key: K| denial.guard(key.clone(), first(key)),
        ));
        while let Some((key, answer)) = answers.next().await {
            for item in follow(&key, &answer) {
                // The receiver lives until this stage ends: a send cannot fail.
                let _ = sender.send(item);
            }
            firsts.push((key, answer));
        }
        firsts
    };
    let seconds = fan_out(queue(receiver), concurrency, |item: I| {
        denial.guard(item.clone(), then(item))
    });
    let (firsts, seconds) = tokio::join!(firsts, seconds);
    match denial.failure() {
        Some(e) => Err(e),
        None => Ok((firsts, seconds)),
    }
}

/// What is sent on `receiver`, as a stream that ends when every sender is gone: the work queue
/// of a stage that starts items as an earlier stage finds them.
pub(crate) fn queue<I>(
    receiver: tokio::sync::mpsc::UnboundedReceiver<I>,
) -> impl futures::Stream<Item = I> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
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

    /// The second stage starts on the first answers while the first is still under way: the
    /// last first call waits for a second-stage call, which would never come if the stages ran
    /// one after the other (time is paused, so the timeout only ends a deadlock).
    #[tokio::test(start_paused = true)]
    async fn the_second_stage_starts_before_the_first_ends() {
        let started = tokio::sync::Notify::new();
        let started = &started;
        let pipeline = fetch_each_then(
            1..=3u32,
            1,
            |key| async move {
                if key == 3 {
                    started.notified().await;
                }
                Ok(key * 10)
            },
            |_key, answer| answer.iter().copied().collect::<Vec<u32>>(),
            |item| async move {
                started.notify_one();
                Ok::<_, ApiError>(item + 1)
            },
        );
        let (firsts, mut seconds) = tokio::time::timeout(Duration::from_secs(3600), pipeline)
            .await
            .expect("no deadlock: the stages overlap")
            .expect("no credentials failure");
        assert_eq!(firsts.len(), 3);
        seconds.sort_by_key(|(item, _)| *item);
        let got: Vec<(u32, u32)> = seconds
            .into_iter()
            .map(|(item, answer)| (item, answer.expect("answered")))
            .collect();
        assert_eq!(got, [(10, 11), (20, 21), (30, 31)]);
    }

    #[tokio::test]
    async fn a_denial_in_the_second_stage_stops_the_first() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let firsts = AtomicUsize::new(0);
        let firsts = &firsts;
        let denied = fetch_each_then(
            1..=50u32,
            1,
            |key| async move {
                firsts.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(key)
            },
            |key, _| vec![*key],
            |_item| async move {
                Err::<u32, _>(ApiError::Api {
                    action: "B".into(),
                    code: "AuthFailure.SignatureFailure".into(),
                    message: "no".into(),
                    request_id: "r".into(),
                })
            },
        )
        .await;
        assert!(denied.is_err_and(|e| e.is_auth()));
        assert!(
            firsts.load(Ordering::SeqCst) < 50,
            "no first call starts after the denial"
        );
    }
}
