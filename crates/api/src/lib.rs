//! A client for the Tencent Cloud SSL Certificate Service API (`ssl`, version `2019-12-05`):
//! what another Rust program needs to call the actions a certificate monitor uses.
//!
//! No Prometheus and no HTTP server here: the exporter builds on this crate, and so can anything
//! else that wants signed, rate-limited, retried calls and typed answers.
//!
//! # Map of the modules
//!
//! Dependencies point down this list, never up:
//!
//! - [`time`]: calendar arithmetic and the two time formats the API answers with.
//! - [`signing`]: TC3-HMAC-SHA256 signatures, a pure function pinned to the SDK's vectors.
//! - [`credentials`]: secrets that never print, the [`credentials::ProvideCredentials`]
//!   interface, and caching of credentials that expire.
//! - [`client`]: the signed client: rate limiting per action, retries with backoff, size caps,
//!   typed errors, and an [`client::Observer`] hook that sees every attempt.
//! - [`providers`]: where credentials come from (environment, files, profile, CVM role, STS
//!   `AssumeRole`, TKE OIDC, and the SDK's chain); the STS providers call through [`client`].
//! - Request and response types with pure parse functions, one module per family of actions:
//!   [`certificates`], [`detail`], [`bind`], [`records`]; their action names are in [`action`]. Decoding is
//!   tolerant: a scalar of the wrong JSON type is taken where its meaning is clear, and an item
//!   that still cannot be understood is skipped and reported ([`Items`]), never failing the
//!   answer.
#![warn(missing_docs)]

pub mod bind;
pub mod certificates;
pub mod client;
pub mod credentials;
mod de;
pub mod detail;
pub mod providers;
pub use de::{domains_in, normalize_domain, written_domains, Items, Lenient, SkippedItem, Text};
pub mod records;
pub mod signing;
pub mod time;

/// Action names, in one place so callers agree on the spelling.
pub mod action {
    /// List certificates (`DescribeCertificates`).
    pub const DESCRIBE_CERTIFICATES: &str = "DescribeCertificates";
    /// One certificate's content and fingerprint (`DescribeCertificateDetail`).
    pub const DESCRIBE_CERTIFICATE_DETAIL: &str = "DescribeCertificateDetail";
    /// Start (or reuse) bind-resource query tasks.
    pub const CREATE_BIND_SYNC_TASK: &str = "CreateCertificateBindResourceSyncTask";
    /// Status and per-region counts of bind-resource tasks.
    pub const DESCRIBE_BIND_TASK_RESULT: &str = "DescribeCertificateBindResourceTaskResult";
    /// Instances a bind-resource task found.
    pub const DESCRIBE_BIND_TASK_DETAIL: &str = "DescribeCertificateBindResourceTaskDetail";
    /// Rollout records whose certificate ID stayed the same ("upload update").
    pub const DESCRIBE_UPLOAD_UPDATE_RECORD: &str = "DescribeHostUploadUpdateRecord";
    /// Detail of an upload-update record.
    pub const DESCRIBE_UPLOAD_UPDATE_RECORD_DETAIL: &str = "DescribeHostUploadUpdateRecordDetail";
    /// Rollout records that replaced a certificate with another ("update").
    pub const DESCRIBE_UPDATE_RECORD: &str = "DescribeHostUpdateRecord";
    /// Detail of an update record.
    pub const DESCRIBE_UPDATE_RECORD_DETAIL: &str = "DescribeHostUpdateRecordDetail";
    /// Rollout records of one certificate deployed to cloud resources ("deploy",
    /// `DeployCertificateInstance`, the console's deploy button).
    pub const DESCRIBE_DEPLOY_RECORD: &str = "DescribeHostDeployRecord";
    /// Detail of a deploy record.
    pub const DESCRIBE_DEPLOY_RECORD_DETAIL: &str = "DescribeHostDeployRecordDetail";
}
