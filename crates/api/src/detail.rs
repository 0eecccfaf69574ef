//! `DescribeCertificateDetail`: the certificate itself, for checking what endpoints serve.
//!
//! The answer also carries the certificate's private key (`CertificatePrivateKey`). This module
//! never decodes it: [`CertificateDetail`] has no field for it, so it is dropped with the rest of
//! the fields nobody asked for, and nothing downstream can log or export it by accident.

use serde::{Deserialize, Serialize};

use super::de;
use crate::{Items, Lenient};

/// Request of `DescribeCertificateDetail`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateDetailRequest {
    /// The certificate (`CertificateId`).
    pub certificate_id: String,
}

/// The fields of a `DescribeCertificateDetail` answer that say which certificate this is.
/// Deliberately without `CertificatePrivateKey` (see the module docs).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateDetail {
    /// `CertificateId`; empty if the answer names none.
    #[serde(default, deserialize_with = "de::text")]
    pub certificate_id: String,
    /// `CertFingerprint`: SHA-1 of the certificate, hex as the API writes it (upper case in the
    /// official example); see [`CertificateDetail::fingerprint`].
    #[serde(default, deserialize_with = "de::text")]
    pub cert_fingerprint: String,
    /// `CertificatePublicKey`: the certificate and its chain in PEM, leaf first.
    #[serde(default, deserialize_with = "de::text")]
    pub certificate_public_key: String,
    /// `CertEndTime`, `YYYY-MM-DD HH:MM:SS` GMT+8.
    #[serde(default, deserialize_with = "de::text")]
    pub cert_end_time: String,
    /// `CertChainInfo`: the certificate and the certificates above it, leaf first (as the
    /// official example lists them: the leaf, then its issuer); `null` when the API has none.
    #[serde(default)]
    pub cert_chain_info: Lenient<Items<ChainCertificate>>,
}

/// One certificate of `CertChainInfo` (`CertBasicInfo` in api.json).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ChainCertificate {
    /// `Issuer`: who issued it (a common name in the official example).
    #[serde(default, deserialize_with = "de::text")]
    pub issuer: String,
    /// `Subject`: whom it was issued to.
    #[serde(default, deserialize_with = "de::text")]
    pub subject: String,
    /// `Fingerprint`: its SHA-1, as the API writes it (masked in the official example).
    #[serde(default, deserialize_with = "de::text")]
    pub fingerprint: String,
    /// `ValidFrom`, `YYYY-MM-DD HH:MM:SS` GMT+8.
    #[serde(default, deserialize_with = "de::text")]
    pub valid_from: String,
    /// `ValidTo`, `YYYY-MM-DD HH:MM:SS` GMT+8.
    #[serde(default, deserialize_with = "de::text")]
    pub valid_to: String,
}

impl CertificateDetail {
    /// `CertFingerprint` normalised to 40 lower-case hex digits (colons and spaces dropped), or
    /// `None` when the answer has none or it is not a SHA-1 in hex. Pure.
    pub fn fingerprint(&self) -> Option<String> {
        normalize_fingerprint(&self.cert_fingerprint)
    }
}

/// A SHA-1 fingerprint in any common spelling (`97E0…`, `97:e0:…`) as 40 lower-case hex digits;
/// `None` if it is not one. Pure.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_fields_used_and_never_the_private_key() {
        let body = br#"{"Response":{"CertificateId":"QLx","CertFingerprint":"97E056C1BBDDC0123456789ABCDEF0123456DF80",
            "CertificatePublicKey":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "CertificatePrivateKey":"-----BEGIN RSA PRIVATE KEY-----\nSECRET\n-----END RSA PRIVATE KEY-----",
            "CertEndTime":"2026-05-29 07:59:59","RequestId":"r"}}"#;
        let detail: CertificateDetail = crate::client::parse_response("A", body).expect("ok");
        assert_eq!(detail.certificate_id, "QLx");
        assert_eq!(
            detail.fingerprint().as_deref(),
            Some("97e056c1bbddc0123456789abcdef0123456df80")
        );
        assert!(!format!("{detail:?}").contains("SECRET"));
    }

    /// The chain of the official `DescribeCertificateDetail` example (tccli 3.1.189.1,
    /// examples.json "获取证书详情"), as published.
    #[test]
    fn decodes_the_chain_of_the_official_example() {
        let body = br#"{"Response":{"CertificateId":"Kn8ZmAxU","CertFingerprint":"97E056C1BBDDC*******9CCCE112DF8",
            "CertChainInfo": [
            {
                "Issuer": "TrustAsia DV TLS RSA CA 2025",
                "Subject": "lukesky.online",
                "Fingerprint": "97e05*************3a89ccce112df8",
                "ValidFrom": "2026-02-28 08:00:00",
                "ValidTo": "2026-05-29 07:59:59"
            },
            {
                "Issuer": "DigiCert Global Root G2",
                "Subject": "TrustAsia DV TLS RSA CA 2025",
                "Fingerprint": "7b8a18d***********7c0c634c24994",
                "ValidFrom": "2025-01-08 08:00:00",
                "ValidTo": "2035-01-08 07:59:59"
            }
        ],
        "UseCrossSignRoot": false, "RequestId":"858497b3-d960-4628-9b7c-bbcf96d294e6"}}"#;
        let detail: CertificateDetail = crate::client::parse_response("A", body).expect("ok");
        let chain = detail.cert_chain_info.value().expect("a chain");
        assert_eq!(chain.items.len(), 2);
        assert_eq!(chain.items[1].subject, "TrustAsia DV TLS RSA CA 2025");
        assert_eq!(chain.items[1].issuer, "DigiCert Global Root G2");
        assert_eq!(chain.items[1].valid_to, "2035-01-08 07:59:59");
    }

    #[test]
    fn a_chain_in_a_wrong_shape_costs_only_the_chain() {
        for (chain, entries) in [
            ("null", Some(0)),
            ("[{\"Subject\":[]}, {}]", Some(1)),
            ("\"x\"", None),
        ] {
            let body = format!(
                r#"{{"Response":{{"CertificateId":"c","CertFingerprint":"{}","CertChainInfo":{chain}}}}}"#,
                "ab".repeat(20)
            );
            let detail: CertificateDetail =
                crate::client::parse_response("A", body.as_bytes()).expect("ok");
            assert!(detail.fingerprint().is_some(), "{chain}");
            assert_eq!(
                detail.cert_chain_info.value().map(|c| c.items.len()),
                entries,
                "{chain}"
            );
        }
    }

    #[test]
    fn fingerprints_in_any_spelling_or_none() {
        let colons = "97:E0:56:C1:BB:DD:C0:12:34:56:78:9A:BC:DE:F0:12:34:56:DF:80";
        assert_eq!(
            normalize_fingerprint(colons).as_deref(),
            Some("97e056c1bbddc0123456789abcdef0123456df80")
        );
        for bad in ["", "97E056C1BBDDC*******9CCCE112DF8", "zz", &"a".repeat(64)] {
            assert_eq!(normalize_fingerprint(bad), None, "{bad}");
        }
        let nulls: CertificateDetail =
            serde_json::from_str(r#"{"CertFingerprint":null,"CertificatePublicKey":null}"#)
                .expect("nulls decode");
        assert_eq!(nulls.fingerprint(), None);
    }
}
