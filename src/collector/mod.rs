//! Collectors: one per concern, each behind the small `Collector` interface.
//!
//! A collector turns API answers into a [`Snapshot`] of one account. It never panics on what the
//! API says: failures of single items are recorded in `Collected::errors` (the run then counts as
//! failed, `tencentcloud_ssl_collector_success 0`) while everything else is still published; a
//! failure that makes the whole run meaningless (credentials, the certificate list) is an `Err`.
//!
//! - [`certificates`]: identity and validity of every certificate.
//! - [`bind`]: which cloud resources each certificate is bound to.
//! - [`records`]: how rollouts went, one [`records::RecordsCollector`] per record kind: the
//!   `upload_update`, `update` and `deploy` collectors.
//! - [`endpoints`]: whether the domains the API names really serve the certificate it says.

pub mod bind;
pub mod certificates;
pub mod endpoints;
pub mod records;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::CertificateFilter;
use crate::metrics::{series, Snapshot, SnapshotBuilder};
use std::collections::BTreeMap;
use tencentcloud_ssl_api::action;
use tencentcloud_ssl_api::certificates::{
    Certificate, CertificateState, CertificatesPage, DescribeCertificatesRequest,
    ListedCertificate, Tag, MAX_LIMIT,
};
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::{Items, SkippedItem};

/// Result of a run that produced data.
#[derive(Debug)]
pub(crate) struct Collected {
    pub snapshot: Snapshot,
    /// Failures of single items; non-empty means the run is reported as failed.
    pub errors: Vec<String>,
}

/// A run that produced nothing worth publishing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl CollectError {
    /// Credentials or permission failures: reported once, never retried in a loop.
    pub fn is_auth(&self) -> bool {
        match self {
            CollectError::Api(e) => e.is_auth(),
        }
    }
}

/// The interface every collector implements.
pub(crate) trait Collector: Send + 'static {
    /// The `collector` label value.
    fn name(&self) -> &'static str;

    /// One complete run; state kept between runs (caches of final results) lives in `self`.
    fn collect(&mut self) -> impl Future<Output = Result<Collected, CollectError>> + Send;

    /// A wait before each run that is not part of its duration (jitter, or waiting for the
    /// collectors that feed this one); none by default.
    fn before_run(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// Settings shared by the collectors of one account.
#[derive(Debug, Clone)]
pub(crate) struct CollectorSettings {
    /// The `account` label.
    pub account: String,
    /// Refresh interval; also the unit of the staleness bound of cached per-item results.
    pub interval: Duration,
    /// How many refresh intervals a per-item result may be served after its last good fetch.
    pub stale_intervals: u32,
    /// Calls of one action kept in flight by a collector; the rate limiter does the pacing, this
    /// only needs to be large enough to keep the action busy at its limit under API latency.
    pub concurrency: usize,
    /// Publish opt-in per-instance series (`tencentcloud_ssl_certificate_bound_instance_info`).
    pub detail_series: bool,
}

impl CollectorSettings {
    /// How long a per-item result may be served after its last good fetch: the same bound as
    /// a whole snapshot's, `stale_intervals` times the longer of the interval and the current
    /// run's duration (`run`), so a slow run never withdraws what it is still refreshing.
    pub fn stale_after(&self, run: Duration) -> Duration {
        self.interval
            .max(run)
            .saturating_mul(self.stale_intervals.max(1))
    }
}

/// Upper bound of pages fetched for one list, against a hostile or broken `TotalCount`.
pub(crate) const MAX_PAGES: u64 = 10_000;

/// What paging needs to know of one page.
pub(crate) trait Page {
    /// Rows this page added; where a page holds several lists that one `Offset` pages together,
    /// the longest of them.
    fn rows(&self) -> u64;
    /// How far the list extends, as the answer says (its `TotalCount`, or the largest).
    fn extent(&self) -> u64;
}

/// One page of a plain list: its rows (decoded or skipped) and the answer's `TotalCount`.
pub(crate) struct ListPage<T> {
    pub total: u64,
    pub rows: Items<T>,
}

impl<T> Page for ListPage<T> {
    fn rows(&self) -> u64 {
        self.rows.received() as u64
    }
    fn extent(&self) -> u64 {
        self.total
    }
}

impl Page for tencentcloud_ssl_api::bind::DetailPage {
    fn rows(&self) -> u64 {
        self.rows()
    }
    fn extent(&self) -> u64 {
        self.extent()
    }
}

impl Page for tencentcloud_ssl_api::records::DetailPage {
    fn rows(&self) -> u64 {
        self.rows()
    }
    fn extent(&self) -> u64 {
        self.extent()
    }
}

/// The one pager: fetches pages at offsets advanced by the rows actually received (never
/// trusting that `Limit` was honoured) until the extent is reached, a page adds nothing, or
/// [`MAX_PAGES`]. Returns each page with the offset it was asked at.
pub(crate) async fn fetch_pages<P, F, Fut>(mut fetch_page: F) -> Result<Vec<(u64, P)>, ApiError>
where
    P: Page,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<P, ApiError>>,
{
    let mut pages = Vec::new();
    let mut offset = 0u64;
    for _ in 0..MAX_PAGES {
        let page = fetch_page(offset).await?;
        let (rows, extent) = (page.rows(), page.extent());
        pages.push((offset, page));
        offset = offset.saturating_add(rows);
        if rows == 0 || offset >= extent {
            break;
        }
    }
    Ok(pages)
}

/// Every row of a plain list ([`fetch_pages`] over [`ListPage`]s). Rows that could not be
/// decoded, and a `TotalCount` that disagrees with the rows received, are reported to `findings`
/// under `action`.
pub(crate) async fn page_by_rows<T, F, Fut>(
    action: &'static str,
    findings: &Findings,
    mut fetch_page: F,
) -> Result<Vec<T>, ApiError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(u64, Items<T>), ApiError>>,
{
    let pages = fetch_pages(|offset| {
        let page = fetch_page(offset);
        async move {
            let (total, rows) = page.await?;
            Ok(ListPage { total, rows })
        }
    })
    .await?;
    let stated = pages.last().map_or(0, |(_, page)| page.total);
    let received: u64 = pages.iter().map(|(_, page)| page.rows()).sum();
    if received != stated {
        findings.totals_mismatch(action, "", &[("TotalCount", stated, received)]);
    }
    let mut rows = Vec::new();
    for (_, page) in pages {
        findings.skipped(action, &page.rows.skipped);
        rows.extend(page.rows.items);
    }
    Ok(rows)
}

/// The two kinds of [`Findings`], each counted in its own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Finding {
    /// An item that could not be decoded (`tencentcloud_ssl_decode_errors_total`).
    Undecoded,
    /// Totals that disagreed with the rows (`tencentcloud_ssl_totals_mismatches_total`).
    TotalsMismatch,
}

/// What runs could not take at face value, kept for the life of a collector: items that could
/// not be decoded and totals that disagreed with the rows received. Each is logged at warn as it
/// is found (with the item's ID), and the cumulative counts are written into every snapshot as
/// `tencentcloud_ssl_decode_errors_total` and `tencentcloud_ssl_totals_mismatches_total`.
#[derive(Debug)]
pub(crate) struct Findings {
    account: String,
    collector: &'static str,
    counts: parking_lot::Mutex<BTreeMap<(Finding, &'static str), u64>>,
}

impl Findings {
    /// Findings of `collector`, whose counters start at 0 for each of the `actions` it calls (a
    /// counter that exists from the start makes `increase()` and dashboards work at once).
    pub(crate) fn new(
        account: &str,
        collector: &'static str,
        actions: &[&'static str],
    ) -> Findings {
        let counts = actions
            .iter()
            .flat_map(|a| {
                [
                    ((Finding::Undecoded, *a), 0),
                    ((Finding::TotalsMismatch, *a), 0),
                ]
            })
            .collect();
        Findings {
            account: account.to_string(),
            collector,
            counts: parking_lot::Mutex::new(counts),
        }
    }

    fn count(&self, finding: Finding, action: &'static str, n: u64) {
        *self.counts.lock().entry((finding, action)).or_default() += n;
    }

    /// Items of an `action` answer that were skipped because they could not be decoded.
    pub(crate) fn skipped(&self, action: &'static str, items: &[SkippedItem]) {
        for item in items {
            tracing::warn!(
                account = %self.account,
                collector = self.collector,
                action,
                id = %item.id,
                error = %item.error,
                "skipped an item the exporter cannot decode; the rest of the answer is used"
            );
        }
        if !items.is_empty() {
            self.count(Finding::Undecoded, action, items.len() as u64);
        }
    }

    /// An `action` answer about `id` that contradicts itself (`error` says how, and what was
    /// used): logged at warn and counted with the decode errors, as not understood.
    pub(crate) fn contradiction(&self, action: &'static str, id: &str, error: &str) {
        tracing::warn!(
            account = %self.account,
            collector = self.collector,
            action,
            id,
            error,
            "the answer contradicts itself"
        );
        self.count(Finding::Undecoded, action, 1);
    }

    /// Totals an `action` answer stated for `what` (a record, a region; empty for a whole list)
    /// that disagree with the rows received: (field, stated, received) each. Counted once.
    pub(crate) fn totals_mismatch(
        &self,
        action: &'static str,
        what: &str,
        disagreements: &[(&str, u64, u64)],
    ) {
        if disagreements.is_empty() {
            return;
        }
        let fields: Vec<String> = disagreements
            .iter()
            .map(|(field, stated, received)| format!("{field} {stated} (received {received})"))
            .collect();
        tracing::warn!(
            account = %self.account,
            collector = self.collector,
            action,
            what,
            totals = %fields.join(", "),
            "the answer's totals disagree with the rows received; exporting what was received"
        );
        self.count(Finding::TotalsMismatch, action, 1);
    }

    /// Writes the cumulative counts into `builder`.
    pub(crate) fn write(&self, builder: &mut SnapshotBuilder) {
        let collector = self.collector;
        for ((family, action), n) in self.counts.lock().iter() {
            let (action, n) = (*action, *n as f64);
            match family {
                Finding::Undecoded => builder.sample(series::DecodeErrors { collector, action }, n),
                Finding::TotalsMismatch => {
                    builder.sample(series::TotalsMismatches { collector, action }, n)
                }
            }
        }
    }
}

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

/// Every certificate of the account that `filter` selects, decoded as `T`, deduplicated by ID
/// (first occurrence wins). IDs, tags and the search key are filtered by the API; expired
/// certificates (status 3) are dropped here when the filter excludes them.
pub(crate) async fn list_certificates_as<T>(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
) -> Result<Vec<T>, ApiError>
where
    T: ListedCertificate + serde::de::DeserializeOwned,
{
    let rows: Vec<T> = page_by_rows(
        action::DESCRIBE_CERTIFICATES,
        findings,
        |offset| async move {
            let page: CertificatesPage<T> = client
                .call(
                    action::DESCRIBE_CERTIFICATES,
                    &certificates_request(filter, offset),
                )
                .await?;
            Ok((page.total_count, page.certificates))
        },
    )
    .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|row| {
            (filter.include_expired || row.status() != Some(3))
                && !row.id().is_empty()
                && seen.insert(row.id().to_string())
        })
        .collect())
}

/// Every selected certificate with the fields the exporter uses.
pub(crate) async fn list_certificates(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
) -> Result<Vec<Certificate>, ApiError> {
    list_certificates_as(client, filter, findings).await
}

/// The IDs (with status and deployability) of the selected certificates, decoding nothing
/// else of each.
pub(crate) async fn list_certificate_states(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
) -> Result<Vec<CertificateState>, ApiError> {
    list_certificates_as(client, filter, findings).await
}

fn certificates_request(filter: &CertificateFilter, offset: u64) -> DescribeCertificatesRequest {
    DescribeCertificatesRequest {
        offset,
        limit: MAX_LIMIT,
        search_key: filter.search_key.clone(),
        cert_ids: (!filter.ids.is_empty()).then(|| filter.ids.clone()),
        tags: (!filter.tags.is_empty()).then(|| {
            filter
                .tags
                .iter()
                .map(|(key, value)| Tag {
                    tag_key: key.clone(),
                    tag_value: value.clone(),
                })
                .collect()
        }),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod pager_tests {
    use super::*;

    fn items(rows: Vec<u32>) -> Items<u32> {
        Items {
            items: rows,
            skipped: Vec::new(),
        }
    }

    #[tokio::test]
    async fn pages_by_rows_received_when_limit_is_capped() {
        let data: Vec<u32> = (0..25).collect();
        let mut offsets = Vec::new();
        let findings = Findings::new("a", "test", &[]);
        let rows = page_by_rows("A", &findings, |offset| {
            offsets.push(offset);
            let page: Vec<u32> = data
                .iter()
                .skip(offset as usize)
                .take(10)
                .copied()
                .collect();
            async move { Ok((25, items(page))) }
        })
        .await
        .expect("ok");
        assert_eq!(rows, data);
        assert_eq!(offsets, [0, 10, 20]);
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

    #[tokio::test]
    async fn stops_on_empty_page_even_if_total_lies() {
        let mut calls = 0;
        let findings = Findings::new("a", "test", &[]);
        let rows: Vec<u32> = page_by_rows("A", &findings, |offset| {
            calls += 1;
            let page = if offset == 0 { vec![1, 2] } else { vec![] };
            async move { Ok((u64::MAX, items(page))) }
        })
        .await
        .expect("ok");
        assert_eq!(rows, [1, 2]);
        assert_eq!(calls, 2);
    }
}
