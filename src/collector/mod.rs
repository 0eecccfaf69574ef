//! Collectors: one per concern, each behind the small [`Collector`] interface.
//!
//! A collector turns API answers into a [`Snapshot`] of one account. It never panics on what the
//! API says: failures of single items are recorded in [`Collected::errors`] (the run then counts as
//! failed, `tencentcloud_ssl_collector_success 0`) while everything else is still published; a
//! failure that makes the whole run meaningless (credentials, the certificate list) is an `Err`.
//!
//! - [`certificates`]: identity and validity of every certificate.
//! - [`bind`]: which cloud resources each certificate is bound to.
//! - [`deploy`]: how rollouts went, as the `upload_update` and `update` collectors.

pub mod bind;
pub mod certificates;
pub mod deploy;

use std::future::Future;
use std::time::Duration;

use crate::api::action;
use crate::api::certificates::{
    Certificate, CertificateId, CertificatesPage, DescribeCertificatesRequest, ListedCertificate,
    Tag, MAX_LIMIT,
};
use crate::client::{ApiError, Client};
use crate::config::CertificateFilter;
use crate::metrics::Snapshot;

/// Result of a run that produced data.
#[derive(Debug)]
pub struct Collected {
    pub snapshot: Snapshot,
    /// Failures of single items; non-empty means the run is reported as failed.
    pub errors: Vec<String>,
}

/// A run that produced nothing worth publishing.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
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
pub trait Collector: Send + 'static {
    /// The `collector` label value.
    fn name(&self) -> &'static str;

    /// One complete run; state kept between runs (caches of final results) lives in `self`.
    fn collect(&mut self) -> impl Future<Output = Result<Collected, CollectError>> + Send;
}

/// Settings shared by the collectors of one account.
#[derive(Debug, Clone)]
pub struct CollectorSettings {
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
    /// How long a per-item result may be served after its last good fetch.
    pub fn stale_after(&self) -> Duration {
        self.interval * self.stale_intervals.max(1)
    }
}

/// Upper bound of pages fetched for one list, against a hostile or broken `TotalCount`.
pub const MAX_PAGES: u64 = 10_000;

/// Pages a list by the rows actually received (never trusting that `Limit` was honoured) until
/// `TotalCount` is reached or a page comes back empty.
pub async fn page_by_rows<T, F, Fut>(mut fetch_page: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(u64, Vec<T>), ApiError>>,
{
    let mut rows = Vec::new();
    let mut offset = 0u64;
    for _ in 0..MAX_PAGES {
        let (total, page) = fetch_page(offset).await?;
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        rows.extend(page);
        if offset >= total {
            break;
        }
    }
    Ok(rows)
}

/// Every certificate of the account that `filter` selects, decoded as `T`, deduplicated by ID
/// (first occurrence wins). IDs, tags and the search key are filtered by the API; expired
/// certificates (status 3) are dropped here when the filter excludes them.
pub async fn list_certificates_as<T>(
    client: &Client,
    filter: &CertificateFilter,
) -> Result<Vec<T>, ApiError>
where
    T: ListedCertificate + serde::de::DeserializeOwned,
{
    let rows: Vec<T> = page_by_rows(|offset| async move {
        let page: CertificatesPage<T> = client
            .call(
                action::DESCRIBE_CERTIFICATES,
                &certificates_request(filter, offset),
            )
            .await?;
        Ok((page.total_count, page.certificates))
    })
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
pub async fn list_certificates(
    client: &Client,
    filter: &CertificateFilter,
) -> Result<Vec<Certificate>, ApiError> {
    list_certificates_as(client, filter).await
}

/// The IDs of the selected certificates, decoding nothing else of each.
pub async fn list_certificate_ids(
    client: &Client,
    filter: &CertificateFilter,
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<CertificateId> = list_certificates_as(client, filter).await?;
    Ok(rows.into_iter().map(|c| c.certificate_id).collect())
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
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_by_rows_received_when_limit_is_capped() {
        let data: Vec<u32> = (0..25).collect();
        let mut offsets = Vec::new();
        let rows = page_by_rows(|offset| {
            offsets.push(offset);
            let page: Vec<u32> = data
                .iter()
                .skip(offset as usize)
                .take(10)
                .copied()
                .collect();
            async move { Ok((25, page)) }
        })
        .await
        .expect("ok");
        assert_eq!(rows, data);
        assert_eq!(offsets, [0, 10, 20]);
    }

    #[tokio::test]
    async fn stops_on_empty_page_even_if_total_lies() {
        let mut calls = 0;
        let rows: Vec<u32> = page_by_rows(|offset| {
            calls += 1;
            let page = if offset == 0 { vec![1, 2] } else { vec![] };
            async move { Ok((u64::MAX, page)) }
        })
        .await
        .expect("ok");
        assert_eq!(rows, [1, 2]);
        assert_eq!(calls, 2);
    }
}
