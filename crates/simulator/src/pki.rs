//! Real X.509 material for `DescribeCertificateDetail` and the demo's TLS endpoints: one demo CA
//! per simulator and, per certificate, a leaf it signed, generated on first use and kept, so a
//! certificate's fingerprint holds for the simulator's life (new dates under the same ID, an upload-update's
//! new content, make a new leaf).
//!
//! Keys are ECDSA P-256 (cheap to make). Leaves name the certificate's domain and `*.{domain}`
//! and carry its validity exactly, expired ones included. Fingerprints are the SHA-1 of the DER,
//! as the API's `CertFingerprint` is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha1::{Digest, Sha1};

use crate::clock::beijing;
use crate::dataset::Certificate;

/// Common name of the demo CA.
pub const CA_NAME: &str = "Tencent Cloud SSL Simulator Demo CA";
/// Common name of the intermediate CA that signs the leaf of a certificate with
/// `intermediate_not_after` (signed by the demo CA).
pub const INTERMEDIATE_NAME: &str = "Tencent Cloud SSL Simulator Demo Intermediate CA";
/// What `DescribeCertificateDetail` answers as `CertificatePrivateKey`: the real API returns the
/// private key there, so an exporter must never log or export that field; tests look for this.
pub const PRIVATE_KEY_PLACEHOLDER: &str =
    "-----BEGIN PRIVATE KEY-----\nSIMULATOR-NEVER-EXPORT\n-----END PRIVATE KEY-----\n";

const DAY: i64 = 86_400;

/// SHA-1 of DER bytes, lower-case hex.
pub fn sha1_hex(der: &[u8]) -> String {
    hex::encode(Sha1::digest(der))
}

/// An `OffsetDateTime` (rcgen's time type, which this crate does not name) of unix seconds.
fn at<T>(epoch: T, unix: i64) -> T
where
    T: std::ops::Add<Duration, Output = T> + std::ops::Sub<Duration, Output = T>,
{
    if unix >= 0 {
        epoch + Duration::from_secs(unix.unsigned_abs())
    } else {
        epoch - Duration::from_secs(unix.unsigned_abs())
    }
}

/// A signed certificate with its key.
pub struct Issued {
    /// DER of the certificate.
    pub der: Vec<u8>,
    pub pem: String,
    /// PKCS#8 DER of the private key (only the TLS endpoints use it; never answered).
    pub(crate) key_der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    /// `CN=…` of the subject and of the issuer.
    pub subject: String,
    pub issuer: String,
    /// SHA-1 of `der`, lower-case hex.
    pub fingerprint_sha1: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .field("fingerprint_sha1", &self.fingerprint_sha1)
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// One `CertChainInfo` entry of `DescribeCertificateDetail`.
    pub fn chain_info(&self) -> serde_json::Value {
        serde_json::json!({
            "Issuer": self.issuer,
            "Subject": self.subject,
            "Fingerprint": self.fingerprint_sha1,
            "ValidFrom": beijing(self.not_before),
            "ValidTo": beijing(self.not_after),
        })
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    issued: Arc<Issued>,
}

/// The demo CA and the leaves it signed, generated lazily.
#[derive(Default)]
pub struct Pki {
    ca: Mutex<Option<Arc<Ca>>>,
    /// Intermediate CAs by expiry (unix seconds).
    intermediates: Mutex<HashMap<i64, Arc<Ca>>>,
    /// By certificate ID and validity: an upload-update gives an ID new content (new dates).
    leaves: Mutex<HashMap<(String, i64, i64), Arc<Issued>>>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("leaves", &self.leaves.lock().len())
            .finish_non_exhaustive()
    }
}

fn issued(
    cert: &rcgen::Certificate,
    key: &KeyPair,
    span: (i64, i64),
    names: (&str, &str),
) -> Issued {
    let der = cert.der().to_vec();
    Issued {
        fingerprint_sha1: sha1_hex(&der),
        pem: cert.pem(),
        der,
        key_der: key.serialize_der(),
        not_before: span.0,
        not_after: span.1,
        subject: format!("CN={}", names.0),
        issuer: format!("CN={}", names.1),
    }
}

/// The parameters of a CA certificate named `name`, valid over `span` (unix seconds).
fn ca_params(name: &str, span: (i64, i64)) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = at(rcgen::date_time_ymd(1970, 1, 1), span.0);
    params.not_after = at(rcgen::date_time_ymd(1970, 1, 1), span.1);
    params
}

impl Pki {
    pub fn new() -> Pki {
        Pki::default()
    }

    /// The PKI of answers made without a simulator ([`crate::handlers::respond`]).
    pub fn shared() -> &'static Pki {
        static SHARED: std::sync::LazyLock<Pki> = std::sync::LazyLock::new(Pki::new);
        &SHARED
    }

    fn ca(&self) -> Result<Arc<Ca>, rcgen::Error> {
        let mut slot = self.ca.lock();
        if let Some(ca) = &*slot {
            return Ok(Arc::clone(ca));
        }
        let now = crate::clock::now_millis() / 1000;
        // Wide enough for every leaf a dataset built around any recent `now` holds.
        let span = (now - 20 * 365 * DAY, now + 20 * 365 * DAY);
        let key = KeyPair::generate()?;
        let cert = ca_params(CA_NAME, span).self_signed(&key)?;
        let mut own = issued(&cert, &key, span, (CA_NAME, CA_NAME));
        // The CA's key signs leaves here and goes nowhere else.
        own.key_der.clear();
        let ca = Arc::new(Ca {
            issued: Arc::new(own),
            cert,
            key,
        });
        *slot = Some(Arc::clone(&ca));
        Ok(ca)
    }

    /// The intermediate CA expiring at `not_after` (unix seconds), signed by the demo CA; valid
    /// from a year before the process started. Made on first request and kept.
    fn intermediate(&self, not_after: i64) -> Result<Arc<Ca>, rcgen::Error> {
        if let Some(ca) = self.intermediates.lock().get(&not_after) {
            return Ok(Arc::clone(ca));
        }
        let root = self.ca()?;
        let span = (crate::clock::now_millis() / 1000 - 365 * DAY, not_after);
        let key = KeyPair::generate()?;
        let mut params = ca_params(INTERMEDIATE_NAME, span);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &root.cert, &root.key)?;
        let mut own = issued(&cert, &key, span, (INTERMEDIATE_NAME, CA_NAME));
        own.key_der.clear();
        let made = Arc::new(Ca {
            issued: Arc::new(own),
            cert,
            key,
        });
        let mut intermediates = self.intermediates.lock();
        Ok(Arc::clone(intermediates.entry(not_after).or_insert(made)))
    }

    /// The certificates above `cert`'s leaf, nearest first: the intermediate CA that signs it
    /// (when the certificate has one), then the demo CA.
    pub fn issuers(&self, cert: &Certificate) -> Result<Vec<Arc<Issued>>, rcgen::Error> {
        let mut chain = Vec::with_capacity(2);
        if let Some(not_after) = cert.intermediate_not_after {
            chain.push(Arc::clone(&self.intermediate(not_after)?.issued));
        }
        chain.push(self.ca_certificate()?);
        Ok(chain)
    }

    /// The demo CA certificate.
    pub fn ca_certificate(&self) -> Result<Arc<Issued>, rcgen::Error> {
        Ok(Arc::clone(&self.ca()?.issued))
    }

    /// PEM of the demo CA certificate.
    pub fn ca_pem(&self) -> Result<String, rcgen::Error> {
        Ok(self.ca()?.issued.pem.clone())
    }

    /// A new leaf for `domain` and `*.{domain}`, valid over `span` (unix seconds), with its own
    /// key, signed by the demo CA.
    pub fn issue(&self, domain: &str, span: (i64, i64)) -> Result<Issued, rcgen::Error> {
        self.issue_by(&*self.ca()?, domain, span)
    }

    /// A new leaf for `domain` and `*.{domain}` signed by `ca`.
    fn issue_by(&self, ca: &Ca, domain: &str, span: (i64, i64)) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(vec![domain.to_string(), format!("*.{domain}")])?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, domain);
        params.not_before = at(rcgen::date_time_ymd(1970, 1, 1), span.0);
        params.not_after = at(rcgen::date_time_ymd(1970, 1, 1), span.1);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca.cert, &ca.key)?;
        let issuer = ca.issued.subject.trim_start_matches("CN=");
        Ok(issued(&cert, &key, span, (domain, issuer)))
    }

    /// The leaf of `cert` (its domain, its validity), made on first request and kept; other
    /// dates under the same ID (an upload-update's new content) make another leaf.
    pub fn leaf(&self, cert: &Certificate) -> Result<Arc<Issued>, rcgen::Error> {
        let key = (cert.id.clone(), cert.not_before, cert.not_after);
        if let Some(leaf) = self.leaves.lock().get(&key) {
            return Ok(Arc::clone(leaf));
        }
        // Made outside the lock; a concurrent first request keeps whichever came first.
        let signer = match cert.intermediate_not_after {
            Some(not_after) => self.intermediate(not_after)?,
            None => self.ca()?,
        };
        let made =
            Arc::new(self.issue_by(&signer, &cert.domain, (cert.not_before, cert.not_after))?);
        let mut leaves = self.leaves.lock();
        Ok(Arc::clone(leaves.entry(key).or_insert(made)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Dataset, DatasetSpec};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    #[test]
    fn leaves_are_cached_and_signed_by_the_ca() {
        let dataset = Dataset::generate(DatasetSpec::new(1, 10, 1_750_000_000));
        let pki = Pki::new();
        let cert = &dataset.certificates[0];
        let first = pki.leaf(cert).expect("leaf");
        let again = pki.leaf(cert).expect("leaf");
        assert_eq!(first.fingerprint_sha1, again.fingerprint_sha1, "stable");
        assert_eq!(first.not_after, cert.not_after);
        assert_eq!(first.subject, format!("CN={}", cert.domain));
        assert_eq!(first.issuer, format!("CN={CA_NAME}"));
        let other = pki.leaf(&dataset.certificates[1]).expect("leaf");
        assert_ne!(first.fingerprint_sha1, other.fingerprint_sha1);
        let parsed = CertificateDer::from_pem_slice(first.pem.as_bytes()).expect("pem");
        assert_eq!(parsed.as_ref(), first.der.as_slice());
        assert_eq!(first.fingerprint_sha1.len(), 40);
        let ca = pki.ca_certificate().expect("ca");
        assert_eq!(ca.subject, ca.issuer, "self-signed");
        assert!(pki
            .ca_pem()
            .expect("pem")
            .starts_with("-----BEGIN CERTIFICATE-----"));
    }

    /// Verifies `leaf` for `domain` against the demo CA at `unix` seconds.
    fn verify_at(pki: &Pki, leaf: &Issued, domain: &str, unix: u64) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = pki.ca_certificate().expect("ca");
        roots
            .add(CertificateDer::from(ca.der.clone()))
            .expect("root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        let name = rustls::pki_types::ServerName::try_from(domain.to_string()).expect("name");
        let end_entity = CertificateDer::from(leaf.der.clone());
        let time = rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(unix));
        rustls::client::danger::ServerCertVerifier::verify_server_cert(
            verifier.as_ref(),
            &end_entity,
            &[],
            &name,
            &[],
            time,
        )
        .map(|_| ())
    }

    #[test]
    fn validity_is_the_certificates_to_the_second_and_names_cover_subdomains() {
        let pki = Pki::new();
        let span = (1_700_000_123, 1_760_000_456);
        let leaf = pki.issue("shop.example.com", span).expect("leaf");
        let (from, to) = (span.0 as u64, span.1 as u64);
        assert!(verify_at(&pki, &leaf, "shop.example.com", from).is_ok());
        assert!(verify_at(&pki, &leaf, "shop.example.com", to).is_ok());
        assert!(verify_at(&pki, &leaf, "i3.shop.example.com", to).is_ok());
        assert!(verify_at(&pki, &leaf, "shop.example.com", from - 1).is_err());
        let expired = verify_at(&pki, &leaf, "shop.example.com", to + 1);
        assert!(
            matches!(
                expired,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. }
                ))
            ),
            "{expired:?}"
        );
        assert!(verify_at(&pki, &leaf, "a.b.shop.example.com", to).is_err());
        assert!(verify_at(&pki, &leaf, "pay.example.com", to).is_err());
    }
}
