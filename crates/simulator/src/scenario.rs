//! Cases a real account shows that the plain world does not, each written from the API's own
//! documents and each behind its own knob of [`Scenario`] (all off by default; the demo turns on
//! the ones that do not break a collector, see [`Scenario::demo`]):
//!
//! - **an upload-update** (`UploadUpdateCertificateInstance`, "更新证书内容（证书ID不变）"): at a
//!   set time one certificate gets new content under the same ID: new dates in
//!   `DescribeCertificates` and `DescribeCertificateDetail`, a new leaf and fingerprint, and an
//!   upload-update record whose items go pending → running → success or failed. Three TLS
//!   endpoints the bind detail lists for it serve the old leaf; the two whose item succeeds move
//!   to the new leaf at the moment the item reports success, the one whose item fails keeps the
//!   old one. The succeeded item names its two domains as the official example does, in one
//!   string with a comma (`"Domains": ["a.example, B.EXAMPLE."]`, here with a space, upper case
//!   and a trailing dot as well).
//! - **domain forms**: a finished deploy record whose CDN item names its domain with the HTTPS
//!   switch, `"domain|on"` (the official `DescribeHostDeployRecordDetail` example), and a TLS
//!   endpoint serving that certificate there.
//! - **inactive bindings**: bind-detail instances in each documented state that serves nothing
//!   now ([`InactiveState`]); the truth says they are skipped, with their reason, never probed.
//! - **refused actions**: chosen actions answered with an error ([`Refusal`]): not offered
//!   (`InvalidAction`, `UnsupportedOperation`) or not permitted (`UnauthorizedOperation`,
//!   `FailedOperation.CAMAuthorizedFail`).
//! - **a deletion between pages**: a certificate of the first page of `DescribeCertificates` is
//!   deleted after that page was answered and before the next one is asked for, so every later
//!   certificate moves one place forward.
//!
//! Every name given here is unique in the world: `uu{k}-`, `dep-` and `off{k}-` followed by a
//! certificate's lower-case ID, one label under its domain (see
//! [`Dataset::demo_targets`](crate::dataset::Dataset) for why such names are unique), so the
//! certificate's leaf (`*.{domain}`) covers each.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::dataset::{Binding, Certificate, Dataset, Entry, Item, Record};
use crate::handlers::Tasks;
use crate::model::{ItemState, Operation, RecordKind};
use crate::pki::{Issued, Pki};
use crate::tls::{ChainIssuer, IMPLIED_PORT};
use crate::truth::{chain_lines, Lines};

const DAY: i64 = 86_400;

/// Which cases the world shows.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// An upload-update of one certificate this long after the data set's `now`.
    pub upload_update_after: Option<Duration>,
    /// Bind-detail instances in every documented state that serves nothing now.
    pub inactive_bindings: bool,
    /// A deploy record naming its CDN domain as `domain|on`, with a TLS endpoint there.
    pub domain_forms: bool,
    /// Actions answered with an error instead, as (action, refusal).
    pub refused_actions: Vec<(String, Refusal)>,
    /// A certificate of the first page is deleted before the second page is asked for.
    pub delete_between_pages: bool,
}

impl Scenario {
    /// What the demo shows: an upload-update `upload_update_after` after start, inactive
    /// bindings and the domain forms. No refusals and no deletion: those are tested apart (a
    /// refused permission fails a collector, as it should).
    pub fn demo(upload_update_after: Duration) -> Scenario {
        Scenario {
            upload_update_after: Some(upload_update_after),
            inactive_bindings: true,
            domain_forms: true,
            refused_actions: Vec::new(),
            delete_between_pages: false,
        }
    }
}

/// An error answer the API gives instead of an action's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The endpoint does not offer the action (the international site lacks some families).
    InvalidAction,
    /// The action is not supported here.
    UnsupportedOperation,
    /// CAM: the credentials may not call the action.
    UnauthorizedOperation,
    /// CAM authorization failed, as the SSL API words it.
    CamAuthorizedFail,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [
        Refusal::InvalidAction,
        Refusal::UnsupportedOperation,
        Refusal::UnauthorizedOperation,
        Refusal::CamAuthorizedFail,
    ];

    /// The error code answered.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidAction => "InvalidAction",
            Refusal::UnsupportedOperation => "UnsupportedOperation",
            Refusal::UnauthorizedOperation => "UnauthorizedOperation",
            Refusal::CamAuthorizedFail => "FailedOperation.CAMAuthorizedFail",
        }
    }

    /// The refusal answered with `code`.
    pub fn from_code(code: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The message answered with the code.
    pub fn message(self, action: &str) -> String {
        match self {
            Refusal::InvalidAction => format!("the action {action} does not exist"),
            Refusal::UnsupportedOperation => format!("{action} is not supported"),
            Refusal::UnauthorizedOperation | Refusal::CamAuthorizedFail => {
                format!("you are not authorized to perform operation ({action})")
            }
        }
    }
}

/// A documented state of a bind-detail instance in which it serves nothing with the certificate
/// now, with the `reason` of `tencentcloud_ssl_endpoint_skipped_info` the metrics contract gives
/// it (docs/metrics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InactiveState {
    /// LIVE `Status` -1: "domain not associated with a certificate".
    LiveNotAssociated,
    /// LIVE `Status` 0: HTTPS off (1 is on).
    LiveHttpsOff,
    /// CDN `Status` `offline`: the domain is shut down.
    CdnOffline,
    /// CDN `Status` `rejected`: the domain failed review (ICP filing expired or cancelled).
    CdnRejected,
    /// CDN `HttpsBillingSwitch` `off`: HTTPS requests are not enabled.
    CdnHttpsBillingOff,
    /// COS `Status` `DISABLED`: the custom domain is disabled.
    CosDisabled,
    /// EdgeOne `Status` `failed`: the certificate application failed.
    TeoFailed,
    /// EdgeOne `Status` `applying`: still being applied for.
    TeoApplying,
    /// EdgeOne `Status` `issued`: issued, but binding it failed.
    TeoIssued,
}

impl InactiveState {
    pub const EVERY: [InactiveState; 9] = [
        InactiveState::LiveNotAssociated,
        InactiveState::LiveHttpsOff,
        InactiveState::CdnOffline,
        InactiveState::CdnRejected,
        InactiveState::CdnHttpsBillingOff,
        InactiveState::CosDisabled,
        InactiveState::TeoFailed,
        InactiveState::TeoApplying,
        InactiveState::TeoIssued,
    ];

    /// The resource type whose instances have this state (lower case, as the detail's keys).
    pub fn resource_type(self) -> &'static str {
        match self {
            InactiveState::LiveNotAssociated | InactiveState::LiveHttpsOff => "live",
            InactiveState::CdnOffline
            | InactiveState::CdnRejected
            | InactiveState::CdnHttpsBillingOff => "cdn",
            InactiveState::CosDisabled => "cos",
            InactiveState::TeoFailed | InactiveState::TeoApplying | InactiveState::TeoIssued => {
                "teo"
            }
        }
    }

    /// The instance fields that say so, as the detail answers them.
    pub fn fields(self) -> Vec<(&'static str, Value)> {
        match self {
            InactiveState::LiveNotAssociated => vec![("Status", json!(-1))],
            InactiveState::LiveHttpsOff => vec![("Status", json!(0))],
            InactiveState::CdnOffline => vec![("Status", json!("offline"))],
            InactiveState::CdnRejected => vec![("Status", json!("rejected"))],
            InactiveState::CdnHttpsBillingOff => vec![
                ("Status", json!("online")),
                ("HttpsBillingSwitch", json!("off")),
            ],
            InactiveState::CosDisabled => vec![("Status", json!("DISABLED"))],
            InactiveState::TeoFailed => vec![("Status", json!("failed"))],
            InactiveState::TeoApplying => vec![("Status", json!("applying"))],
            InactiveState::TeoIssued => vec![("Status", json!("issued"))],
        }
    }

    /// The `reason` label of the skipped endpoint.
    pub fn reason(self) -> &'static str {
        match self {
            InactiveState::LiveNotAssociated | InactiveState::LiveHttpsOff => "https_off",
            InactiveState::CdnOffline | InactiveState::CdnRejected => "domain_offline",
            InactiveState::CdnHttpsBillingOff => "https_billing_off",
            InactiveState::CosDisabled => "domain_disabled",
            InactiveState::TeoFailed | InactiveState::TeoApplying | InactiveState::TeoIssued => {
                "not_deployed"
            }
        }
    }
}

/// The upload-update the world will see.
#[derive(Debug, Clone)]
pub struct Rollover {
    pub certificate_id: String,
    /// Lower-case type of the bind-detail instances (and of the record's items).
    pub resource_type: &'static str,
    /// When the upload-update is created (unix seconds).
    pub at: i64,
    /// ID of its record (`DescribeHostUploadUpdateRecord`).
    pub record_id: u64,
    /// Each endpoint's domain, and when its item succeeds (it serves the new content from
    /// then on); `None` for the endpoint whose item fails.
    pub endpoints: Vec<(String, Option<i64>)>,
    /// The world from `at` on: the certificate's new dates and the record.
    pub after: Arc<Dataset>,
}

/// What [`prepare`] added to the world.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rollover: Option<Rollover>,
    /// (certificate ID, domain) of the endpoint only the deploy record names (`domain|on`).
    pub deployed: Option<(String, String)>,
}

/// Certificates the demo's own targets use: left alone.
fn demo_certificates(dataset: &Dataset) -> Vec<String> {
    dataset
        .demo_targets
        .iter()
        .map(|t| t.certificate_id.clone())
        .collect()
}

/// Up to `wanted` instances of `binding` with the usual name and no unmatched domain, adding
/// instances at the end when there are too few.
fn free_instances(binding: &mut Binding, wanted: usize) -> Vec<u64> {
    let mut found = Vec::new();
    let mut index = 0;
    while found.len() < wanted && index < binding.instances + 64 {
        let free = binding.unmatched_of(index).is_none()
            && !binding.domain_overrides.iter().any(|(i, _)| *i == index);
        if free {
            binding.instances = binding.instances.max(index + 1);
            found.push(index);
        }
        index += 1;
    }
    found
}

/// Adds the cases `scenario` asks for to `dataset` (deterministically: the first fitting
/// certificates in ID order, never one of the demo's own targets, without drawing from the
/// generator) and returns what was added.
pub fn prepare(dataset: &mut Dataset, scenario: &Scenario) -> Plan {
    let mut taken = demo_certificates(dataset);
    let mut plan = Plan::default();
    let rollover = scenario
        .upload_update_after
        .and_then(|after| plan_rollover_targets(dataset, after, &mut taken));
    if scenario.domain_forms {
        plan.deployed = plan_deployed(dataset, &mut taken);
    }
    if scenario.inactive_bindings {
        plan_inactive(dataset, &taken);
    }
    // The world after the upload-update: everything above, then the new content and the record.
    plan.rollover = rollover.map(|(certificate_id, resource_type, at, endpoints)| {
        let mut after = dataset.clone();
        let record_id = next_record_id(&after);
        let item = next_item_id(&after);
        let region = after
            .certificate(&certificate_id)
            .and_then(|c| c.bindings.iter().find(|b| b.resource_type == resource_type))
            .and_then(|b| b.region)
            .unwrap_or_default();
        if let Ok(index) = after
            .certificates
            .binary_search_by(|c| c.id.as_str().cmp(&certificate_id))
        {
            let cert = &mut after.certificates[index];
            cert.not_before = at - 60;
            cert.not_after = at + 365 * DAY;
            cert.status = 1;
            cert.deployable = true;
        }
        let items = vec![
            Item {
                id: item,
                resource_type,
                region,
                outcome: ItemState::Success,
                pending_until: at + 1,
                running_until: at + 3,
                garbled: false,
            },
            Item {
                id: item + 1,
                resource_type,
                region,
                outcome: ItemState::Failed,
                pending_until: at + 1,
                running_until: at + 4,
                garbled: false,
            },
        ];
        let moves_at = Some(at + 3);
        let upper = endpoints[1].to_uppercase();
        let item_domains = BTreeMap::from([
            // One string, a comma between the names, as the official example; the second after
            // a space, in upper case, with a trailing dot.
            (item, format!("{}, {upper}.", endpoints[0])),
            (item + 1, endpoints[2].clone()),
        ]);
        add_record(
            &mut after,
            Record {
                id: record_id,
                kind: RecordKind::UploadUpdate,
                cert_id: certificate_id.clone(),
                old_cert_id: certificate_id.clone(),
                created: at,
                entries: vec![Entry {
                    operation: Operation::Deploy,
                    created: at,
                    items,
                }],
                item_domains,
            },
        );
        Rollover {
            certificate_id,
            resource_type,
            at,
            record_id,
            endpoints: vec![
                (endpoints[0].clone(), moves_at),
                (endpoints[1].clone(), moves_at),
                (endpoints[2].clone(), None),
            ],
            after: Arc::new(after),
        }
    });
    plan
}

fn next_record_id(dataset: &Dataset) -> u64 {
    dataset.records.iter().map(|r| r.id).max().unwrap_or(0) + 1
}

fn next_item_id(dataset: &Dataset) -> u64 {
    dataset
        .records
        .iter()
        .flat_map(|r| &r.entries)
        .flat_map(|e| &e.items)
        .map(|i| i.id)
        .max()
        .unwrap_or(1000)
        + 1
}

/// Adds `record` where the record lists page it (newest first).
fn add_record(dataset: &mut Dataset, record: Record) {
    dataset.records.push(record);
    dataset
        .records
        .sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
}

/// The certificate the upload-update replaces and its three endpoints in the bind detail:
/// (certificate ID, resource type, time, domains).
fn plan_rollover_targets(
    dataset: &mut Dataset,
    after: Duration,
    taken: &mut Vec<String>,
) -> Option<(String, &'static str, i64, Vec<String>)> {
    let now = dataset.spec.now;
    let at = now + i64::try_from(after.as_secs()).unwrap_or(i64::MAX / 2);
    // Issued, far from expiry before and after (no expiry alert), with a carrier instance.
    let cert = dataset.certificates.iter_mut().find(|c| {
        !taken.contains(&c.id)
            && c.status == 1
            && c.not_after > now + 60 * DAY
            && Dataset::demo_carrier(c).is_some()
    })?;
    let (binding_index, _) = Dataset::demo_carrier(cert)?;
    let lower = cert.id.to_lowercase();
    let domains: Vec<String> = (1..=3)
        .map(|k| format!("uu{k}-{lower}.{}", cert.domain))
        .collect();
    let binding = &mut cert.bindings[binding_index];
    let instances = free_instances(binding, domains.len());
    if instances.len() < domains.len() {
        return None;
    }
    for (index, domain) in instances.into_iter().zip(&domains) {
        binding.domain_overrides.push((index, domain.clone()));
    }
    taken.push(cert.id.clone());
    Some((cert.id.clone(), binding.resource_type, at, domains))
}

/// A finished deploy record, two days old, of an issued certificate far from expiry to one CDN
/// domain named `domain|on`.
fn plan_deployed(dataset: &mut Dataset, taken: &mut Vec<String>) -> Option<(String, String)> {
    let now = dataset.spec.now;
    let cert = dataset
        .certificates
        .iter()
        .find(|c| !taken.contains(&c.id) && c.status == 1 && c.not_after > now + 60 * DAY)?;
    let old = dataset.certificates.iter().find(|c| c.id != cert.id)?;
    let domain = format!("dep-{}.{}", cert.id.to_lowercase(), cert.domain);
    let (id, old_id) = (cert.id.clone(), old.id.clone());
    let created = now - 2 * DAY;
    let item = next_item_id(dataset);
    let record = Record {
        id: next_record_id(dataset),
        kind: RecordKind::Deploy,
        cert_id: id.clone(),
        old_cert_id: old_id,
        created,
        entries: vec![Entry {
            operation: Operation::Deploy,
            created,
            items: vec![Item {
                id: item,
                resource_type: "cdn",
                region: "",
                outcome: ItemState::Success,
                pending_until: created + 5,
                running_until: created + 65,
                garbled: false,
            }],
        }],
        item_domains: BTreeMap::from([(item, format!("{domain}|on"))]),
    };
    add_record(dataset, record);
    taken.push(id.clone());
    Some((id, domain))
}

/// One instance in each [`InactiveState`], on the first certificate (in ID order, not taken,
/// whose bind task succeeds) with a binding of its type that answers.
fn plan_inactive(dataset: &mut Dataset, taken: &[String]) {
    for (k, state) in InactiveState::EVERY.into_iter().enumerate() {
        let found = dataset.certificates.iter_mut().find_map(|cert| {
            if taken.contains(&cert.id) || cert.task_fails {
                return None;
            }
            let lower = cert.id.to_lowercase();
            let domain = format!("off{k}-{lower}.{}", cert.domain);
            let binding = cert
                .bindings
                .iter_mut()
                .find(|b| b.resource_type == state.resource_type() && b.error.is_none())?;
            Some((binding, domain))
        });
        let Some((binding, domain)) = found else {
            continue;
        };
        if let Some(index) = free_instances(binding, 1).first() {
            binding.domain_overrides.push((*index, domain));
            binding.inactive.push((*index, state));
        }
    }
}

/// A TLS endpoint of the scenario: serves its certificate's leaf, and moves to the new content
/// at a set time (an upload-update item's success).
#[derive(Debug, Clone)]
pub struct ScenarioEndpoint {
    pub domain: String,
    /// Where it listens on loopback; the API implies port 443.
    pub addr: SocketAddr,
    pub certificate_id: String,
    /// The leaf served until `moves` (or always).
    pub before: Arc<Issued>,
    /// The new leaf and from when (unix seconds) it is served.
    pub moves: Option<(Arc<Issued>, i64)>,
    /// `upload_update` endpoints are also named by the bind detail; `deploy` only by its record.
    pub named_by: RecordKind,
}

impl ScenarioEndpoint {
    /// The leaf served at `now_ms`.
    pub fn serves_at(&self, now_ms: i64) -> &Issued {
        match &self.moves {
            Some((after, at)) if now_ms >= at * 1000 => after,
            _ => &self.before,
        }
    }

    /// `DOMAIN:443:ADDR`, as [`crate::TlsEndpoint::resolve_override`].
    pub fn resolve_override(&self) -> String {
        format!("{}:{IMPLIED_PORT}:{}", self.domain, self.addr)
    }
}

/// Picks the leaf by the time of each handshake.
#[derive(Debug)]
struct Switching {
    before: Arc<CertifiedKey>,
    after: Option<(Arc<CertifiedKey>, i64)>,
}

impl ResolvesServerCert for Switching {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let now_ms = crate::clock::now_millis();
        Some(match &self.after {
            Some((key, at)) if now_ms >= at * 1000 => Arc::clone(key),
            _ => Arc::clone(&self.before),
        })
    }
}

fn certified(leaf: &Issued, ca: &Issued) -> io::Result<Arc<CertifiedKey>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(io::Error::other)?;
    let chain = vec![
        CertificateDer::from(leaf.der.clone()),
        CertificateDer::from(ca.der.clone()),
    ];
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// Starts the scenario's TLS endpoints (the upload-update's three and the deploy record's one);
/// they stop with `stop`.
pub(crate) async fn start_endpoints(
    plan: &Plan,
    dataset: &Dataset,
    pki: &Pki,
    stop: &CancellationToken,
) -> io::Result<(Vec<ScenarioEndpoint>, Vec<JoinHandle<()>>)> {
    let ca = pki.ca_certificate().map_err(io::Error::other)?;
    let mut wanted: Vec<(String, String, Option<Option<i64>>, RecordKind)> = Vec::new();
    if let Some(rollover) = &plan.rollover {
        for (domain, moves_at) in &rollover.endpoints {
            wanted.push((
                rollover.certificate_id.clone(),
                domain.clone(),
                Some(*moves_at),
                RecordKind::UploadUpdate,
            ));
        }
    }
    if let Some((id, domain)) = &plan.deployed {
        wanted.push((id.clone(), domain.clone(), None, RecordKind::Deploy));
    }
    let mut endpoints = Vec::new();
    let mut tasks = Vec::new();
    for (id, domain, moves_at, named_by) in wanted {
        let Some(cert) = dataset.certificate(&id) else {
            continue;
        };
        let before = pki.leaf(cert).map_err(io::Error::other)?;
        let moves = match (moves_at.flatten(), &plan.rollover) {
            (Some(at), Some(rollover)) => match rollover.after.certificate(&id) {
                Some(new) => Some((pki.leaf(new).map_err(io::Error::other)?, at)),
                None => None,
            },
            _ => None,
        };
        let resolver = Switching {
            before: certified(&before, &ca)?,
            after: match &moves {
                Some((leaf, at)) => Some((certified(leaf, &ca)?, *at)),
                None => None,
            },
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        endpoints.push(ScenarioEndpoint {
            domain,
            addr: listener.local_addr()?,
            certificate_id: id,
            before,
            moves,
            named_by,
        });
        let acceptor = TlsAcceptor::from(Arc::new(config));
        tasks.push(tokio::spawn(crate::tls::serve(
            listener,
            acceptor,
            stop.clone(),
        )));
    }
    Ok((endpoints, tasks))
}

/// What a correct exporter shows for the scenario's endpoints and inactive bindings at
/// `now_ms` (beside [`crate::truth::endpoint_truth`] of the demo's own):
///
/// - an inactive instance of a certificate whose latest bind task succeeded: its endpoint,
///   skipped with its state's reason, never probed;
/// - the deploy record's endpoint: named by the record (`source="deploy"`), probed, matching;
/// - an upload-update endpoint: named by the bind detail once the certificate's bind task
///   succeeded, and by the record once its item succeeded; the newer statement names the source
///   (the record, created after a bind detail computed earlier; the bind detail, recomputed
///   after it). It matches while it serves what `DescribeCertificateDetail` answers now: all
///   three before the upload-update, the two whose item succeeded after it, not the failed one.
pub fn endpoint_truth(
    dataset: &Dataset,
    tasks: &Tasks,
    pki: &Pki,
    endpoints: &[ScenarioEndpoint],
    account: &str,
    now_ms: i64,
) -> String {
    let now = now_ms.div_euclid(1000);
    let bind_done = |id: &str| {
        tasks
            .latest(id)
            .filter(|task| now_ms >= task.done_ms && !task.fails)
            .map(|task| task.done_ms.div_euclid(1000))
    };
    let mut out = Lines {
        account: account.to_string(),
        text: String::new(),
    };
    let port = IMPLIED_PORT.to_string();
    for cert in &dataset.certificates {
        if bind_done(&cert.id).is_none() {
            continue;
        }
        for binding in &cert.bindings {
            for (index, state) in &binding.inactive {
                let domain = binding.instance_domain(&cert.domain, *index);
                out.line(
                    "endpoint_info",
                    &[
                        ("certificate_id", &cert.id),
                        ("domain", &domain),
                        ("port", &port),
                        ("resource_type", binding.resource_type),
                        ("source", "bind"),
                    ],
                    1.0,
                );
                out.line(
                    "endpoint_skipped_info",
                    &[
                        ("certificate_id", &cert.id),
                        ("domain", &domain),
                        ("port", &port),
                        ("reason", state.reason()),
                    ],
                    1.0,
                );
            }
        }
    }
    let mut fingerprints: BTreeMap<&str, String> = BTreeMap::new();
    let mut chains: BTreeMap<&str, Vec<ChainIssuer>> = BTreeMap::new();
    for endpoint in endpoints {
        let id = endpoint.certificate_id.as_str();
        let Some(cert) = dataset.certificate(id) else {
            continue;
        };
        let (source, resource_type) = match endpoint.named_by {
            RecordKind::Deploy => ("deploy", "cdn"),
            _ => {
                let Some(binding) = cert.bindings.iter().find(|b| {
                    (0..b.instances).any(|i| b.instance_domain(&cert.domain, i) == endpoint.domain)
                }) else {
                    continue;
                };
                let record = endpoint
                    .moves
                    .as_ref()
                    .and_then(|(_, succeeded)| (now >= *succeeded).then_some(()))
                    .and_then(|()| {
                        dataset
                            .records_of(RecordKind::UploadUpdate)
                            .find(|r| r.cert_id == id && names(r).any(|n| n == endpoint.domain))
                    })
                    .map(|r| r.created);
                match (record, bind_done(id)) {
                    (Some(created), bind) if bind.is_none_or(|at| created > at) => {
                        ("upload_update", binding.resource_type)
                    }
                    (_, Some(_)) => ("bind", binding.resource_type),
                    (_, None) => continue,
                }
            }
        };
        let Ok(expected) = pki.leaf(cert) else {
            continue;
        };
        let served = endpoint.serves_at(now_ms);
        let domain = endpoint.domain.as_str();
        out.line(
            "endpoint_info",
            &[
                ("certificate_id", id),
                ("domain", domain),
                ("port", &port),
                ("resource_type", resource_type),
                ("source", source),
            ],
            1.0,
        );
        let labels = [("certificate_id", id), ("domain", domain), ("port", &port)];
        let matches = served.fingerprint_sha1 == expected.fingerprint_sha1;
        out.line("endpoint_probe_success", &labels, 1.0);
        out.line(
            "endpoint_certificate_match",
            &labels,
            if matches { 1.0 } else { 0.0 },
        );
        out.line("endpoint_chain_valid", &labels, 1.0);
        out.line(
            "endpoint_served_not_after_timestamp_seconds",
            &labels,
            served.not_after as f64,
        );
        out.line(
            "endpoint_served_certificate_info",
            &[
                ("certificate_id", id),
                ("domain", domain),
                ("port", &port),
                ("fingerprint_sha1", &served.fingerprint_sha1),
            ],
            1.0,
        );
        fingerprints.insert(id, expected.fingerprint_sha1.clone());
        if let Ok(issuers) = pki.issuers(cert) {
            chains.insert(id, issuers.iter().map(|i| ChainIssuer::of(i)).collect());
        }
    }
    for (id, fingerprint) in fingerprints {
        out.line(
            "certificate_fingerprint_info",
            &[("certificate_id", id), ("fingerprint_sha1", &fingerprint)],
            1.0,
        );
    }
    // The chain above each leaf whose detail the exporter reads, from the same detail.
    for (id, issuers) in chains {
        chain_lines(&mut out, id, &issuers);
    }
    out.text
}

/// The names a record's items give, each lower case without a trailing dot or `|on` switch.
fn names(record: &Record) -> impl Iterator<Item = String> + '_ {
    record.item_domains.values().flat_map(|text| {
        text.split(',').map(|part| {
            let name = part.split('|').next().unwrap_or_default();
            name.trim().trim_end_matches('.').to_lowercase()
        })
    })
}

/// `dataset` without certificate `id` (deleted: its records stay, as the API keeps them).
pub fn without(dataset: &Dataset, id: &str) -> Dataset {
    let mut left = dataset.clone();
    left.certificates.retain(|c| c.id != id);
    left
}

/// The certificate a deletion between pages removes: the first one in ID order that none of the
/// demo's or the scenario's endpoints uses (so only the certificate list changes).
pub fn deletable(dataset: &Dataset, plan: &Plan) -> Option<String> {
    let mut used = demo_certificates(dataset);
    used.extend(plan.rollover.iter().map(|r| r.certificate_id.clone()));
    used.extend(plan.deployed.iter().map(|(id, _)| id.clone()));
    dataset
        .certificates
        .iter()
        .find(|c: &&Certificate| {
            !used.contains(&c.id) && c.bindings.iter().all(|b| b.inactive.is_empty())
        })
        .map(|c| c.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetSpec;

    fn world() -> (Dataset, Plan) {
        let mut dataset = Dataset::generate(DatasetSpec::new(1, 48, 1_750_000_000));
        let plan = prepare(&mut dataset, &Scenario::demo(Duration::from_secs(60)));
        (dataset, plan)
    }

    #[test]
    fn the_demo_world_has_every_case() {
        let (dataset, plan) = world();
        let rollover = plan.rollover.as_ref().expect("an upload-update");
        assert_eq!(rollover.at, 1_750_000_060);
        let before = dataset.certificate(&rollover.certificate_id).expect("cert");
        let after = rollover
            .after
            .certificate(&rollover.certificate_id)
            .expect("the same ID after");
        assert_ne!(
            (before.not_before, before.not_after),
            (after.not_before, after.not_after),
            "new content, new dates"
        );
        let record = rollover
            .after
            .records
            .first()
            .expect("the newest record first");
        assert_eq!(record.id, rollover.record_id);
        assert_eq!(record.kind, RecordKind::UploadUpdate);
        assert_eq!(record.old_cert_id, record.cert_id);
        assert!(!dataset.records.iter().any(|r| r.id == rollover.record_id));
        let items = &record.entries[0].items;
        assert_eq!(
            items
                .iter()
                .map(|i| i.status_at(rollover.at))
                .collect::<Vec<_>>(),
            [ItemState::Pending, ItemState::Pending]
        );
        assert_eq!(
            items
                .iter()
                .map(|i| i.status_at(rollover.at + 10))
                .collect::<Vec<_>>(),
            [ItemState::Success, ItemState::Failed]
        );
        let first = record.item_domains(items[0].id);
        assert_eq!(first.matches(", ").count(), 1, "{first}");
        assert!(first.ends_with('.'), "{first}");
        // The bind detail lists the three endpoints.
        for (domain, _) in &rollover.endpoints {
            assert!(
                before
                    .bindings
                    .iter()
                    .any(|b| (0..b.instances)
                        .any(|i| b.instance_domain(&before.domain, i) == *domain))
            );
        }
        let (deployed, domain) = plan.deployed.as_ref().expect("a deploy record");
        let deploy = dataset.records_of(RecordKind::Deploy).find(|r| {
            r.cert_id == *deployed
                && r.item_domains
                    .values()
                    .any(|d| d == &format!("{domain}|on"))
        });
        assert!(deploy.is_some());
        let states: Vec<InactiveState> = dataset
            .certificates
            .iter()
            .flat_map(|c| &c.bindings)
            .flat_map(|b| b.inactive.iter().map(|(_, s)| *s))
            .collect();
        assert!(states.len() >= 6, "{states:?}");
        for state in &states {
            assert!(dataset
                .certificates
                .iter()
                .flat_map(|c| &c.bindings)
                .any(|b| b.inactive.iter().any(|(_, s)| s == state)
                    && b.resource_type == state.resource_type()));
        }
        assert!(deletable(&dataset, &plan).is_some());
    }

    #[test]
    fn the_truth_follows_the_upload_update_item_by_item() {
        use crate::handlers::respond;

        let (dataset, plan) = world();
        let rollover = plan.rollover.as_ref().expect("an upload-update");
        let (deployed, deployed_domain) = plan.deployed.clone().expect("a deploy record");
        let pki = Pki::new();
        let id = rollover.certificate_id.as_str();
        let leaf = |world: &Dataset| {
            pki.leaf(world.certificate(id).expect("cert"))
                .expect("leaf")
        };
        let (old, new) = (leaf(&dataset), leaf(&rollover.after));
        assert_ne!(old.fingerprint_sha1, new.fingerprint_sha1, "new content");
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let mut endpoints: Vec<ScenarioEndpoint> = rollover
            .endpoints
            .iter()
            .map(|(domain, moves_at)| ScenarioEndpoint {
                domain: domain.clone(),
                addr,
                certificate_id: id.to_string(),
                before: Arc::clone(&old),
                moves: moves_at.map(|at| (Arc::clone(&new), at)),
                named_by: RecordKind::UploadUpdate,
            })
            .collect();
        let deployed_leaf = pki
            .leaf(dataset.certificate(&deployed).expect("cert"))
            .expect("leaf");
        endpoints.push(ScenarioEndpoint {
            domain: deployed_domain.clone(),
            addr,
            certificate_id: deployed.clone(),
            before: deployed_leaf,
            moves: None,
            named_by: RecordKind::Deploy,
        });
        // Every certificate's bind task done well before the upload-update.
        let mut tasks = Tasks::default();
        let t0 = dataset.spec.now * 1000;
        let ids: Vec<&str> = dataset.certificates.iter().map(|c| c.id.as_str()).collect();
        for chunk in ids.chunks(100) {
            respond(
                &dataset,
                &mut tasks,
                t0,
                "CreateCertificateBindResourceSyncTask",
                &json!({ "CertificateIds": chunk }),
            );
        }
        let line = |text: &str, family: &str, domain: &str| -> Option<String> {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!("tencentcloud_ssl_{family}{{"))
                        && l.contains(&format!("domain=\"{domain}\""))
                })
                .map(str::to_string)
        };
        let before = endpoint_truth(&dataset, &tasks, &pki, &endpoints, "a", t0 + 30_000);
        let after = endpoint_truth(
            &rollover.after,
            &tasks,
            &pki,
            &endpoints,
            "a",
            (rollover.at + 10) * 1000,
        );
        for (domain, moves_at) in &rollover.endpoints {
            let matched = |text: &str| line(text, "endpoint_certificate_match", domain);
            assert!(
                matched(&before).is_some_and(|l| l.ends_with(" 1")),
                "{domain}"
            );
            let want = if moves_at.is_some() { " 1" } else { " 0" };
            assert!(
                matched(&after).is_some_and(|l| l.ends_with(want)),
                "{domain}"
            );
            let source = if moves_at.is_some() {
                "upload_update"
            } else {
                "bind"
            };
            assert!(line(&after, "endpoint_info", domain)
                .is_some_and(|l| l.contains(&format!("source=\"{source}\""))));
            assert!(line(&before, "endpoint_info", domain)
                .is_some_and(|l| l.contains("source=\"bind\"")));
        }
        assert!(after.contains(&format!(
            "tencentcloud_ssl_certificate_fingerprint_info{{account=\"a\",certificate_id=\"{id}\",fingerprint_sha1=\"{}\"}} 1",
            new.fingerprint_sha1
        )));
        assert!(
            line(&before, "endpoint_info", &deployed_domain).is_some_and(|l| l
                .contains("source=\"deploy\"")
                && l.contains("resource_type=\"cdn\""))
        );
        let skipped = before
            .lines()
            .filter(|l| l.starts_with("tencentcloud_ssl_endpoint_skipped_info{"))
            .count();
        let inactive: usize = dataset
            .certificates
            .iter()
            .filter(|c| !c.task_fails)
            .flat_map(|c| &c.bindings)
            .map(|b| b.inactive.len())
            .sum();
        assert_eq!(skipped, inactive, "every inactive binding is skipped");
    }

    #[test]
    fn inactive_states_answer_the_documented_fields() {
        let cdn: Vec<(&str, Value)> = InactiveState::CdnHttpsBillingOff.fields();
        assert!(cdn.contains(&("HttpsBillingSwitch", json!("off"))));
        assert_eq!(InactiveState::LiveNotAssociated.fields()[0].1, json!(-1));
        assert_eq!(InactiveState::TeoIssued.reason(), "not_deployed");
        assert_eq!(
            Refusal::from_code("FailedOperation.CAMAuthorizedFail"),
            Some(Refusal::CamAuthorizedFail)
        );
        assert_eq!(Refusal::from_code("AuthFailure"), None);
    }
}
