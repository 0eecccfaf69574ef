//! What a correct exporter shows for the simulated world: the contract's series and values,
//! computed from the dataset model directly (not from API answers), as exposition lines.
//!
//! The end-to-end tests compare this with what the real binary serves.

use std::collections::BTreeMap;

use super::dataset::Dataset;
use super::handlers::Tasks;
use crate::api::bind::TaskStatus;
use crate::api::certificates::status_name;
use crate::api::records::{DeployStatus, Operation, RecordKind};
use crate::metrics::{Family, Snapshot, SnapshotBuilder};

/// Series of the contract for `dataset` at `now_ms`, with bind results as the task store holds
/// them, and records no older than `max_age_seconds`.
pub fn truth(
    dataset: &Dataset,
    tasks: &Tasks,
    account: &str,
    now_ms: i64,
    max_age_seconds: i64,
) -> Snapshot {
    let now = now_ms.div_euclid(1000);
    let mut b = SnapshotBuilder::new(account);
    for cert in &dataset.certificates {
        let id = cert.id.as_str();
        b.sample(
            Family::CertificateInfo,
            &[
                id,
                &cert.domain,
                &cert.alias,
                status_name(Some(cert.status)),
                cert.certificate_type,
            ],
            1.0,
        );
        b.sample(Family::CertificateNotAfter, &[id], cert.not_after as f64);
        b.sample(Family::CertificateNotBefore, &[id], cert.not_before as f64);

        let Some(task) = tasks.latest(id) else {
            continue;
        };
        let status = match (now_ms >= task.done_ms, task.fails) {
            (false, _) => TaskStatus::Querying,
            (true, false) => TaskStatus::Succeeded,
            (true, true) => TaskStatus::Failed,
        };
        b.state_set(
            Family::BindTaskStatus,
            &[id],
            &TaskStatus::ALL,
            status,
            TaskStatus::label,
        );
        if status == TaskStatus::Querying {
            continue;
        }
        b.sample(
            Family::BindResultTimestamp,
            &[id],
            (task.done_ms / 1000) as f64,
        );
        if status == TaskStatus::Failed {
            continue;
        }
        let mut regions: BTreeMap<(&str, &str), &super::dataset::Binding> = BTreeMap::new();
        for binding in &cert.bindings {
            regions.insert(
                (binding.resource_type, binding.region.unwrap_or_default()),
                binding,
            );
        }
        for ((resource_type, region), binding) in regions {
            let labels = [id, resource_type, region];
            if binding.error.is_some() {
                b.sample(Family::BindQueryError, &labels, 1.0);
            } else if binding.instances > 0 {
                b.sample(Family::BindQueryError, &labels, 0.0);
                b.sample(Family::BoundResources, &labels, binding.instances as f64);
                b.sample(
                    Family::UnmatchedDomains,
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
        b.sample(
            Family::DeployRecordInfo,
            &[kind, &id, cert, &record.old_cert_id],
            1.0,
        );
        b.sample(
            Family::DeployRecordCreated,
            &[kind, &id, cert],
            record.created as f64,
        );
        let mut newest: BTreeMap<Operation, &super::dataset::Entry> = BTreeMap::new();
        for entry in &record.entries {
            newest.insert(entry.operation, entry);
        }
        for (operation, entry) in newest {
            let status = if record.kind == RecordKind::Update {
                record.status_at(now)
            } else {
                entry.status_at(now)
            };
            b.state_set(
                Family::DeployRecordStatus,
                &[kind, &id, cert, operation.label()],
                &DeployStatus::ALL,
                status,
                DeployStatus::label,
            );
            let mut counts: BTreeMap<(&str, DeployStatus), u64> = BTreeMap::new();
            for item in &entry.items {
                *counts
                    .entry((item.resource_type, item.status_at(now)))
                    .or_default() += 1;
            }
            for ((resource_type, status), count) in counts {
                b.sample(
                    Family::DeployResources,
                    &[
                        kind,
                        &id,
                        cert,
                        operation.label(),
                        resource_type,
                        status.label(),
                    ],
                    count as f64,
                );
            }
        }
    }
    b.finish()
}

/// The snapshot's lines, family by family, for comparison and the `/-/sim/truth` route.
pub fn render(snapshot: &Snapshot) -> String {
    Family::ALL
        .iter()
        .map(|f| snapshot.chunk(*f))
        .collect::<Vec<_>>()
        .concat()
}
