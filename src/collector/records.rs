//! The rollout collectors `upload_update`, `update` and `deploy`: how certificate rollouts went.
//!
//! The three kinds work the same way and differ only in their actions and the shape of their
//! detail, which [`RecordKind`] and [`tencentcloud_ssl_api::records`] capture, so one
//! implementation serves them all. A run lists the records (paged by rows received), drops those
//! older than the max record age, and fetches the detail of every record that may still change.
//! A record whose entries and items are all final is kept as it is and not fetched again, unless
//! its list row changes.
//!
//! A record's detail is fetched as soon as its row is listed, while the other lists go on: the
//! list and detail actions are used together, each at its own pace.
//!
//! Deploy records are listed per certificate (`DescribeHostDeployRecord` requires a
//! `CertificateId`), one call per certificate checked. That action is paced at a share of its
//! limit (leaving the rest to the console, which shares it), and each run spends
//! `pace × interval` calls where change is likely (see `budget`): certificates with records
//! that can still change every run, changed and new ones next, the rest in a rotation whose
//! bound is exported. A certificate the rotation skips keeps its rows as last listed (their age
//! is exported too); a certificate the API says is not `Deployable` is not listed again once
//! every row held for it is final: no new deploy can start on it.
//!
//! A status code outside the documented set is exported as `status="unknown"`, its raw code in
//! `tencentcloud_ssl_unknown_status_codes`, logged once per record, and never taken as final.
//! Totals an answer states are compared with the items received.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::budget::{self, Budget, Candidate, Priority};
use super::{
    fetch_each_then, fetch_pages, list_certificate_states, merge, page_by_rows, Answers,
    CollectError, Collected, Collector, CollectorSettings, Core, Findings, Held, Progress, Refresh,
};
use crate::config::CertificateFilter;
use crate::headlines::{Headline, Headlines};
use crate::metrics::{series, Snapshot, SnapshotBuilder};
use crate::targets::{Claim, Claims, Draw, LeftOut, TargetBook, DEFAULT_PORT};
use tencentcloud_ssl_api::certificates::CertificateState;
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
    // (domain, port) → when it was last deployed or rolled back, by which operation, on which
    // resource type, and whether the domain was written as serving nothing (`|off`).
    type Latest = (Option<i64>, Operation, Arc<str>, Option<&'static str>);
    let mut latest: BTreeMap<(String, u16), Latest> = BTreeMap::new();
    // Each resource type once, shared by the claims that name it.
    let mut types: BTreeMap<&str, Arc<str>> = BTreeMap::new();
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
            let resource_type = types
                .entry(resource_type)
                .or_insert_with(|| Arc::from(resource_type.as_str()));
            for bound in &named.domains {
                let key = (bound.domain.clone(), bound.port.unwrap_or(DEFAULT_PORT));
                let newer = latest.get(&key).is_none_or(|(seen, ..)| at >= *seen);
                if newer {
                    let statement = (at, *operation, Arc::clone(resource_type), bound.inactive);
                    latest.insert(key, statement);
                }
            }
        }
    }
    if certificate_id.is_empty() {
        return Vec::new();
    }
    let certificate_id: Arc<str> = Arc::from(certificate_id);
    latest
        .into_iter()
        .filter(|(_, (_, operation, ..))| *operation == Operation::Deploy)
        .map(|((domain, port), (at, _, resource_type, inactive))| Claim {
            domain,
            port,
            certificate_id: Arc::clone(&certificate_id),
            resource_type,
            source: kind.label(),
            stated_at: at,
            inactive,
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

/// The endpoint (domain, port) a claim is about.
fn claim_endpoint(claim: &Claim) -> (&str, u16) {
    (&claim.domain, claim.port)
}

/// What a record's detail says, as far as it is held.
#[derive(Debug, Clone)]
struct Digest {
    summary: RecordSummary,
    /// The endpoints its items name in the tracked sample; empty unless endpoints are probed.
    claims: Vec<Claim>,
    /// The endpoints its items name that the sample left out.
    left_out: LeftOut,
}

/// A record as held: the row it was listed with, and what its detail said.
#[derive(Debug, Clone)]
struct RecordState {
    row: ListedRecord,
    digest: Digest,
}

/// What the certificate list said of a certificate that makes a new rollout on it likely when it
/// changes: new validity dates (an upload-update or reissue replaced its content), a hosting or
/// renewal change.
/// Held for every certificate of the account, so the texts that only need comparing (validity
/// dates, successor) are held as one hash of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CertificateVersion {
    /// Hash of `CertBeginTime`, `CertEndTime` and `HostingRenewCertId`.
    texts: u64,
    hosting_status: Option<i64>,
    auto_renew_flag: Option<i64>,
}

impl CertificateVersion {
    fn of(certificate: &CertificateState) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        (
            &certificate.cert_begin_time,
            &certificate.cert_end_time,
            &certificate.hosting_renew_cert_id,
        )
            .hash(&mut hasher);
        CertificateVersion {
            texts: hasher.finish(),
            hosting_status: certificate.hosting_status,
            auto_renew_flag: certificate.auto_renew_flag,
        }
    }

    /// Hosted (or replacing its resources) or renewing automatically: a deploy may start on its
    /// own.
    fn hosted_or_auto_renewing(&self) -> bool {
        matches!(self.hosting_status, Some(0 | 5)) || self.auto_renew_flag == Some(1)
    }
}

/// Deploy kind: what the last good list of one certificate's records found.
#[derive(Debug, Clone)]
struct Listing {
    rows: Vec<ListedRecord>,
    /// The certificate as the certificate list showed it then.
    version: CertificateVersion,
}

/// A certificate whose last deploy record is younger than this counts as recently deployed (more
/// rollouts, or a rollback, are likely).
const RECENTLY_DEPLOYED: Duration = Duration::from_secs(86_400);

/// Deploy kind: where the last run stood in its rotation of the certificates' lists.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Rotation {
    /// Every certificate is listed again within this long.
    bound: Duration,
    /// Age of the oldest last list of a certificate listed at least once.
    oldest_check: Duration,
    /// Certificates never listed yet.
    pending: usize,
}

pub(crate) struct RecordsCollector {
    kind: RecordKind,
    core: Core,
    /// Records created longer ago than this are not exported (bounds cardinality).
    max_age: Duration,
    /// Which certificates' deploy records are listed (deploy kind only).
    filter: CertificateFilter,
    cache: HashMap<String, Held<RecordState>>,
    /// Deploy kind: what the last good list of each certificate found, kept for the runs that do
    /// not list it (the rotation, or a certificate that cannot be deployed).
    listed: HashMap<String, Held<Listing>>,
    /// Deploy kind: the rotation after the last run.
    rotation: Rotation,
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
            rotation: Rotation::default(),
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

    /// Whether the record `row` describes is held as final, and the row shows it unchanged since:
    /// its detail need not be fetched again.
    fn holds_final(&self, row: &ListedRecord) -> bool {
        self.cache
            .get(&row.id)
            .is_some_and(|held| held.value.is_final_as(row))
    }

    /// Deploy kind: whether every row held for `certificate_id` is final, and so is the detail
    /// held for each (of those created since `oldest`), so a certificate that cannot be deployed
    /// need not be listed again: nothing of it can change.
    fn settled(&self, certificate_id: &str, oldest: i64) -> bool {
        self.listed.get(certificate_id).is_some_and(|held| {
            held.value
                .rows
                .iter()
                .all(|r| row_is_final(r) && (!in_window(r, oldest) || self.holds_final(r)))
        })
    }

    /// Deploy kind: how likely a new answer is for each certificate worth listing (those that
    /// cannot be deployed and hold only final rows are left out), its age and order among the
    /// new ones. Records created before `oldest` (unix seconds) do not count.
    fn candidates<'a>(
        &self,
        certificates: &'a [CertificateState],
        oldest: i64,
        now: Instant,
        now_unix: i64,
    ) -> Vec<Candidate<'a>> {
        let recent = now_unix - i64::try_from(RECENTLY_DEPLOYED.as_secs()).unwrap_or(i64::MAX);
        certificates
            .iter()
            .filter(|c| c.deployable != Some(false) || !self.settled(&c.certificate_id, oldest))
            .map(|certificate| {
                let id = certificate.certificate_id.as_str();
                let held = self.listed.get(id);
                let priority = match held {
                    None => Priority::Unchecked,
                    Some(held) => {
                        let rows = || held.value.rows.iter().filter(|r| in_window(r, oldest));
                        let version = CertificateVersion::of(certificate);
                        if rows().any(|r| !row_is_final(r) || !self.holds_final(r)) {
                            Priority::EveryRun
                        } else if held.value.version != version {
                            Priority::Changed
                        } else if version.hosted_or_auto_renewing()
                            || rows().any(|r| {
                                time::parse_api_time(&r.create_time).is_some_and(|t| t >= recent)
                            })
                        {
                            Priority::Likely
                        } else {
                            Priority::Rest
                        }
                    }
                };
                Candidate {
                    id,
                    priority,
                    age: held.map(|h| now.duration_since(h.confirmed_at)),
                    newest: time::parse_api_time(&certificate.cert_begin_time).unwrap_or(0),
                }
            })
            .collect()
    }

    /// Lists the records of `keys` (one list; or, deploy kind, one per certificate) and fetches
    /// the detail of every row that may have changed as soon as it is listed (each record once,
    /// none created before `oldest`). A deploy list that fails still has the held rows of its
    /// certificate fetched. A credentials failure fails the run before anything held is touched.
    async fn list_and_fetch(
        &self,
        keys: Vec<Option<String>>,
        oldest: i64,
    ) -> Result<ListsAndDetails, ApiError> {
        let (core, kind) = (&self.core, self.kind);
        // This run's share of the sample: what cannot be tracked is let go as it arrives.
        let draw = core.target_book().map(|book| Draw::new(book));
        let draw = draw.as_ref();
        let mut sent: HashSet<String> = HashSet::new();
        // Progress counts the lists, then each detail as its list names it.
        core.progress.plan(keys.len());
        let (lists, details) = fetch_each_then(
            keys,
            core.settings.concurrency,
            |key: Option<String>| async move {
                let rows = self.list_one(key.as_deref()).await;
                core.progress.advance();
                rows
            },
            |key, answer| {
                let rows: &[ListedRecord] = match (answer, key) {
                    (Ok(rows), _) => rows,
                    (Err(_), Some(id)) => self
                        .listed
                        .get(id)
                        .map_or(&[], |held| held.value.rows.as_slice()),
                    (Err(_), None) => &[],
                };
                let rows: Vec<ListedRecord> = rows
                    .iter()
                    .filter(|row| in_window(row, oldest) && !self.holds_final(row))
                    .filter(|row| sent.insert(row.id.clone()))
                    .cloned()
                    .collect();
                core.progress.extend(rows.len());
                rows
            },
            // Each detail is reduced to what is held as it arrives: a run's raw details,
            // thousands at a large account, are never all in memory at once.
            |row: ListedRecord| async move {
                let detail = fetch_detail(&core.client, kind, &row.id, &core.findings).await;
                core.progress.advance();
                detail.map(|detail| {
                    let mut left_out = LeftOut::default();
                    let mut claims = Vec::new();
                    if let Some(draw) = draw {
                        claims = rollout_claims(kind, &row, &detail);
                        draw.retain(&mut claims, claim_endpoint, &mut left_out);
                    }
                    Digest {
                        summary: summarize(kind, &row, &detail),
                        claims,
                        left_out,
                    }
                })
            },
        )
        .await?;
        Ok(ListsAndDetails {
            lists,
            details: details
                .into_iter()
                .map(|(row, digest)| (row.id, digest))
                .collect(),
        })
    }

    /// Deploy kind: what to hold for each certificate of `certificates` after this run's
    /// `lists`. A good list replaces what is held; a certificate that cannot be deployed and was
    /// not listed is confirmed as it is; a failed list, or a certificate the rotation skipped,
    /// keeps its rows while their last good list is within the staleness bound, stretched by as
    /// much as the rotation's bound exceeds one interval (a skipped certificate is listed again
    /// within the rotation's bound; when every certificate fits in a run, nothing is skipped and
    /// the bound is the usual one).
    fn hold_lists(
        &mut self,
        certificates: &[CertificateState],
        lists: Answers<Option<String>, Vec<ListedRecord>>,
        oldest: i64,
        now: Instant,
        stale_after: Duration,
        errors: &mut Vec<String>,
    ) {
        let mut answers: HashMap<String, Result<Vec<ListedRecord>, ApiError>> = lists
            .into_iter()
            .filter_map(|(id, rows)| Some((id?, rows)))
            .collect();
        // A certificate may go unlisted for the rotation's bound rather than one interval: the
        // staleness bound of its rows is stretched by the difference.
        let skipped_for = stale_after.saturating_add(
            self.rotation
                .bound
                .saturating_sub(self.core.settings.interval),
        );
        let mut listed = HashMap::with_capacity(certificates.len());
        for certificate in certificates {
            let id = &certificate.certificate_id;
            let version = CertificateVersion::of(certificate);
            let settled = certificate.deployable == Some(false) && self.settled(id, oldest);
            let held = self.listed.remove(id);
            let kept = match answers.remove(id) {
                Some(Ok(rows)) => merge(
                    held,
                    Refresh::Fresh(Listing { rows, version }),
                    now,
                    stale_after,
                ),
                Some(Err(e)) => {
                    errors.push(format!("certificate {id}: {e}"));
                    merge(held, Refresh::Unanswered, now, skipped_for)
                }
                // Not listed: it cannot be deployed and every row held is final.
                None if settled => merge(held, Refresh::Unchanged, now, stale_after),
                // Not listed: the rotation skipped it.
                None => merge(held, Refresh::Unanswered, now, skipped_for),
            };
            if let Some(held) = kept {
                listed.insert(id.clone(), held);
            }
        }
        self.listed = listed;
    }
}

/// What [`RecordsCollector::list_and_fetch`] got.
struct ListsAndDetails {
    /// Each list's answer: `None` for the single list, else its certificate.
    lists: Answers<Option<String>, Vec<ListedRecord>>,
    /// Record ID → what its detail says.
    details: HashMap<String, Result<Digest, ApiError>>,
}

/// Whether `row` is exported: it has an ID and was not created before `oldest` (unix seconds; a
/// row whose time cannot be read is kept).
fn in_window(row: &ListedRecord, oldest: i64) -> bool {
    !row.id.is_empty() && time::parse_api_time(&row.create_time).is_none_or(|t| t >= oldest)
}

impl RecordsCollector {
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

    /// No. Deploy records are listed per certificate. Upload-update and update records are one
    /// paged list, but a first run holds nothing yet and fetches the detail of every record in
    /// the max-age window, one call each (at 20,000 certificates the simulator's 5,000
    /// upload-update and 1,800 update records take over 4 and 3 minutes at their documented limits),
    /// so those first runs grow with the account's activity too.
    fn gates_readiness(&self) -> bool {
        false
    }

    fn report_progress_to(&mut self, progress: Progress) {
        self.core.progress = progress;
    }

    fn source_of(&self) -> Option<Arc<TargetBook>> {
        self.core.target_book().cloned()
    }

    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let outcome = self.run().await;
        self.core.tried(outcome)
    }
}

impl RecordsCollector {
    /// One run, in steps: choose what to list (deploy kind: within the budget), list the rows
    /// and fetch the details that may have changed as the rows come, keep the rows in the
    /// window, fold them into what is held, publish the endpoints, render.
    /// [`Collector::collect`] adds what the target book needs.
    async fn run(&mut self) -> Result<Collected, CollectError> {
        let started = Instant::now();
        let now_unix = time::now_unix();
        let oldest = now_unix - i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        let mut errors = Vec::new();
        let deploy = self.kind == RecordKind::Deploy;
        let (certificates, keys, bound) = if deploy {
            let certificates =
                list_certificate_states(&self.core.client, &self.filter, &self.core.findings)
                    .await?;
            let (keys, bound) = {
                let candidates = self.candidates(&certificates, oldest, Instant::now(), now_unix);
                let budget = Budget {
                    pace: self.core.client.pace(self.kind.list_action()),
                    interval: self.core.settings.interval,
                };
                let plan = budget::plan(&candidates, budget);
                let keys: Vec<Option<String>> = plan
                    .order
                    .iter()
                    .map(|id| Some((*id).to_string()))
                    .collect();
                (keys, plan.bound)
            };
            (certificates, keys, Some(bound))
        } else {
            (Vec::new(), vec![None], None)
        };
        let ListsAndDetails { lists, details } = self.list_and_fetch(keys, oldest).await?;
        let now = Instant::now();
        let stale_after = self.core.settings.stale_after(started.elapsed());
        let rows = if deploy {
            // Rows are judged by the longer of the last run's bound and this run's: a certificate
            // the rotation skipped was promised a list within either, and a burst of new
            // certificates that lengthens the rotation now must not age out the rows it delays.
            self.rotation.bound = self.rotation.bound.max(bound.unwrap_or_default());
            self.hold_lists(&certificates, lists, oldest, now, stale_after, &mut errors);
            self.rotation = Rotation {
                bound: bound.unwrap_or_default(),
                oldest_check: self
                    .listed
                    .values()
                    .map(|held| now.duration_since(held.confirmed_at))
                    .max()
                    .unwrap_or_default(),
                pending: certificates
                    .iter()
                    .filter(|c| !self.listed.contains_key(&c.certificate_id))
                    .count(),
            };
            let rows = self
                .listed
                .values()
                .flat_map(|held| held.value.rows.iter().cloned())
                .collect();
            rows_in_window(rows, oldest)
        } else {
            let mut lists = lists;
            match lists.pop() {
                Some((_, Ok(rows))) => rows_in_window(rows, oldest),
                Some((_, Err(e))) => return Err(e.into()),
                None => Vec::new(),
            }
        };
        self.fold(&rows, details, now, stale_after, &mut errors);
        if let Some(book) = self.core.target_book().cloned() {
            let cut = self.draw_sample(&book);
            self.core.publish(
                || Claims {
                    claims: {
                        let digests = || self.cache.values().map(|held| &held.value.digest);
                        let mut claims =
                            Vec::with_capacity(digests().map(|d| d.claims.len()).sum());
                        claims.extend(digests().flat_map(|d| d.claims.iter().cloned()));
                        claims
                    },
                    cut,
                    untracked: self
                        .cache
                        .values()
                        .map(|held| held.value.digest.left_out.count)
                        .sum(),
                },
                stale_after,
            );
        }
        let snapshot = self.render(&rows);
        let failed = self
            .cache
            .values()
            .filter(|held| held.value.digest.summary.has_failed())
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

    /// Keeps exactly this source's share of the tracked sample in the held records' claims
    /// (see `targets`). Returns the cut.
    fn draw_sample(&mut self, book: &TargetBook) -> Option<u64> {
        let groups = self
            .cache
            .values_mut()
            .map(|held| {
                let digest = &mut held.value.digest;
                (&mut digest.claims, &mut digest.left_out)
            })
            .collect();
        book.keep_share(groups, claim_endpoint)
    }

    /// Replaces what is held with what `fetched` says of each of `rows`: a fresh detail replaces
    /// it; a row not fetched whose record is held as final and unchanged is confirmed; a failed
    /// fetch (or none) keeps the held state within the staleness bound.
    fn fold(
        &mut self,
        rows: &[ListedRecord],
        mut fetched: HashMap<String, Result<Digest, ApiError>>,
        now: Instant,
        stale_after: Duration,
        errors: &mut Vec<String>,
    ) {
        let mut fresh_cache = HashMap::with_capacity(rows.len());
        for row in rows {
            let held = self.cache.remove(&row.id);
            let refresh = match fetched.remove(&row.id) {
                Some(Ok(digest)) => {
                    self.warn_unknown(row, &digest.summary);
                    Refresh::Fresh(RecordState {
                        row: row.clone(),
                        digest,
                    })
                }
                Some(Err(e)) => {
                    errors.push(format!("record {}: {e}", row.id));
                    Refresh::Unanswered
                }
                // Final and unchanged: still exactly what it was.
                None if held.as_ref().is_some_and(|h| h.value.is_final_as(row)) => {
                    Refresh::Unchanged
                }
                None => Refresh::Unanswered,
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
        if self.kind == RecordKind::Deploy {
            let collector = self.core.name;
            let rotation = self.rotation;
            builder.sample(
                series::CheckRotationBound { collector },
                rotation.bound.as_secs_f64(),
            );
            builder.sample(
                series::CheckOldestAge { collector },
                rotation.oldest_check.as_secs_f64(),
            );
            builder.sample(
                series::CheckPendingCertificates { collector },
                rotation.pending as f64,
            );
        }
        for row in rows {
            if let Some(held) = self.cache.get(&row.id) {
                write_record(
                    &mut builder,
                    self.kind,
                    &held.value.row,
                    &held.value.digest.summary,
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
        .filter(|row| in_window(row, oldest) && seen.insert(row.id.clone()))
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
            .filter(|h| h.value.digest.summary.is_final)
            .count()
    }
}

impl RecordState {
    /// Whether this held state is final and `row` shows the record unchanged since, so the
    /// detail need not be fetched again.
    fn is_final_as(&self, row: &ListedRecord) -> bool {
        self.digest.summary.is_final
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
                    &*c.certificate_id,
                    &*c.resource_type,
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
    fn a_domain_deployed_with_the_billing_switch_off_is_claimed_as_serving_nothing() {
        // tccli: DeployCertificateInstance takes CDN domains as `Domain|billing switch`, and the
        // deploy detail's CDN example echoes the form.
        let d = detail(
            RecordKind::Deploy,
            &[r#"{"DeployRecordDetailList":[
                {"Id":1,"Status":1,"Domains":["on.cdn.example.com|on","off.cdn.example.com|off"]}]}"#],
        );
        let mut listed = row(Some(1));
        listed.resource_type = "cdn".into();
        let claims = rollout_claims(RecordKind::Deploy, &listed, &d);
        let got: Vec<(&str, Option<&str>)> = claims
            .iter()
            .map(|c| (c.domain.as_str(), c.inactive))
            .collect();
        assert_eq!(
            got,
            [
                ("off.cdn.example.com", Some("https_billing_off")),
                ("on.cdn.example.com", None),
            ]
        );
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
