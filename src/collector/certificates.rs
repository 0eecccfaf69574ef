//! The `certificates` collector: identity and validity of every certificate.

use super::paging::{list_certificates_each, Paged};
use super::{CollectError, Collected, Collector, CollectorSettings, Core};
use crate::config::{CertificateFilter, TagLabel};
use crate::headlines::{Expiring, Headline, Headlines, MOST_LISTED};
use crate::metrics::{series, Snapshot, SnapshotBuilder};
use tencentcloud_ssl_api::action;
use tencentcloud_ssl_api::certificates::{normalized_type, status_name, Certificate};
use tencentcloud_ssl_api::client::Client;
use tencentcloud_ssl_api::time;

pub(crate) struct CertificatesCollector {
    core: Core,
    filter: CertificateFilter,
    tag_labels: Vec<TagLabel>,
}

impl CertificatesCollector {
    pub(crate) fn new(
        client: Client,
        settings: CollectorSettings,
        filter: CertificateFilter,
        tag_labels: Vec<TagLabel>,
    ) -> Self {
        CertificatesCollector {
            core: Core::new(
                "certificates",
                client,
                settings,
                &[action::DESCRIBE_CERTIFICATES],
            ),
            filter,
            tag_labels,
        }
    }
}

/// Builds the snapshot of a certificate list, with the tag keys of `tag_labels` as labels of
/// `tencentcloud_ssl_certificate_tags_info`; what could not be read is returned. Pure.
pub fn snapshot(
    account: &str,
    certificates: &[Certificate],
    tag_labels: &[TagLabel],
) -> (Snapshot, Vec<String>) {
    let mut builder = SnapshotBuilder::new(account);
    let written = write_certificates(&mut builder, certificates, tag_labels);
    let mut errors = written.errors;
    errors.extend(
        written
            .unreadable
            .into_iter()
            .map(|(id, field, error)| format!("certificate {id}: {field}: {error}")),
    );
    (builder.finish(), errors)
}

/// What writing a certificate list could not read.
#[derive(Debug, Default)]
struct Unread {
    /// Fields every certificate has (`CertEndTime`, `CertBeginTime`) that could not be read: the
    /// run is not a full success.
    errors: Vec<String>,
    /// Optional fields of newer API versions that could not be read, as (certificate, field,
    /// why): left out, logged and counted as not understood, the run still a success.
    unreadable: Vec<(String, &'static str, String)>,
}

/// Writes the series of `certificates` into `builder`; what could not be read is returned. Pure.
fn write_certificates(
    builder: &mut SnapshotBuilder,
    certificates: &[Certificate],
    tag_labels: &[TagLabel],
) -> Unread {
    let mut errors = Vec::new();
    let mut unreadable = Vec::new();
    for cert in certificates {
        let id = cert.certificate_id.as_str();
        builder.sample(
            series::CertificateInfo {
                certificate_id: id,
                domain: &cert.domain,
                alias: &cert.alias,
                status: status_name(cert.status),
                certificate_type: &normalized_type(&cert.certificate_type),
            },
            1.0,
        );
        if let Some(code) = cert
            .status
            .filter(|_| status_name(cert.status) == "unknown")
        {
            builder.sample(
                series::UnknownStatusCodes {
                    object: "certificate",
                    record_type: "",
                    object_id: id,
                    code: &code.to_string(),
                },
                1.0,
            );
        }
        builder.sample(
            series::CertificateRenewalInfo {
                certificate_id: id,
                hosting_status: hosting_name(cert.hosting_status),
                auto_renew: yes_no(cert.auto_renew_flag.map(|f| f == 1)),
                renewable: yes_no(cert.renew_able),
                renew_order_certificate_id: &cert.has_renew_order,
                successor_certificate_id: &cert.hosting_renew_cert_id,
                deployable: yes_no(cert.deployable),
                expiring: yes_no(cert.is_expiring),
            },
            1.0,
        );
        let mut time_of = |field: &str, text: &str| {
            if text.is_empty() {
                return None;
            }
            let unix = time::parse_api_time(text);
            if unix.is_none() {
                errors.push(format!("certificate {id}: unparseable {field} {text:?}"));
            }
            unix
        };
        if let Some(unix) = time_of("CertEndTime", &cert.cert_end_time) {
            builder.sample(
                series::CertificateNotAfter { certificate_id: id },
                unix as f64,
            );
        }
        if let Some(unix) = time_of("CertBeginTime", &cert.cert_begin_time) {
            builder.sample(
                series::CertificateNotBefore { certificate_id: id },
                unix as f64,
            );
        }
        let mut optional_time = |field: &'static str, text: &str| {
            if text.is_empty() {
                return None;
            }
            let unix = time::parse_api_time(text);
            if unix.is_none() {
                unreadable.push((id.to_string(), field, format!("{text:?} is not a time")));
            }
            unix
        };
        if let Some(unix) = optional_time("CertRevokedTime", cert.revoked_time()) {
            builder.sample(
                series::CertificateRevoked { certificate_id: id },
                unix as f64,
            );
        }
        if !cert.service_id().is_empty() {
            let extra = cert.extra();
            builder.sample(
                series::CertificateServiceInfo {
                    certificate_id: id,
                    service_id: cert.service_id(),
                    service_status: cert.service_status(),
                    service_renew_certificate_id: extra.service_renew_certificate_id.trim(),
                    service_origin_certificate_id: extra.service_origin_certificate_id.trim(),
                },
                1.0,
            );
        }
        if let Some(unix) = optional_time("CertServiceEndTime", cert.service_end_time()) {
            builder.sample(
                series::CertificateServiceEnd { certificate_id: id },
                unix as f64,
            );
        }
        if let Some(hosting) = cert.hosting_config() {
            builder.sample(
                series::CertificateHostingInfo {
                    certificate_id: id,
                    replace_window_start: hosting.replace_start_time.trim(),
                    replace_window_end: hosting.replace_end_time.trim(),
                },
                1.0,
            );
            match hosting.replace_time {
                Some(days) if (0..=36_500).contains(&days) => builder.sample(
                    series::CertificateHostingReplaceBeforeExpiry { certificate_id: id },
                    (days * 86_400) as f64,
                ),
                Some(days) => unreadable.push((
                    id.to_string(),
                    "HostingConfig.ReplaceTime",
                    format!("{days} is not a number of days"),
                )),
                None => {}
            }
        }
        write_tags(builder, cert, tag_labels);
    }
    Unread { errors, unreadable }
}

/// The tag series of one certificate: one `tag_info` per distinct tag, and, when tag keys are
/// chosen as labels, its `tags_info` (every certificate has one, so a `group_left` join keeps
/// the certificates without the tags). Pure.
fn write_tags(builder: &mut SnapshotBuilder, cert: &Certificate, tag_labels: &[TagLabel]) {
    let certificate_id = cert.certificate_id.as_str();
    let tags: std::collections::BTreeSet<(&str, &str)> = cert
        .tags()
        .iter()
        .map(|t| (t.tag_key.as_str(), t.tag_value.as_str()))
        .filter(|(key, _)| !key.is_empty())
        .collect();
    for (key, value) in &tags {
        builder.sample(
            series::CertificateTag {
                certificate_id,
                key,
                value,
            },
            1.0,
        );
    }
    if tag_labels.is_empty() {
        return;
    }
    let labels: Vec<(&str, &str)> = tag_labels
        .iter()
        .map(|chosen| {
            let value = tags
                .iter()
                .find(|(key, _)| *key == chosen.key)
                .map_or("", |(_, value)| *value);
            (chosen.label.as_str(), value)
        })
        .collect();
    builder.sample_with_labels(series::CertificateTags { certificate_id }, &labels, 1.0);
}

/// How many certificates expire within 30 days of `now` (unix seconds) or have expired, and
/// the soonest to expire (not yet expired) by name. Pure.
pub fn headlines(certificates: &[Certificate], now: i64) -> Headlines {
    let mut tally = Tally::default();
    tally.add(certificates, now);
    tally.finish()
}

/// [`headlines`] over a list read page by page: the counts, and the soonest to expire so far.
#[derive(Debug, Default)]
struct Tally {
    expired: u64,
    expiring: u64,
    soonest: Vec<Expiring>,
}

impl Tally {
    fn add(&mut self, certificates: &[Certificate], now: i64) {
        const THIRTY_DAYS: i64 = 30 * 86_400;
        for cert in certificates {
            let Some(not_after) = time::parse_api_time(&cert.cert_end_time) else {
                continue;
            };
            if not_after < now {
                self.expired += 1;
            } else if not_after < now + THIRTY_DAYS {
                self.expiring += 1;
                self.soonest.push(Expiring {
                    certificate_id: cert.certificate_id.clone(),
                    domain: cert.domain.clone(),
                    alias: cert.alias.clone(),
                    not_after,
                });
            }
        }
        self.soonest.sort_by(|a, b| {
            (a.not_after, &a.certificate_id).cmp(&(b.not_after, &b.certificate_id))
        });
        self.soonest.truncate(MOST_LISTED);
    }

    fn finish(self) -> Headlines {
        Headlines {
            counts: vec![
                (Headline::ExpiringWithin30Days, self.expiring),
                (Headline::Expired, self.expired),
            ],
            expiring: self.soonest,
        }
    }
}

/// The `hosting_status` label of a `HostingStatus` code; empty when the API gives none.
fn hosting_name(code: Option<i64>) -> &'static str {
    match code {
        None => "",
        Some(-1) => "not_hosted",
        Some(0) => "hosting",
        Some(5) => "replacing",
        Some(10) => "done",
        Some(_) => "unknown",
    }
}

/// `true`, `false`, or empty when the API says nothing.
fn yes_no(flag: Option<bool>) -> &'static str {
    match flag {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

impl Collector for CertificatesCollector {
    fn name(&self) -> &'static str {
        self.core.name
    }

    /// One paged list, a thousand certificates a call.
    fn gates_readiness(&self) -> bool {
        true
    }

    /// Renders the list page by page as it arrives (a 20,000-certificate list decoded whole
    /// is about 20 MB), starting over if the pager reads the list again.
    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let core = &self.core;
        let now = time::now_unix();
        let mut builder = core.bare_builder();
        let mut unread = Unread::default();
        let mut tally = Tally::default();
        list_certificates_each(
            &core.client,
            &self.filter,
            &core.findings,
            |paged: Paged<Certificate>| match paged {
                Paged::Restart => {
                    builder = core.bare_builder();
                    unread = Unread::default();
                    tally = Tally::default();
                }
                Paged::Rows(certificates) => {
                    for cert in &certificates {
                        for (field, error) in cert.unreadable_fields() {
                            unread.unreadable.push((
                                cert.certificate_id.clone(),
                                field,
                                error.to_string(),
                            ));
                        }
                    }
                    let written = write_certificates(&mut builder, &certificates, &self.tag_labels);
                    unread.errors.extend(written.errors);
                    unread.unreadable.extend(written.unreadable);
                    tally.add(&certificates, now);
                }
            },
        )
        .await?;
        for (id, field, error) in unread.unreadable {
            core.findings
                .unreadable_field(action::DESCRIBE_CERTIFICATES, &id, field, &error);
        }
        // Written last, so the run's own findings (the list's, the pages') are in this snapshot.
        core.findings.write(&mut builder);
        let snapshot = self.core.seal(builder);
        Ok(Collected {
            snapshot,
            errors: unread.errors,
            headlines: tally.finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;

    fn cert(id: &str, end: &str) -> Certificate {
        Certificate {
            certificate_id: id.into(),
            domain: "example.com".into(),
            alias: "web \"prod\"".into(),
            certificate_type: "SVR".into(),
            status: Some(1),
            cert_begin_time: "2025-01-01 08:00:00".into(),
            cert_end_time: end.into(),
            hosting_status: Some(-1),
            auto_renew_flag: Some(0),
            renew_able: Some(true),
            has_renew_order: String::new(),
            hosting_renew_cert_id: String::new(),
            is_expiring: Some(false),
            deployable: Some(true),
            tags: Default::default(),
            service_id: Default::default(),
            service_status: Default::default(),
            cert_service_end_time: Default::default(),
            certificate_extra: Default::default(),
            hosting_config: Default::default(),
            cert_revoked_time: Default::default(),
        }
    }

    #[test]
    fn exports_identity_and_validity() {
        let (snapshot, errors) = snapshot("default", &[cert("c1", "2026-01-01 07:59:59")], &[]);
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
    fn headlines_count_expiring_and_expired_and_list_the_soonest() {
        let now = time::parse_api_time("2026-01-01 00:00:00").expect("time");
        let certificates = [
            cert("later", "2026-03-01 00:00:00"),
            cert("soon", "2026-01-20 00:00:00"),
            cert("sooner", "2026-01-02 00:00:00"),
            cert("gone", "2025-12-31 23:59:59"),
            cert("unknown", "never"),
        ];
        let h = headlines(&certificates, now);
        assert_eq!(
            h.counts,
            [(Headline::ExpiringWithin30Days, 2), (Headline::Expired, 1)]
        );
        let listed: Vec<&str> = h
            .expiring
            .iter()
            .map(|e| e.certificate_id.as_str())
            .collect();
        assert_eq!(listed, ["sooner", "soon"]);
        assert_eq!(h.expiring[0].alias, "web \"prod\"");
    }

    #[test]
    fn headlines_tallied_page_by_page_are_those_of_the_whole_list() {
        let now = time::parse_api_time("2026-01-01 00:00:00").expect("time");
        // More expiring certificates than are listed, the soonest on the last page.
        let certificates: Vec<Certificate> = (0..25)
            .map(|i| {
                cert(
                    &format!("c{i:02}"),
                    &format!("2026-01-{:02} 00:00:00", 27 - i),
                )
            })
            .chain([cert("gone", "2025-12-31 00:00:00")])
            .collect();
        let whole = headlines(&certificates, now);
        let mut tally = Tally::default();
        for page in certificates.chunks(4) {
            tally.add(page, now);
        }
        let paged = tally.finish();
        assert_eq!(paged.counts, whole.counts);
        assert_eq!(paged.expiring, whole.expiring);
        assert_eq!(paged.expiring.len(), MOST_LISTED);
        assert_eq!(paged.expiring[0].certificate_id, "c24");
    }

    #[test]
    fn unreadable_newer_fields_are_left_out_without_failing_the_run() {
        use tencentcloud_ssl_api::certificates::HostingConfig;
        use tencentcloud_ssl_api::{Lenient, Text};
        let mut odd = cert("c1", "2026-01-01 07:59:59");
        odd.cert_revoked_time = Lenient(Ok(Text("yesterday".into())));
        odd.hosting_config = Lenient(Ok(HostingConfig {
            replace_time: Some(-3),
            replace_start_time: "00:00:00".into(),
            replace_end_time: "23:59:59".into(),
        }));
        let mut builder = SnapshotBuilder::new("default");
        let unread = write_certificates(&mut builder, &[odd], &[]);
        assert!(unread.errors.is_empty(), "{:?}", unread.errors);
        let fields: Vec<&str> = unread.unreadable.iter().map(|(_, f, _)| *f).collect();
        assert_eq!(fields, ["CertRevokedTime", "HostingConfig.ReplaceTime"]);
        let snapshot = builder.finish();
        assert_eq!(snapshot.chunk(Family::CertificateRevoked), "");
        assert_eq!(
            snapshot.chunk(Family::CertificateHostingReplaceBeforeExpiry),
            ""
        );
        assert!(!snapshot.chunk(Family::CertificateHostingInfo).is_empty());
        assert!(!snapshot.chunk(Family::CertificateNotAfter).is_empty());
    }

    #[test]
    fn unparseable_times_are_reported_not_invented() {
        let (snapshot, errors) = snapshot("default", &[cert("c1", "tomorrow")], &[]);
        assert_eq!(snapshot.chunk(Family::CertificateNotAfter), "");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("CertEndTime"));
    }
}
