//! `DescribeCertificates`: the identity and validity of every certificate.

use serde::{Deserialize, Serialize};

use super::de;
use crate::{Items, Lenient, Text};

/// Largest page the API serves.
pub const MAX_LIMIT: u64 = 1000;

/// Request body. Filters come from configuration; `None` fields are not sent.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCertificatesRequest {
    /// Certificates to skip (`Offset`).
    pub offset: u64,
    /// Page size (`Limit`), at most [`MAX_LIMIT`].
    pub limit: u64,
    /// Keyword matched against certificate ID, alias and domain (`SearchKey`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_key: Option<String>,
    /// Only these certificates (`CertIds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_ids: Option<Vec<String>>,
    /// Only certificates carrying these tags (`Tags`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// A tag filter of `DescribeCertificates`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The tag's key (`TagKey`).
    pub tag_key: String,
    /// The tag's value (`TagValue`).
    pub tag_value: String,
}

/// A `DescribeCertificates` page, decoding each certificate as `T`.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    rename_all = "PascalCase",
    bound(deserialize = "T: serde::de::DeserializeOwned")
)]
pub struct CertificatesPage<T> {
    /// Certificates matching the request over all pages (`TotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub total_count: u64,
    /// This page's certificates (`Certificates`), item by item; `null` is empty.
    #[serde(default)]
    pub certificates: Items<T>,
}

/// A page with every field the exporter uses.
pub type DescribeCertificatesResponse = CertificatesPage<Certificate>;

/// A page decoded for IDs only (the bind collector needs no more).
pub type CertificateStatesResponse = CertificatesPage<CertificateState>;

/// What selecting certificates needs of a decoded row.
pub trait ListedCertificate {
    /// The certificate's ID (`CertificateId`).
    fn id(&self) -> &str;
    /// The certificate's `Status` code (0 reviewing, 1 issued, 3 expired, …); see
    /// [`status_name`].
    fn status(&self) -> Option<i64>;
}

impl ListedCertificate for Certificate {
    fn id(&self) -> &str {
        &self.certificate_id
    }
    fn status(&self) -> Option<i64> {
        self.status
    }
}

impl ListedCertificate for CertificateState {
    fn id(&self) -> &str {
        &self.certificate_id
    }
    fn status(&self) -> Option<i64> {
        self.status
    }
}

/// The fields of a certificate the exporter uses.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Certificate {
    /// The certificate's ID (`CertificateId`); required.
    #[serde(deserialize_with = "de::text")]
    pub certificate_id: String,
    /// Primary domain (`Domain`); `null` is empty.
    #[serde(default, deserialize_with = "de::text")]
    pub domain: String,
    /// The user's remark name for the certificate (`Alias`); `null` is empty.
    #[serde(default, deserialize_with = "de::text")]
    pub alias: String,
    /// `CertificateType` as sent: `CA` (client CA certificate) or `SVR` (server certificate),
    /// in whatever case the API used (the official example says `svr`); see
    /// [`normalized_type`].
    #[serde(default, deserialize_with = "de::text")]
    pub certificate_type: String,
    /// `Status` code (0 reviewing, 1 issued, 3 expired, …); see [`status_name`].
    #[serde(default, deserialize_with = "de::opt_code")]
    pub status: Option<i64>,
    /// Start of validity (`CertBeginTime`), `YYYY-MM-DD HH:MM:SS` GMT+8; `null` is empty.
    #[serde(default, deserialize_with = "de::text")]
    pub cert_begin_time: String,
    /// End of validity (`CertEndTime`), `YYYY-MM-DD HH:MM:SS` GMT+8; `null` is empty.
    #[serde(default, deserialize_with = "de::text")]
    pub cert_end_time: String,
    /// `HostingStatus`: -1 not hosted, 0 hosting, 5 replacing resources, 10 done.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub hosting_status: Option<i64>,
    /// `AutoRenewFlag`: 1 when the certificate renews automatically.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub auto_renew_flag: Option<i64>,
    /// `RenewAble`: whether the certificate can be renewed.
    #[serde(default, deserialize_with = "de::flag")]
    pub renew_able: Option<bool>,
    /// `HasRenewOrder`: the ID of the renewal certificate ordered for this one, if any.
    #[serde(default, deserialize_with = "de::text")]
    pub has_renew_order: String,
    /// `HostingRenewCertId`: the successor a hosted renewal created, if any.
    #[serde(default, deserialize_with = "de::text")]
    pub hosting_renew_cert_id: String,
    /// `IsExpiring`: within 30 days of expiry, as the API judges it.
    #[serde(default, deserialize_with = "de::flag")]
    pub is_expiring: Option<bool>,
    /// `Deployable`: whether the certificate can be deployed to cloud resources.
    #[serde(default, deserialize_with = "de::flag")]
    pub deployable: Option<bool>,
    /// `Tags`: the certificate's tags, `{TagKey, TagValue}` each.
    #[serde(default)]
    pub tags: Lenient<Vec<CertificateTag>>,
    /// `ServiceId`: the subscription service the certificate belongs to; empty when none.
    #[serde(default)]
    pub service_id: Lenient<Text>,
    /// `ServiceStatus` of the subscription service: `initing`, `running`, `expired`,
    /// `refunded`, `nearExpire`, as sent.
    #[serde(default)]
    pub service_status: Lenient<Text>,
    /// `CertServiceEndTime`: when the subscription service ends, `YYYY-MM-DD HH:MM:SS` (GMT+8,
    /// as every other time of the list).
    #[serde(default)]
    pub cert_service_end_time: Lenient<Text>,
    /// `CertificateExtra`: the subscription service's renewal chain.
    #[serde(default)]
    pub certificate_extra: Lenient<CertificateExtra>,
    /// `HostingConfig`: when hosting replaces the certificate on its resources; `null` when the
    /// certificate is not hosted.
    #[serde(default)]
    pub hosting_config: Lenient<HostingConfig>,
    /// `CertRevokedTime`: when revocation completed, `YYYY-MM-DD HH:MM:SS` GMT+8; empty when the
    /// certificate is not revoked.
    #[serde(default)]
    pub cert_revoked_time: Lenient<Text>,
}

/// A tag of a certificate (`Tags` of `DescribeCertificates`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateTag {
    /// `TagKey`; required.
    #[serde(deserialize_with = "de::text")]
    pub tag_key: String,
    /// `TagValue`; `null` is empty.
    #[serde(default, deserialize_with = "de::text")]
    pub tag_value: String,
}

/// The fields of `CertificateExtra` the exporter uses (the subscription service's chain of
/// certificates).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateExtra {
    /// `ServiceRenewCertificateId`: the next certificate the subscription service issued to
    /// renew this one; empty when none.
    #[serde(default, deserialize_with = "de::text")]
    pub service_renew_certificate_id: String,
    /// `ServiceOriginCertificateId`: the certificate of the subscription service this one
    /// renews; empty when none.
    #[serde(default, deserialize_with = "de::text")]
    pub service_origin_certificate_id: String,
}

/// `HostingConfig`: how hosting replaces the certificate on its cloud resources once a renewal
/// exists.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HostingConfig {
    /// `ReplaceTime`: days before expiry at which hosting replaces the certificate on its
    /// resources (the API's default is 30); an integer, not a time.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub replace_time: Option<i64>,
    /// `ReplaceStartTime`: start of the daily window replacements run in, a time of day
    /// (`HH:MM:SS`), not a date.
    #[serde(default, deserialize_with = "de::text")]
    pub replace_start_time: String,
    /// `ReplaceEndTime`: end of that daily window, a time of day.
    #[serde(default, deserialize_with = "de::text")]
    pub replace_end_time: String,
}

impl Certificate {
    /// The certificate's tags, empty when it has none or they could not be understood.
    pub fn tags(&self) -> &[CertificateTag] {
        self.tags.value().map_or(&[], Vec::as_slice)
    }

    /// A text field of the newer API fields, trimmed; empty when absent or not understood.
    fn text_of(field: &Lenient<Text>) -> &str {
        field.value().map_or("", |t| t.0.trim())
    }

    /// `ServiceId`, empty when none.
    pub fn service_id(&self) -> &str {
        Self::text_of(&self.service_id)
    }

    /// `ServiceStatus`, empty when none.
    pub fn service_status(&self) -> &str {
        Self::text_of(&self.service_status)
    }

    /// `CertServiceEndTime`, empty when none.
    pub fn service_end_time(&self) -> &str {
        Self::text_of(&self.cert_service_end_time)
    }

    /// `CertRevokedTime`, empty when the certificate is not revoked.
    pub fn revoked_time(&self) -> &str {
        Self::text_of(&self.cert_revoked_time)
    }

    /// `CertificateExtra`, all empty when absent or not understood.
    pub fn extra(&self) -> CertificateExtra {
        self.certificate_extra.value().cloned().unwrap_or_default()
    }

    /// `HostingConfig`, `None` when absent, `null` or not understood.
    pub fn hosting_config(&self) -> Option<&HostingConfig> {
        self.hosting_config
            .value()
            .filter(|config| **config != HostingConfig::default())
    }

    /// The newer fields that could not be understood, as `(field, error)`: the rest of the
    /// certificate is used, and the caller reports these.
    pub fn unreadable_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("Tags", self.tags.error()),
            ("ServiceId", self.service_id.error()),
            ("ServiceStatus", self.service_status.error()),
            ("CertServiceEndTime", self.cert_service_end_time.error()),
            ("CertificateExtra", self.certificate_extra.error()),
            ("HostingConfig", self.hosting_config.error()),
            ("CertRevokedTime", self.cert_revoked_time.error()),
        ]
        .into_iter()
        .filter_map(|(field, error)| error.map(|e| (field, e)))
        .collect()
    }
}

/// `CertificateType` normalised to `SVR` or `CA` (the API answers either case); other values
/// upper-cased as they are, and an empty value stays empty.
pub fn normalized_type(certificate_type: &str) -> String {
    certificate_type.trim().to_ascii_uppercase()
}

/// What the exporter needs to know of a listed certificate beyond its ID: its status, whether it
/// can be deployed, and what says its content or rollouts may have changed (validity dates,
/// hosting and renewal); every other field is skipped while decoding.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateState {
    /// The certificate's ID (`CertificateId`); required.
    #[serde(deserialize_with = "de::text")]
    pub certificate_id: String,
    /// `Status` code (0 reviewing, 1 issued, 3 expired, …); see [`status_name`].
    #[serde(default, deserialize_with = "de::opt_code")]
    pub status: Option<i64>,
    /// `Deployable`: whether the certificate can be deployed (and so gain deploy records).
    #[serde(default, deserialize_with = "de::flag")]
    pub deployable: Option<bool>,
    /// Start of validity (`CertBeginTime`); new content under the same ID has another.
    #[serde(default, deserialize_with = "de::text")]
    pub cert_begin_time: String,
    /// End of validity (`CertEndTime`).
    #[serde(default, deserialize_with = "de::text")]
    pub cert_end_time: String,
    /// `HostingStatus`: -1 not hosted, 0 hosting, 5 replacing resources, 10 done.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub hosting_status: Option<i64>,
    /// `AutoRenewFlag`: 1 when the certificate renews automatically.
    #[serde(default, deserialize_with = "de::opt_code")]
    pub auto_renew_flag: Option<i64>,
    /// `HostingRenewCertId`: the successor a hosted renewal created, if any.
    #[serde(default, deserialize_with = "de::text")]
    pub hosting_renew_cert_id: String,
}

/// Stable snake-case name of a certificate `Status` code, for the `status` label.
pub fn status_name(code: Option<i64>) -> &'static str {
    match code {
        Some(0) => "reviewing",
        Some(1) => "issued",
        Some(2) => "review_failed",
        Some(3) => "expired",
        Some(4) => "dns_record_added",
        Some(5) => "enterprise_awaiting_documents",
        Some(6) => "cancelling",
        Some(7) => "cancelled",
        Some(8) => "awaiting_confirmation_letter",
        Some(9) => "revoking",
        Some(10) => "revoked",
        Some(11) => "reissuing",
        Some(12) => "awaiting_revocation_letter",
        Some(13) => "free_awaiting_documents",
        Some(14) => "refunded",
        Some(15) => "migrating",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::parse_response;

    #[test]
    fn parses_a_page_with_nulls() {
        let body = br#"{"Response":{"TotalCount":"2","Certificates":[
            {"CertificateId":"abc","Domain":"example.com","Alias":null,"CertificateType":"SVR",
             "Status":1,"CertBeginTime":"2025-01-01 08:00:00","CertEndTime":"2026-01-01 07:59:59",
             "SubjectAltName":["example.com","www.example.com"],"Tags":null},
            {"CertificateId":"def","Domain":null,"Status":null}
        ],"RequestId":"r"}}"#;
        let page: DescribeCertificatesResponse = parse_response("A", body).expect("ok");
        assert_eq!(page.total_count, 2);
        assert_eq!(page.certificates.items.len(), 2);
        assert_eq!(page.certificates.items[0].alias, "");
        assert_eq!(page.certificates.items[0].status, Some(1));
        assert_eq!(page.certificates.items[1].domain, "");
        assert_eq!(page.certificates.items[1].status, None);
    }

    /// The first certificate of the official `DescribeCertificates` example (tccli 3.1.189.1,
    /// examples.json "获取证书列表"), the fields around the new ones kept as published.
    const OFFICIAL_WITH_TAGS: &str = r#"{"Response":{"TotalCount":1,"Certificates":[{
        "OwnerUin":"10*******","From":"upload","CertificateType":"svr","Domain":"www.zrh.com",
        "Alias":"upload cert","Status":1,
        "CertificateExtra":{"DomainNumber":"10983","OriginCertificateId":"hj****","ReplacedBy":"hkk****",
            "ReplacedFor":"ete****","RenewOrder":"feg****","SMCert":0,"CompanyType":0},
        "CertBeginTime":"2024-11-06 08:00:0","CertEndTime":"2025-12-02 07:59:59","CertificateId":"hdhd**",
        "Tags":[{"TagKey":"zrh","TagValue":"ok"}],
        "AutoRenewFlag":0,"HostingStatus":0,"HostingCompleteTime":"2024-11-06 08:00:00",
        "HostingRenewCertId":"2024-11-06 08:00:00","HasRenewOrder":"yes","IsHostingUploadRenewCert":false}],
        "RequestId":"14727a68-3b90-4408-99c9-dea6d7de9456"}}"#;

    /// The official example "获取证书列表 - SearchKey查询备注名称": a hosted certificate with its
    /// `HostingConfig` (`ReplaceTime` in days, the window as times of day) and an empty
    /// `CertRevokedTime`.
    const OFFICIAL_HOSTED: &str = r#"{"Response":{"TotalCount":2,"Certificates":[{
        "Domain":"ninghhuang.online","Alias":"K926htp2的自动续费证书","Status":1,
        "CertBeginTime":"2025-02-05 08:00:00","CertEndTime":"2025-05-07 07:59:59","AutoRenewFlag":1,
        "HasRenewOrder":"","RenewAble":false,"IsExpiring":false,"CertRevokedTime":"","Deployable":true,
        "Tags":[],"CertificateId":"Li1AKHnS","CertificateType":"SVR",
        "CertificateExtra":{"DomainNumber":"1","OriginCertificateId":"K926htp2","ReplacedBy":null,
            "ReplacedFor":null,"RenewOrder":null,"SMCert":0,"CompanyType":1},
        "HostingStatus":0,"HostingCompleteTime":"2025-02-05 08:39:30","HostingRenewCertId":"",
        "HostingResourceTypes":["cdn","clb","cos"],
        "HostingConfig":{"MessageTypes":[0],"ReplaceEndTime":"23:59:59","ReplaceStartTime":"00:00:00","ReplaceTime":999},
        "IsDNSPODResolve":false,"IsHostingUploadRenewCert":false,"BoundResource":[]}],
        "RequestId":"e7f6021f-47bb-476b-a424-6a0cde19a1eb"}}"#;

    #[test]
    fn decodes_tags_hosting_and_service_fields_of_the_official_examples() {
        let page: DescribeCertificatesResponse =
            parse_response("A", OFFICIAL_WITH_TAGS.as_bytes()).expect("ok");
        let cert = &page.certificates.items[0];
        assert_eq!(
            cert.tags(),
            [CertificateTag {
                tag_key: "zrh".into(),
                tag_value: "ok".into()
            }]
        );
        assert_eq!(cert.extra(), CertificateExtra::default(), "no service IDs");
        assert_eq!(cert.hosting_config(), None);
        assert_eq!((cert.service_id(), cert.revoked_time()), ("", ""));
        assert!(cert.unreadable_fields().is_empty());

        let page: DescribeCertificatesResponse =
            parse_response("A", OFFICIAL_HOSTED.as_bytes()).expect("ok");
        let cert = &page.certificates.items[0];
        assert!(cert.tags().is_empty());
        assert_eq!(
            cert.hosting_config(),
            Some(&HostingConfig {
                replace_time: Some(999),
                replace_start_time: "00:00:00".into(),
                replace_end_time: "23:59:59".into(),
            })
        );
        assert_eq!(cert.revoked_time(), "");
    }

    #[test]
    fn subscription_service_and_revocation_as_api_json_documents_them() {
        let body = br#"{"Response":{"TotalCount":1,"Certificates":[{"CertificateId":"svc1",
            "ServiceId":"ss-123","ServiceStatus":"nearExpire","CertServiceBeginTime":"2025-01-01 00:00:00",
            "CertServiceEndTime":"2026-01-01 00:00:00","CertRevokedTime":"2025-06-01 12:00:00",
            "CertificateExtra":{"ServiceRenewCertificateId":"next1","ServiceOriginCertificateId":7}}]}}"#;
        let page: DescribeCertificatesResponse = parse_response("A", body).expect("ok");
        let cert = &page.certificates.items[0];
        assert_eq!(
            (
                cert.service_id(),
                cert.service_status(),
                cert.service_end_time()
            ),
            ("ss-123", "nearExpire", "2026-01-01 00:00:00")
        );
        assert_eq!(cert.revoked_time(), "2025-06-01 12:00:00");
        let extra = cert.extra();
        assert_eq!(extra.service_renew_certificate_id, "next1");
        assert_eq!(extra.service_origin_certificate_id, "7");
    }

    #[test]
    fn newer_fields_in_a_wrong_shape_cost_only_themselves() {
        let body = br#"{"Response":{"TotalCount":1,"Certificates":[{"CertificateId":"odd",
            "CertEndTime":"2026-01-01 07:59:59","Tags":{"TagKey":"team"},"ServiceId":["x"],
            "HostingConfig":"daily","CertificateExtra":null,"CertRevokedTime":null}]}}"#;
        let page: DescribeCertificatesResponse = parse_response("A", body).expect("ok");
        assert!(
            page.certificates.skipped.is_empty(),
            "the certificate is kept"
        );
        let cert = &page.certificates.items[0];
        assert_eq!(cert.cert_end_time, "2026-01-01 07:59:59");
        assert!(cert.tags().is_empty());
        assert_eq!(cert.service_id(), "");
        assert_eq!(cert.hosting_config(), None);
        let fields: Vec<&str> = cert.unreadable_fields().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["Tags", "ServiceId", "HostingConfig"]);
    }

    #[test]
    fn null_certificate_list_is_empty() {
        let page: DescribeCertificatesResponse =
            parse_response("A", br#"{"Response":{"TotalCount":0,"Certificates":null}}"#)
                .expect("ok");
        assert!(page.certificates.items.is_empty());
    }

    #[test]
    fn request_serializes_only_set_filters() {
        let request = DescribeCertificatesRequest {
            offset: 0,
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&request).expect("ok"),
            r#"{"Offset":0,"Limit":1000}"#
        );
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(Some(1)), "issued");
        assert_eq!(status_name(Some(3)), "expired");
        assert_eq!(status_name(Some(99)), "unknown");
        assert_eq!(status_name(None), "unknown");
    }
}
