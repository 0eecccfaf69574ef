//! The TLS probe of one endpoint: resolve (or take a `--resolve`-style override), connect, TLS
//! handshake with SNI = the domain, and report the leaf the endpoint served.
//!
//! A name the API gives may resolve anywhere, the exporter's own host and its cloud metadata
//! service included: resolved addresses that are loopback, link-local (`169.254.0.0/16`,
//! `fe80::/10`), unspecified or multicast are not dialled ([`refused_address`]), unless the
//! operator's `allow_cidrs` names them; `deny_cidrs` refuses more. Private ranges are dialled.
//! Overrides are the operator's own word and are always dialled.
//!
//! Names are resolved by an asynchronous resolver ([`hickory_resolver`], configured from
//! `/etc/resolv.conf`, or from `endpoints.nameservers`), built once per prober and caching
//! answers. Not `getaddrinfo`: on tokio's blocking pool a lookup outlives the probe timeout
//! (the thread waits for the resolver's own timeout), and with a blackholed resolver such
//! threads pile up and starve everything else that blocks (bcrypt checks, reloads, shutdown).
//! The probe timeout covers resolution, and dropping a lookup cancels it.
//!
//! The handshake accepts whatever chain the endpoint presents (the point is to see it, even when
//! it is expired or for another name), but the endpoint must still prove it holds the leaf's key:
//! the handshake signatures are verified as usual. Chain validity (trust roots, dates, the name)
//! is checked after the handshake, apart from the fingerprint, so "serves the right certificate"
//! and "serves a valid chain" are two answers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha1::{Digest as _, Sha1};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::{Cidr, ResolveOverride};

/// The DOMAIN of an override that covers every domain on its port (probes through one load
/// balancer or edge node, benchmarks).
pub const ANY_DOMAIN: &str = "*";

/// Why a probe did not get a certificate. The label value is [`ProbeError::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("resolving the domain failed: {0}")]
    Resolve(String),
    #[error("connecting failed: {0}")]
    Connect(String),
    #[error("no answer within the probe timeout")]
    Timeout,
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("the endpoint sent no certificate")]
    NoCertificate,
    /// Every address the domain resolved to is refused ([`refused_address`]); not dialled.
    #[error(
        "not dialled: every address the domain resolves to is refused ({reason}: {addresses})"
    )]
    Refused {
        /// Why the first address is refused: the `reason` of `…_endpoint_skipped_info`.
        reason: &'static str,
        /// The refused addresses.
        addresses: String,
    },
}

impl ProbeError {
    /// The `reason` label: resolve, connect, timeout, handshake or no_certificate; for
    /// [`ProbeError::Refused`], the `reason` of `…_endpoint_skipped_info` (`loopback_address`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            ProbeError::Resolve(_) => "resolve",
            ProbeError::Connect(_) => "connect",
            ProbeError::Timeout => "timeout",
            ProbeError::Handshake(_) => "handshake",
            ProbeError::NoCertificate => "no_certificate",
            ProbeError::Refused { reason, .. } => reason,
        }
    }
}

/// The operator's networks: `allow` exempts addresses from the default refusals, `deny` refuses
/// more (and wins over `allow`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

/// Why a resolved address is not dialled, if it is not: `denied_address` (in `deny`), else,
/// unless `allow` names it, `loopback_address`, `link_local_address`, `unspecified_address` or
/// `multicast_address`. Pure.
pub fn refused_address(ip: IpAddr, policy: &AddressPolicy) -> Option<&'static str> {
    let ip = ip.to_canonical();
    if policy.deny.iter().any(|net| net.contains(ip)) {
        return Some("denied_address");
    }
    if policy.allow.iter().any(|net| net.contains(ip)) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("loopback_address"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("link_local_address"),
        // 0.0.0.0/8 ("this network") reaches the host itself, as 0.0.0.0 does.
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some("unspecified_address"),
        IpAddr::V4(v4) if v4.is_multicast() || v4.is_broadcast() => Some("multicast_address"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("loopback_address"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some("link_local_address"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("unspecified_address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("multicast_address"),
        _ => None,
    }
}

/// What an endpoint served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// SHA-1 of the leaf's DER, 40 lower-case hex digits.
    pub fingerprint: String,
    /// The leaf's notAfter as unix seconds; `None` if the leaf cannot be parsed as X.509.
    pub not_after: Option<i64>,
    /// Whether the chain verifies for the domain now; the error says why not.
    pub chain: Result<(), String>,
}

/// SHA-1 of a DER certificate, 40 lower-case hex digits. Pure.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha1::digest(der))
}

/// The fingerprint of the first certificate of a PEM text (the leaf of a chain). Pure.
pub fn pem_leaf_fingerprint(pem: &str) -> Option<String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|der| fingerprint(&der))
}

/// notAfter of a DER certificate as unix seconds. Pure.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(certificate.validity().not_after.timestamp())
}

/// Every certificate of a PEM text (extra trust roots).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate list: {e}"))?;
    if certificates.is_empty() {
        return Err("no certificate in it".to_string());
    }
    Ok(certificates)
}

/// Accepts any chain in the handshake (it is judged afterwards), but verifies the handshake
/// signatures: the endpoint must hold the private key of the leaf it shows.
#[derive(Debug)]
struct AcceptAndRecord {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AcceptAndRecord {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Answers cached by the resolver (names, positive and negative).
const RESOLVER_CACHE: usize = 4096;

/// Where the resolver sends queries when `/etc/resolv.conf` cannot be read: the local
/// resolver, as the C library does without the file.
const FALLBACK_NAMESERVER: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 53);

/// The nameservers of one address, over UDP and TCP (for truncated answers). Pure.
fn fixed(addrs: &[SocketAddr]) -> ResolverConfig {
    let mut config = ResolverConfig::new();
    for addr in addrs {
        config.add_name_server(NameServerConfig::new(*addr, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(*addr, Protocol::Tcp));
    }
    config
}

/// The system configuration as read, or, when it could not be read or names no nameserver,
/// the local resolver ([`FALLBACK_NAMESERVER`]) and why. Pure.
fn system_config(
    read: Result<(ResolverConfig, ResolverOpts), hickory_resolver::ResolveError>,
) -> (ResolverConfig, ResolverOpts, Option<String>) {
    match read {
        Ok((config, options)) if !config.name_servers().is_empty() => (config, options, None),
        Ok((_, options)) => (
            fixed(&[FALLBACK_NAMESERVER]),
            options,
            Some("/etc/resolv.conf names no nameserver".to_string()),
        ),
        Err(e) => (
            fixed(&[FALLBACK_NAMESERVER]),
            ResolverOpts::default(),
            Some(format!("reading /etc/resolv.conf: {e}")),
        ),
    }
}

/// The resolver of the system configuration (`/etc/resolv.conf`), or of `nameservers` when
/// some are given (UDP, then TCP for truncated answers; `/etc/hosts` is read either way).
/// When the system configuration cannot be read, the local resolver (127.0.0.1:53) is asked,
/// and the second value says why.
fn resolver(nameservers: &[SocketAddr]) -> (TokioResolver, Option<String>) {
    let (config, mut options, problem) = if nameservers.is_empty() {
        system_config(hickory_resolver::system_conf::read_system_conf())
    } else {
        (fixed(nameservers), ResolverOpts::default(), None)
    };
    options.cache_size = options.cache_size.max(RESOLVER_CACHE);
    let resolver = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(options)
        .build();
    (resolver, problem)
}

/// Probes endpoints; shared by every probe of a collector.
pub struct Prober {
    overrides: HashMap<(String, u16), SocketAddr>,
    resolver: TokioResolver,
    policy: AddressPolicy,
    timeout: Duration,
    connector: TlsConnector,
    webpki: Arc<WebPkiServerVerifier>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("overrides", &self.overrides)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// A prober trusting the Mozilla roots plus `extra_roots`, dialling `overrides` instead of
    /// resolving their domains, and giving each probe `timeout` in all.
    pub fn new(
        overrides: &[ResolveOverride],
        extra_roots: &[CertificateDer<'static>],
        timeout: Duration,
    ) -> Result<Prober, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let (added, ignored) = roots.add_parsable_certificates(extra_roots.iter().cloned());
        if ignored > 0 || (added == 0 && !extra_roots.is_empty()) {
            return Err(format!(
                "{ignored} of the extra trust roots are not usable CA certificates"
            ));
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("building the chain verifier: {e}"))?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAndRecord {
                webpki: Arc::clone(&webpki),
            }))
            .with_no_client_auth();
        let (resolver, problem) = resolver(&[]);
        if let Some(problem) = problem {
            tracing::warn!(
                nameserver = %FALLBACK_NAMESERVER,
                "endpoint probes resolve through the local resolver: {problem}"
            );
        }
        Ok(Prober {
            resolver,
            overrides: overrides
                .iter()
                .map(|o| ((o.domain.clone(), o.port), o.addr))
                .collect(),
            policy: AddressPolicy::default(),
            timeout,
            connector: TlsConnector::from(Arc::new(config)),
            webpki,
        })
    }

    /// Resolved addresses are refused by `policy` ([`refused_address`]) rather than the
    /// defaults alone.
    pub fn with_address_policy(mut self, policy: AddressPolicy) -> Prober {
        self.policy = policy;
        self
    }

    /// Names are resolved by asking `nameservers` (`endpoints.nameservers`) rather than those of
    /// `/etc/resolv.conf`; none leaves the system configuration.
    pub fn with_nameservers(mut self, nameservers: &[SocketAddr]) -> Prober {
        if !nameservers.is_empty() {
            self.resolver = resolver(nameservers).0;
        }
        self
    }

    /// The override for `domain:port`: the one naming the domain, else a `*` one for the port.
    fn override_for(&self, domain: &str, port: u16) -> Option<SocketAddr> {
        self.overrides
            .get(&(domain.to_string(), port))
            .or_else(|| self.overrides.get(&(ANY_DOMAIN.to_string(), port)))
            .copied()
    }

    /// Whether an override covers `domain:port`.
    pub fn has_override(&self, domain: &str, port: u16) -> bool {
        self.override_for(domain, port).is_some()
    }

    /// One probe of `domain:port`, bounded by the timeout as a whole.
    pub async fn probe(&self, domain: &str, port: u16) -> Result<Served, ProbeError> {
        match tokio::time::timeout(self.timeout, self.probe_unbounded(domain, port)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ProbeError::Timeout),
        }
    }

    async fn addresses(&self, domain: &str, port: u16) -> Result<Vec<SocketAddr>, ProbeError> {
        if let Some(addr) = self.override_for(domain, port) {
            return Ok(vec![addr]);
        }
        let found: Vec<SocketAddr> = self
            .resolver
            .lookup_ip(domain)
            .await
            .map_err(|e| ProbeError::Resolve(e.to_string()))?
            .iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        if found.is_empty() {
            return Err(ProbeError::Resolve("no address".to_string()));
        }
        let refused: Vec<(SocketAddr, &'static str)> = found
            .iter()
            .filter_map(|addr| refused_address(addr.ip(), &self.policy).map(|r| (*addr, r)))
            .collect();
        if refused.len() == found.len() {
            let addresses = refused
                .iter()
                .map(|(addr, _)| addr.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ProbeError::Refused {
                reason: refused[0].1,
                addresses,
            });
        }
        Ok(found
            .into_iter()
            .filter(|addr| refused_address(addr.ip(), &self.policy).is_none())
            .collect())
    }

    async fn probe_unbounded(&self, domain: &str, port: u16) -> Result<Served, ProbeError> {
        let server_name = ServerName::try_from(domain.to_string())
            .map_err(|e| ProbeError::Resolve(format!("not a host name: {e}")))?;
        let mut last_error = String::new();
        let mut stream = None;
        for addr in self.addresses(domain, port).await? {
            match TcpStream::connect(addr).await {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        let stream = stream.ok_or(ProbeError::Connect(last_error))?;
        let _ = stream.set_nodelay(true);
        let tls = self
            .connector
            .connect(server_name.clone(), stream)
            .await
            .map_err(|e| ProbeError::Handshake(e.to_string()))?;
        let (_, connection) = tls.get_ref();
        let chain = connection
            .peer_certificates()
            .filter(|c| !c.is_empty())
            .ok_or(ProbeError::NoCertificate)?;
        let (leaf, intermediates) = (&chain[0], &chain[1..]);
        let verdict = self
            .webpki
            .verify_server_cert(leaf, intermediates, &server_name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string());
        Ok(Served {
            fingerprint: fingerprint(leaf),
            not_after: not_after(leaf),
            chain: verdict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_override_beats_the_catch_all_of_its_port() {
        let parse = |s: &str| s.parse::<ResolveOverride>().expect(s);
        let prober = Prober::new(
            &[
                parse("*:443:10.0.0.1"),
                parse("a.example.com:443:10.0.0.2:8443"),
            ],
            &[],
            Duration::from_secs(1),
        )
        .expect("prober");
        assert_eq!(
            prober.override_for("a.example.com", 443),
            Some("10.0.0.2:8443".parse().expect("addr"))
        );
        assert_eq!(
            prober.override_for("b.example.com", 443),
            Some("10.0.0.1:443".parse().expect("addr"))
        );
        assert!(!prober.has_override("b.example.com", 8443));
    }

    #[test]
    fn loopback_link_local_unspecified_and_multicast_are_refused_private_ranges_are_not() {
        let ip = |s: &str| s.parse::<IpAddr>().expect(s);
        let net = |s: &str| s.parse::<Cidr>().expect(s);
        let defaults = AddressPolicy::default();
        for (address, reason) in [
            ("127.0.0.1", Some("loopback_address")),
            ("127.8.9.10", Some("loopback_address")),
            ("::1", Some("loopback_address")),
            ("::ffff:127.0.0.1", Some("loopback_address")),
            ("169.254.169.254", Some("link_local_address")),
            ("fe80::1", Some("link_local_address")),
            ("febf::1", Some("link_local_address")),
            ("0.0.0.0", Some("unspecified_address")),
            ("0.1.2.3", Some("unspecified_address")),
            ("::", Some("unspecified_address")),
            ("224.0.0.1", Some("multicast_address")),
            ("255.255.255.255", Some("multicast_address")),
            ("ff02::1", Some("multicast_address")),
            ("10.1.2.3", None),
            ("172.16.0.1", None),
            ("192.168.1.1", None),
            ("fd00::1", None),
            ("fec0::1", None),
            ("203.0.113.7", None),
            ("2001:db8::7", None),
        ] {
            assert_eq!(refused_address(ip(address), &defaults), reason, "{address}");
        }
        let operator = AddressPolicy {
            allow: vec![net("127.0.0.0/8"), net("10.0.0.0/8")],
            deny: vec![net("10.9.0.0/16"), net("203.0.113.0/24")],
        };
        assert_eq!(refused_address(ip("127.0.0.1"), &operator), None, "allowed");
        assert_eq!(
            refused_address(ip("::1"), &operator),
            Some("loopback_address")
        );
        assert_eq!(refused_address(ip("10.1.0.1"), &operator), None);
        assert_eq!(
            refused_address(ip("10.9.0.1"), &operator),
            Some("denied_address"),
            "deny wins over allow"
        );
        assert_eq!(
            refused_address(ip("203.0.113.7"), &operator),
            Some("denied_address")
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_not_dialled_unless_an_override_names_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        let prober = Prober::new(&[], &[], Duration::from_secs(5)).expect("prober");
        let refused = prober.probe("localhost", port).await;
        assert!(
            matches!(
                refused,
                Err(ProbeError::Refused {
                    reason: "loopback_address",
                    ..
                })
            ),
            "{refused:?}"
        );
        assert!(!accepted.is_finished(), "nothing dialled");
        let parse = |s: &str| s.parse::<ResolveOverride>().expect(s);
        let prober = Prober::new(
            &[parse(&format!("localhost:{port}:127.0.0.1"))],
            &[],
            Duration::from_secs(5),
        )
        .expect("prober");
        let dialled = prober.probe("localhost", port).await;
        assert!(
            !matches!(dialled, Err(ProbeError::Refused { .. })),
            "an override is dialled: {dialled:?}"
        );
        assert!(accepted.await.expect("task"), "the override was dialled");
    }

    #[test]
    fn the_system_configuration_or_the_local_resolver_when_it_cannot_be_read() {
        use hickory_resolver::system_conf::parse_resolv_conf;
        let servers = |config: &ResolverConfig| -> Vec<(SocketAddr, Protocol)> {
            config
                .name_servers()
                .iter()
                .map(|n| (n.socket_addr, n.protocol))
                .collect()
        };
        let (config, options, problem) = system_config(parse_resolv_conf(
            "nameserver 10.0.0.2\noptions timeout:2\n",
        ));
        assert_eq!(problem, None);
        assert_eq!(
            servers(&config)[0],
            ("10.0.0.2:53".parse().expect("addr"), Protocol::Udp)
        );
        assert_eq!(options.timeout, Duration::from_secs(2), "its options kept");
        let local = vec![
            (FALLBACK_NAMESERVER, Protocol::Udp),
            (FALLBACK_NAMESERVER, Protocol::Tcp),
        ];
        let (config, _, problem) = system_config(parse_resolv_conf("search example.com\n"));
        assert_eq!(servers(&config), local);
        assert!(problem.is_some_and(|p| p.contains("no nameserver")));
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let (config, _, problem) = system_config(Err(missing.into()));
        assert_eq!(servers(&config), local);
        assert!(
            problem.is_some_and(|p| p.contains("no such file")),
            "the reason is logged"
        );
    }

    /// A nameserver that receives queries and never answers, as a blackholed resolver does.
    async fn blackhole() -> (tokio::net::UdpSocket, SocketAddr) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        (socket, addr)
    }

    #[test]
    fn lookups_through_a_blackholed_nameserver_time_out_and_leave_the_blocking_pool_free() {
        // A small blocking pool, so lookups that held its threads would show at once.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .enable_all()
            .build()
            .expect("runtime");
        let (blocking, outcomes) = runtime.block_on(async {
            let (nameserver, addr) = blackhole().await;
            let prober = Arc::new(
                Prober::new(&[], &[], Duration::from_millis(500))
                    .expect("prober")
                    .with_nameservers(&[addr]),
            );
            let probes: Vec<_> = (0..200)
                .map(|i| {
                    let prober = Arc::clone(&prober);
                    tokio::spawn(async move {
                        prober
                            .probe(&format!("host-{i}.blackhole.example"), 443)
                            .await
                    })
                })
                .collect();
            // The lookups are in flight once the nameserver hears a query.
            let mut query = [0u8; 512];
            let (size, _) = nameserver.recv_from(&mut query).await.expect("a query");
            assert!(size > 12, "a DNS message");
            let blocking = tokio::time::timeout(
                Duration::from_secs(10),
                tokio::task::spawn_blocking(|| "done"),
            )
            .await;
            let outcomes =
                tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(probes))
                    .await;
            (blocking, outcomes)
        });
        // Not waiting for blocking threads a lookup may still hold.
        runtime.shutdown_background();
        assert!(
            matches!(blocking, Ok(Ok("done"))),
            "the blocking pool is free while lookups wait: {blocking:?}"
        );
        let outcomes = outcomes.expect("every probe ends (each within its timeout)");
        for outcome in outcomes {
            let outcome = outcome.expect("task");
            assert!(
                matches!(outcome, Err(ProbeError::Timeout | ProbeError::Resolve(_))),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn fingerprints_and_dates_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["a.example.com".to_string()]).expect("params");
        params.not_after = rcgen::date_time_ymd(2031, 5, 6);
        let certificate = params.self_signed(&key).expect("cert");
        let der = certificate.der().to_vec();
        assert_eq!(not_after(&der), Some(1_935_792_000), "2031-05-06T00:00:00Z");
        let expected = fingerprint(&der);
        assert_eq!(expected.len(), 40);
        let pem = format!("{}{}", certificate.pem(), certificate.pem());
        assert_eq!(pem_leaf_fingerprint(&pem), Some(expected));
        assert_eq!(
            pem_leaf_fingerprint("-----BEGIN CERTIFICATE-----\n***\n"),
            None
        );
        assert_eq!(not_after(b"not der"), None);
        assert_eq!(pem_certificates(pem.as_bytes()).map(|c| c.len()), Ok(2));
        assert!(pem_certificates(b"nothing").is_err());
    }
}
