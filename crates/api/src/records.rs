//! Deploy records: how certificate rollouts went.
//!
//! Two kinds share one model here. "Upload update" records (certificate ID unchanged) come from
//! `DescribeHostUploadUpdateRecord[Detail]`; their detail holds one entry per operation (deploy
//! or rollback). "Update" records (certificate ID changed) come from `DescribeHostUpdateRecord[Detail]`
//! and are always a deploy; a rollback of one is a new record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::de;

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
}

impl RecordKind {
    /// The `record_type` label value: `upload_update` or `update`.
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::UploadUpdate => "upload_update",
            RecordKind::Update => "update",
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
}

impl DeployStatus {
    /// Every status, in label order.
    pub const ALL: [DeployStatus; 7] = [
        DeployStatus::Pending,
        DeployStatus::Running,
        DeployStatus::Success,
        DeployStatus::Failed,
        DeployStatus::RollbackSuccess,
        DeployStatus::RollbackFailed,
        DeployStatus::NoResource,
    ];

    /// Item (and entry) status codes: 0 pending, 1 success, 2 failed, 3 running, 4 rolled back,
    /// 5 rollback failed, 6 no resource. Unknown codes give `None`.
    pub fn from_code(code: i64) -> Option<DeployStatus> {
        Some(match code {
            0 => DeployStatus::Pending,
            1 => DeployStatus::Success,
            2 => DeployStatus::Failed,
            3 => DeployStatus::Running,
            4 => DeployStatus::RollbackSuccess,
            5 => DeployStatus::RollbackFailed,
            6 => DeployStatus::NoResource,
            _ => return None,
        })
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
        }
    }

    /// Final states never change again.
    pub fn is_final(self) -> bool {
        !matches!(self, DeployStatus::Pending | DeployStatus::Running)
    }
}

/// List request of either kind.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
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
    /// This page's records (`DeployRecordList`); `null` is empty.
    #[serde(default, deserialize_with = "de::null_default")]
    pub deploy_record_list: Vec<ListedRecord>,
}

/// A row of either list; `CertId` exists only on update records.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ListedRecord {
    /// The record (`Id`), the `DeployRecordId` of its detail.
    #[serde(deserialize_with = "de::id")]
    pub id: String,
    /// The new certificate (`CertId`, update records only); empty otherwise.
    #[serde(default, deserialize_with = "de::null_default")]
    pub cert_id: String,
    /// The certificate replaced (`OldCertId`); for upload updates, the certificate itself.
    #[serde(default, deserialize_with = "de::null_default")]
    pub old_cert_id: String,
    /// Record-level `Status` code. The docs give no enum; the codes of
    /// [`DeployStatus::from_code`] are the best reading.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub status: Option<i64>,
    /// When the record was created (`CreateTime`), `YYYY-MM-DD HH:MM:SS` GMT+8.
    #[serde(default, deserialize_with = "de::null_default")]
    pub create_time: String,
    /// When the record last changed (`UpdateTime`), in the same format.
    #[serde(default, deserialize_with = "de::null_default")]
    pub update_time: String,
}

impl ListedRecord {
    /// The certificate whose rollout this is: unchanged ID for upload updates, the new one for
    /// updates.
    pub fn certificate_id(&self, kind: RecordKind) -> &str {
        match kind {
            RecordKind::UploadUpdate => &self.old_cert_id,
            RecordKind::Update => &self.cert_id,
        }
    }
}

/// Detail request; `DeployRecordId` is an integer for upload updates and a string for updates,
/// `Limit`/`Offset` likewise, as the docs type them.
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
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TypeList {
    #[serde(default, deserialize_with = "de::null_default")]
    resource_type: String,
    #[serde(default, deserialize_with = "de::count")]
    total_count: u64,
    #[serde(default, deserialize_with = "de::null_default")]
    list: Vec<Item>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    #[serde(default, deserialize_with = "de::id")]
    id: String,
    #[serde(default, deserialize_with = "de::opt_code")]
    status: Option<i64>,
    #[serde(default, deserialize_with = "de::null_default")]
    resource_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadUpdateEntry {
    #[serde(default, deserialize_with = "de::opt_code", rename = "Type")]
    kind: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_code")]
    status: Option<i64>,
    #[serde(default, deserialize_with = "de::null_default")]
    create_time: String,
    #[serde(default, deserialize_with = "de::null_default")]
    record_detail_list: Vec<TypeList>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadUpdateDetailResponse {
    #[serde(default, deserialize_with = "de::null_default")]
    deploy_record_detail: Vec<UploadUpdateEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateDetailResponse {
    #[serde(default, deserialize_with = "de::null_default")]
    record_detail_list: Vec<TypeList>,
}

/// The items of one resource type on one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeItems {
    /// The type's whole count.
    pub total: u64,
    /// (item `Id`, item status code) of the items on this page.
    pub items: Vec<(String, Option<i64>)>,
}

/// One operation entry on one detail page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPage {
    /// Entry status code (upload updates only; update records take it from the list row).
    pub status: Option<i64>,
    /// When the operation started (entry `CreateTime`, upload updates only; empty for updates).
    pub create_time: String,
    /// Lower-case resource type → its items on this page.
    pub types: BTreeMap<String, TypeItems>,
}

/// One parsed detail page of either kind: operation → entries (in answer order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailPage {
    /// Each operation entry with its items; update records have a single deploy entry.
    pub entries: Vec<(Operation, EntryPage)>,
}

impl DetailPage {
    /// The longest item list on this page (`Offset` applies to each): the next page starts that
    /// much further.
    pub fn rows(&self) -> u64 {
        self.entries
            .iter()
            .flat_map(|(_, e)| e.types.values().map(|t| t.items.len() as u64))
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

fn entry_page(status: Option<i64>, create_time: String, lists: Vec<TypeList>) -> EntryPage {
    let mut types: BTreeMap<String, TypeItems> = BTreeMap::new();
    for list in lists {
        let fallback = list
            .list
            .first()
            .map(|i| i.resource_type.clone())
            .unwrap_or_default();
        let name = if list.resource_type.is_empty() {
            fallback
        } else {
            list.resource_type
        };
        let slot = types.entry(name.to_ascii_lowercase()).or_default();
        slot.total = slot.total.max(list.total_count);
        slot.items
            .extend(list.list.into_iter().map(|i| (i.id, i.status)));
    }
    EntryPage {
        status,
        create_time,
        types,
    }
}

/// Parses a detail answer's `Response` of the given kind. Pure.
pub fn parse_detail_page(kind: RecordKind, response: Value) -> Result<DetailPage, String> {
    match kind {
        RecordKind::UploadUpdate => {
            let parsed: UploadUpdateDetailResponse =
                serde_json::from_value(response).map_err(|e| e.to_string())?;
            let entries = parsed
                .deploy_record_detail
                .into_iter()
                .map(|entry| {
                    let operation = match entry.kind {
                        Some(0) | None => Operation::Deploy,
                        Some(1) => Operation::Rollback,
                        Some(other) => return Err(format!("unknown entry Type {other}")),
                    };
                    Ok((
                        operation,
                        entry_page(entry.status, entry.create_time, entry.record_detail_list),
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(DetailPage { entries })
        }
        RecordKind::Update => {
            let parsed: UpdateDetailResponse =
                serde_json::from_value(response).map_err(|e| e.to_string())?;
            Ok(DetailPage {
                entries: vec![(
                    Operation::Deploy,
                    entry_page(None, String::new(), parsed.record_detail_list),
                )],
            })
        }
    }
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
                items: vec![("57".to_string(), Some(1))]
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
                items: vec![]
            }
        );
        assert_eq!(page.extent(), 2);
    }

    #[test]
    fn hostile_detail_is_an_error() {
        for json in [
            r#"{"DeployRecordDetail":[{"Type":7}]}"#,
            r#"{"DeployRecordDetail":[{"RecordDetailList":[{"TotalCount":-1}]}]}"#,
            r#"{"DeployRecordDetail":"x"}"#,
        ] {
            let value: Value = serde_json::from_str(json).expect("json");
            assert!(
                parse_detail_page(RecordKind::UploadUpdate, value).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn status_codes_round_trip_and_finality() {
        let decoded: Vec<Option<DeployStatus>> = (0..7).map(DeployStatus::from_code).collect();
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
        assert_eq!(
            decoded,
            documented.map(Some),
            "codes 0-6 as the reference lists them"
        );
        assert_eq!(DeployStatus::from_code(9), None);
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
