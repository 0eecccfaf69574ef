//! What a correct exporter shows for the simulated world: the contract's series and values,
//! computed from the dataset model directly (not from API answers) and written as exposition
//! lines by this module's own small renderer, with the simulator's own tables.
//!
//! The end-to-end tests compare this with what the real binary serves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::dataset::{Binding, Dataset, Entry};
use crate::handlers::Tasks;
use crate::model::{
    certificate_state, deploy_list_code, hosting_label, ItemState, Operation, RecordKind,
    TASK_STATES,
};

/// Exposition lines of one account, written as the metrics contract (README) specifies them.
struct Lines {
    account: String,
    text: String,
}

fn quoted(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Lines {
    /// `tencentcloud_ssl_<name>{account="…",label="value",…} value`.
    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
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
                &[("object", "item"), ("object_id", &id), ("code", &code)],
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

#[cfg(test)]
mod tests {
    use super::*;

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
