//! The alerts the simulated world should raise: each alert of the shipped rules whose
//! condition holds, as docs/alerts.md states the conditions (thresholds in days and hours),
//! evaluated here on the world's own series (the truth of [`crate::truth`] and the scenario's)
//! and on the world's records, never on the rules file or on what an exporter served.
//!
//! An alert is named by its `alertname` and the labels that tell its instances apart (the
//! certificate, the endpoint, the record, the collector); "raised" means pending or firing: the
//! condition holds now, whatever its `for:` duration.
//!
//! Alerts about the exporter itself (down, a collector failing or stale or restarting,
//! throttling, a web configuration that does not load) follow from the world only through
//! faults and refusals; a world without them raises none. The one self-alert the plain world
//! justifies is `TencentCloudSSLAnswersNotUnderstood`: an update record item whose status no
//! decoder can read.

use std::collections::{BTreeMap, BTreeSet};

use crate::dataset::Dataset;
use crate::model::RecordKind;

/// An alert: its name and identifying labels (`account` included).
pub type Alert = (String, BTreeMap<String, String>);

/// The labels that tell the instances of `alertname` apart (beside `account`); empty for an
/// alert the simulator does not know.
pub fn identifying_labels(alertname: &str) -> &'static [&'static str] {
    match alertname {
        "TencentCloudSSLCertificateExpiringSoon"
        | "TencentCloudSSLCertificateExpiryCritical"
        | "TencentCloudSSLCertificateRenewalMissing"
        | "TencentCloudSSLExpiredCertificateStillBound"
        | "TencentCloudSSLRevokedCertificateStillBound"
        | "TencentCloudSSLHostingReplacementOverdue"
        | "TencentCloudSSLBindTaskFailing" => &["certificate_id"],
        "TencentCloudSSLChainCertificateExpiresBeforeLeaf" => &["certificate_id", "depth"],
        "TencentCloudSSLUnmatchedDomains" | "TencentCloudSSLBindQueryErrors" => {
            &["certificate_id", "resource_type", "region"]
        }
        "TencentCloudSSLRolloutFailedResources" | "TencentCloudSSLRollbackFailed" => {
            &["record_type", "record_id", "resource_type"]
        }
        "TencentCloudSSLRolloutStuck" => &["record_type", "record_id", "operation", "status"],
        "TencentCloudSSLEndpointServesOtherCertificate"
        | "TencentCloudSSLEndpointServedCertificateExpiring"
        | "TencentCloudSSLEndpointProbeFailing" => &["certificate_id", "domain", "port"],
        "TencentCloudSSLAnswersNotUnderstood" => &["collector", "action"],
        "TencentCloudSSLCollectorFailing"
        | "TencentCloudSSLCollectorStale"
        | "TencentCloudSSLCollectorRestarting"
        | "TencentCloudSSLChecksBehindRotation" => &["collector"],
        "TencentCloudSSLAPIThrottled" => &["action"],
        _ => &[],
    }
}

/// `labels` reduced to `account` and the identifying labels of `alertname`.
pub fn identify(alertname: &str, labels: &BTreeMap<String, String>) -> Alert {
    let keep: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| *k == "account" || identifying_labels(alertname).contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (alertname.to_string(), keep)
}

/// One series of an exposition text: family (without the `tencentcloud_ssl_` prefix), labels,
/// value.
struct Sample {
    family: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Reads the simulator's own exposition lines (label values escaped as the text format says).
fn samples(text: &str) -> Vec<Sample> {
    text.lines().filter_map(sample).collect()
}

fn sample(line: &str) -> Option<Sample> {
    let rest = line.strip_prefix("tencentcloud_ssl_")?;
    let (series, value) = rest.rsplit_once(' ')?;
    let (family, rest) = series.split_once('{')?;
    let body = rest.strip_suffix('}')?;
    let mut labels = BTreeMap::new();
    let mut chars = body.chars();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let name = name.trim_start_matches(',');
        if name.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut text = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => text.push('\n'),
                    other => text.push(other),
                },
                '"' => break,
                other => text.push(other),
            }
        }
        labels.insert(name.to_string(), text);
    }
    Some(Sample {
        family: family.to_string(),
        labels,
        value: value.parse().ok()?,
    })
}

/// The alerts `truth` (every series the world's truth names now, for one account) and the
/// records of `dataset` raise at `now` (unix seconds), with records no older than
/// `max_age_seconds` collected.
pub fn expected_alerts(
    truth: &str,
    dataset: &Dataset,
    account: &str,
    now: i64,
    max_age_seconds: i64,
) -> BTreeSet<Alert> {
    let samples = samples(truth);
    let of = |family: &'static str| samples.iter().filter(move |s| s.family == family);
    let label = |s: &Sample, key: &str| s.labels.get(key).cloned().unwrap_or_default();
    let mut alerts = BTreeSet::new();
    let mut raise = |name: &str, labels: &[(&str, String)]| {
        let mut all: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        all.insert("account".into(), account.to_string());
        alerts.insert(identify(name, &all));
    };
    let days_left = |not_after: f64| (not_after - now as f64) / 86_400.0;
    let mut expiry: BTreeMap<String, f64> = BTreeMap::new();
    for s in of("certificate_not_after_timestamp_seconds") {
        expiry.insert(label(s, "certificate_id"), days_left(s.value));
    }
    // Bound: a region reported instances. Known unbound: the task succeeded, no region
    // reported instances, no region failed. Everything else may be in use.
    let mut bound: BTreeMap<String, f64> = BTreeMap::new();
    for s in of("certificate_bound_resources") {
        *bound.entry(label(s, "certificate_id")).or_default() += s.value;
    }
    let failing_regions: BTreeSet<String> = of("certificate_bind_query_error")
        .filter(|s| s.value == 1.0)
        .map(|s| label(s, "certificate_id"))
        .collect();
    let succeeded: BTreeSet<String> = of("certificate_bind_task_status")
        .filter(|s| s.value == 1.0 && label(s, "status") == "succeeded")
        .map(|s| label(s, "certificate_id"))
        .collect();
    let unbound = |id: &String| {
        succeeded.contains(id) && !bound.contains_key(id) && !failing_regions.contains(id)
    };
    for (id, days) in &expiry {
        let one = [("certificate_id", id.clone())];
        if (14.0..28.0).contains(days) && !unbound(id) {
            raise("TencentCloudSSLCertificateExpiringSoon", &one);
        }
        if (0.0..14.0).contains(days) && !unbound(id) {
            raise("TencentCloudSSLCertificateExpiryCritical", &one);
        }
        if *days < 0.0 && bound.get(id).is_some_and(|n| *n > 0.0) {
            raise("TencentCloudSSLExpiredCertificateStillBound", &one);
        }
    }
    // The subscription service names the certificate that renews this one.
    let service_renewed: BTreeSet<String> = of("certificate_service_info")
        .filter(|s| !label(s, "service_renew_certificate_id").is_empty())
        .map(|s| label(s, "certificate_id"))
        .collect();
    for s in of("certificate_renewal_info") {
        let id = label(s, "certificate_id");
        let renewed = label(s, "auto_renew") == "true"
            || !label(s, "renew_order_certificate_id").is_empty()
            || !label(s, "successor_certificate_id").is_empty()
            || service_renewed.contains(&id);
        if !renewed && expiry.get(&id).is_some_and(|d| (0.0..28.0).contains(d)) {
            raise(
                "TencentCloudSSLCertificateRenewalMissing",
                &[("certificate_id", id)],
            );
        }
    }
    let still_bound = |id: &String| bound.get(id).is_some_and(|n| *n > 0.0);
    // Revoked (CertRevokedTime set) and still bound.
    for s in of("certificate_revoked_timestamp_seconds") {
        let id = label(s, "certificate_id");
        if still_bound(&id) {
            raise(
                "TencentCloudSSLRevokedCertificateStillBound",
                &[("certificate_id", id)],
            );
        }
    }
    // Hosted with a successor, more than a day past the replacement time (its days before
    // expiry, 30 when the API does not say), and still bound.
    let replace_before: BTreeMap<String, f64> =
        of("certificate_hosting_replace_before_expiry_seconds")
            .map(|s| (label(s, "certificate_id"), s.value))
            .collect();
    for s in of("certificate_renewal_info") {
        let id = label(s, "certificate_id");
        let hosted = matches!(label(s, "hosting_status").as_str(), "hosting" | "replacing");
        let Some(days) = expiry.get(&id) else {
            continue;
        };
        let before_days = replace_before.get(&id).copied().unwrap_or(30.0 * 86_400.0) / 86_400.0;
        let overdue_days = before_days - days;
        if hosted
            && !label(s, "successor_certificate_id").is_empty()
            && overdue_days > 1.0
            && still_bound(&id)
        {
            raise(
                "TencentCloudSSLHostingReplacementOverdue",
                &[("certificate_id", id)],
            );
        }
    }
    // A certificate of the chain that expires before its leaf, within 28 days, unless the
    // leaf is known to be bound to nothing.
    for s in of("certificate_chain_not_after_timestamp_seconds") {
        let id = label(s, "certificate_id");
        let leaf = expiry.get(&id).copied();
        let chain = days_left(s.value);
        if leaf.is_some_and(|leaf| chain < leaf) && chain < 28.0 && !unbound(&id) {
            raise(
                "TencentCloudSSLChainCertificateExpiresBeforeLeaf",
                &[("certificate_id", id), ("depth", label(s, "depth"))],
            );
        }
    }
    let where_ = |s: &Sample| {
        [
            ("certificate_id", label(s, "certificate_id")),
            ("resource_type", label(s, "resource_type")),
            ("region", label(s, "region")),
        ]
    };
    for s in of("certificate_unmatched_domains").filter(|s| s.value > 0.0) {
        raise("TencentCloudSSLUnmatchedDomains", &where_(s));
    }
    for s in of("certificate_bind_query_error").filter(|s| s.value == 1.0) {
        raise("TencentCloudSSLBindQueryErrors", &where_(s));
    }
    for s in of("certificate_bind_task_status")
        .filter(|s| s.value == 1.0 && label(s, "status") == "failed")
    {
        raise(
            "TencentCloudSSLBindTaskFailing",
            &[("certificate_id", label(s, "certificate_id"))],
        );
    }
    // Rollouts: failed resources of records younger than a day, rollback failures of records
    // younger than a week, records still pending or running an hour after creation.
    let mut age: BTreeMap<(String, String), f64> = BTreeMap::new();
    for s in of("deploy_record_created_timestamp_seconds") {
        age.insert(
            (label(s, "record_type"), label(s, "record_id")),
            now as f64 - s.value,
        );
    }
    let age_of = |s: &Sample| {
        age.get(&(label(s, "record_type"), label(s, "record_id")))
            .copied()
    };
    for s in of("deploy_resources").filter(|s| s.value > 0.0) {
        let labels = [
            ("record_type", label(s, "record_type")),
            ("record_id", label(s, "record_id")),
            ("resource_type", label(s, "resource_type")),
        ];
        let (operation, status) = (label(s, "operation"), label(s, "status"));
        let young = |limit: f64| age_of(s).is_some_and(|a| a < limit);
        if operation == "deploy" && status == "failed" && young(86_400.0) {
            raise("TencentCloudSSLRolloutFailedResources", &labels);
        }
        if operation == "rollback" && status == "rollback_failed" && young(7.0 * 86_400.0) {
            raise("TencentCloudSSLRollbackFailed", &labels);
        }
    }
    for s in of("deploy_record_status").filter(|s| s.value == 1.0) {
        let status = label(s, "status");
        if (status == "pending" || status == "running") && age_of(s).is_some_and(|a| a > 3600.0) {
            raise(
                "TencentCloudSSLRolloutStuck",
                &[
                    ("record_type", label(s, "record_type")),
                    ("record_id", label(s, "record_id")),
                    ("operation", label(s, "operation")),
                    ("status", status),
                ],
            );
        }
    }
    // Endpoints: serving another leaf; serving a leaf that expires within 14 days while the
    // API's certificate does not; not probed successfully.
    let endpoint = |s: &Sample| {
        [
            ("certificate_id", label(s, "certificate_id")),
            ("domain", label(s, "domain")),
            ("port", label(s, "port")),
        ]
    };
    for s in of("endpoint_certificate_match").filter(|s| s.value == 0.0) {
        raise(
            "TencentCloudSSLEndpointServesOtherCertificate",
            &endpoint(s),
        );
    }
    for s in of("endpoint_served_not_after_timestamp_seconds") {
        let api_days = expiry.get(&label(s, "certificate_id")).copied();
        if days_left(s.value) < 14.0 && api_days.is_some_and(|d| d >= 14.0) {
            raise(
                "TencentCloudSSLEndpointServedCertificateExpiring",
                &endpoint(s),
            );
        }
    }
    for s in of("endpoint_probe_success").filter(|s| s.value == 0.0) {
        raise("TencentCloudSSLEndpointProbeFailing", &endpoint(s));
    }
    // An item whose status no decoder can read, in a record the collector reads in detail.
    for record in &dataset.records {
        let detailed = record.created >= now - max_age_seconds;
        let garbled = record
            .entries
            .iter()
            .flat_map(|e| &e.items)
            .any(|i| i.garbled);
        if detailed && garbled {
            let (collector, action) = match record.kind {
                RecordKind::UploadUpdate => {
                    ("upload_update", "DescribeHostUploadUpdateRecordDetail")
                }
                RecordKind::Update => ("update", "DescribeHostUpdateRecordDetail"),
                RecordKind::Deploy => ("deploy", "DescribeHostDeployRecordDetail"),
            };
            raise(
                "TencentCloudSSLAnswersNotUnderstood",
                &[("collector", collector.into()), ("action", action.into())],
            );
        }
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_read_escaped_labels() {
        let line = r#"tencentcloud_ssl_certificate_info{account="a",alias="x \"y\" \\ z\nw",status="issued"} 1"#;
        let s = sample(line).expect("a sample");
        assert_eq!(s.family, "certificate_info");
        assert_eq!(s.labels["alias"], "x \"y\" \\ z\nw");
        assert_eq!(s.labels["status"], "issued");
        assert_eq!(s.value, 1.0);
        assert!(sample("process_open_fds 3").is_none());
    }

    #[test]
    fn conditions_follow_the_documented_thresholds() {
        let dataset = Dataset::generate(crate::dataset::DatasetSpec::new(1, 0, 1_000_000));
        let now = 1_000_000;
        let day = 86_400;
        let truth = format!(
            "tencentcloud_ssl_certificate_not_after_timestamp_seconds{{account=\"a\",certificate_id=\"soon\"}} {}\n\
             tencentcloud_ssl_certificate_not_after_timestamp_seconds{{account=\"a\",certificate_id=\"critical\"}} {}\n\
             tencentcloud_ssl_certificate_not_after_timestamp_seconds{{account=\"a\",certificate_id=\"unbound\"}} {}\n\
             tencentcloud_ssl_certificate_not_after_timestamp_seconds{{account=\"a\",certificate_id=\"expired\"}} {}\n\
             tencentcloud_ssl_certificate_bind_task_status{{account=\"a\",certificate_id=\"unbound\",status=\"succeeded\"}} 1\n\
             tencentcloud_ssl_certificate_bound_resources{{account=\"a\",certificate_id=\"expired\",resource_type=\"clb\",region=\"r\"}} 2\n\
             tencentcloud_ssl_certificate_renewal_info{{account=\"a\",certificate_id=\"soon\",auto_renew=\"true\",renew_order_certificate_id=\"\",successor_certificate_id=\"\"}} 1\n\
             tencentcloud_ssl_certificate_renewal_info{{account=\"a\",certificate_id=\"critical\",auto_renew=\"false\",renew_order_certificate_id=\"\",successor_certificate_id=\"\"}} 1\n",
            now + 20 * day,
            now + 3 * day,
            now + 3 * day,
            now - day,
        );
        let names: Vec<(String, String)> = expected_alerts(&truth, &dataset, "a", now, 30 * day)
            .into_iter()
            .map(|(name, labels)| (name, labels["certificate_id"].clone()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "TencentCloudSSLCertificateExpiringSoon".to_string(),
                    "soon".to_string()
                ),
                (
                    "TencentCloudSSLCertificateExpiryCritical".to_string(),
                    "critical".to_string()
                ),
                (
                    "TencentCloudSSLCertificateRenewalMissing".to_string(),
                    "critical".to_string()
                ),
                (
                    "TencentCloudSSLExpiredCertificateStillBound".to_string(),
                    "expired".to_string()
                ),
            ]
        );
    }
}
