//! The demo's TLS endpoints: one listener on `127.0.0.1` per endpoint target of the dataset
//! ([`crate::dataset::Dataset::endpoint_targets`]), serving the leaf the target says (the API's
//! own, an older one for the same domain, or the API's expired one) and the demo CA after it,
//! except for a [`Served::Unreachable`] target, which gets no listener: its address is a
//! loopback port that was free when the endpoints started, so connecting to it is refused.
//!
//! A listener completes the handshake whatever the SNI, answers a tiny HTTP/1.1 200 to whatever
//! arrives, and closes. The API implies port 443 for every target; the real port is
//! [`TlsEndpoint::addr`], which [`TlsEndpoint::resolve_override`] maps it to.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::dataset::{Dataset, Served};
use crate::pki::{Issued, Pki};

const DAY: i64 = 86_400;
/// The port the API implies for every demo target (no `VirtualPort`, no listener port).
pub const IMPLIED_PORT: u16 = 443;
/// How long one connection may take, handshake included.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

/// A demo TLS endpoint and what it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsEndpoint {
    /// The domain the certificate's bind detail lists (unique in the dataset).
    pub domain: String,
    /// 443, as the API implies.
    pub port: u16,
    /// Where it really listens; for [`Served::Unreachable`], a loopback port nothing listens on
    /// (bound once to pick it, then released), where connecting is refused.
    pub addr: SocketAddr,
    pub certificate_id: String,
    /// Lower-case resource type of the bind-detail instance that carries `domain`.
    pub resource_type: &'static str,
    pub serves: Served,
    /// SHA-1 of the served leaf's DER, lower-case hex; empty for [`Served::Unreachable`].
    pub served_fingerprint_sha1: String,
    /// `notAfter` of the served leaf, unix seconds; 0 for [`Served::Unreachable`].
    pub served_not_after: i64,
    /// SHA-1 of the leaf `DescribeCertificateDetail` answers for the certificate, lower-case hex.
    pub expected_fingerprint_sha1: String,
    /// The certificates above that leaf, nearest first, as `CertChainInfo` lists them after it.
    pub expected_issuers: Vec<ChainIssuer>,
}

/// A certificate above a leaf in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainIssuer {
    /// `CertChainInfo`'s `Subject` and `Issuer`.
    pub subject: String,
    pub issuer: String,
    /// `ValidTo`, unix seconds.
    pub not_after: i64,
}

impl ChainIssuer {
    /// What `CertChainInfo` says of `issued`.
    pub(crate) fn of(issued: &Issued) -> ChainIssuer {
        ChainIssuer {
            subject: issued.subject.clone(),
            issuer: issued.issuer.clone(),
            not_after: issued.not_after,
        }
    }
}

impl TlsEndpoint {
    /// `DOMAIN:PORT:ADDR` (`ADDR` with its port, as curl's `--connect-to` takes it): dial `addr`
    /// for `domain:port`.
    pub fn resolve_override(&self) -> String {
        format!("{}:{}:{}", self.domain, self.port, self.addr)
    }

    /// Whether the served leaf is the API's; false for [`Served::Unreachable`], which serves none.
    pub fn matches(&self) -> bool {
        self.serves != Served::Unreachable
            && self.served_fingerprint_sha1 == self.expected_fingerprint_sha1
    }
}

fn server_config(leaf: &Issued, issuers: &[Arc<Issued>]) -> io::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = std::iter::once(leaf)
        .chain(issuers.iter().map(AsRef::as_ref))
        .map(|c| CertificateDer::from(c.der.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)
}

/// Starts one listener per endpoint target of `dataset` but the unreachable ones (which get an
/// endpoint and no listener, so fewer tasks than endpoints); they stop when `stop` is cancelled.
/// On an error the listeners already started are left to `stop`.
pub(crate) async fn start(
    dataset: &Dataset,
    pki: &Pki,
    stop: &CancellationToken,
) -> io::Result<(Vec<TlsEndpoint>, Vec<JoinHandle<()>>)> {
    let now = dataset.spec.now;
    let ca = pki.ca_certificate().map_err(io::Error::other)?;
    let mut endpoints = Vec::new();
    let mut tasks = Vec::new();
    let mut released = Vec::new();
    for (target, serves) in dataset.endpoint_targets() {
        let Some(cert) = dataset.certificate(&target.certificate_id) else {
            continue;
        };
        let api = pki.leaf(cert).map_err(io::Error::other)?;
        let issuers = pki.issuers(cert).map_err(io::Error::other)?;
        let expected_issuers: Vec<ChainIssuer> =
            issuers.iter().map(|i| ChainIssuer::of(i)).collect();
        let served = match serves {
            Served::Unreachable => {
                // A port that was free a moment ago, held until the other listeners are bound
                // (so none of them gets it), then released: nothing listens there.
                let held = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                let addr = held.local_addr()?;
                released.push(held);
                endpoints.push(TlsEndpoint {
                    domain: target.domain.clone(),
                    port: IMPLIED_PORT,
                    addr,
                    certificate_id: cert.id.clone(),
                    resource_type: target.resource_type,
                    serves,
                    served_fingerprint_sha1: String::new(),
                    served_not_after: 0,
                    expected_fingerprint_sha1: api.fingerprint_sha1.clone(),
                    expected_issuers,
                });
                continue;
            }
            Served::Current | Served::Expired => (Arc::clone(&api), issuers),
            // Issued by the demo CA 85 days before `now` for 90 days, and never renewed on this
            // endpoint.
            Served::Previous => (
                Arc::new(
                    pki.issue(&cert.domain, (now - 85 * DAY, now + 5 * DAY))
                        .map_err(io::Error::other)?,
                ),
                vec![Arc::clone(&ca)],
            ),
        };
        let (served, served_issuers) = served;
        let acceptor = TlsAcceptor::from(Arc::new(server_config(&served, &served_issuers)?));
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        endpoints.push(TlsEndpoint {
            domain: target.domain.clone(),
            port: IMPLIED_PORT,
            addr: listener.local_addr()?,
            certificate_id: cert.id.clone(),
            resource_type: target.resource_type,
            serves,
            served_fingerprint_sha1: served.fingerprint_sha1.clone(),
            served_not_after: served.not_after,
            expected_fingerprint_sha1: api.fingerprint_sha1.clone(),
            expected_issuers,
        });
        tasks.push(tokio::spawn(serve(listener, acceptor, stop.clone())));
    }
    drop(released);
    Ok((endpoints, tasks))
}

/// Answers TLS connections on `listener` with `acceptor` until `stop`.
pub(crate) async fn serve(listener: TcpListener, acceptor: TlsAcceptor, stop: CancellationToken) {
    crate::accept_each(listener, stop, |stream| {
        let acceptor = acceptor.clone();
        async move {
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, answer(acceptor, stream)).await;
        }
    })
    .await;
}

/// Handshake, then a 200 to whatever arrives; a client that only wanted the handshake closes.
async fn answer(acceptor: TlsAcceptor, stream: TcpStream) {
    let Ok(mut tls) = acceptor.accept(stream).await else {
        return;
    };
    let mut request = [0u8; 2048];
    if let Ok(n) = tls.read(&mut request).await {
        if n > 0 {
            let _ = tls.write_all(ANSWER).await;
        }
    }
    let _ = tls.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetSpec;

    #[test]
    fn resolve_override_is_curl_style() {
        let endpoint = TlsEndpoint {
            domain: "abc123.shop.example.com".into(),
            port: 443,
            addr: SocketAddr::from(([127, 0, 0, 1], 40123)),
            certificate_id: "AbC123xy".into(),
            resource_type: "cdn",
            serves: Served::Current,
            served_fingerprint_sha1: "aa".into(),
            served_not_after: 0,
            expected_fingerprint_sha1: "aa".into(),
            expected_issuers: Vec::new(),
        };
        assert_eq!(
            endpoint.resolve_override(),
            "abc123.shop.example.com:443:127.0.0.1:40123"
        );
        assert!(endpoint.matches());
        let unreachable = TlsEndpoint {
            serves: Served::Unreachable,
            served_fingerprint_sha1: String::new(),
            expected_fingerprint_sha1: String::new(),
            ..endpoint
        };
        assert!(!unreachable.matches(), "serves nothing, matches nothing");
    }

    #[tokio::test]
    async fn listeners_stop_with_the_token() {
        let dataset = Dataset::generate(DatasetSpec::new(1, 48, 1_750_000_000));
        let pki = Pki::new();
        let stop = CancellationToken::new();
        let (endpoints, tasks) = start(&dataset, &pki, &stop).await.expect("start");
        assert!(!endpoints.is_empty());
        let unreachable: Vec<&TlsEndpoint> = endpoints
            .iter()
            .filter(|e| e.serves == Served::Unreachable)
            .collect();
        assert_eq!(unreachable.len(), 1);
        assert_eq!(endpoints.len(), tasks.len() + unreachable.len());
        for endpoint in &unreachable {
            assert!(endpoint.addr.ip().is_loopback());
            assert_ne!(endpoint.addr.port(), 0);
            assert!(endpoint.served_fingerprint_sha1.is_empty());
            assert_eq!(endpoint.served_not_after, 0);
            assert!(!endpoint.expected_fingerprint_sha1.is_empty());
            let refused = TcpStream::connect(endpoint.addr).await.map(|_| ());
            assert!(
                matches!(&refused, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused),
                "{refused:?}"
            );
        }
        let listening: Vec<SocketAddr> = endpoints.iter().map(|e| e.addr).collect();
        let mut distinct = listening.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), listening.len(), "distinct addresses");
        stop.cancel();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("stops")
                .expect("no panic");
        }
        for endpoint in &endpoints {
            assert!(
                TcpStream::connect(endpoint.addr).await.is_err(),
                "{} closed",
                endpoint.addr
            );
        }
    }
}
