//! What a correct exporter shows for the simulated world: the contract's series and values,
//! computed from the dataset model directly (not from API answers) and written as exposition
//! lines by this module's own small renderer, with the simulator's own tables.
//!
//! The end-to-end tests compare this with what the real binary serves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::dataset::{Binding, Certificate, Dataset, Entry, Served};
use crate::handlers::Tasks;
use crate::model::{
    certificate_state, deploy_list_code, hosting_label, ItemState, Operation, RecordKind,
    TASK_STATES,
};
use crate::tls::{ChainIssuer, TlsEndpoint, IMPLIED_PORT};

/// Exposition lines of one account, written as the metrics contract (docs/metrics.md) specifies them.
pub(crate) struct Lines {
    pub(crate) account: String,
    pub(crate) text: String,
}

fn quoted(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Lines {
    /// `tencentcloud_ssl_<name>{account="…",label="value",…} value`.
    pub(crate) fn line(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(
            self.text,
            "tencentcloud_ssl_{name}{{account=\"{}\"",
            quoted(&self.account)
        );
        for (label, text) in labels {
            let _ = write!(self.text, ",{label}=\"{}\"", quoted(text));
        }
        let _ = writeln!(self.text, "}} {value}");
    }
}

/// Series of the contract for `dataset` at `now_ms`, with bind results as the task store holds
/// them, and records no older than `max_age_seconds`.
pub fn truth(
    dataset: &Dataset,
    tasks: &Tasks,
    account: &str,
    now_ms: i64,
    max_age_seconds: i64,
) -> String {
    let now = now_ms.div_euclid(1000);
    let mut out = Lines {
        account: account.to_string(),
        text: String::new(),
    };
    for cert in &dataset.certificates {
        let id = cert.id.as_str();
        out.line(
            "certificate_info",
            &[
                ("certificate_id", id),
                ("domain", &cert.domain),
                ("alias", &cert.alias),
                ("status", certificate_state(cert.status)),
                ("certificate_type", cert.certificate_type),
            ],
            1.0,
        );
        let one = [("certificate_id", id)];
        out.line(
            "certificate_not_after_timestamp_seconds",
            &one,
            cert.not_after as f64,
        );
        out.line(
            "certificate_not_before_timestamp_seconds",
            &one,
            cert.not_before as f64,
        );
        let yes_no = |b: bool| if b { "true" } else { "false" };
        let expiring = cert.not_after > now && cert.not_after - now < 30 * 86_400;
        out.line(
            "certificate_renewal_info",
            &[
                ("certificate_id", id),
                ("hosting_status", hosting_label(cert.hosting_status)),
                ("auto_renew", yes_no(cert.auto_renew)),
                ("renewable", yes_no(cert.renewable)),
                ("renew_order_certificate_id", &cert.renew_order),
                ("successor_certificate_id", &cert.successor),
                ("deployable", yes_no(cert.deployable)),
                ("expiring", yes_no(expiring)),
            ],
            1.0,
        );

        newer_fields(&mut out, cert);

        let Some(task) = tasks.latest(id) else {
            continue;
        };
        let code = match (now_ms >= task.done_ms, task.fails) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        };
        // The documented states, and `unknown` for codes outside them (never set here).
        for (state, label) in TASK_STATES.into_iter().chain([(i64::MIN, "unknown")]) {
            out.line(
                "certificate_bind_task_status",
                &[("certificate_id", id), ("status", label)],
                if state == code { 1.0 } else { 0.0 },
            );
        }
        if code == 0 {
            continue;
        }
        out.line(
            "certificate_bind_result_timestamp_seconds",
            &one,
            (task.done_ms / 1000) as f64,
        );
        if code == 2 {
            continue;
        }
        let mut regions: BTreeMap<(&str, &str), &Binding> = BTreeMap::new();
        for binding in &cert.bindings {
            regions.insert(
                (binding.resource_type, binding.region.unwrap_or_default()),
                binding,
            );
        }
        for ((resource_type, region), binding) in regions {
            let labels = [
                ("certificate_id", id),
                ("resource_type", resource_type),
                ("region", region),
            ];
            if binding.error.is_some() {
                out.line("certificate_bind_query_error", &labels, 1.0);
            } else if binding.instances > 0 {
                out.line("certificate_bind_query_error", &labels, 0.0);
                out.line(
                    "certificate_bound_resources",
                    &labels,
                    binding.instances as f64,
                );
                out.line(
                    "certificate_unmatched_domains",
                    &labels,
                    binding.distinct_unmatched() as f64,
                );
            }
        }
    }
    for record in &dataset.records {
        if record.created < now - max_age_seconds {
            continue;
        }
        let kind = record.kind.label();
        let id = record.id.to_string();
        let cert = record.cert_id.as_str();
        let record_labels = [
            ("record_type", kind),
            ("record_id", id.as_str()),
            ("certificate_id", cert),
        ];
        out.line(
            "deploy_record_info",
            &[
                ("record_type", kind),
                ("record_id", &id),
                ("certificate_id", cert),
                ("old_certificate_id", &record.old_cert_id),
            ],
            1.0,
        );
        out.line(
            "deploy_record_created_timestamp_seconds",
            &record_labels,
            record.created as f64,
        );
        let undocumented = record
            .entries
            .iter()
            .flat_map(|e| &e.items)
            .filter(|i| !i.garbled && i.status_at(now) == ItemState::Undocumented)
            .count();
        if undocumented > 0 {
            let code = ItemState::Undocumented.code().to_string();
            out.line(
                "unknown_status_codes",
                &[
                    ("object", "item"),
                    ("record_type", kind),
                    ("object_id", &id),
                    ("code", &code),
                ],
                undocumented as f64,
            );
        }
        let mut newest: BTreeMap<Operation, &Entry> = BTreeMap::new();
        for entry in &record.entries {
            newest.insert(entry.operation, entry);
        }
        for (operation, entry) in newest {
            let current = match record.kind {
                RecordKind::UploadUpdate => entry.status_at(now),
                RecordKind::Update => record.status_at(now),
                // The deploy list's own codes: 0 not started, 1 success, 2 failed.
                RecordKind::Deploy => match deploy_list_code(record.status_at(now)) {
                    0 => ItemState::Pending,
                    1 => ItemState::Success,
                    _ => ItemState::Failed,
                },
            };
            let labels = ItemState::EVERY.iter().map(|s| (s.label(), *s == current));
            for (label, on) in labels.chain([("unknown", false)]) {
                out.line(
                    "deploy_record_status",
                    &[
                        ("record_type", kind),
                        ("record_id", &id),
                        ("certificate_id", cert),
                        ("operation", operation.label()),
                        ("status", label),
                    ],
                    if on { 1.0 } else { 0.0 },
                );
            }
            let mut counts: BTreeMap<(&str, ItemState), u64> = BTreeMap::new();
            // An item the exporter cannot decode is skipped (and counted apart).
            for item in entry.items.iter().filter(|i| !i.garbled) {
                *counts
                    .entry((item.resource_type, item.status_at(now)))
                    .or_default() += 1;
            }
            for ((resource_type, state), count) in counts {
                out.line(
                    "deploy_resources",
                    &[
                        ("record_type", kind),
                        ("record_id", &id),
                        ("certificate_id", cert),
                        ("operation", operation.label()),
                        ("resource_type", resource_type),
                        ("status", state.label()),
                    ],
                    count as f64,
                );
            }
        }
    }
    out.text
}

/// The series of the fields newer API versions added: tags, the subscription service, the
/// hosting configuration and the revocation time.
fn newer_fields(out: &mut Lines, cert: &Certificate) {
    let id = cert.id.as_str();
    let one = [("certificate_id", id)];
    for (key, value) in &cert.tags {
        out.line(
            "certificate_tag_info",
            &[("certificate_id", id), ("key", key), ("value", value)],
            1.0,
        );
    }
    if let Some(service) = &cert.service {
        out.line(
            "certificate_service_info",
            &[
                ("certificate_id", id),
                ("service_id", &service.id),
                ("service_status", service.status),
                (
                    "service_renew_certificate_id",
                    &service.renew_certificate_id,
                ),
                (
                    "service_origin_certificate_id",
                    &service.origin_certificate_id,
                ),
            ],
            1.0,
        );
        out.line(
            "certificate_service_end_timestamp_seconds",
            &one,
            service.ends as f64,
        );
    }
    if let Some(days) = cert.hosting_replace_days {
        out.line(
            "certificate_hosting_info",
            &[
                ("certificate_id", id),
                ("replace_window_start", cert.hosting_window.0),
                ("replace_window_end", cert.hosting_window.1),
            ],
            1.0,
        );
        out.line(
            "certificate_hosting_replace_before_expiry_seconds",
            &one,
            (days * 86_400) as f64,
        );
    }
    if let Some(at) = cert.revoked_at {
        out.line("certificate_revoked_timestamp_seconds", &one, at as f64);
    }
}

/// The endpoint collector's series for the demo's TLS endpoints and wildcard targets: what an
/// exporter that probes the domains of bind details (trusting the demo CA) must show.
///
/// A target's series appear once its certificate's latest bind task has succeeded at `now_ms`
/// (the exporter learns its domains from that task's detail), as `certificate_bound_resources`
/// does. Whether a leaf matches and its chain verifies follows from what the endpoint serves,
/// not from comparing the material. An unreachable endpoint has its info line, a failed probe
/// with `reason="connect"` and no served-certificate series; its certificate's expected
/// fingerprint is listed all the same (the exporter fetches it for every probed target).
pub fn endpoint_truth(
    dataset: &Dataset,
    tasks: &Tasks,
    endpoints: &[TlsEndpoint],
    account: &str,
    now_ms: i64,
) -> String {
    let listed = |id: &str| {
        tasks
            .latest(id)
            .is_some_and(|task| now_ms >= task.done_ms && !task.fails)
    };
    let mut out = Lines {
        account: account.to_string(),
        text: String::new(),
    };
    let mut fingerprints: BTreeMap<&str, &str> = BTreeMap::new();
    let mut chains: BTreeMap<&str, &[ChainIssuer]> = BTreeMap::new();
    for endpoint in endpoints.iter().filter(|e| listed(&e.certificate_id)) {
        let id = endpoint.certificate_id.as_str();
        let domain = endpoint.domain.as_str();
        let port = endpoint.port.to_string();
        out.line(
            "endpoint_info",
            &[
                ("certificate_id", id),
                ("domain", domain),
                ("port", &port),
                ("resource_type", endpoint.resource_type),
                ("source", "bind"),
            ],
            1.0,
        );
        let labels = [("certificate_id", id), ("domain", domain), ("port", &port)];
        fingerprints.insert(id, &endpoint.expected_fingerprint_sha1);
        chains.insert(id, &endpoint.expected_issuers);
        if endpoint.serves == Served::Unreachable {
            out.line("endpoint_probe_success", &labels, 0.0);
            out.line(
                "endpoint_probe_error_info",
                &[
                    ("certificate_id", id),
                    ("domain", domain),
                    ("port", &port),
                    ("reason", "connect"),
                ],
                1.0,
            );
            continue;
        }
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        out.line("endpoint_probe_success", &labels, 1.0);
        out.line(
            "endpoint_certificate_match",
            &labels,
            flag(endpoint.serves != Served::Previous),
        );
        out.line(
            "endpoint_chain_valid",
            &labels,
            flag(endpoint.serves != Served::Expired),
        );
        out.line(
            "endpoint_served_not_after_timestamp_seconds",
            &labels,
            endpoint.served_not_after as f64,
        );
        out.line(
            "endpoint_served_certificate_info",
            &[
                ("certificate_id", id),
                ("domain", domain),
                ("port", &port),
                ("fingerprint_sha1", &endpoint.served_fingerprint_sha1),
            ],
            1.0,
        );
    }
    let port = IMPLIED_PORT.to_string();
    for target in dataset
        .wildcard_targets()
        .filter(|t| listed(&t.certificate_id))
    {
        let id = target.certificate_id.as_str();
        out.line(
            "endpoint_info",
            &[
                ("certificate_id", id),
                ("domain", &target.domain),
                ("port", &port),
                ("resource_type", target.resource_type),
                ("source", "bind"),
            ],
            1.0,
        );
        out.line(
            "endpoint_skipped_info",
            &[
                ("certificate_id", id),
                ("domain", &target.domain),
                ("port", &port),
                ("reason", "wildcard"),
            ],
            1.0,
        );
    }
    for (id, fingerprint) in fingerprints {
        out.line(
            "certificate_fingerprint_info",
            &[("certificate_id", id), ("fingerprint_sha1", fingerprint)],
            1.0,
        );
    }
    // The chain above each leaf whose detail the exporter reads, from the same detail.
    for (id, issuers) in chains {
        chain_lines(&mut out, id, issuers);
    }
    out.text
}

/// The chain above the leaf of certificate `id` (`issuers`, nearest first), as
/// `DescribeCertificateDetail`'s `CertChainInfo` lists it after the leaf.
pub(crate) fn chain_lines(out: &mut Lines, id: &str, issuers: &[ChainIssuer]) {
    for (above, issuer) in issuers.iter().enumerate() {
        let depth = (above + 1).to_string();
        out.line(
            "certificate_chain_not_after_timestamp_seconds",
            &[
                ("certificate_id", id),
                ("depth", &depth),
                ("subject", &issuer.subject),
                ("issuer", &issuer.issuer),
            ],
            issuer.not_after as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_series_follow_what_each_endpoint_serves_once_binds_are_known() {
        use crate::dataset::DatasetSpec;
        use crate::handlers::respond;

        let dataset = Dataset::generate(DatasetSpec::new(1, 48, 1_750_000_000));
        let endpoints: Vec<TlsEndpoint> = dataset
            .endpoint_targets()
            .enumerate()
            .map(|(i, (target, serves))| TlsEndpoint {
                domain: target.domain.clone(),
                port: 443,
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16)),
                certificate_id: target.certificate_id.clone(),
                resource_type: target.resource_type,
                serves,
                served_fingerprint_sha1: match serves {
                    Served::Unreachable => String::new(),
                    _ => format!("served{i}"),
                },
                served_not_after: match serves {
                    Served::Unreachable => 0,
                    _ => 1_750_000_000 + i as i64,
                },
                expected_fingerprint_sha1: format!("api{i}"),
                expected_issuers: vec![ChainIssuer {
                    subject: "CN=CA".into(),
                    issuer: "CN=CA".into(),
                    not_after: 2_000_000_000,
                }],
            })
            .collect();
        let mut tasks = Tasks::default();
        let t0 = dataset.spec.now * 1000;
        assert_eq!(endpoint_truth(&dataset, &tasks, &endpoints, "a", t0), "");
        let ids: Vec<&str> = dataset
            .demo_targets
            .iter()
            .map(|t| t.certificate_id.as_str())
            .collect();
        respond(
            &dataset,
            &mut tasks,
            t0,
            "CreateCertificateBindResourceSyncTask",
            &serde_json::json!({"CertificateIds": ids}),
        );
        assert_eq!(
            endpoint_truth(&dataset, &tasks, &endpoints, "a", t0),
            "",
            "bind tasks still querying"
        );
        let text = endpoint_truth(&dataset, &tasks, &endpoints, "a", t0 + 60_000);
        let previous = endpoints
            .iter()
            .find(|e| e.serves == Served::Previous)
            .expect("a previous endpoint");
        let expired = endpoints
            .iter()
            .find(|e| e.serves == Served::Expired)
            .expect("an expired endpoint");
        let unreachable = endpoints
            .iter()
            .find(|e| e.serves == Served::Unreachable)
            .expect("an unreachable endpoint");
        let series = |e: &TlsEndpoint| {
            format!(
                "{{account=\"a\",certificate_id=\"{}\",domain=\"{}\",port=\"443\"}}",
                e.certificate_id, e.domain
            )
        };
        for line in [
            format!(
                "tencentcloud_ssl_endpoint_certificate_match{} 0",
                series(previous)
            ),
            format!("tencentcloud_ssl_endpoint_chain_valid{} 1", series(previous)),
            format!(
                "tencentcloud_ssl_endpoint_certificate_match{} 1",
                series(expired)
            ),
            format!("tencentcloud_ssl_endpoint_chain_valid{} 0", series(expired)),
            format!("tencentcloud_ssl_endpoint_probe_success{} 1", series(expired)),
            format!(
                "tencentcloud_ssl_endpoint_served_not_after_timestamp_seconds{} {}",
                series(expired),
                expired.served_not_after
            ),
            format!(
                "tencentcloud_ssl_endpoint_served_certificate_info{{account=\"a\",certificate_id=\"{}\",domain=\"{}\",port=\"443\",fingerprint_sha1=\"{}\"}} 1",
                previous.certificate_id, previous.domain, previous.served_fingerprint_sha1
            ),
            format!(
                "tencentcloud_ssl_endpoint_info{{account=\"a\",certificate_id=\"{}\",domain=\"{}\",port=\"443\",resource_type=\"{}\",source=\"bind\"}} 1",
                previous.certificate_id, previous.domain, previous.resource_type
            ),
            format!(
                "tencentcloud_ssl_certificate_fingerprint_info{{account=\"a\",certificate_id=\"{}\",fingerprint_sha1=\"{}\"}} 1",
                previous.certificate_id, previous.expected_fingerprint_sha1
            ),
            format!(
                "tencentcloud_ssl_endpoint_info{{account=\"a\",certificate_id=\"{}\",domain=\"{}\",port=\"443\",resource_type=\"{}\",source=\"bind\"}} 1",
                unreachable.certificate_id, unreachable.domain, unreachable.resource_type
            ),
            format!(
                "tencentcloud_ssl_endpoint_probe_success{} 0",
                series(unreachable)
            ),
            format!(
                "tencentcloud_ssl_endpoint_probe_error_info{{account=\"a\",certificate_id=\"{}\",domain=\"{}\",port=\"443\",reason=\"connect\"}} 1",
                unreachable.certificate_id, unreachable.domain
            ),
            format!(
                "tencentcloud_ssl_certificate_fingerprint_info{{account=\"a\",certificate_id=\"{}\",fingerprint_sha1=\"{}\"}} 1",
                unreachable.certificate_id, unreachable.expected_fingerprint_sha1
            ),
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\nin\n{text}");
        }
        let wildcard = dataset.wildcard_targets().next().expect("a wildcard");
        let skipped = format!(
            "tencentcloud_ssl_endpoint_skipped_info{{account=\"a\",certificate_id=\"{}\",domain=\"{}\",port=\"443\",reason=\"wildcard\"}} 1",
            wildcard.certificate_id, wildcard.domain
        );
        assert!(text.lines().any(|l| l == skipped), "{skipped}");
        let count = |family: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("tencentcloud_ssl_{family}{{")))
                .count()
        };
        let reachable = endpoints.len() - 1;
        assert_eq!(count("endpoint_info"), endpoints.len() + 1);
        assert_eq!(count("endpoint_probe_success"), endpoints.len());
        assert_eq!(count("endpoint_probe_error_info"), 1);
        assert_eq!(count("endpoint_certificate_match"), reachable);
        assert_eq!(count("endpoint_chain_valid"), reachable);
        assert_eq!(
            count("endpoint_served_not_after_timestamp_seconds"),
            reachable
        );
        assert_eq!(count("endpoint_served_certificate_info"), reachable);
        assert_eq!(count("endpoint_skipped_info"), 1);
        assert_eq!(count("certificate_fingerprint_info"), endpoints.len());
        let of_unreachable = format!("domain=\"{}\"", unreachable.domain);
        for family in [
            "endpoint_certificate_match",
            "endpoint_chain_valid",
            "endpoint_served_not_after_timestamp_seconds",
            "endpoint_served_certificate_info",
        ] {
            let prefix = format!("tencentcloud_ssl_{family}{{");
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with(&prefix) && l.contains(&of_unreachable)),
                "no {family} for the unreachable endpoint"
            );
        }
    }

    #[test]
    fn lines_escape_and_order_labels_as_the_contract_says() {
        let mut lines = Lines {
            account: "a\"b".into(),
            text: String::new(),
        };
        lines.line(
            "certificate_info",
            &[("certificate_id", "c"), ("alias", "x\\y\nz")],
            1.0,
        );
        assert_eq!(
            lines.text,
            "tencentcloud_ssl_certificate_info{account=\"a\\\"b\",certificate_id=\"c\",alias=\"x\\\\y\\nz\"} 1\n"
        );
    }
}
