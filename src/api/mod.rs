//! Request and response types of the SSL actions the exporter calls, with pure parse functions.
//!
//! Everything here is decoding only: no I/O. Fields the docs say "may return null" are `Option`
//! or default through [`de`]; numbers the API sometimes sends as strings are read either way.

pub mod bind;
pub mod certificates;
pub mod de;
pub mod records;

/// Action names, in one place so the client, the collectors and the simulator agree.
pub mod action {
    pub const DESCRIBE_CERTIFICATES: &str = "DescribeCertificates";
    pub const CREATE_BIND_SYNC_TASK: &str = "CreateCertificateBindResourceSyncTask";
    pub const DESCRIBE_BIND_TASK_RESULT: &str = "DescribeCertificateBindResourceTaskResult";
    pub const DESCRIBE_BIND_TASK_DETAIL: &str = "DescribeCertificateBindResourceTaskDetail";
    pub const DESCRIBE_UPLOAD_UPDATE_RECORD: &str = "DescribeHostUploadUpdateRecord";
    pub const DESCRIBE_UPLOAD_UPDATE_RECORD_DETAIL: &str = "DescribeHostUploadUpdateRecordDetail";
    pub const DESCRIBE_UPDATE_RECORD: &str = "DescribeHostUpdateRecord";
    pub const DESCRIBE_UPDATE_RECORD_DETAIL: &str = "DescribeHostUpdateRecordDetail";
}
