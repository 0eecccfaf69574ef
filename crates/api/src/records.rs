//! Deploy records: how certificate rollouts went.
//!
//! Three kinds share one model here. "Upload update" records (certificate ID unchanged) come
//! from `DescribeHostUploadUpdateRecord[Detail]`; their detail holds one entry per operation
//! (deploy or rollback). "Update" records (certificate ID changed) come from
//! `DescribeHostUpdateRecord[Detail]` and are always a deploy; a rollback of one is a new record.
//! "Deploy" records (a certificate deployed to cloud resources, `DeployCertificateInstance`)
//! come from `DescribeHostDeployRecord[Detail]`, listed per certificate; one resource type each.
//!
//! Status codes outside the documented set are kept as [`DeployStatus::Unknown`] (never final),
//! items that cannot be decoded are reported in [`DetailPage::skipped`], and the totals an
//! answer states are kept ([`Totals`]) so the caller can compare them with the rows received.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;
use crate::bind::BoundDomain;
use crate::{Items, SkippedItem};

/// Largest detail page (`Limit` above 200 is cut to 200).
pub const DETAIL_LIMIT: u64 = 200;
/// Page size asked for when listing records; the answer's row count decides paging, not this.
pub const LIST_LIMIT: u64 = 100;

/// Which record API a record came from; also the `record_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// Certificate ID unchanged: `DescribeHostUploadUpdateRecord[Detail]`.
    UploadUpdate,
    /// Certificate replaced by another ID: `DescribeHostUpdateRecord[Detail]`.
    Update,
    /// Certificate deployed to cloud resources: `DescribeHostDeployRecord[Detail]`, listed per
    /// certificate.
    Deploy,
}

impl RecordKind {
    /// The `record_type` label value: `upload_update`, `update` or `deploy`.
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::UploadUpdate => "upload_update",
            RecordKind::Update => "update",
            RecordKind::Deploy => "deploy",
        }
    }

    /// The list action of this kind.
    pub fn list_action(self) -> &'static str {
        match self {
            RecordKind::UploadUpdate => crate::action::DESCRIBE_UPLOAD_UPDATE_RECORD,
            RecordKind::Update => crate::action::DESCRIBE_UPDATE_RECORD,
            RecordKind::Deploy => crate::action::DESCRIBE_DEPLOY_RECORD,
        }
    }

    /// The detail action of this kind.
    pub fn detail_action(self) -> &'static str {
        match self {
            RecordKind::UploadUpdate => crate::action::DESCRIBE_UPLOAD_UPDATE_RECORD_DETAIL,
            RecordKind::Update => crate::action::DESCRIBE_UPDATE_RECORD_DETAIL,
            RecordKind::Deploy => crate::action::DESCRIBE_DEPLOY_RECORD_DETAIL,
        }
    }
}

/// Kind of operation of a record entry; the `operation` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Entry `Type` 0: the certificate was deployed to the resources.
    Deploy,
    /// Entry `Type` 1: the resources were rolled back to the old certificate.
    Rollback,
}

impl Operation {
    /// The `operation` label value: `deploy` or `rollback`.
    pub fn label(self) -> &'static str {
        match self {
            Operation::Deploy => "deploy",
            Operation::Rollback => "rollback",
        }
    }
}

/// State of a resource, an entry or a record; the `status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeployStatus {
    /// Code 0: waiting to start.
    Pending,
    /// Code 3: in progress.
    Running,
    /// Code 1: deployed.
    Success,
    /// Code 2: deploy failed.
    Failed,
    /// Code 4: rolled back.
    RollbackSuccess,
    /// Code 5: rollback failed.
    RollbackFailed,
    /// Code 6: no resource, nothing to deploy.
    NoResource,
    /// A code outside the documented set (the official example of
    /// `DescribeHostUploadUpdateRecord` itself answers 7): kept, never final.
    Unknown,
}

impl DeployStatus {
    /// Every status, in label order.
    pub const ALL: [DeployStatus; 8] = [
        DeployStatus::Pending,
        DeployStatus::Running,
        DeployStatus::Success,
        DeployStatus::Failed,
        DeployStatus::RollbackSuccess,
        DeployStatus::RollbackFailed,
        DeployStatus::NoResource,
        DeployStatus::Unknown,
    ];

    /// Item (and entry) status codes: 0 pending, 1 success, 2 failed, 3 running, 4 rolled back,
    /// 5 rollback failed, 6 no resource; any other code is [`DeployStatus::Unknown`]. (Deploy
    /// records document 0 not started, 1 success, 2 failed: the same reading.)
    pub fn from_code(code: i64) -> DeployStatus {
        match code {
            0 => DeployStatus::Pending,
            1 => DeployStatus::Success,
            2 => DeployStatus::Failed,
            3 => DeployStatus::Running,
            4 => DeployStatus::RollbackSuccess,
            5 => DeployStatus::RollbackFailed,
            6 => DeployStatus::NoResource,
            _ => DeployStatus::Unknown,
        }
    }

    /// The `status` label value, e.g. `pending`, `rollback_failed`.
    pub fn label(self) -> &'static str {
        match self {
            DeployStatus::Pending => "pending",
            DeployStatus::Running => "running",
            DeployStatus::Success => "success",
            DeployStatus::Failed => "failed",
            DeployStatus::RollbackSuccess => "rollback_success",
            DeployStatus::RollbackFailed => "rollback_failed",
            DeployStatus::NoResource => "no_resource",
            DeployStatus::Unknown => "unknown",
        }
    }

    /// Final states never change again; an unknown code is not final (it is fetched again).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            DeployStatus::Pending | DeployStatus::Running | DeployStatus::Unknown
        )
    }
}

/// List request of any kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    /// The certificate whose records to list (`CertificateId`): required for deploy records,
    /// not sent for the other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<String>,
    /// Records to skip (`Offset`).
    pub offset: u64,
    /// Page size (`Limit`); see [`LIST_LIMIT`].
    pub limit: u64,
}

/// A page of `DescribeHostUploadUpdateRecord` or `DescribeHostUpdateRecord`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResponse {
    /// Records over all pages (`TotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub total_count: u64,
    /// This page's records (`DeployRecordList`), item by item; `null` is empty.
    #[serde(default)]
    pub deploy_record_list: Items<ListedRecord>,
}

/// A row of any list; `CertId` exists on update and deploy records, `ResourceType` and `Region`
/// on deploy records.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ListedRecord {
    /// The record (`Id`), the `DeployRecordId` of its detail.
    #[serde(deserialize_with = "de::text")]
    pub id: String,
    /// The new certificate (`CertId`, update records) or the one deployed (deploy records).
    #[serde(default, deserialize_with = "de::text")]
    pub cert_id: String,
    /// The certificate replaced (`OldCertId`); for upload updates, the certificate itself.
    #[serde(default, deserialize_with = "de::text")]
    pub old_cert_id: String,
    /// The resource type deployed to (`ResourceType`, deploy records only).
    #[serde(default, deserialize_with = "de::text")]
    pub resource_type: String,
    /// The region deployed in (`Region`, deploy records only; empty for global types).
    #[serde(default, deserialize_with = "de::text")]
    pub region: String,
    /// Record-level `Status` code. The docs give no enum; the codes of
    /// [`DeployStatus::from_code`] are the best reading.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub status: Option<i64>,
    /// When the record was created (`CreateTime`), `YYYY-MM-DD HH:MM:SS` GMT+8.
    #[serde(default, deserialize_with = "de::text")]
    pub create_time: String,
    /// When the record last changed (`UpdateTime`), in the same format.
    #[serde(default, deserialize_with = "de::text")]
    pub update_time: String,
}

impl ListedRecord {
    /// The certificate whose rollout this is: unchanged ID for upload updates, the new one for
    /// updates.
    pub fn certificate_id(&self, kind: RecordKind) -> &str {
        match kind {
            RecordKind::UploadUpdate => &self.old_cert_id,
            RecordKind::Update | RecordKind::Deploy => &self.cert_id,
        }
    }
}

/// Detail request; `DeployRecordId` is an integer for upload updates and a string for updates
/// and deploys, `Limit`/`Offset` strings for updates and integers otherwise, as api.json types
/// them.
pub fn detail_request(kind: RecordKind, record_id: &str, offset: u64) -> Value {
    match kind {
        RecordKind::UploadUpdate => {
            let id = record_id
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(record_id));
            serde_json::json!({"DeployRecordId": id, "Limit": DETAIL_LIMIT, "Offset": offset})
        }
        RecordKind::Update => serde_json::json!({
            "DeployRecordId": record_id,
            "Limit": DETAIL_LIMIT.to_string(),
            "Offset": offset.to_string(),
        }),
        RecordKind::Deploy => serde_json::json!({
            "DeployRecordId": record_id,
            "Limit": DETAIL_LIMIT,
            "Offset": offset,
        }),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TypeList {
    #[serde(default, deserialize_with = "de::text")]
    resource_type: String,
    #[serde(default, deserialize_with = "de::count")]
    total_count: u64,
    #[serde(default)]
    list: Items<Item>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    #[serde(default, deserialize_with = "de::text")]
    id: String,
    #[serde(default, deserialize_with = "de::opt_code")]
    status: Option<i64>,
    #[serde(default, deserialize_with = "de::text")]
    resource_type: String,
    #[serde(default, deserialize_with = "de::text")]
    old_cert_id: String,
    #[serde(default, deserialize_with = "de::names")]
    domains: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_code")]
    port: Option<i64>,
}

/// `TotalCount`, `SuccessTotalCount`, `FailedTotalCount`, `RunningTotalCount` and
/// `PendingTotalCount`, as one entry or a whole update/deploy detail states them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Totals {
    /// Items of the entry (`TotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub total_count: u64,
    /// Items deployed or rolled back (`SuccessTotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub success_total_count: u64,
    /// Items that failed (`FailedTotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub failed_total_count: u64,
    /// Items in progress (`RunningTotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub running_total_count: u64,
    /// Items waiting (`PendingTotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub pending_total_count: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadUpdateEntry {
    #[serde(default, deserialize_with = "de::opt_code", rename = "Type")]
    kind: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_code")]
    status: Option<i64>,
    #[serde(default, deserialize_with = "de::text")]
    create_time: String,
    #[serde(default)]
    record_detail_list: Items<TypeList>,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadUpdateDetailResponse {
    #[serde(default)]
    deploy_record_detail: Items<UploadUpdateEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateDetailResponse {
    #[serde(default)]
    record_detail_list: Items<TypeList>,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeployDetailResponse {
    #[serde(default)]
    deploy_record_detail_list: Items<Item>,
    #[serde(flatten)]
    totals: Totals,
}

/// The items of one resource type on one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeItems {
    /// The type's whole count.
    pub total: u64,
    /// Items this page carried for the type, decoded or skipped (paging advances by these).
    pub received: u64,
    /// (item `Id`, item status code) of the items on this page.
    pub items: Vec<(String, Option<i64>)>,
    /// The domains of the items on this page that name any (`Domains`, with `Port`).
    pub domains: Vec<ItemDomains>,
}

/// The domains one rollout item deployed the certificate to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemDomains {
    /// The item's `Id` (may be empty; the caller keys such items by position).
    pub id: String,
    /// `Domains`, each string [read](BoundDomain::written) as the API writes it (one string may
    /// name several; a CDN domain may carry its billing switch), on the item's `Port` when it
    /// names a valid one; empty ones left out.
    pub domains: Vec<BoundDomain>,
}

/// One operation entry on one detail page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPage {
    /// Entry status code (upload updates only; update and deploy records take it from the list
    /// row).
    pub status: Option<i64>,
    /// The totals the answer states for the entry (for update and deploy records, the whole
    /// detail's).
    pub totals: Totals,
    /// `OldCertId` of the first item that names one (deploy records: the certificate replaced).
    pub old_cert_id: String,
    /// When the operation started (entry `CreateTime`, upload updates only; empty for updates).
    pub create_time: String,
    /// Lower-case resource type → its items on this page.
    pub types: BTreeMap<String, TypeItems>,
}

/// One parsed detail page of either kind: operation → entries (in answer order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailPage {
    /// Each operation entry with its items; update and deploy records have a single deploy
    /// entry (deploy items are keyed under the resource type `""`: the list row names it).
    pub entries: Vec<(Operation, EntryPage)>,
    /// Entries, type lists or items of this page that could not be decoded.
    pub skipped: Vec<SkippedItem>,
}

impl DetailPage {
    /// The longest item list on this page (`Offset` applies to each): the next page starts that
    /// much further.
    pub fn rows(&self) -> u64 {
        self.entries
            .iter()
            .flat_map(|(_, e)| e.types.values().map(|t| t.received))
            .max()
            .unwrap_or(0)
    }

    /// Largest per-type total: paging continues while the offset is below it.
    pub fn extent(&self) -> u64 {
        self.entries
            .iter()
            .flat_map(|(_, e)| e.types.values().map(|t| t.total.max(t.items.len() as u64)))
            .max()
            .unwrap_or(0)
    }
}

fn entry_page(
    status: Option<i64>,
    create_time: String,
    totals: Totals,
    lists: Items<TypeList>,
    skipped: &mut Vec<SkippedItem>,
) -> EntryPage {
    let mut page = EntryPage {
        status,
        create_time,
        totals,
        ..EntryPage::default()
    };
    skipped.extend(lists.skipped);
    for list in lists.items {
        let fallback = list
            .list
            .items
            .first()
            .map(|i| i.resource_type.clone())
            .unwrap_or_default();
        let name = if list.resource_type.is_empty() {
            fallback
        } else {
            list.resource_type
        };
        let slot = page.types.entry(name.to_ascii_lowercase()).or_default();
        slot.received += list.list.received() as u64;
        skipped.extend(list.list.skipped);
        slot.total = slot.total.max(list.total_count);
        add_items(slot, &mut page.old_cert_id, list.list.items);
    }
    page
}

fn add_items(slot: &mut TypeItems, old_cert_id: &mut String, items: Vec<Item>) {
    for item in items {
        if old_cert_id.is_empty() {
            old_cert_id.clone_from(&item.old_cert_id);
        }
        let port = item
            .port
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        let domains: Vec<BoundDomain> = item
            .domains
            .iter()
            .flat_map(|d| BoundDomain::written(d, port, None))
            .collect();
        if !domains.is_empty() {
            slot.domains.push(ItemDomains {
                id: item.id.clone(),
                domains,
            });
        }
        slot.items.push((item.id, item.status));
    }
}

/// Parses a detail answer's `Response` of the given kind. Pure. Only an answer without the
/// documented top-level shape is an error; entries and items that cannot be decoded (and
/// upload-update entries of an unknown `Type`) are reported in [`DetailPage::skipped`].
pub fn parse_detail_page(kind: RecordKind, response: Value) -> Result<DetailPage, String> {
    let mut skipped = Vec::new();
    let entries = match kind {
        RecordKind::UploadUpdate => {
            let parsed: UploadUpdateDetailResponse =
                serde_json::from_value(response).map_err(|e| e.to_string())?;
            skipped.extend(parsed.deploy_record_detail.skipped);
            let mut entries = Vec::new();
            for (position, entry) in parsed.deploy_record_detail.items.into_iter().enumerate() {
                let operation = match entry.kind {
                    Some(0) | None => Operation::Deploy,
                    Some(1) => Operation::Rollback,
                    Some(other) => {
                        skipped.push(SkippedItem {
                            id: format!("entry #{position}"),
                            error: format!("unknown entry Type {other}"),
                        });
                        continue;
                    }
                };
                let page = entry_page(
                    entry.status,
                    entry.create_time,
                    entry.totals,
                    entry.record_detail_list,
                    &mut skipped,
                );
                entries.push((operation, page));
            }
            entries
        }
        RecordKind::Update => {
            let parsed: UpdateDetailResponse =
                serde_json::from_value(response).map_err(|e| e.to_string())?;
            let page = entry_page(
                None,
                String::new(),
                parsed.totals,
                parsed.record_detail_list,
                &mut skipped,
            );
            vec![(Operation::Deploy, page)]
        }
        RecordKind::Deploy => {
            let parsed: DeployDetailResponse =
                serde_json::from_value(response).map_err(|e| e.to_string())?;
            let mut page = EntryPage {
                totals: parsed.totals,
                ..EntryPage::default()
            };
            let slot = page.types.entry(String::new()).or_default();
            slot.received = parsed.deploy_record_detail_list.received() as u64;
            skipped.extend(parsed.deploy_record_detail_list.skipped);
            slot.total = parsed.totals.total_count;
            add_items(
                slot,
                &mut page.old_cert_id,
                parsed.deploy_record_detail_list.items,
            );
            vec![(Operation::Deploy, page)]
        }
    };
    Ok(DetailPage { entries, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed page's example: a deploy entry and a rollback entry.
    const SEED_UPLOAD_DETAIL: &str = r#"{"DeployRecordDetail":[
        {"TotalCount":1,"SuccessTotalCount":1,"FailedTotalCount":0,"RunningTotalCount":0,
         "RecordDetailList":[{"ResourceType":"clb","List":[{"Id":57,"OldCertId":"OMhKAc35","Status":1,"ErrorMsg":"",
            "CreateTime":"2025-05-20T07:03:17.000000Z","InstanceId":"lb-9crou4ha","ResourceType":"clb","Region":"ap-guangzhou"}],
            "TotalCount":1}],
         "Type":0,"Status":1,"CreateTime":"2025-05-20 15:03:17"},
        {"TotalCount":1,"RecordDetailList":[{"ResourceType":"clb","List":[{"Id":85,"Status":1,"ResourceType":"clb"}],"TotalCount":1}],
         "Type":1,"Status":4,"CreateTime":"2025-05-20 15:18:58"}
    ],"RequestId":"79b4dae4"}"#;

    #[test]
    fn parses_seed_upload_update_detail() {
        let value: Value = serde_json::from_str(SEED_UPLOAD_DETAIL).expect("json");
        let page = parse_detail_page(RecordKind::UploadUpdate, value).expect("ok");
        assert_eq!(page.entries.len(), 2);
        let (op, deploy) = &page.entries[0];
        assert_eq!(*op, Operation::Deploy);
        assert_eq!(deploy.status, Some(1));
        assert_eq!(
            deploy.types["clb"],
            TypeItems {
                total: 1,
                received: 1,
                items: vec![("57".to_string(), Some(1))],
                domains: vec![],
            }
        );
        let (op, rollback) = &page.entries[1];
        assert_eq!(*op, Operation::Rollback);
        assert_eq!(rollback.status, Some(4));
        assert_eq!(page.extent(), 1);
    }

    #[test]
    fn parses_update_detail_with_nulls() {
        let value: Value = serde_json::from_str(
            r#"{"TotalCount":3,"RecordDetailList":[
                {"ResourceType":"cdn","TotalCount":2,"List":[{"Id":1,"Status":3},{"Id":2,"Status":"2"}]},
                {"ResourceType":"TKE","TotalCount":1,"List":null}]}"#,
        )
        .expect("json");
        let page = parse_detail_page(RecordKind::Update, value).expect("ok");
        let (op, entry) = &page.entries[0];
        assert_eq!(*op, Operation::Deploy);
        assert_eq!(entry.types["cdn"].items.len(), 2);
        assert_eq!(
            entry.types["tke"],
            TypeItems {
                total: 1,
                received: 0,
                items: vec![],
                domains: vec![],
            }
        );
        assert_eq!(page.extent(), 2);
    }

    #[test]
    fn item_domains_ports_and_billing_switches_are_kept() {
        let value: Value = serde_json::from_str(
            r#"{"TotalCount":3,"DeployRecordDetailList":[
                {"Id":1,"Status":1,"Domains":["a.example.com","b.example.com|on"],"Port":8443},
                {"Id":2,"Status":1,"Domains":"c.example.com|off","Port":"0"},
                {"Id":3,"Status":1,"Domains":[7,null,"d.example.com"]},
                {"Id":4,"Status":1,"Domains":null}]}"#,
        )
        .expect("json");
        let page = parse_detail_page(RecordKind::Deploy, value).expect("ok");
        let items = &page.entries[0].1.types[""];
        assert_eq!(items.items.len(), 4, "domains never cost an item");
        type Named<'a> = (&'a str, Option<u16>, Option<&'static str>);
        let domains: Vec<(&str, Vec<Named>)> = items
            .domains
            .iter()
            .map(|d| {
                (
                    d.id.as_str(),
                    d.domains
                        .iter()
                        .map(|b| (b.domain.as_str(), b.port, b.inactive))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            domains,
            [
                (
                    "1",
                    vec![
                        ("a.example.com", Some(8443), None),
                        ("b.example.com", Some(8443), None)
                    ]
                ),
                (
                    "2",
                    vec![("c.example.com", None, Some("https_billing_off"))]
                ),
                ("3", vec![("d.example.com", None, None)]),
            ]
        );
    }

    #[test]
    fn hostile_entries_and_items_cost_only_themselves() {
        for json in [
            r#"{"DeployRecordDetail":[{"Type":7},{"Type":0,"Status":1}]}"#,
            r#"{"DeployRecordDetail":[{"RecordDetailList":[{"TotalCount":-1},{"ResourceType":"clb","List":[{"Id":1,"Status":1}]}]}]}"#,
            r#"{"DeployRecordDetail":[{"RecordDetailList":[{"ResourceType":"clb","List":[{"Id":1,"Status":1},{"Id":2,"Status":"running"}]}]}]}"#,
        ] {
            let value: Value = serde_json::from_str(json).expect("json");
            let page = parse_detail_page(RecordKind::UploadUpdate, value).expect(json);
            assert_eq!(page.skipped.len(), 1, "{json}: {:?}", page.skipped);
            assert_eq!(page.entries.len(), 1, "{json}");
        }
        let value: Value = serde_json::from_str(r#"{"DeployRecordDetail":"x"}"#).expect("json");
        assert!(
            parse_detail_page(RecordKind::UploadUpdate, value).is_err(),
            "the documented top-level shape is missing"
        );
    }

    #[test]
    fn status_codes_round_trip_and_finality() {
        let decoded: Vec<DeployStatus> = (0..7).map(DeployStatus::from_code).collect();
        use DeployStatus::*;
        let documented = [
            Pending,
            Success,
            Failed,
            Running,
            RollbackSuccess,
            RollbackFailed,
            NoResource,
        ];
        assert_eq!(decoded, documented, "codes 0-6 as the reference lists them");
        assert_eq!(
            DeployStatus::from_code(7),
            Unknown,
            "the official example's 7"
        );
        assert!(!Unknown.is_final(), "an unknown code is asked again");
        assert!(!DeployStatus::Pending.is_final());
        assert!(!DeployStatus::Running.is_final());
        assert!(DeployStatus::NoResource.is_final());
    }

    #[test]
    fn detail_requests_follow_documented_types() {
        assert_eq!(
            detail_request(RecordKind::UploadUpdate, "42", 200).to_string(),
            r#"{"DeployRecordId":42,"Limit":200,"Offset":200}"#
        );
        assert_eq!(
            detail_request(RecordKind::Update, "42", 0).to_string(),
            r#"{"DeployRecordId":"42","Limit":"200","Offset":"0"}"#
        );
    }

    #[test]
    fn listed_record_certificate_id_depends_on_kind() {
        let row: ListedRecord = serde_json::from_str(
            r#"{"Id":5,"CertId":"new","OldCertId":"old","Status":1,"CreateTime":"2025-01-01 00:00:00","UpdateTime":null}"#,
        )
        .expect("ok");
        assert_eq!(row.certificate_id(RecordKind::Update), "new");
        assert_eq!(row.certificate_id(RecordKind::UploadUpdate), "old");
        assert_eq!(row.id, "5");
    }
}
