//! `tls_server_config`: the server certificate and key, the protocol versions, and client
//! certificate verification, as a rustls server configuration. The files it names are watched
//! like the configuration file itself, so a rotated certificate is used from the next handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;

use super::error::{error, WebConfigError};
use super::files::Watched;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    /// Accepted for compatibility; rustls chooses among its own safe suites and curves.
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

/// The rustls server configuration of `tls_server_config`; the files it reads are added to
/// `files` (relative paths are relative to `base`).
pub(super) fn load(
    raw: RawTls,
    base: &Path,
    files: &mut Vec<Watched>,
) -> Result<rustls::ServerConfig, WebConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let place = "tls_server_config";
    let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
    let cert_file = raw
        .cert_file
        .map(resolve)
        .ok_or_else(|| error(place, "cert_file is required"))?;
    let key_file = raw
        .key_file
        .map(resolve)
        .ok_or_else(|| error(place, "key_file is required"))?;
    files.push(Watched::now(&cert_file));
    files.push(Watched::now(&key_file));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|iter| iter.collect())
        .map_err(|e| {
            error(
                &format!("{place}.cert_file"),
                format!("{}: {e}", cert_file.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(error(
            &format!("{place}.cert_file"),
            format!("{}: no certificate", cert_file.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        error(
            &format!("{place}.key_file"),
            format!("{}: {e}", key_file.display()),
        )
    })?;
    warn_if_readable_by_others(&key_file, "the TLS key file");
    let version = |field: &str,
                   value: &Option<String>,
                   default: &'static rustls::SupportedProtocolVersion| {
        match value.as_deref() {
            None => Ok(default),
            Some("TLS12") => Ok(&rustls::version::TLS12),
            Some("TLS13") => Ok(&rustls::version::TLS13),
            Some(other) => Err(error(
                &format!("{place}.{field}"),
                format!("{other:?} is not supported (TLS12 or TLS13)"),
            )),
        }
    };
    let min = version("min_version", &raw.min_version, &rustls::version::TLS12)?;
    let max = version("max_version", &raw.max_version, &rustls::version::TLS13)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match (min.version, max.version)
    {
        (a, b) if a == b => vec![min],
        (rustls::ProtocolVersion::TLSv1_2, rustls::ProtocolVersion::TLSv1_3) => {
            vec![&rustls::version::TLS12, &rustls::version::TLS13]
        }
        _ => return Err(error(place, "min_version is above max_version")),
    };
    if raw.cipher_suites.is_some()
        || raw.curve_preferences.is_some()
        || raw.prefer_server_cipher_suites.is_some()
    {
        tracing::warn!("tls_server_config: cipher_suites, curve_preferences and prefer_server_cipher_suites are ignored; rustls uses its own safe defaults");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| error(place, e.to_string()))?;
    let auth_type = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca_file = raw
                .client_ca_file
                .map(resolve)
                .ok_or_else(|| error(&format!("{place}.client_ca_file"), format!("required with client_auth_type {auth_type}")))?;
            files.push(Watched::now(&ca_file));
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca_file)
                .map_err(|e| error(&format!("{place}.client_ca_file"), format!("{}: {e}", ca_file.display())))?
            {
                let cert = cert.map_err(|e| error(&format!("{place}.client_ca_file"), e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| error(&format!("{place}.client_ca_file"), e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth_type == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| error(place, e.to_string()))?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(error(
                &format!("{place}.client_auth_type"),
                format!("{auth_type} (a client certificate that is never verified) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
            ))
        }
        other => return Err(error(&format!("{place}.client_auth_type"), format!("unknown value {other:?}"))),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| error(place, format!("certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
