//! `DescribeCertificates`: the identity and validity of every certificate.

use serde::{Deserialize, Serialize};

use super::de;
use crate::Items;

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
