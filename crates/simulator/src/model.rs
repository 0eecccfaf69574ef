//! The simulator's own vocabulary, written from the API reference rather than borrowed from the
//! exporter, so that a wrong mapping on one side cannot pass on both: documented rate limits,
//! status codes with the label values the metrics contract gives them. (Action names are spelled
//! out where they are dispatched, in `handlers`.)

/// API version and credential-scope service of every action the simulator answers.
pub const VERSION: &str = "2019-12-05";
/// Service name of the TC3 credential scope.
pub const SERVICE: &str = "ssl";

/// Calls per second per action, from each action's page of the API reference
/// ("默认接口请求频率限制：N次/秒"); other actions get the common 20.
pub fn rate_limit(action: &str) -> f64 {
    match action {
        "CreateCertificateBindResourceSyncTask"
        | "DescribeCertificateBindResourceTaskResult"
        | "DescribeCertificateBindResourceTaskDetail"
        | "DescribeHostUpdateRecord"
        | "DescribeHostUpdateRecordDetail"
        | "DescribeHostDeployRecord"
        | "DescribeHostDeployRecordDetail"
        | "DescribeCertificates"
        | "DescribeCertificateDetail" => 10.0,
        _ => 20.0,
    }
}

/// `StatusName`-style descriptions and contract labels of certificate `Status` codes 0 to 15,
/// indexed by code (the reference's list, in order).
const CERTIFICATE_STATES: [&str; 16] = [
    "reviewing",
    "issued",
    "review_failed",
    "expired",
    "dns_record_added",
    "enterprise_awaiting_documents",
    "cancelling",
    "cancelled",
    "awaiting_confirmation_letter",
    "revoking",
    "revoked",
    "reissuing",
    "awaiting_revocation_letter",
    "free_awaiting_documents",
    "refunded",
    "migrating",
];

/// The `status` label of a certificate status code; `unknown` outside the documented set.
pub fn certificate_state(code: i64) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| CERTIFICATE_STATES.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// Which record list a rollout record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// `DescribeHostUploadUpdateRecord`: the certificate ID stays the same.
    UploadUpdate = 0,
    /// `DescribeHostUpdateRecord`: one certificate replaced by another.
    Update = 1,
    /// `DescribeHostDeployRecord`: a certificate deployed to resources of one type, listed per
    /// certificate.
    Deploy = 2,
}

impl RecordKind {
    /// The `record_type` label.
    pub fn label(self) -> &'static str {
        ["upload_update", "update", "deploy"][self as usize]
    }
}

/// A deploy record's list `Status`, as api.json documents it: 0 not started, 1 success,
/// 2 failed. A rollout still in flight has not finished: 0.
pub fn deploy_list_code(state: ItemState) -> i64 {
    match state {
        ItemState::Success | ItemState::RolledBack | ItemState::NoResource => 1,
        ItemState::Failed | ItemState::RollbackFailed | ItemState::Undocumented => 2,
        ItemState::Pending | ItemState::Running => 0,
    }
}

/// The contract's `hosting_status` label of a `HostingStatus` code.
pub fn hosting_label(code: i64) -> &'static str {
    match code {
        -1 => "not_hosted",
        0 => "hosting",
        5 => "replacing",
        10 => "done",
        _ => "unknown",
    }
}

/// An entry of an upload-update record: `Type` 0 deploys, 1 rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Deploy = 0,
    Rollback = 1,
}

impl Operation {
    /// The entry's `Type` code.
    pub fn type_code(self) -> i64 {
        self as i64
    }

    /// The `operation` label.
    pub fn label(self) -> &'static str {
        ["deploy", "rollback"][self as usize]
    }
}

/// State of a rollout item, entry or record, with the codes the reference gives items
/// (0 pending, 1 success, 2 failed, 3 running, 4 rolled back, 5 rollback failed, 6 no resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemState {
    Pending = 0,
    Success = 1,
    Failed = 2,
    Running = 3,
    RolledBack = 4,
    RollbackFailed = 5,
    NoResource = 6,
    /// A code no doc lists (the official upload-update example answers 7): the exporter must
    /// show it as `unknown`, not drop it.
    Undocumented = 7,
}

impl ItemState {
    /// Every state, for the state-set series of the truth.
    pub const EVERY: [ItemState; 7] = [
        ItemState::Pending,
        ItemState::Success,
        ItemState::Failed,
        ItemState::Running,
        ItemState::RolledBack,
        ItemState::RollbackFailed,
        ItemState::NoResource,
    ];

    /// The code the API sends.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The `status` label of the contract.
    pub fn label(self) -> &'static str {
        [
            "pending",
            "success",
            "failed",
            "running",
            "rollback_success",
            "rollback_failed",
            "no_resource",
            "unknown",
        ][self as usize]
    }

    /// Whether the state can still change.
    pub fn in_flight(self) -> bool {
        matches!(self, ItemState::Pending | ItemState::Running)
    }
}

/// States of a bind task: `Status` 0 querying, 1 done, 2 failed, with their contract labels.
pub const TASK_STATES: [(i64, &str); 3] = [(0, "querying"), (1, "succeeded"), (2, "failed")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_the_reference() {
        assert_eq!(certificate_state(1), "issued");
        assert_eq!(certificate_state(3), "expired");
        assert_eq!(certificate_state(15), "migrating");
        assert_eq!(certificate_state(16), "unknown");
        assert_eq!(certificate_state(-1), "unknown");
        let codes: Vec<i64> = ItemState::EVERY.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            rate_limit("DescribeCertificateBindResourceTaskDetail"),
            10.0
        );
        assert_eq!(rate_limit("DescribeCertificates"), 10.0);
        assert_eq!(rate_limit("DescribeCertificateDetail"), 10.0);
        assert_eq!(rate_limit("DescribeHostUploadUpdateRecord"), 20.0);
        assert_eq!(rate_limit("DescribeHostDeployRecord"), 10.0);
        assert_eq!(rate_limit("DescribeHostDeployRecordDetail"), 10.0);
        assert_eq!(deploy_list_code(ItemState::Running), 0);
        assert_eq!(RecordKind::Deploy.label(), "deploy");
    }
}
