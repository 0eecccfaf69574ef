//! The rollout collectors `upload_update`, `update` and `deploy`: how certificate rollouts went.
//!
//! The three kinds work the same way and differ only in their actions and the shape of their
//! detail, which [`RecordKind`] and [`tencentcloud_ssl_api::records`] capture, so one
//! implementation serves them all. A run lists the records (paged by rows received), drops those
//! older than the max record age, and fetches the detail of every record that may still change.
//! A record whose entries and items are all final is kept as it is and not fetched again, unless
//! its list row changes.
//!
//! Deploy records are listed per certificate (`DescribeHostDeployRecord` requires a
//! `CertificateId`), so that collector costs one list call per certificate per run. It spreads
//! those calls over half its interval instead of bursting at the action's limit (leaving room for
//! the console, which shares the limit), and skips the list of a certificate the API says is not
//! `Deployable` once it holds that certificate's records: no new deploy can start on it.
//!
//! A status code outside the documented set is exported as `status="unknown"`, its raw code in
//! `tencentcloud_ssl_unknown_status_codes`, logged once per record, and never taken as final.
//! Totals an answer states are compared with the items received.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{
    fetch_each, fetch_pages, list_certificate_states, merge, page_by_rows, CollectError, Collected,
    Collector, CollectorSettings, Core, Findings, Held, Refresh,
};
use crate::config::CertificateFilter;
use crate::headlines::{Headline, Headlines};
use crate::metrics::{series, Snapshot, SnapshotBuilder};
use crate::targets::{Claim, TargetBook, DEFAULT_PORT};
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::records::{
    detail_request, parse_detail_page, DeployStatus, DetailPage, ItemDomains, ListRequest,
    ListResponse, ListedRecord, Operation, RecordKind, Totals, LIST_LIMIT,
};
use tencentcloud_ssl_api::time;

/// One operation entry with every page folded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryTotals {
    pub status: Option<i64>,
    pub create_time: String,
    /// The totals the answer states for the entry.
    pub stated: Totals,
    /// Resource type → item key → item status code. Items are keyed by their `Id` so duplicates
    /// count once.
    pub items: BTreeMap<String, BTreeMap<String, Option<i64>>>,
    /// (resource type, item `Id`) → the domains the item names, for items that name any.
    pub domains: BTreeMap<(String, String), ItemDomains>,
    /// How many pages of the detail named the entry (each read at its own moment).
    pub pages: u32,
}

/// A record's complete detail: entries keyed by (operation, creation time, ordinal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordDetail {
    pub entries: BTreeMap<(Operation, String, usize), EntryTotals>,
    /// The certificate replaced, as the detail's items name it (deploy records).
    pub old_cert_id: String,
}

/// Folds one page into `detail`. `offset` makes keys for items that have no `Id`.
pub fn add_page(detail: &mut RecordDetail, page: DetailPage, offset: u64) {
    let mut ordinals: HashMap<(Operation, String), usize> = HashMap::new();
    for (operation, entry) in page.entries {
        let ordinal = ordinals
            .entry((operation, entry.create_time.clone()))
            .and_modify(|n| *n += 1)
            .or_insert(0);
        if detail.old_cert_id.is_empty() {
            detail.old_cert_id.clone_from(&entry.old_cert_id);
        }
        let totals = detail
            .entries
            .entry((operation, entry.create_time.clone(), *ordinal))
            .or_default();
        totals.status = entry.status.or(totals.status);
        totals.create_time = entry.create_time;
        totals.stated = entry.totals;
        totals.pages += 1;
        for (resource_type, type_items) in entry.types {
            for named in type_items.domains.into_iter().filter(|d| !d.id.is_empty()) {
                totals
                    .domains
                    .insert((resource_type.clone(), named.id.clone()), named);
            }
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
    /// (resource type, status) → number of resources.
    pub resources: BTreeMap<(String, DeployStatus), u64>,
}

/// What a record exports, and whether it can still change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub operations: BTreeMap<Operation, OperationSummary>,
    pub is_final: bool,
    /// The certificate replaced (deploy records take it from the detail's items).
    pub old_cert_id: String,
    /// Codes outside the documented set: (object: `record`, `entry` or `item`, code) → count.
    pub unknown: BTreeMap<(&'static str, i64), u64>,
}

impl RecordSummary {
    /// Whether the newest entry of one of its operations failed (a deploy or a rollback).
    pub fn has_failed(&self) -> bool {
        self.operations.values().any(|op| {
            matches!(
                op.status,
                Some(DeployStatus::Failed | DeployStatus::RollbackFailed)
            )
        })
    }
}

/// Whether a listed row's status is final (a record still pending, running or in an unknown
/// state may change).
fn row_is_final(row: &ListedRecord) -> bool {
    status_of(row.status).is_some_and(DeployStatus::is_final)
}

fn status_of(code: Option<i64>) -> Option<DeployStatus> {
    code.map(DeployStatus::from_code)
}

/// Summarises a record's detail. Pure. Update and deploy records take their status from the
/// list row; upload-update entries carry their own. Deploy items name no resource type: they
/// are the list row's.
pub fn summarize(kind: RecordKind, row: &ListedRecord, detail: &RecordDetail) -> RecordSummary {
    let row_status = status_of(row.status);
    let mut unknown: BTreeMap<(&'static str, i64), u64> = BTreeMap::new();
    let mut note = |object: &'static str, code: Option<i64>| {
        if let Some(code) = code.filter(|c| DeployStatus::from_code(*c) == DeployStatus::Unknown) {
            *unknown.entry((object, code)).or_default() += 1;
        }
    };
    if kind != RecordKind::UploadUpdate {
        note("record", row.status);
    }
    let entry_status = |entry: &EntryTotals| match kind {
        RecordKind::UploadUpdate => status_of(entry.status),
        RecordKind::Update | RecordKind::Deploy => row_status,
    };
    let mut newest: BTreeMap<Operation, (&(Operation, String, usize), &EntryTotals)> =
        BTreeMap::new();
    let mut is_final = true;
    for (key, entry) in &detail.entries {
        if kind == RecordKind::UploadUpdate {
            note("entry", entry.status);
        }
        is_final &= entry_status(entry).is_some_and(DeployStatus::is_final);
        for status in entry.items.values().flat_map(BTreeMap::values) {
            note("item", *status);
            is_final &= status_of(*status).is_some_and(DeployStatus::is_final);
        }
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
    if detail.entries.is_empty() {
        is_final = row_status.is_some_and(DeployStatus::is_final);
    }
    let row_type = row.resource_type.to_ascii_lowercase();
    let mut operations = BTreeMap::new();
    for (operation, (_, entry)) in newest {
        let mut summary = OperationSummary {
            status: entry_status(entry),
            resources: BTreeMap::new(),
        };
        for (resource_type, items) in &entry.items {
            let resource_type = if resource_type.is_empty() {
                &row_type
            } else {
                resource_type
            };
            for status in items.values().filter_map(|s| status_of(*s)) {
                *summary
                    .resources
                    .entry((resource_type.clone(), status))
                    .or_default() += 1;
            }
        }
        operations.insert(operation, summary);
    }
    if operations.is_empty() && kind != RecordKind::UploadUpdate {
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
        old_cert_id: detail.old_cert_id.clone(),
        unknown,
    }
}

/// The endpoints a record's items say its certificate was put on: the domains of the deploy
/// entries' items that succeeded, as of the entry's (or record's) creation, except those a later
/// successful rollback took back (a rollback restores content the certificate ID does not name,
/// so it claims nothing itself). Pure.
pub fn rollout_claims(kind: RecordKind, row: &ListedRecord, detail: &RecordDetail) -> Vec<Claim> {
    let row_type = row.resource_type.to_ascii_lowercase();
    let row_at = time::parse_api_time(&row.create_time);
    let certificate_id = row.certificate_id(kind);
    // (domain, port) → when it was last deployed or rolled back, and by which operation.
    let mut latest: BTreeMap<(String, u16), (Option<i64>, Operation, String)> = BTreeMap::new();
    for ((operation, created, _), entry) in &detail.entries {
        let at = time::parse_api_time(created).or(row_at);
        for ((resource_type, item), named) in &entry.domains {
            let succeeded = entry
                .items
                .get(resource_type)
                .and_then(|items| items.get(item))
                .is_some_and(|code| {
                    matches!(
                        status_of(*code),
                        Some(DeployStatus::Success | DeployStatus::RollbackSuccess)
                    )
                });
            if !succeeded {
                continue;
            }
            let resource_type = if resource_type.is_empty() {
                &row_type
            } else {
                resource_type
            };
            for domain in &named.domains {
                let key = (domain.clone(), named.port.unwrap_or(DEFAULT_PORT));
                let newer = latest.get(&key).is_none_or(|(seen, _, _)| at >= *seen);
                if newer {
                    latest.insert(key, (at, *operation, resource_type.clone()));
                }
            }
        }
    }
    if certificate_id.is_empty() {
        return Vec::new();
    }
    latest
        .into_iter()
        .filter(|(_, (_, operation, _))| *operation == Operation::Deploy)
        .map(|((domain, port), (at, _, resource_type))| Claim {
            domain,
            port,
            certificate_id: certificate_id.to_string(),
            resource_type,
            source: kind.label(),
            stated_at: at,
            inactive: None,
        })
        .collect()
}

/// Compares the totals each entry states with its items: `TotalCount` with the items received,
/// and the success, failed, running and pending counts with the items in those states (success
/// counts rolled-back items, failed counts failed rollbacks). An entry still in flight (items
/// pending or running, as stated or as received) that spans several pages is compared on
/// `TotalCount` only: its items change state between the pages, so the state counts of the page
/// that states them need not match rows read from the other pages, and that is not an answer
/// misread.
/// Returns (field, stated, received) of every disagreement. Pure.
pub fn totals_disagreements(detail: &RecordDetail) -> Vec<(&'static str, u64, u64)> {
    let mut out = Vec::new();
    for entry in detail.entries.values() {
        let stated = entry.stated;
        if stated == Totals::default() {
            continue;
        }
        let mut seen = [0u64; 5];
        for status in entry.items.values().flat_map(BTreeMap::values) {
            seen[0] += 1;
            match status_of(*status) {
                Some(DeployStatus::Success | DeployStatus::RollbackSuccess) => seen[1] += 1,
                Some(DeployStatus::Failed | DeployStatus::RollbackFailed) => seen[2] += 1,
                Some(DeployStatus::Running) => seen[3] += 1,
                Some(DeployStatus::Pending) => seen[4] += 1,
                _ => {}
            }
        }
        let moving = entry.pages > 1
            && stated.running_total_count + stated.pending_total_count + seen[3] + seen[4] > 0;
        for (field, stated, received) in [
            ("TotalCount", stated.total_count, seen[0]),
            ("SuccessTotalCount", stated.success_total_count, seen[1]),
            ("FailedTotalCount", stated.failed_total_count, seen[2]),
            ("RunningTotalCount", stated.running_total_count, seen[3]),
            ("PendingTotalCount", stated.pending_total_count, seen[4]),
        ] {
            if stated != received && (field == "TotalCount" || !moving) {
                out.push((field, stated, received));
            }
        }
    }
    out
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
    let old_cert = if kind == RecordKind::Deploy && !summary.old_cert_id.is_empty() {
        summary.old_cert_id.as_str()
    } else if !row.old_cert_id.is_empty() {
        row.old_cert_id.as_str()
    } else {
        cert
    };
    let record_id = row.id.as_str();
    builder.sample(
        series::DeployRecordInfo {
            record_type,
            record_id,
            certificate_id: cert,
            old_certificate_id: old_cert,
        },
        1.0,
    );
    if let Some(created) = time::parse_api_time(&row.create_time) {
        builder.sample(
            series::DeployRecordCreated {
                record_type,
                record_id,
                certificate_id: cert,
            },
            created as f64,
        );
    }
    for ((object, code), count) in &summary.unknown {
        builder.sample(
            series::UnknownStatusCodes {
                object,
                record_type,
                object_id: record_id,
                code: &code.to_string(),
            },
            *count as f64,
        );
    }
    for (operation, op) in &summary.operations {
        let operation = operation.label();
        if let Some(status) = op.status {
            builder.state_set(&DeployStatus::ALL, status, DeployStatus::label, |status| {
                series::DeployRecordStatus {
                    record_type,
                    record_id,
                    certificate_id: cert,
                    operation,
                    status,
                }
            });
        }
        for ((resource_type, status), count) in &op.resources {
            builder.sample(
                series::DeployResources {
                    record_type,
                    record_id,
                    certificate_id: cert,
                    operation,
                    resource_type,
                    status: status.label(),
                },
                *count as f64,
            );
        }
    }
}

/// Fetches every page of one record's detail; items it cannot decode and totals that disagree
/// with the items are reported to `findings`.
pub(crate) async fn fetch_detail(
    client: &Client,
    kind: RecordKind,
    record_id: &str,
    findings: &Findings,
) -> Result<RecordDetail, ApiError> {
    let action = kind.detail_action();
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
    let mut detail = RecordDetail::default();
    for (offset, page) in pages {
        findings.skipped(action, &page.skipped);
        add_page(&mut detail, page, offset);
    }
    findings.totals_mismatch(
        action,
        &format!("record {record_id}"),
        &totals_disagreements(&detail),
    );
    Ok(detail)
}

#[derive(Debug, Clone)]
struct RecordState {
    row: ListedRecord,
    summary: RecordSummary,
    /// The endpoints its items name; empty unless endpoints are probed.
    claims: Vec<Claim>,
}

pub(crate) struct RecordsCollector {
    kind: RecordKind,
    core: Core,
    /// Records created longer ago than this are not exported (bounds cardinality).
    max_age: Duration,
    /// Which certificates' deploy records are listed (deploy kind only).
    filter: CertificateFilter,
    cache: HashMap<String, Held<RecordState>>,
    /// Deploy kind: the rows last listed for each certificate, reused for certificates the API
    /// says are not deployable (no new deploy can start on them).
    listed: HashMap<String, Held<Vec<ListedRecord>>>,
    /// (record, code) pairs already logged as unknown: each is logged once.
    warned: HashSet<(String, i64)>,
}

impl RecordsCollector {
    pub(crate) fn new(
        kind: RecordKind,
        client: Client,
        settings: CollectorSettings,
        max_age: Duration,
        filter: CertificateFilter,
    ) -> Self {
        RecordsCollector {
            core: Core::new(
                kind.label(),
                client,
                settings,
                &if kind == RecordKind::Deploy {
                    vec![
                        tencentcloud_ssl_api::action::DESCRIBE_CERTIFICATES,
                        kind.list_action(),
                        kind.detail_action(),
                    ]
                } else {
                    vec![kind.list_action(), kind.detail_action()]
                },
            ),
            kind,
            max_age,
            filter,
            cache: HashMap::new(),
            listed: HashMap::new(),
            warned: HashSet::new(),
        }
    }

    /// Also keeps the endpoints the records' items name, and publishes them to `book` after
    /// every run.
    pub(crate) fn publishing_to(mut self, book: Arc<TargetBook>) -> Self {
        self.core.publish_to(book);
        self
    }

    /// One list, paged by rows received; `certificate_id` for the per-certificate deploy list.
    async fn list_one(&self, certificate_id: Option<&str>) -> Result<Vec<ListedRecord>, ApiError> {
        let (client, action) = (&self.core.client, self.kind.list_action());
        page_by_rows(action, &self.core.findings, |offset| async move {
            let page: ListResponse = client
                .call(
                    action,
                    &ListRequest {
                        certificate_id: certificate_id.map(str::to_string),
                        offset,
                        limit: LIST_LIMIT,
                    },
                )
                .await?;
            Ok((page.total_count, page.deploy_record_list))
        })
        .await
    }

    /// Every record row: one list, or (deploy records) one list per selected certificate, the
    /// calls spread over half the interval. A certificate that cannot be deployed keeps the rows
    /// held for it while they are all final (no new deploy can start, and nothing held is still
    /// moving); a failed certificate list keeps its held rows within the staleness bound, and is
    /// reported in `errors`; a credentials failure fails the run.
    async fn list(
        &mut self,
        errors: &mut Vec<String>,
        stale_after: Duration,
    ) -> Result<Vec<ListedRecord>, ApiError> {
        if self.kind != RecordKind::Deploy {
            return self.list_one(None).await;
        }
        let certificates =
            list_certificate_states(&self.core.client, &self.filter, &self.core.findings).await?;
        let settled = |id: &str| {
            self.listed
                .get(id)
                .is_some_and(|held| held.value.iter().all(row_is_final))
        };
        let to_list: Vec<String> = certificates
            .iter()
            .filter(|c| c.deployable != Some(false) || !settled(&c.certificate_id))
            .map(|c| c.certificate_id.clone())
            .collect();
        // The first run lists at the action's limit (readiness waits for it); later runs spread
        // their calls over half the interval.
        let gap = if self.listed.is_empty() {
            Duration::ZERO
        } else {
            (self.core.settings.interval / 2)
                .checked_div(u32::try_from(to_list.len()).unwrap_or(u32::MAX).max(1))
                .unwrap_or_default()
        };
        let start = Instant::now();
        let this = &*self;
        // A credentials or permission failure, or an action not offered, stops the loop at the
        // first one.
        let lists = fetch_each(
            to_list.into_iter().enumerate(),
            self.core.settings.concurrency,
            |(index, id)| async move {
                let slot = gap.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
                tokio::time::sleep_until(start + slot).await;
                this.list_one(Some(&id)).await
            },
        )
        .await?;
        let now = Instant::now();
        let mut answers: HashMap<String, Result<Vec<ListedRecord>, ApiError>> = lists
            .into_iter()
            .map(|((_, id), rows)| (id, rows))
            .collect();
        let mut listed = HashMap::with_capacity(certificates.len());
        for certificate in &certificates {
            let id = &certificate.certificate_id;
            let refresh = match answers.remove(id) {
                Some(Ok(rows)) => Refresh::Fresh(rows),
                Some(Err(e)) => {
                    errors.push(format!("certificate {id}: {e}"));
                    Refresh::Unanswered
                }
                // Not listed: it cannot be deployed and every row held is final.
                None => Refresh::Unchanged,
            };
            if let Some(held) = merge(self.listed.remove(id), refresh, now, stale_after) {
                listed.insert(id.clone(), held);
            }
        }
        self.listed = listed;
        Ok(self
            .listed
            .values()
            .flat_map(|held| held.value.iter().cloned())
            .collect())
    }

    /// Logs each unknown code of a record once.
    fn warn_unknown(&mut self, row: &ListedRecord, summary: &RecordSummary) {
        for (object, code) in summary.unknown.keys() {
            if self.warned.insert((row.id.clone(), *code)) {
                tracing::warn!(
                    account = %self.core.settings.account,
                    collector = self.kind.label(),
                    record_id = %row.id,
                    object,
                    code,
                    "status code outside the documented set: exported as status=\"unknown\" and asked again next run"
                );
            }
        }
    }
}

impl Collector for RecordsCollector {
    fn name(&self) -> &'static str {
        self.core.name
    }

    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let outcome = self.run().await;
        self.core.tried(outcome)
    }
}

impl RecordsCollector {
    /// One run, in steps: list the rows, keep those in the window, fetch the details that may
    /// have changed, fold them into what is held, publish the endpoints, render.
    /// [`Collector::collect`] adds what the target book needs.
    async fn run(&mut self) -> Result<Collected, CollectError> {
        let started = Instant::now();
        let oldest = time::now_unix() - i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        let mut errors = Vec::new();
        let stale_after = self.core.settings.stale_after(self.core.settings.interval);
        let rows = rows_in_window(self.list(&mut errors, stale_after).await?, oldest);
        let fetched = self.fetch_changed(&rows).await?;
        let stale_after = self.core.settings.stale_after(started.elapsed());
        self.fold(&rows, fetched, Instant::now(), stale_after, &mut errors);
        self.core.publish(
            || {
                self.cache
                    .values()
                    .flat_map(|held| held.value.claims.iter().cloned())
                    .collect()
            },
            stale_after,
        );
        let snapshot = self.render(&rows);
        let failed = self
            .cache
            .values()
            .filter(|held| held.value.summary.has_failed())
            .count();
        Ok(Collected {
            snapshot,
            errors,
            headlines: Headlines {
                counts: vec![(Headline::FailedRollouts, failed as u64)],
                expiring: Vec::new(),
            },
        })
    }

    /// The details of the rows whose held state may no longer be what they say (any not held
    /// as final and unchanged). A credentials failure fails the run before anything held is
    /// touched, so the final records held so far survive it.
    async fn fetch_changed(
        &self,
        rows: &[ListedRecord],
    ) -> Result<HashMap<String, Result<RecordDetail, ApiError>>, ApiError> {
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
        let (core, kind) = (&self.core, self.kind);
        let fetched = fetch_each(to_fetch, core.settings.concurrency, |id| async move {
            fetch_detail(&core.client, kind, &id, &core.findings).await
        })
        .await?;
        Ok(fetched.into_iter().collect())
    }

    /// Replaces what is held with what `fetched` says of each of `rows` (a row not fetched is
    /// final and unchanged; a failed fetch keeps the held state within the staleness bound).
    fn fold(
        &mut self,
        rows: &[ListedRecord],
        fetched: HashMap<String, Result<RecordDetail, ApiError>>,
        now: Instant,
        stale_after: Duration,
        errors: &mut Vec<String>,
    ) {
        let mut fresh_cache = HashMap::with_capacity(rows.len());
        for row in rows {
            let held = self.cache.remove(&row.id);
            let refresh = match fetched.get(&row.id) {
                Some(Ok(detail)) => {
                    let summary = summarize(self.kind, row, detail);
                    self.warn_unknown(row, &summary);
                    let claims = if self.core.publishes() {
                        rollout_claims(self.kind, row, detail)
                    } else {
                        Vec::new()
                    };
                    Refresh::Fresh(RecordState {
                        row: row.clone(),
                        summary,
                        claims,
                    })
                }
                Some(Err(e)) => {
                    errors.push(format!("record {}: {e}", row.id));
                    Refresh::Unanswered
                }
                // Final and unchanged: still exactly what it was.
                None => Refresh::Unchanged,
            };
            if let Some(state) = merge(held, refresh, now, stale_after) {
                fresh_cache.insert(row.id.clone(), state);
            }
        }
        self.cache = fresh_cache;
        self.warned.retain(|(id, _)| self.cache.contains_key(id));
    }

    /// The run's snapshot: the held state of each of `rows`, in their order.
    fn render(&mut self, rows: &[ListedRecord]) -> Snapshot {
        let mut builder = self.core.builder();
        self.core.entries(&mut builder, "records", self.cache.len());
        self.core.entries(&mut builder, "listed", self.listed.len());
        self.core.entries(&mut builder, "warned", self.warned.len());
        for row in rows {
            if let Some(held) = self.cache.get(&row.id) {
                write_record(
                    &mut builder,
                    self.kind,
                    &held.value.row,
                    &held.value.summary,
                );
            }
        }
        self.core.seal(builder)
    }
}

/// The rows to export: each record once (the first row of an ID wins), none created before
/// `oldest` (unix seconds; a row whose time cannot be read is kept), newest first as the single
/// lists answer (per-certificate lists are merged here). Pure.
pub fn rows_in_window(rows: Vec<ListedRecord>, oldest: i64) -> Vec<ListedRecord> {
    let mut seen = HashSet::new();
    let mut rows: Vec<ListedRecord> = rows
        .into_iter()
        .filter(|row| !row.id.is_empty() && seen.insert(row.id.clone()))
        .filter(|row| time::parse_api_time(&row.create_time).is_none_or(|t| t >= oldest))
        .collect();
    // Each row's time is parsed once, not once per comparison.
    rows.sort_by_cached_key(|r| {
        let created = time::parse_api_time(&r.create_time).unwrap_or(0);
        (std::cmp::Reverse(created), r.id.clone())
    });
    rows
}

#[cfg(test)]
impl RecordsCollector {
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
    use crate::metrics::Family;
    use tencentcloud_ssl_api::records::parse_detail_page;

    fn row(status: Option<i64>) -> ListedRecord {
        ListedRecord {
            id: "7".into(),
            cert_id: "new".into(),
            old_cert_id: "old".into(),
            status,
            resource_type: String::new(),
            region: String::new(),
            create_time: "2025-05-20 15:03:17".into(),
            update_time: "2025-05-20 15:05:00".into(),
        }
    }

    fn detail(kind: RecordKind, pages: &[&str]) -> RecordDetail {
        let mut detail = RecordDetail::default();
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
    fn state_counts_of_an_entry_in_flight_are_not_a_disagreement() {
        // Two pages of one in-flight entry, read a moment apart: the second page states counts
        // after items of the first page moved on. Only the number of items must agree.
        let page = |offset: u64, statuses: &[i64], counts: (u64, u64, u64)| {
            let list: Vec<String> = statuses
                .iter()
                .enumerate()
                .map(|(i, s)| format!(r#"{{"Id":{},"Status":{s}}}"#, offset + i as u64 + 1))
                .collect();
            format!(
                r#"{{"DeployRecordDetail":[{{"Type":0,"Status":3,"CreateTime":"2025-05-20 15:03:17",
                    "TotalCount":4,"SuccessTotalCount":{},"RunningTotalCount":{},"PendingTotalCount":{},
                    "RecordDetailList":[{{"ResourceType":"cdn","TotalCount":4,"List":[{}]}}]}}]}}"#,
                counts.0,
                counts.1,
                counts.2,
                list.join(",")
            )
        };
        let moving = detail(
            RecordKind::UploadUpdate,
            &[&page(0, &[0, 0], (0, 0, 4)), &page(2, &[3, 3], (2, 2, 0))],
        );
        assert_eq!(totals_disagreements(&moving), []);
        // A settled entry is held to every count, and every entry to its number of items.
        let settled = detail(
            RecordKind::UploadUpdate,
            &[&page(0, &[1, 1], (4, 0, 0)), &page(2, &[1], (4, 0, 0))],
        );
        assert_eq!(
            totals_disagreements(&settled),
            [("TotalCount", 4, 3), ("SuccessTotalCount", 4, 3)]
        );
    }

    #[test]
    fn rollout_claims_name_succeeded_items_with_the_certificate_they_leave() {
        let d = detail(
            RecordKind::UploadUpdate,
            &[r#"{"DeployRecordDetail":[
                {"Type":0,"Status":1,"CreateTime":"2025-05-20 15:03:17","RecordDetailList":[
                    {"ResourceType":"cdn","TotalCount":2,"List":[
                        {"Id":1,"Status":1,"Domains":["Ok.Example.com"]},
                        {"Id":2,"Status":2,"Domains":["failed.example.com"]}]}]},
                {"Type":1,"Status":4,"CreateTime":"2025-05-20 15:18:58","RecordDetailList":[
                    {"ResourceType":"cdn","TotalCount":1,"List":[{"Id":3,"Status":1,"Domains":["back.example.com"]}]}]},
                {"Type":0,"Status":1,"CreateTime":"2025-05-20 15:00:00","RecordDetailList":[
                    {"ResourceType":"clb","TotalCount":2,"List":[{"Id":4,"Status":1,"Domains":["back.example.com"]},
                        {"Id":5,"Status":1,"Domains":["lb.example.com"],"Port":8443}]}]}
            ]}"#],
        );
        let claims = rollout_claims(RecordKind::UploadUpdate, &row(Some(1)), &d);
        let got: Vec<(&str, u16, &str, &str, Option<i64>)> = claims
            .iter()
            .map(|c| {
                (
                    c.domain.as_str(),
                    c.port,
                    c.certificate_id.as_str(),
                    c.resource_type.as_str(),
                    c.stated_at,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("lb.example.com", 8443, "old", "clb", Some(1_747_724_400)),
                ("ok.example.com", 443, "old", "cdn", Some(1_747_724_597)),
            ],
            "the failed item claims nothing; the later rollback takes back.example.com back"
        );
        assert!(claims.iter().all(|c| c.source == "upload_update"));
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
    fn rows_in_window_dedupes_drops_old_rows_and_sorts_newest_first() {
        let at = |id: &str, created: &str| ListedRecord {
            id: id.into(),
            create_time: created.into(),
            ..row(None)
        };
        let oldest = time::parse_api_time("2025-05-01 00:00:00").expect("time");
        let rows = rows_in_window(
            vec![
                at("a", "2025-05-02 00:00:00"),
                at("old", "2025-04-30 23:59:59"),
                at("b", "2025-05-03 00:00:00"),
                at("a", "2025-06-01 00:00:00"),
                at("", "2025-05-04 00:00:00"),
                at("unreadable", "soon"),
                at("c", "2025-05-03 00:00:00"),
            ],
            oldest,
        );
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        // Ties by time go by ID; a time that cannot be read is kept, ranked oldest.
        assert_eq!(ids, ["b", "c", "a", "unreadable"]);
        assert_eq!(
            rows[2].create_time, "2025-05-02 00:00:00",
            "first row of an ID wins"
        );
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
        assert_eq!(
            s.chunk(Family::DeployRecordStatus).lines().count(),
            8,
            "seven documented states and unknown"
        );
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
