//! The `certificates` collector: identity and validity of every certificate.

use super::{list_certificates, CollectError, Collected, Collector, CollectorSettings};
use crate::config::CertificateFilter;
use crate::metrics::{Family, Snapshot, SnapshotBuilder};
use tencentcloud_ssl_api::certificates::{status_name, Certificate};
use tencentcloud_ssl_api::client::Client;
use tencentcloud_ssl_api::time;

pub(crate) struct CertificatesCollector {
    client: Client,
    settings: CollectorSettings,
    filter: CertificateFilter,
    /// Text sizes of the last snapshot, to size the next one's buffers.
    last_sizes: Vec<usize>,
}

impl CertificatesCollector {
    pub(crate) fn new(
        client: Client,
        settings: CollectorSettings,
        filter: CertificateFilter,
    ) -> Self {
        CertificatesCollector {
            client,
            settings,
            filter,
            last_sizes: Vec::new(),
        }
    }
}

/// Builds the snapshot of a certificate list. Pure.
pub fn snapshot(account: &str, certificates: &[Certificate]) -> (Snapshot, Vec<String>) {
    render(SnapshotBuilder::new(account), certificates)
}

/// Writes the series of `certificates` into `builder` and seals it. Pure.
fn render(mut builder: SnapshotBuilder, certificates: &[Certificate]) -> (Snapshot, Vec<String>) {
    let mut errors = Vec::new();
    for cert in certificates {
        let id = cert.certificate_id.as_str();
        builder.sample(
            Family::CertificateInfo,
            &[
                id,
                &cert.domain,
                &cert.alias,
                status_name(cert.status),
                &cert.certificate_type,
            ],
            1.0,
        );
        for (family, field, text) in [
            (
                Family::CertificateNotAfter,
                "CertEndTime",
                &cert.cert_end_time,
            ),
            (
                Family::CertificateNotBefore,
                "CertBeginTime",
                &cert.cert_begin_time,
            ),
        ] {
            if text.is_empty() {
                continue;
            }
            match time::parse_api_time(text) {
                Some(unix) => builder.sample(family, &[id], unix as f64),
                None => errors.push(format!("certificate {id}: unparseable {field} {text:?}")),
            }
        }
    }
    (builder.finish(), errors)
}

impl Collector for CertificatesCollector {
    fn name(&self) -> &'static str {
        "certificates"
    }

    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let certificates = list_certificates(&self.client, &self.filter).await?;
        let builder = SnapshotBuilder::sized_like(&self.settings.account, &self.last_sizes);
        let (snapshot, errors) = render(builder, &certificates);
        self.last_sizes = snapshot.sizes();
        Ok(Collected { snapshot, errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(id: &str, end: &str) -> Certificate {
        Certificate {
            certificate_id: id.into(),
            domain: "example.com".into(),
            alias: "web \"prod\"".into(),
            certificate_type: "SVR".into(),
            status: Some(1),
            cert_begin_time: "2025-01-01 08:00:00".into(),
            cert_end_time: end.into(),
        }
    }

    #[test]
    fn exports_identity_and_validity() {
        let (snapshot, errors) = snapshot("default", &[cert("c1", "2026-01-01 07:59:59")]);
        assert!(errors.is_empty());
        assert_eq!(
            snapshot.chunk(Family::CertificateInfo),
            "tencentcloud_ssl_certificate_info{account=\"default\",certificate_id=\"c1\",domain=\"example.com\",alias=\"web \\\"prod\\\"\",status=\"issued\",certificate_type=\"SVR\"} 1\n"
        );
        assert_eq!(
            snapshot.chunk(Family::CertificateNotAfter),
            "tencentcloud_ssl_certificate_not_after_timestamp_seconds{account=\"default\",certificate_id=\"c1\"} 1767225599\n"
        );
        assert_eq!(
            snapshot.chunk(Family::CertificateNotBefore),
            "tencentcloud_ssl_certificate_not_before_timestamp_seconds{account=\"default\",certificate_id=\"c1\"} 1735689600\n"
        );
    }

    #[test]
    fn unparseable_times_are_reported_not_invented() {
        let (snapshot, errors) = snapshot("default", &[cert("c1", "tomorrow")]);
        assert_eq!(snapshot.chunk(Family::CertificateNotAfter), "");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("CertEndTime"));
    }
}
