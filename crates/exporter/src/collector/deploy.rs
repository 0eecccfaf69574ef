//! The `upload_update` and `update` collectors: how certificate rollouts went.
//!
//! Both kinds work the same way and differ only in their actions and the shape of their detail,
//! which [`RecordKind`] and [`tencentcloud_ssl_api::records`] capture, so one implementation serves both.
//! A run lists the records (paged by rows received), drops those older than the max record age,
//! and fetches the detail of every record that may still change. A record whose entries and items
//! are all final is kept as it is and not fetched again, unless its list row changes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::stream;
use serde_json::Value;
use tokio::time::Instant;

use super::{
    fan_out, fetch_pages, merge, page_by_rows, CollectError, Collected, Collector,
    CollectorSettings, Held, Refresh,
};
use crate::metrics::{Family, SnapshotBuilder};
use tencentcloud_ssl_api::action;
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::records::{
    detail_request, parse_detail_page, DeployStatus, DetailPage, ListRequest, ListResponse,
    ListedRecord, Operation, RecordKind, LIST_LIMIT,
};
use tencentcloud_ssl_api::time;

fn list_action(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::UploadUpdate => action::DESCRIBE_UPLOAD_UPDATE_RECORD,
        RecordKind::Update => action::DESCRIBE_UPDATE_RECORD,
    }
}

fn detail_action(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::UploadUpdate => action::DESCRIBE_UPLOAD_UPDATE_RECORD_DETAIL,
        RecordKind::Update => action::DESCRIBE_UPDATE_RECORD_DETAIL,
    }
}

/// One operation entry with every page folded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryTotals {
    pub status: Option<i64>,
    pub create_time: String,
    /// Resource type → item key → item status code. Items are keyed by their `Id` so duplicates
    /// count once.
    pub items: BTreeMap<String, BTreeMap<String, Option<i64>>>,
}

/// A record's complete detail: entries keyed by (operation, creation time, ordinal).
pub type RecordDetail = BTreeMap<(Operation, String, usize), EntryTotals>;

/// Folds one page into `detail`. `offset` makes keys for items that have no `Id`.
pub fn add_page(detail: &mut RecordDetail, page: DetailPage, offset: u64) {
    let mut ordinals: HashMap<(Operation, String), usize> = HashMap::new();
    for (operation, entry) in page.entries {
        let ordinal = ordinals
            .entry((operation, entry.create_time.clone()))
            .and_modify(|n| *n += 1)
            .or_insert(0);
        let totals = detail
            .entry((operation, entry.create_time.clone(), *ordinal))
            .or_default();
        totals.status = entry.status.or(totals.status);
        totals.create_time = entry.create_time;
        for (resource_type, type_items) in entry.types {
            let slot = totals.items.entry(resource_type).or_default();
            for (index, (id, status)) in type_items.items.into_iter().enumerate() {
                let key = if id.is_empty() {
                    format!("#{}", offset + index as u64)
                } else {
                    id
                };
                slot.insert(key, status);
            }
        }
    }
}

/// Newest entry of one operation, summarised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationSummary {
    pub status: Option<DeployStatus>,
    /// (resource type, status) → resources.
    pub resources: BTreeMap<(String, DeployStatus), u64>,
}

/// What a record exports, and whether it can still change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub operations: BTreeMap<Operation, OperationSummary>,
    pub is_final: bool,
}

/// Summarises a record's detail. Pure. Update records take their status from the list row;
/// upload-update entries carry their own.
pub fn summarize(kind: RecordKind, row: &ListedRecord, detail: &RecordDetail) -> RecordSummary {
    let row_status = row.status.and_then(DeployStatus::from_code);
    let mut newest: BTreeMap<Operation, (&(Operation, String, usize), &EntryTotals)> =
        BTreeMap::new();
    let mut is_final = true;
    for (key, entry) in detail {
        let entry_status = match kind {
            RecordKind::UploadUpdate => entry.status.and_then(DeployStatus::from_code),
            RecordKind::Update => row_status,
        };
        is_final &= entry_status.is_some_and(DeployStatus::is_final);
        is_final &= entry.items.values().flat_map(BTreeMap::values).all(|s| {
            s.and_then(DeployStatus::from_code)
                .is_some_and(DeployStatus::is_final)
        });
        let sort_key =
            |k: &(Operation, String, usize)| (time::parse_api_time(&k.1).unwrap_or(i64::MIN), k.2);
        newest
            .entry(key.0)
            .and_modify(|current| {
                if sort_key(key) >= sort_key(current.0) {
                    *current = (key, entry);
                }
            })
            .or_insert((key, entry));
    }
    if detail.is_empty() {
        is_final = row_status.is_some_and(DeployStatus::is_final);
    }
    let mut operations = BTreeMap::new();
    for (operation, (_, entry)) in newest {
        let mut summary = OperationSummary {
            status: match kind {
                RecordKind::UploadUpdate => entry.status.and_then(DeployStatus::from_code),
                RecordKind::Update => row_status,
            },
            resources: BTreeMap::new(),
        };
        for (resource_type, items) in &entry.items {
            for status in items
                .values()
                .filter_map(|s| s.and_then(DeployStatus::from_code))
            {
                *summary
                    .resources
                    .entry((resource_type.clone(), status))
                    .or_default() += 1;
            }
        }
        operations.insert(operation, summary);
    }
    if operations.is_empty() && kind == RecordKind::Update {
        operations.insert(
            Operation::Deploy,
            OperationSummary {
                status: row_status,
                resources: BTreeMap::new(),
            },
        );
    }
    RecordSummary {
        operations,
        is_final,
    }
}

/// Writes one record's series. Pure.
pub fn write_record(
    builder: &mut SnapshotBuilder,
    kind: RecordKind,
    row: &ListedRecord,
    summary: &RecordSummary,
) {
    let record_type = kind.label();
    let cert = row.certificate_id(kind);
    let old_cert = if row.old_cert_id.is_empty() {
        cert
    } else {
        row.old_cert_id.as_str()
    };
    builder.sample(
        Family::DeployRecordInfo,
        &[record_type, &row.id, cert, old_cert],
        1.0,
    );
    if let Some(created) = time::parse_api_time(&row.create_time) {
        builder.sample(
            Family::DeployRecordCreated,
            &[record_type, &row.id, cert],
            created as f64,
        );
    }
    for (operation, op) in &summary.operations {
        let prefix = [record_type, row.id.as_str(), cert, operation.label()];
        if let Some(status) = op.status {
            builder.state_set(
                Family::DeployRecordStatus,
                &prefix,
                &DeployStatus::ALL,
                status,
                DeployStatus::label,
            );
        }
        for ((resource_type, status), count) in &op.resources {
            builder.sample(
                Family::DeployResources,
                &[
                    record_type,
                    &row.id,
                    cert,
                    operation.label(),
                    resource_type,
                    status.label(),
                ],
                *count as f64,
            );
        }
    }
}

/// Fetches every page of one record's detail.
pub(crate) async fn fetch_detail(
    client: &Client,
    kind: RecordKind,
    record_id: &str,
) -> Result<RecordDetail, ApiError> {
    let action = detail_action(kind);
    let pages = fetch_pages(|offset| async move {
        let response: Value = client
            .call(action, &detail_request(kind, record_id, offset))
            .await?;
        parse_detail_page(kind, response).map_err(|message| ApiError::Decode {
            action: action.to_string(),
            message,
        })
    })
    .await?;
    let mut detail = RecordDetail::new();
    for (offset, page) in pages {
        add_page(&mut detail, page, offset);
    }
    Ok(detail)
}

#[derive(Debug, Clone)]
struct RecordState {
    row: ListedRecord,
    summary: RecordSummary,
}

pub(crate) struct DeployCollector {
    kind: RecordKind,
    client: Client,
    settings: CollectorSettings,
    /// Records created longer ago than this are not exported (bounds cardinality).
    max_age: Duration,
    cache: HashMap<String, Held<RecordState>>,
    /// Text sizes of the last snapshot, to size the next one's buffers.
    last_sizes: Vec<usize>,
}

impl DeployCollector {
    pub(crate) fn new(
        kind: RecordKind,
        client: Client,
        settings: CollectorSettings,
        max_age: Duration,
    ) -> Self {
        DeployCollector {
            kind,
            client,
            settings,
            max_age,
            cache: HashMap::new(),
            last_sizes: Vec::new(),
        }
    }

    async fn list(&self) -> Result<Vec<ListedRecord>, ApiError> {
        let client = &self.client;
        let action = list_action(self.kind);
        page_by_rows(|offset| async move {
            let page: ListResponse = client
                .call(
                    action,
                    &ListRequest {
                        offset,
                        limit: LIST_LIMIT,
                    },
                )
                .await?;
            Ok((page.total_count, page.deploy_record_list))
        })
        .await
    }
}

impl Collector for DeployCollector {
    fn name(&self) -> &'static str {
        self.kind.label()
    }

    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let oldest = time::now_unix() - self.max_age.as_secs() as i64;
        let mut seen = HashSet::new();
        let rows: Vec<ListedRecord> = self
            .list()
            .await?
            .into_iter()
            .filter(|row| !row.id.is_empty() && seen.insert(row.id.clone()))
            .filter(|row| time::parse_api_time(&row.create_time).is_none_or(|t| t >= oldest))
            .collect();
        let to_fetch: Vec<String> = rows
            .iter()
            .filter(|row| {
                !self
                    .cache
                    .get(&row.id)
                    .is_some_and(|held| held.value.is_final_as(row))
            })
            .map(|row| row.id.clone())
            .collect();
        let (client, kind) = (&self.client, self.kind);
        let fetched: HashMap<String, Result<RecordDetail, ApiError>> = fan_out(
            stream::iter(to_fetch),
            self.settings.concurrency,
            |id| async move {
                let detail = fetch_detail(client, kind, &id).await;
                (id, detail)
            },
        )
        .await
        .into_iter()
        .collect();

        let now = Instant::now();
        let stale_after = self.settings.stale_after();
        let mut errors = Vec::new();
        let mut fresh_cache = HashMap::with_capacity(rows.len());
        for row in &rows {
            let held = self.cache.remove(&row.id);
            let refresh = match fetched.get(&row.id) {
                Some(Ok(detail)) => Refresh::Fresh(RecordState {
                    row: row.clone(),
                    summary: summarize(self.kind, row, detail),
                }),
                Some(Err(e)) if e.is_auth() => return Err(e.clone().into()),
                Some(Err(e)) => {
                    errors.push(format!("record {}: {e}", row.id));
                    Refresh::Failed
                }
                // Final and unchanged: still exactly what it was.
                None => Refresh::Unchanged,
            };
            if let Some(state) = merge(held, refresh, now, stale_after) {
                fresh_cache.insert(row.id.clone(), state);
            }
        }
        self.cache = fresh_cache;
        let mut builder = SnapshotBuilder::sized_like(&self.settings.account, &self.last_sizes);
        for row in &rows {
            if let Some(held) = self.cache.get(&row.id) {
                write_record(
                    &mut builder,
                    self.kind,
                    &held.value.row,
                    &held.value.summary,
                );
            }
        }
        let snapshot = builder.finish();
        self.last_sizes = snapshot.sizes();
        Ok(Collected { snapshot, errors })
    }
}

#[cfg(test)]
impl DeployCollector {
    /// Records whose detail is held as final (fetched no more while unchanged).
    pub(crate) fn final_records(&self) -> usize {
        self.cache
            .values()
            .filter(|h| h.value.summary.is_final)
            .count()
    }
}

impl RecordState {
    /// Whether this held state is final and `row` shows the record unchanged since, so the
    /// detail need not be fetched again.
    fn is_final_as(&self, row: &ListedRecord) -> bool {
        self.summary.is_final
            && self.row.update_time == row.update_time
            && self.row.status == row.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tencentcloud_ssl_api::records::parse_detail_page;

    fn row(status: Option<i64>) -> ListedRecord {
        ListedRecord {
            id: "7".into(),
            cert_id: "new".into(),
            old_cert_id: "old".into(),
            status,
            create_time: "2025-05-20 15:03:17".into(),
            update_time: "2025-05-20 15:05:00".into(),
        }
    }

    fn detail(kind: RecordKind, pages: &[&str]) -> RecordDetail {
        let mut detail = RecordDetail::new();
        for (i, page) in pages.iter().enumerate() {
            let value: Value = serde_json::from_str(page).expect("json");
            add_page(
                &mut detail,
                parse_detail_page(kind, value).expect("page"),
                i as u64 * 200,
            );
        }
        detail
    }

    #[test]
    fn upload_update_newest_entry_per_operation() {
        let d = detail(
            RecordKind::UploadUpdate,
            &[r#"{"DeployRecordDetail":[
                {"Type":0,"Status":2,"CreateTime":"2025-05-20 15:03:17","RecordDetailList":[
                    {"ResourceType":"clb","TotalCount":3,"List":[{"Id":1,"Status":1},{"Id":2,"Status":2},{"Id":3,"Status":2}]}]},
                {"Type":1,"Status":4,"CreateTime":"2025-05-20 15:18:58","RecordDetailList":[
                    {"ResourceType":"clb","TotalCount":1,"List":[{"Id":9,"Status":4}]}]},
                {"Type":0,"Status":3,"CreateTime":"2025-05-20 16:00:00","RecordDetailList":[
                    {"ResourceType":"cdn","TotalCount":1,"List":[{"Id":11,"Status":3}]}]}
            ]}"#],
        );
        let summary = summarize(RecordKind::UploadUpdate, &row(None), &d);
        let deploy = &summary.operations[&Operation::Deploy];
        assert_eq!(
            deploy.status,
            Some(DeployStatus::Running),
            "newest deploy entry wins"
        );
        assert_eq!(
            deploy.resources,
            BTreeMap::from([(("cdn".to_string(), DeployStatus::Running), 1)])
        );
        let rollback = &summary.operations[&Operation::Rollback];
        assert_eq!(rollback.status, Some(DeployStatus::RollbackSuccess));
        assert!(!summary.is_final, "a running entry can still change");
    }

    #[test]
    fn update_record_counts_across_pages_and_dedupes_ids() {
        let d = detail(
            RecordKind::Update,
            &[
                r#"{"RecordDetailList":[{"ResourceType":"clb","TotalCount":3,"List":[{"Id":1,"Status":1},{"Id":2,"Status":2}]}]}"#,
                r#"{"RecordDetailList":[{"ResourceType":"clb","TotalCount":3,"List":[{"Id":2,"Status":2},{"Id":3,"Status":6}]}]}"#,
            ],
        );
        let summary = summarize(RecordKind::Update, &row(Some(2)), &d);
        let deploy = &summary.operations[&Operation::Deploy];
        assert_eq!(deploy.status, Some(DeployStatus::Failed));
        assert_eq!(
            deploy.resources,
            BTreeMap::from([
                (("clb".to_string(), DeployStatus::Success), 1),
                (("clb".to_string(), DeployStatus::Failed), 1),
                (("clb".to_string(), DeployStatus::NoResource), 1),
            ])
        );
        assert!(summary.is_final);
    }

    #[test]
    fn unknown_item_status_is_not_final() {
        let d = detail(
            RecordKind::Update,
            &[
                r#"{"RecordDetailList":[{"ResourceType":"clb","TotalCount":1,"List":[{"Id":1,"Status":42}]}]}"#,
            ],
        );
        assert!(!summarize(RecordKind::Update, &row(Some(1)), &d).is_final);
    }

    #[test]
    fn writes_contract_series() {
        let d = detail(
            RecordKind::Update,
            &[
                r#"{"RecordDetailList":[{"ResourceType":"clb","TotalCount":1,"List":[{"Id":1,"Status":2}]}]}"#,
            ],
        );
        let r = row(Some(2));
        let summary = summarize(RecordKind::Update, &r, &d);
        let mut builder = SnapshotBuilder::new("a");
        write_record(&mut builder, RecordKind::Update, &r, &summary);
        let s = builder.finish();
        assert_eq!(
            s.chunk(Family::DeployRecordInfo),
            "tencentcloud_ssl_deploy_record_info{account=\"a\",record_type=\"update\",record_id=\"7\",certificate_id=\"new\",old_certificate_id=\"old\"} 1\n"
        );
        assert!(s.chunk(Family::DeployRecordStatus).contains(
            "tencentcloud_ssl_deploy_record_status{account=\"a\",record_type=\"update\",record_id=\"7\",certificate_id=\"new\",operation=\"deploy\",status=\"failed\"} 1\n"
        ));
        assert_eq!(s.chunk(Family::DeployRecordStatus).lines().count(), 7);
        assert_eq!(
            s.chunk(Family::DeployResources),
            "tencentcloud_ssl_deploy_resources{account=\"a\",record_type=\"update\",record_id=\"7\",certificate_id=\"new\",operation=\"deploy\",resource_type=\"clb\",status=\"failed\"} 1\n"
        );
        assert_eq!(
            s.chunk(Family::DeployRecordCreated),
            "tencentcloud_ssl_deploy_record_created_timestamp_seconds{account=\"a\",record_type=\"update\",record_id=\"7\",certificate_id=\"new\"} 1747724597\n"
        );
    }
}
