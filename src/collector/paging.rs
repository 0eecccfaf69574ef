//! The one pager, and the certificate list every collector starts from.

use std::future::Future;

use super::skeleton::Findings;
use crate::config::CertificateFilter;
use tencentcloud_ssl_api::action;
use tencentcloud_ssl_api::certificates::{
    CertificateState, CertificatesPage, DescribeCertificatesRequest, ListedCertificate, Tag,
    MAX_LIMIT,
};
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::Items;

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
pub(crate) async fn fetch_pages<P, F, Fut>(fetch_page: F) -> Result<Vec<(u64, P)>, ApiError>
where
    P: Page,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<P, ApiError>>,
{
    let mut pages = Vec::new();
    fetch_pages_each(fetch_page, |offset, page| {
        pages.push((offset, page));
        true
    })
    .await?;
    Ok(pages)
}

/// [`fetch_pages`], handing each page to `each` as it arrives (with the offset it was asked at)
/// instead of keeping it; `each` returning false stops the paging.
async fn fetch_pages_each<P, F, Fut>(
    mut fetch_page: F,
    mut each: impl FnMut(u64, P) -> bool,
) -> Result<(), ApiError>
where
    P: Page,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<P, ApiError>>,
{
    let mut offset = 0u64;
    for _ in 0..MAX_PAGES {
        let page = fetch_page(offset).await?;
        let (rows, extent) = (page.rows(), page.extent());
        let asked_at = offset;
        offset = offset.saturating_add(rows);
        if !each(asked_at, page) || rows == 0 || offset >= extent {
            break;
        }
    }
    Ok(())
}

/// What a plain list hands its reader, page by page ([`page_by_rows_each`]).
pub(crate) enum Paged<T> {
    /// `TotalCount` moved while paging: every row handed so far is to be forgotten, the list
    /// is read again from the start.
    Restart,
    /// The decoded rows of the next page.
    Rows(Vec<T>),
}

/// Every row of a plain list ([`fetch_pages`] over [`ListPage`]s). Rows that could not be
/// decoded, and a `TotalCount` that disagrees with the rows received, are reported to `findings`
/// under `action`. When `TotalCount` moved between two pages (a row was created or deleted while
/// paging, which shifts every later row by one: one would be missed or seen twice), the list is
/// read again from the start, once.
pub(crate) async fn page_by_rows<T, F, Fut>(
    action: &'static str,
    findings: &Findings,
    fetch_page: F,
) -> Result<Vec<T>, ApiError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(u64, Items<T>), ApiError>>,
{
    let mut rows = Vec::new();
    page_by_rows_each(action, findings, fetch_page, |paged| match paged {
        Paged::Restart => rows.clear(),
        Paged::Rows(page) => rows.extend(page),
    })
    .await?;
    Ok(rows)
}

/// [`page_by_rows`], handing the rows to `each` page by page as they arrive, so a large list
/// is never held whole; a moved `TotalCount` is handed as [`Paged::Restart`] before the list is
/// read again.
pub(crate) async fn page_by_rows_each<T, F, Fut>(
    action: &'static str,
    findings: &Findings,
    mut fetch_page: F,
    mut each: impl FnMut(Paged<T>),
) -> Result<(), ApiError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(u64, Items<T>), ApiError>>,
{
    let (mut stated, mut received) = (0u64, 0u64);
    for attempt in 0..2 {
        if attempt == 1 {
            tracing::debug!(
                action,
                "TotalCount moved while paging: reading the list again"
            );
            each(Paged::Restart);
        }
        (stated, received) = (0, 0);
        let (mut first, mut moved) = (None, false);
        let mut skipped = Vec::new();
        fetch_pages_each(
            |offset| {
                let page = fetch_page(offset);
                async move {
                    let (total, rows) = page.await?;
                    Ok(ListPage { total, rows })
                }
            },
            |_, page: ListPage<T>| {
                if attempt == 0 && *first.get_or_insert(page.total) != page.total {
                    moved = true;
                    return false;
                }
                stated = page.total;
                received += page.rows();
                skipped.extend(page.rows.skipped);
                each(Paged::Rows(page.rows.items));
                true
            },
        )
        .await?;
        if !moved {
            findings.skipped(action, &skipped);
            break;
        }
    }
    if received != stated {
        findings.totals_mismatch(action, "", &[("TotalCount", stated, received)]);
    }
    Ok(())
}

/// Every certificate of the account that `filter` selects, decoded as `T`, deduplicated by ID
/// (first occurrence wins), each reduced by `keep` (or left out) as its page arrives. IDs, tags
/// and the search key are filtered by the API; expired certificates (status 3) are dropped here
/// when the filter excludes them. The list is held at its size (a large account's list is held
/// for a whole run).
pub(crate) async fn list_certificates_as<T, U>(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
    mut keep: impl FnMut(T) -> Option<U>,
) -> Result<Vec<U>, ApiError>
where
    T: ListedCertificate + serde::de::DeserializeOwned,
{
    let mut rows = Vec::new();
    list_certificates_each(client, filter, findings, |paged| match paged {
        Paged::Restart => rows.clear(),
        Paged::Rows(page) => rows.extend(page.into_iter().filter_map(&mut keep)),
    })
    .await?;
    rows.shrink_to_fit();
    Ok(rows)
}

/// [`list_certificates_as`], page by page ([`page_by_rows_each`]).
pub(crate) async fn list_certificates_each<T>(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
    mut each: impl FnMut(Paged<T>),
) -> Result<(), ApiError>
where
    T: ListedCertificate + serde::de::DeserializeOwned,
{
    let mut seen = std::collections::HashSet::new();
    page_by_rows_each(
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
        |paged| match paged {
            Paged::Restart => {
                seen.clear();
                each(Paged::Restart);
            }
            Paged::Rows(rows) => each(Paged::Rows(
                rows.into_iter()
                    .filter(|row| {
                        (filter.include_expired || row.status() != Some(3))
                            && !row.id().is_empty()
                            && seen.insert(row.id().to_string())
                    })
                    .collect(),
            )),
        },
    )
    .await
}

/// The IDs (with status and deployability) of the selected certificates, decoding nothing
/// else of each.
pub(crate) async fn list_certificate_states(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
) -> Result<Vec<CertificateState>, ApiError> {
    list_certificates_as(client, filter, findings, Some).await
}

/// The IDs of the certificates `filter` selects, in list order, without their rows.
pub(crate) async fn list_certificate_ids(
    client: &Client,
    filter: &CertificateFilter,
    findings: &Findings,
) -> Result<Vec<String>, ApiError> {
    list_certificates_as(client, filter, findings, |state: CertificateState| {
        Some(state.certificate_id)
    })
    .await
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

    /// A row deleted between two pages: the second page starts one row later, so one row would
    /// be missed for a run; the moved TotalCount makes the list be read again.
    #[tokio::test]
    async fn a_row_deleted_between_pages_does_not_make_another_vanish() {
        let before: Vec<u32> = (0..20).collect();
        let after: Vec<u32> = (0..20).filter(|r| *r != 3).collect();
        let calls = std::cell::Cell::new(0);
        let findings = Findings::new("a", "test", &[]);
        let rows = page_by_rows("A", &findings, |offset| {
            calls.set(calls.get() + 1);
            // The first page is read before the deletion, everything after it after.
            let data = if calls.get() == 1 { &before } else { &after };
            let page: Vec<u32> = data
                .iter()
                .skip(offset as usize)
                .take(10)
                .copied()
                .collect();
            let total = data.len() as u64;
            async move { Ok((total, items(page))) }
        })
        .await
        .expect("ok");
        assert_eq!(rows, after, "row 10 is not lost");
        assert_eq!(calls.get(), 4, "two pages, then the whole list again");
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
