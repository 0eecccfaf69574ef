//! Changes made to the world while it runs, as a console user would make them: for benchmarks
//! that measure how soon a client sees something new (`POST /-/sim/deploy-records`).

use std::collections::BTreeMap;

use crate::dataset::{Dataset, Entry, Item, Record};
use crate::model::{ItemState, Operation, RecordKind};

/// Seconds the new deploy's single item waits before it starts, and then runs.
const PENDING_SECONDS: i64 = 2;
const RUNNING_SECONDS: i64 = 5;

/// What [`add_deploy_record`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub record_id: u64,
    pub certificate_id: String,
    /// Unix seconds.
    pub created: i64,
}

/// Why [`add_deploy_record`] made nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NoSuchCertificate,
    /// Not issued, or expired: the console cannot deploy it.
    NotDeployable,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::NoSuchCertificate => "no such certificate",
            Refused::NotDeployable => "the certificate is not deployable (not issued, or expired)",
        })
    }
}

/// A copy of `dataset` with a new deploy record (`DescribeHostDeployRecord`) of certificate
/// `certificate_id`, created at `now`: one CLB resource in `ap-guangzhou`, pending for two
/// seconds, running for five, then successful.
pub fn add_deploy_record(
    dataset: &Dataset,
    certificate_id: &str,
    now: i64,
) -> Result<(Dataset, NewRecord), Refused> {
    let certificate = dataset
        .certificate(certificate_id)
        .ok_or(Refused::NoSuchCertificate)?;
    if !certificate.deployable {
        return Err(Refused::NotDeployable);
    }
    let record_id = dataset.records.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let item_id = dataset
        .records
        .iter()
        .flat_map(|r| r.entries.iter().flat_map(|e| e.items.iter().map(|i| i.id)))
        .max()
        .unwrap_or(1000)
        + 1;
    let record = Record {
        id: record_id,
        kind: RecordKind::Deploy,
        cert_id: certificate_id.to_string(),
        old_cert_id: String::new(),
        created: now,
        entries: vec![Entry {
            operation: Operation::Deploy,
            created: now,
            items: vec![Item {
                id: item_id,
                resource_type: "clb",
                region: "ap-guangzhou",
                outcome: ItemState::Success,
                pending_until: now + PENDING_SECONDS,
                running_until: now + PENDING_SECONDS + RUNNING_SECONDS,
                garbled: false,
            }],
        }],
        // Its item names the default `d{item ID}.example.com`.
        item_domains: BTreeMap::new(),
    };
    let mut changed = dataset.clone();
    // Records are kept newest first, the order the lists page in.
    let at = changed
        .records
        .iter()
        .position(|r| (r.created, r.id) < (now, record_id))
        .unwrap_or(changed.records.len());
    changed.records.insert(at, record);
    Ok((
        changed,
        NewRecord {
            record_id,
            certificate_id: certificate_id.to_string(),
            created: now,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetSpec;

    #[test]
    fn a_new_deploy_record_is_the_newest_of_its_certificate() {
        let now = 1_750_000_000;
        let dataset = Dataset::generate(DatasetSpec::new(3, 30, now));
        let id = dataset
            .certificates
            .iter()
            .find(|c| c.deployable)
            .expect("a deployable certificate")
            .id
            .clone();
        let (changed, new) = add_deploy_record(&dataset, &id, now + 10).expect("a certificate");
        assert_eq!(changed.records.len(), dataset.records.len() + 1);
        assert!(dataset.records.iter().all(|r| r.id != new.record_id));
        let newest = changed
            .records_of(RecordKind::Deploy)
            .find(|r| r.cert_id == id)
            .expect("listed");
        assert_eq!(newest.id, new.record_id);
        assert!(changed
            .records
            .windows(2)
            .all(|w| (w[0].created, w[0].id) >= (w[1].created, w[1].id)));
        assert_eq!(newest.status_at(now + 10), ItemState::Pending);
        assert_eq!(newest.status_at(now + 13), ItemState::Running);
        assert_eq!(newest.status_at(now + 20), ItemState::Success);
        assert_eq!(
            add_deploy_record(&dataset, "no-such-id", now).err(),
            Some(Refused::NoSuchCertificate)
        );
        let reviewing = dataset
            .certificates
            .iter()
            .find(|c| !c.deployable)
            .expect("a certificate that cannot be deployed");
        assert_eq!(
            add_deploy_record(&dataset, &reviewing.id, now).err(),
            Some(Refused::NotDeployable)
        );
    }
}
