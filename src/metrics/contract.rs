//! The metrics contract: dashboards and alerts are built on these exact names and labels.
//!
//! Every family also carries `account` as its first label. Label lists here exclude it.

/// One metric family of the contract.
#[derive(Debug)]
pub struct FamilyDef {
    pub name: &'static str,
    pub help: &'static str,
    /// `gauge`, or `counter` for the cumulative counts a collector keeps (`_total`).
    pub kind: &'static str,
    /// Labels after `account`, in the order samples give their values.
    pub labels: &'static [&'static str],
}

/// The label values of one sample of one family, as a type: a struct per family (in
/// [`series`]) whose fields are the family's labels, so values cannot be given in the wrong order
/// or left out:
///
/// ```compile_fail
/// // `resource_type` is left out: this does not compile.
/// use tencentcloud_ssl_exporter::metrics::{series, SnapshotBuilder};
/// let mut builder = SnapshotBuilder::new("default");
/// builder.sample(series::BoundResources { certificate_id: "c1", region: "ap-guangzhou" }, 1.0);
/// ```
///
/// ```
/// use tencentcloud_ssl_exporter::metrics::{series, Family, SnapshotBuilder};
/// let mut builder = SnapshotBuilder::new("default");
/// // Fields by name, in any order: the contract's order is the one rendered.
/// builder.sample(
///     series::BoundResources { region: "ap-guangzhou", resource_type: "clb", certificate_id: "c1" },
///     2.0,
/// );
/// assert_eq!(
///     builder.finish().chunk(Family::BoundResources),
///     "tencentcloud_ssl_certificate_bound_resources{account=\"default\",certificate_id=\"c1\",resource_type=\"clb\",region=\"ap-guangzhou\"} 2\n",
/// );
/// ```
pub trait Series {
    /// The family the sample belongs to.
    const FAMILY: Family;
    /// The label values after `account`, in the contract's order.
    fn values(&self) -> impl AsRef<[&str]>;
}

macro_rules! series_struct {
    ($variant:ident, $name:literal, []) => {
        #[doc = concat!("`", $name, "`: `account` is its only label.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $variant;

        impl Series for $variant {
            const FAMILY: Family = Family::$variant;
            fn values(&self) -> impl AsRef<[&str]> {
                [] as [&str; 0]
            }
        }
    };
    ($variant:ident, $name:literal, [$($label:ident),+]) => {
        #[doc = concat!("The labels of `", $name, "` after `account`.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $variant<'a> {
            $(#[allow(missing_docs)] pub $label: &'a str,)*
        }

        impl Series for $variant<'_> {
            const FAMILY: Family = Family::$variant;
            fn values(&self) -> impl AsRef<[&str]> {
                [$(self.$label),*]
            }
        }
    };
}

macro_rules! families {
    ($($variant:ident => $kind:ident $name:literal, [$($label:ident),*], $help:literal;)*) => {
        /// A family published from collector snapshots.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Family { $($variant),* }

        impl Family {
            /// All families, in exposition order.
            pub const ALL: &'static [Family] = &[$(Family::$variant),*];

            pub fn def(self) -> &'static FamilyDef {
                match self {
                    $(Family::$variant => &FamilyDef {
                        name: $name,
                        help: $help,
                        kind: stringify!($kind),
                        labels: &[$(stringify!($label)),*],
                    }),*
                }
            }

            /// Position in [`Family::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }

        /// One struct per family: its labels after `account`, by name (a unit struct for a
        /// family with `account` alone).
        pub mod series {
            use super::{Family, Series};
            $(series_struct!($variant, $name, [$($label),*]);)*
        }
    };
}

families! {
    CertificateInfo => gauge "tencentcloud_ssl_certificate_info",
        [certificate_id, domain, alias, status, certificate_type],
        "Certificate identity; always 1.";
    CertificateNotAfter => gauge "tencentcloud_ssl_certificate_not_after_timestamp_seconds",
        [certificate_id],
        "Certificate expiry (CertEndTime) as unix seconds.";
    CertificateNotBefore => gauge "tencentcloud_ssl_certificate_not_before_timestamp_seconds",
        [certificate_id],
        "Certificate validity start (CertBeginTime) as unix seconds.";
    CertificateRenewalInfo => gauge "tencentcloud_ssl_certificate_renewal_info",
        [certificate_id, hosting_status, auto_renew, renewable, renew_order_certificate_id, successor_certificate_id, deployable, expiring],
        "Hosting and renewal state of the certificate (HostingStatus: not_hosted, hosting, replacing, done; AutoRenewFlag, RenewAble, HasRenewOrder, HostingRenewCertId, Deployable, IsExpiring; empty when the API says nothing); always 1.";
    CertificateServiceInfo => gauge "tencentcloud_ssl_certificate_service_info",
        [certificate_id, service_id, service_status, service_renew_certificate_id, service_origin_certificate_id],
        "The subscription service the certificate belongs to (ServiceId; ServiceStatus as sent: initing, running, expired, refunded, nearExpire) and its chain of certificates (CertificateExtra.ServiceRenewCertificateId, ServiceOriginCertificateId; empty when none); only for certificates with a ServiceId; always 1.";
    CertificateServiceEnd => gauge "tencentcloud_ssl_certificate_service_end_timestamp_seconds",
        [certificate_id],
        "When the certificate's subscription service ends (CertServiceEndTime) as unix seconds.";
    CertificateHostingInfo => gauge "tencentcloud_ssl_certificate_hosting_info",
        [certificate_id, replace_window_start, replace_window_end],
        "Hosting configuration (HostingConfig): the daily window replacements run in (ReplaceStartTime, ReplaceEndTime: times of day, GMT+8); only for certificates with a HostingConfig; always 1.";
    CertificateHostingReplaceBeforeExpiry => gauge "tencentcloud_ssl_certificate_hosting_replace_before_expiry_seconds",
        [certificate_id],
        "How long before expiry hosting replaces the certificate on its resources once a renewal exists (HostingConfig.ReplaceTime, given in days; the API's default is 30 days).";
    CertificateRevoked => gauge "tencentcloud_ssl_certificate_revoked_timestamp_seconds",
        [certificate_id],
        "When the certificate's revocation completed (CertRevokedTime) as unix seconds; only for revoked certificates.";
    CertificateTag => gauge "tencentcloud_ssl_certificate_tag_info",
        [certificate_id, key, value],
        "A tag of the certificate (Tags: TagKey, TagValue); always 1.";
    CertificateTags => gauge "tencentcloud_ssl_certificate_tags_info",
        [certificate_id],
        "The certificate's values of the tag keys chosen in certificates.tag_labels, one label tag_<key> each (absent when the certificate lacks the tag); one series per certificate, only when tag_labels is set; always 1.";
    CertificateChainNotAfter => gauge "tencentcloud_ssl_certificate_chain_not_after_timestamp_seconds",
        [certificate_id, depth, subject, issuer],
        "Expiry (ValidTo) of each certificate above the leaf in the certificate's chain (DescribeCertificateDetail CertChainInfo; depth 1 is the leaf's issuer), as unix seconds; for the certificates whose endpoints are probed.";
    BoundResources => gauge "tencentcloud_ssl_certificate_bound_resources",
        [certificate_id, resource_type, region],
        "Cloud resource instances the certificate is bound to, by resource type and region (empty region for non-regional types).";
    BoundInstanceInfo => gauge "tencentcloud_ssl_certificate_bound_instance_info",
        [certificate_id, resource_type, region, instance_id],
        "A cloud resource instance the certificate is bound to; always 1. Opt-in (detail_series), one series per instance.";
    BindQueryError => gauge "tencentcloud_ssl_certificate_bind_query_error",
        [certificate_id, resource_type, region],
        "1 if querying this resource type and region for the certificate failed, else 0.";
    UnmatchedDomains => gauge "tencentcloud_ssl_certificate_unmatched_domains",
        [certificate_id, resource_type, region],
        "Distinct domains served by bound resources that the certificate does not cover (NoMatchDomains).";
    BindTaskStatus => gauge "tencentcloud_ssl_certificate_bind_task_status",
        [certificate_id, status],
        "State of the certificate's bind-resource query task; 1 on the current state (querying, succeeded, failed).";
    BindResultTimestamp => gauge "tencentcloud_ssl_certificate_bind_result_timestamp_seconds",
        [certificate_id],
        "When the bind-resource result was computed by the API (CacheTime) as unix seconds.";
    DeployResources => gauge "tencentcloud_ssl_deploy_resources",
        [record_type, record_id, certificate_id, operation, resource_type, status],
        "Resources of a certificate rollout record in each state, for the newest entry of each operation.";
    DeployRecordStatus => gauge "tencentcloud_ssl_deploy_record_status",
        [record_type, record_id, certificate_id, operation, status],
        "State of the newest entry of each operation of a rollout record; 1 on the current state.";
    DeployRecordInfo => gauge "tencentcloud_ssl_deploy_record_info",
        [record_type, record_id, certificate_id, old_certificate_id],
        "Rollout record identity; always 1.";
    DeployRecordCreated => gauge "tencentcloud_ssl_deploy_record_created_timestamp_seconds",
        [record_type, record_id, certificate_id],
        "When the rollout record was created, as unix seconds.";
    CertificateFingerprint => gauge "tencentcloud_ssl_certificate_fingerprint_info",
        [certificate_id, fingerprint_sha1],
        "SHA-1 fingerprint of the certificate (DescribeCertificateDetail CertFingerprint, lower-case hex), for the certificates whose endpoints are probed; always 1.";
    EndpointInfo => gauge "tencentcloud_ssl_endpoint_info",
        [certificate_id, domain, port, resource_type, source],
        "An endpoint the API says serves the certificate, probed (this run, or lately when outside the rotating max_endpoints window) or skipped; source is bind (the bind-resource detail) or the rollout record type (upload_update, update, deploy); always 1.";
    EndpointSkipped => gauge "tencentcloud_ssl_endpoint_skipped_info",
        [certificate_id, domain, port, reason],
        "An endpoint the API names that is not probed, and why (wildcard: a wildcard name cannot be dialled; invalid_name: not a host name; loopback_address, link_local_address, unspecified_address, multicast_address: every address the name resolves to is of that kind; denied_address: in endpoints.deny_cidrs; https_off, domain_offline, https_billing_off, domain_disabled, not_deployed: the API's state of the instance says the binding serves nothing now); always 1.";
    EndpointTargets => gauge "tencentcloud_ssl_endpoint_targets",
        [state],
        "Endpoints the API names, by what the last run did with them: probed, skipped (wildcard, invalid name, or every address it resolves to refused), not_resolved (resolved_only is set and no resolve override names it), over_limit (outside this run's window of max_endpoints; the window rotates, and the endpoint's last results are still served).";
    EndpointProbeSuccess => gauge "tencentcloud_ssl_endpoint_probe_success",
        [certificate_id, domain, port],
        "1 if the last probe completed a TLS handshake and received a certificate, else 0.";
    EndpointProbeError => gauge "tencentcloud_ssl_endpoint_probe_error_info",
        [certificate_id, domain, port, reason],
        "Why the last probe failed (resolve, connect, timeout, handshake, no_certificate); always 1.";
    EndpointProbeTimestamp => gauge "tencentcloud_ssl_endpoint_probe_timestamp_seconds",
        [certificate_id, domain, port],
        "When the probe whose results are shown ran, as unix seconds: this run, or, for an endpoint outside this run's max_endpoints window, the last run that probed it (at most endpoint_rotation_runs runs ago).";
    EndpointUntrackedClaims => gauge "tencentcloud_ssl_endpoint_untracked_claims",
        [],
        "Claims (an endpoint the API names for a certificate) about endpoints outside the tracked sample: counted, neither held nor probed. The sample is the endpoints of the smallest hashes of domain and port whose claims number at most max_tracked, the same on every run; endpoint_targets counts only those.";
    EndpointRotationRuns => gauge "tencentcloud_ssl_endpoint_rotation_runs",
        [],
        "Runs it takes to probe every endpoint: ceil(endpoints that can be probed / max_endpoints), 1 when all fit; each run probes the next max_endpoints of them.";
    EndpointProbeDuration => gauge "tencentcloud_ssl_endpoint_probe_duration_seconds",
        [certificate_id, domain, port],
        "Duration of the last probe: resolve, connect and TLS handshake.";
    EndpointCertificateMatch => gauge "tencentcloud_ssl_endpoint_certificate_match",
        [certificate_id, domain, port],
        "1 if the endpoint serves the certificate the API says (the served leaf's SHA-1 equals CertFingerprint), 0 if it serves another; absent when the probe failed or the expected fingerprint is unknown.";
    EndpointChainValid => gauge "tencentcloud_ssl_endpoint_chain_valid",
        [certificate_id, domain, port],
        "1 if the served chain verifies for the domain against the trust roots at probe time (issuer, dates, name), else 0; reported apart from the match; absent when the probe failed.";
    EndpointServedNotAfter => gauge "tencentcloud_ssl_endpoint_served_not_after_timestamp_seconds",
        [certificate_id, domain, port],
        "Expiry (notAfter) of the leaf certificate the endpoint serves, as unix seconds.";
    EndpointServedInfo => gauge "tencentcloud_ssl_endpoint_served_certificate_info",
        [certificate_id, domain, port, fingerprint_sha1],
        "The leaf certificate the endpoint serves, by SHA-1 fingerprint (lower-case hex); always 1.";
    UnknownStatusCodes => gauge "tencentcloud_ssl_unknown_status_codes",
        [object, record_type, object_id, code],
        "Status codes outside the documented set, by object (certificate, bind_task, record, entry, item), the rollout record type (empty for certificates and bind tasks: record IDs of the three families can collide), the certificate or record it belongs to, and the raw code: how many objects carry it. Their series show status=\"unknown\".";
    ActionUnavailable => gauge "tencentcloud_ssl_action_unavailable",
        [collector, action],
        "1 when the endpoint answered that it does not offer the action the collector needs (InvalidAction, UnsupportedOperation): nothing to collect, asked again hourly, and the collector is not failing.";
    DecodeErrors => counter "tencentcloud_ssl_decode_errors_total",
        [collector, action],
        "Items of API answers that could not be decoded and were skipped, and optional fields of kept items that could not be read and were left out (each is named in a warn log line with its ID, once an hour while it recurs; at debug in between).";
    TotalsMismatches => counter "tencentcloud_ssl_totals_mismatches_total",
        [collector, action],
        "API answers whose stated totals (TotalCount, SuccessTotalCount, ...) disagreed with the rows received.";
    CheckRotationBound => gauge "tencentcloud_ssl_check_rotation_bound_seconds",
        [collector],
        "Every certificate is checked again within this long at the pace in force: computed from the per-certificate action's pace, the interval and how many certificates wait (deploy: DescribeHostDeployRecord).";
    CheckOldestAge => gauge "tencentcloud_ssl_check_oldest_age_seconds",
        [collector],
        "Age of the oldest last check of a certificate checked at least once, after the collector's last run; compare with the rotation bound.";
    CheckPendingCertificates => gauge "tencentcloud_ssl_check_pending_certificates",
        [collector],
        "Certificates not checked even once yet (their records are not exported yet), after the collector's last run.";
    InternalEntries => gauge "tencentcloud_ssl_internal_entries",
        [collector, map],
        "Entries of a map the collector keeps between runs (caches of final results, what a probe expects, the claims of the target book), after its last run: each is bounded by what the API lists now.";
    CollectorSuccess => gauge "tencentcloud_ssl_collector_success",
        [collector],
        "1 if the collector's last run succeeded completely, else 0.";
    CollectorDuration => gauge "tencentcloud_ssl_collector_duration_seconds",
        [collector],
        "Duration of the collector's last run.";
    CollectorLastSuccess => gauge "tencentcloud_ssl_collector_last_success_timestamp_seconds",
        [collector],
        "When the collector last finished a completely successful run, as unix seconds.";
    BuildInfo => gauge "tencentcloud_ssl_build_info",
        [version, revision],
        "Exporter build; always 1.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_conventions() {
        for family in Family::ALL {
            let def = family.def();
            assert!(def.name.starts_with("tencentcloud_ssl_"), "{}", def.name);
            match def.kind {
                "gauge" => assert!(!def.name.ends_with("_total"), "gauges never end in _total"),
                "counter" => assert!(def.name.ends_with("_total"), "{}", def.name),
                other => panic!("{other} is not a kind"),
            }
            assert!(!def.labels.contains(&"account"));
            assert_eq!(Family::ALL[family.index()], *family);
        }
    }
}
