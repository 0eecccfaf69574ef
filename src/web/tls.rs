//! `tls_server_config`: the server certificate and key (files or inline PEM), the protocol
//! versions, cipher suites and curves, and client certificates (`client_auth_type`,
//! `client_ca`/`client_ca_file`, `client_allowed_sans`), as a rustls server configuration, with
//! exporter-toolkit's meaning, its validation order and its messages. The files it names are
//! watched like the configuration file itself, so a rotated certificate is used from the next
//! handshake.
//!
//! Where rustls (with ring) cannot do what Go's `crypto/tls` does, the key is accepted, what can
//! be applied is, and a warning says what is not; or, when honouring it is impossible, the
//! configuration is refused with a message saying why (docs/configuration.md lists each case).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme, SupportedCipherSuite};
use serde::Deserialize;
use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;

use super::error::{error, WebConfigError};
use super::files::Watched;

/// Inline key material: never shown by `Debug`.
#[derive(Default, Deserialize)]
#[serde(transparent)]
pub(super) struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<secret>"
        })
    }
}

/// exporter-toolkit's `TLSConfig`. An empty string is the same as an absent key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    #[serde(default)]
    cert: String,
    #[serde(default)]
    key: Secret,
    #[serde(default)]
    client_ca: String,
    #[serde(default)]
    cert_file: String,
    #[serde(default)]
    key_file: String,
    #[serde(default)]
    client_auth_type: String,
    #[serde(default)]
    client_ca_file: String,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    /// Accepted; no effect (Go has ignored it since 1.18; rustls follows the client's order
    /// among the allowed suites).
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

impl RawTls {
    /// exporter-toolkit's `IsEnabled`: only these 7 keys turn TLS on.
    fn is_enabled(&self) -> bool {
        !(self.cert.is_empty()
            && self.cert_file.is_empty()
            && self.key.0.is_empty()
            && self.key_file.is_empty()
            && self.client_ca.is_empty()
            && self.client_ca_file.is_empty()
            && self.client_auth_type.is_empty())
    }
}

/// Go's TLS version names, as numbers to compare (TLS10 = 10 … TLS13 = 13).
fn tls_version(field: &str, name: Option<&str>, default: u8) -> Result<u8, WebConfigError> {
    match name {
        None => Ok(default),
        Some("TLS10") => Ok(10),
        Some("TLS11") => Ok(11),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(other) => Err(error(
            &format!("tls_server_config.{field}"),
            format!("unknown TLS version: {other}"),
        )),
    }
}

/// What rustls does with one of Go's `tls.CipherSuites()` names.
enum Cipher {
    /// A TLS 1.3 suite: Go ignores `cipher_suites` for TLS 1.3, and so do we.
    Tls13,
    /// A TLS 1.2 suite ring offers.
    Offered(SupportedCipherSuite),
    /// A TLS 1.2 CBC suite neither rustls nor ring implements.
    NotOffered,
}

/// The 13 names Go's `tls.CipherSuites()` lists (exporter-toolkit accepts exactly these).
fn cipher(name: &str) -> Option<Cipher> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            Cipher::Tls13
        }
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" => Cipher::NotOffered,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            Cipher::Offered(cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            Cipher::Offered(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            Cipher::Offered(cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            Cipher::Offered(cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            Cipher::Offered(cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            Cipher::Offered(cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        _ => return None,
    })
}

/// Go's 4 curve names; `None` inside: accepted, but ring has no such group (P-521).
fn curve(name: &str) -> Option<Option<&'static dyn SupportedKxGroup>> {
    use rustls::crypto::ring::kx_group;
    Some(match name {
        "CurveP256" => Some(kx_group::SECP256R1),
        "CurveP384" => Some(kx_group::SECP384R1),
        "CurveP521" => None,
        "X25519" => Some(kx_group::X25519),
        _ => return None,
    })
}

/// The suites net/http's HTTP/2 needs when TLS 1.2 is allowed.
const HTTP2_REQUIRED: [&str; 2] = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/// The rustls server configuration of `tls_server_config`, or `None` when it does not turn TLS
/// on (plain HTTP, as exporter-toolkit); the files it reads are added to `files` (relative paths
/// are relative to `base`). `http2` is `http_server_config.http2` (true unless set false).
pub(super) fn load(
    raw: RawTls,
    base: &Path,
    http2: bool,
    files: &mut Vec<Watched>,
) -> Result<Option<rustls::ServerConfig>, WebConfigError> {
    let place = "tls_server_config";
    // Names first: exporter-toolkit checks them while decoding the YAML.
    let min = tls_version("min_version", raw.min_version.as_deref(), 12)?;
    let max = tls_version("max_version", raw.max_version.as_deref(), 13)?;
    let mut ciphers = Vec::new();
    for name in &raw.cipher_suites {
        let c = cipher(name).ok_or_else(|| {
            error(
                &format!("{place}.cipher_suites"),
                format!("unknown cipher: {name}"),
            )
        })?;
        ciphers.push((name.as_str(), c));
    }
    let mut curves = Vec::new();
    for name in &raw.curve_preferences {
        let c = curve(name).ok_or_else(|| {
            error(
                &format!("{place}.curve_preferences"),
                format!("unknown curve: {name}"),
            )
        })?;
        curves.push((name.as_str(), c));
    }

    if !raw.is_enabled() {
        tracing::warn!("tls_server_config sets none of cert, cert_file, key, key_file, client_ca, client_ca_file and client_auth_type: TLS is off and the exporter serves plain HTTP, as exporter-toolkit does");
        return Ok(None);
    }
    if raw.cert.is_empty() && raw.cert_file.is_empty() {
        return Err(error(place, "missing one of cert or cert_file"));
    }
    if raw.key.0.is_empty() && raw.key_file.is_empty() {
        return Err(error(place, "missing one of key or key_file"));
    }
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_relative() {
            base.join(p)
        } else {
            p
        }
    };
    // The file wins over inline text (no error when both are given), as in exporter-toolkit.
    let read = |field: &str, path: &Path, files: &mut Vec<Watched>| {
        files.push(Watched::now(path));
        std::fs::read(path).map_err(|e| {
            error(
                &format!("{place}.{field}"),
                format!("failed to read {field} ({}): {e}", path.display()),
            )
        })
    };
    let cert_pem = if raw.cert_file.is_empty() {
        raw.cert.clone().into_bytes()
    } else {
        read("cert_file", &resolve(&raw.cert_file), files)?
    };
    let key_pem = if raw.key_file.is_empty() {
        raw.key.0.clone().into_bytes()
    } else {
        let path = resolve(&raw.key_file);
        let pem = read("key_file", &path, files)?;
        warn_if_readable_by_others(&path, "the TLS key file");
        pem
    };
    let key_pair = |message: String| error(place, format!("failed to load X509KeyPair: {message}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| key_pair(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(key_pair("no certificate in the certificate PEM".into()));
    }
    // The key's parse error is not shown: it could quote key material.
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| key_pair("no valid private key in the key PEM".into()))?;

    let ca_pem = if !raw.client_ca_file.is_empty() {
        let path = resolve(&raw.client_ca_file);
        files.push(Watched::now(&path));
        Some(std::fs::read(&path).map_err(|e| {
            error(
                &format!("{place}.client_ca_file"),
                format!("{}: {e}", path.display()),
            )
        })?)
    } else if !raw.client_ca.is_empty() {
        Some(raw.client_ca.clone().into_bytes())
    } else {
        None
    };

    #[derive(PartialEq)]
    enum Mode {
        None,
        Request,
        RequireAny,
        VerifyIfGiven,
        RequireAndVerify,
    }
    let mode = match raw.client_auth_type.as_str() {
        "" | "NoClientCert" => Mode::None,
        "RequestClientCert" => Mode::Request,
        // "RequireClientCert": exporter-toolkit's alias, kept for backwards compatibility.
        "RequireAnyClientCert" | "RequireClientCert" => Mode::RequireAny,
        "VerifyClientCertIfGiven" => Mode::VerifyIfGiven,
        "RequireAndVerifyClientCert" => Mode::RequireAndVerify,
        other => {
            return Err(error(
                &format!("{place}.client_auth_type"),
                format!("invalid ClientAuth: {other}"),
            ))
        }
    };
    if ca_pem.is_some() && mode == Mode::None {
        return Err(error(
            place,
            "client CA's have been configured without a Client Auth Policy",
        ));
    }

    // Protocol versions: rustls has TLS 1.2 and 1.3 only.
    if max < 12 {
        return Err(error(
            &format!("{place}.max_version"),
            format!("TLS{max} cannot be served: rustls speaks only TLS 1.2 and 1.3 (set TLS12 or TLS13)"),
        ));
    }
    let min = if min < 12 {
        tracing::warn!(
            min_version = %format!("TLS{min}"),
            "tls_server_config.min_version below TLS12: rustls speaks only TLS 1.2 and 1.3, so the minimum is TLS12"
        );
        12
    } else {
        min
    };
    if min > max {
        return Err(error(place, "min_version is above max_version"));
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }

    let mut provider = rustls::crypto::ring::default_provider();
    if !ciphers.is_empty() {
        let mut tls12 = Vec::new();
        for (name, c) in &ciphers {
            match c {
                Cipher::Tls13 => {}
                Cipher::Offered(suite) => tls12.push(*suite),
                Cipher::NotOffered => tracing::warn!(
                    cipher = name,
                    "tls_server_config.cipher_suites: rustls does not implement CBC suites; this one is never offered"
                ),
            }
        }
        if min <= 12 {
            if tls12.is_empty() {
                return Err(error(
                    &format!("{place}.cipher_suites"),
                    "none of the listed TLS 1.2 suites can be offered by rustls (it implements only the ECDHE AES-GCM and CHACHA20-POLY1305 ones) while min_version allows TLS 1.2",
                ));
            }
            if http2 && !ciphers.iter().any(|(n, _)| HTTP2_REQUIRED.contains(n)) {
                // What Go's net/http refuses at start-up (exporter-toolkit serves it that way).
                return Err(error(
                    &format!("{place}.cipher_suites"),
                    format!("http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of {} or {}); set http_server_config.http2: false, as with exporter-toolkit", HTTP2_REQUIRED[0], HTTP2_REQUIRED[1]),
                ));
            }
        }
        // Go ignores cipher_suites for TLS 1.3: every TLS 1.3 suite stays.
        let mut suites: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .collect();
        suites.extend(tls12);
        provider.cipher_suites = suites;
    }
    if !curves.is_empty() {
        let mut groups = Vec::new();
        for (name, c) in &curves {
            match c {
                Some(group) => groups.push(*group),
                None => tracing::warn!(
                    curve = name,
                    "tls_server_config.curve_preferences: ring has no P-521; this curve is never offered"
                ),
            }
        }
        if groups.is_empty() {
            return Err(error(
                &format!("{place}.curve_preferences"),
                "none of the listed curves can be offered by rustls with ring (CurveP521 is not implemented)",
            ));
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);

    let roots = |what: &str| -> Result<Arc<rustls::RootCertStore>, WebConfigError> {
        let mut roots = rustls::RootCertStore::empty();
        match &ca_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert =
                        cert.map_err(|e| error(&format!("{place}.client_ca"), e.to_string()))?;
                    roots
                        .add(cert)
                        .map_err(|e| error(&format!("{place}.client_ca"), e.to_string()))?;
                }
                if roots.is_empty() {
                    return Err(error(
                        &format!("{place}.client_ca"),
                        format!("no CA certificate in client_ca/client_ca_file: every client certificate would be refused with {what}"),
                    ));
                }
            }
            None => {
                tracing::info!(
                    client_auth_type = what,
                    "no client_ca or client_ca_file: client certificates are verified against the Mozilla root certificates built in (webpki-roots), where exporter-toolkit uses the system roots"
                );
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
        }
        Ok(Arc::new(roots))
    };
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match mode {
        Mode::None => {
            if raw.client_allowed_sans.is_some() {
                tracing::warn!("tls_server_config.client_allowed_sans has no effect with client_auth_type NoClientCert: no client certificate is asked for (as in exporter-toolkit)");
            }
            None
        }
        Mode::Request | Mode::RequireAny => {
            tracing::warn!(
                client_auth_type = %raw.client_auth_type,
                "client certificates are not verified in this mode: any certificate is accepted (its handshake signature is still checked)"
            );
            Some(Arc::new(AnyClientCert {
                mandatory: mode == Mode::RequireAny,
                provider: Arc::clone(&provider),
            }))
        }
        Mode::VerifyIfGiven | Mode::RequireAndVerify => {
            let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots(&raw.client_auth_type)?,
                Arc::clone(&provider),
            );
            // Go names no CA in its request when it verifies against the system roots.
            let builder = if ca_pem.is_none() {
                builder.clear_root_hint_subjects()
            } else {
                builder
            };
            let builder = if mode == Mode::VerifyIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            Some(builder.build().map_err(|e| error(place, e.to_string()))?)
        }
    };
    let verifier = match (verifier, raw.client_allowed_sans) {
        (Some(inner), Some(allowed)) => Some(Arc::new(AllowedSans { inner, allowed }) as Arc<_>),
        (verifier, _) => verifier,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| error(place, e.to_string()))?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(verifier) => builder.with_client_cert_verifier(verifier),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| key_pair(format!("the key does not match the certificate: {e}")))?;
    if raw.prefer_server_cipher_suites.is_some() {
        tracing::debug!("tls_server_config.prefer_server_cipher_suites has no effect, as in Go since 1.18: the client's order among the allowed suites decides");
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(config))
}

/// `RequestClientCert` / `RequireAnyClientCert`: any client certificate is accepted without
/// verifying its chain, as Go does; the handshake signature is still verified, so the client
/// holds the key of the certificate it presents.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: after `inner` accepted the client certificate, its leaf must carry a
/// SAN (DNS, e-mail, IP as text, URI) exactly equal to one of `allowed`; the subject CN is not
/// looked at. A client without a certificate is refused (the list asks for one).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

/// The SANs of a DER certificate as exporter-toolkit compares them (Go's text of each).
pub(super) fn sans(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    let mut values = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                values.push((*s).to_string());
            }
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).map(std::net::IpAddr::from).ok(),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(|b| {
                        let v6 = std::net::Ipv6Addr::from(b);
                        // Go prints an IPv4-mapped address as dotted IPv4.
                        v6.to_ipv4_mapped()
                            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4)
                    }),
                    _ => None,
                };
                if let Some(ip) = ip {
                    values.push(ip.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(values)
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let found = sans(end_entity).map_err(|e| {
            tracing::warn!(error = %e, "error parsing client certificate");
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if found.iter().any(|san| self.allowed.contains(san)) {
            return Ok(verified);
        }
        tracing::warn!(
            allowed = ?self.allowed,
            found = ?found,
            "could not find allowed SANs in client cert; refusing the connection"
        );
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
