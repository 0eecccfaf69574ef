//! The opt-in `endpoints` collector: do the domains the API names really serve the certificate
//! the API says?
//!
//! One run takes the targets the bind and rollout collectors of the account published (see
//! `targets`); skips the names that cannot be dialled (wildcards, invalid names) with a
//! reason shown per endpoint; fetches the expected fingerprint with `DescribeCertificateDetail`
//! through the account's client (its rate limit, retries and budget), again only when the
//! certificate's content may have changed under its ID (an upload-update replaces it: the
//! certificate list shows other validity dates, or an upload-update entry is newer than the
//! fetch; paced at the per-certificate share of its limit), while it probes each endpoint of
//! this run's window (at most `max_endpoints`, rotating across runs, see [`plan`]) once with
//! bounded concurrency and a per-probe timeout; and compares the served leaf with the expected
//! one. Endpoints outside the window keep their last results,
//! with the time of that probe.
//!
//! A probe that fails is a fact about the endpoint, not a failure of the collector: it shows in
//! `tencentcloud_ssl_endpoint_probe_success` and `…_probe_error_info`. The run fails
//! (`tencentcloud_ssl_collector_success 0`) only when the API could not say what to expect.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use tokio::time::Instant;

use super::{
    fan_out, fetch_each, list_certificates_as, Answers, CollectError, Collected, Collector,
    CollectorSettings, Core,
};
use crate::config::CertificateFilter;
use crate::headlines::{Headline, Headlines};
use crate::metrics::{series, SnapshotBuilder};
use crate::probe::{pem_leaf_fingerprint, ProbeError, Prober, Served};
use crate::targets::{Claim, TargetBook, Tracked};
use tencentcloud_ssl_api::action;
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::detail::{CertificateDetail, CertificateDetailRequest};
use tencentcloud_ssl_api::records::RecordKind;
use tencentcloud_ssl_api::time::parse_api_time;

/// Limits of the `endpoints` collector.
#[derive(Debug, Clone)]
pub struct EndpointsLimits {
    /// Probes in flight at once.
    pub concurrency: usize,
    /// Most endpoints (domain and port) probed per run; the rest are counted as `over_limit`
    /// and wait for a later run (the window rotates, see [`plan`]).
    pub max_endpoints: usize,
    /// Probe only endpoints a resolve override names.
    pub resolved_only: bool,
}

/// What a run does with one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbePlan {
    Probe,
    /// Not dialled, for this reason (`wildcard`, `invalid_name`).
    Skip(&'static str),
    /// `resolved_only`, and no override names it.
    NotResolved,
    /// Outside this run's window of `max_endpoints` endpoints; its last results, if recent,
    /// are still served.
    OverLimit,
}

impl ProbePlan {
    /// The `state` label of `tencentcloud_ssl_endpoint_targets`.
    pub fn state(self) -> &'static str {
        match self {
            ProbePlan::Probe => "probed",
            ProbePlan::Skip(_) => "skipped",
            ProbePlan::NotResolved => "not_resolved",
            ProbePlan::OverLimit => "over_limit",
        }
    }

    const STATES: [&'static str; 4] = ["probed", "skipped", "not_resolved", "over_limit"];
}

/// Why a name cannot be dialled, if it cannot. Pure.
pub fn skip_reason(domain: &str) -> Option<&'static str> {
    if domain.contains('*') {
        return Some("wildcard");
    }
    let host_name = !domain.is_empty()
        && domain.len() <= 253
        && rustls::pki_types::ServerName::try_from(domain).is_ok();
    (!host_name).then_some("invalid_name")
}

/// The plans of one run, and how many distinct endpoints could be probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plans {
    /// One per target, in order.
    pub plans: Vec<ProbePlan>,
    /// Distinct endpoints (domain and port) neither skipped nor left unresolved.
    pub eligible: usize,
}

impl Plans {
    /// Runs it takes to probe every eligible endpoint: ceil(eligible / max_endpoints), at least
    /// 1. Pure.
    pub fn rotation_runs(&self, max_endpoints: usize) -> usize {
        self.eligible.div_ceil(max_endpoints.max(1)).max(1)
    }

    /// Where the next run's window starts, after this one started at `offset`. Pure.
    pub fn next_offset(&self, offset: usize, max_endpoints: usize) -> usize {
        if self.eligible <= max_endpoints {
            0
        } else {
            (offset % self.eligible + max_endpoints) % self.eligible
        }
    }
}

/// Decides what to do with each target (sorted as `targets::resolve` sorts them):
/// skip what cannot be dialled, leave what no override names when `resolved_only`, and probe
/// a window of `max_endpoints` distinct endpoints: in sorted order, from the `offset`-th
/// (modulo their number), wrapping around. Advancing `offset` by `max_endpoints` each run
/// ([`Plans::next_offset`]) probes every endpoint within [`Plans::rotation_runs`] runs; with
/// no more endpoints than `max_endpoints` every one is probed every run. `has_override` tells
/// whether an override names a domain and port. Pure.
pub fn plan(
    targets: &[Claim],
    limits: &EndpointsLimits,
    offset: usize,
    has_override: impl Fn(&str, u16) -> bool,
) -> Plans {
    let plans: Vec<Option<ProbePlan>> = targets
        .iter()
        .map(|t| {
            if let Some(reason) = t.inactive.or_else(|| skip_reason(&t.domain)) {
                return Some(ProbePlan::Skip(reason));
            }
            if limits.resolved_only && !has_override(&t.domain, t.port) {
                return Some(ProbePlan::NotResolved);
            }
            None
        })
        .collect();
    let endpoints: BTreeSet<(&str, u16)> = targets
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| plan.is_none())
        .map(|(t, _)| (t.domain.as_str(), t.port))
        .collect();
    let eligible = endpoints.len();
    let max = limits.max_endpoints;
    let start = if eligible == 0 { 0 } else { offset % eligible };
    let window: HashMap<(&str, u16), bool> = endpoints
        .into_iter()
        .enumerate()
        .map(|(index, endpoint)| {
            let distance = (index + eligible - start) % eligible;
            (endpoint, eligible <= max || distance < max)
        })
        .collect();
    let plans = targets
        .iter()
        .zip(plans)
        .map(|(t, plan)| {
            plan.unwrap_or_else(|| {
                if window
                    .get(&(t.domain.as_str(), t.port))
                    .copied()
                    .unwrap_or(false)
                {
                    ProbePlan::Probe
                } else {
                    ProbePlan::OverLimit
                }
            })
        })
        .collect();
    Plans { plans, eligible }
}

/// The expected fingerprint of a certificate detail: `CertFingerprint`, or, if it is missing
/// or malformed, the SHA-1 of the first certificate of `CertificatePublicKey`. The second value
/// names a disagreement between the two, if any. Pure.
pub fn expected_fingerprint(detail: &CertificateDetail) -> (Option<String>, Option<String>) {
    let stated = detail.fingerprint();
    let computed = pem_leaf_fingerprint(&detail.certificate_public_key);
    let disagreement = match (&stated, &computed) {
        (Some(s), Some(c)) if s != c => Some(format!(
            "CertFingerprint {s} is not the SHA-1 of the CertificatePublicKey leaf ({c}); using CertFingerprint"
        )),
        (None, None) => Some("neither CertFingerprint nor CertificatePublicKey names the certificate".to_string()),
        _ => None,
    };
    (stated.or(computed), disagreement)
}

/// One endpoint's probe outcome.
pub type Outcome = (Result<Served, ProbeError>, Duration);

/// What a probe says about one target, for logging changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serves the expected certificate.
    Matches,
    /// Serves the certificate with this fingerprint instead.
    ServesOther(String),
    /// Serves a certificate, but the expected one is unknown.
    NothingExpected,
    /// The probe failed, for this reason.
    Fails(&'static str),
}

/// The verdict on `target`, if it was probed. Pure.
pub fn verdict(
    target: &Claim,
    expected: &HashMap<String, String>,
    outcomes: &HashMap<(String, u16), Outcome>,
) -> Option<Verdict> {
    let (outcome, _) = outcomes.get(&(target.domain.clone(), target.port))?;
    Some(match (outcome, expected.get(&*target.certificate_id)) {
        (Err(error), _) => Verdict::Fails(error.reason()),
        (Ok(_), None) => Verdict::NothingExpected,
        (Ok(served), Some(fingerprint)) if served.fingerprint == *fingerprint => Verdict::Matches,
        (Ok(served), Some(_)) => Verdict::ServesOther(served.fingerprint.clone()),
    })
}

/// Most verdict changes logged per run; the rest are counted in one line.
const LOGGED_CHANGES: usize = 20;

/// Writes the series of one run. `outcomes` are this run's probes and the kept results of
/// endpoints outside its window (`OverLimit`), `probed_at` when each ran (unix seconds).
/// Pure.
pub fn write_run(
    builder: &mut SnapshotBuilder,
    targets: &[Claim],
    plans: &[ProbePlan],
    expected: &HashMap<String, String>,
    outcomes: &HashMap<(String, u16), Outcome>,
    probed_at: &HashMap<(String, u16), f64>,
    rotation_runs: usize,
) {
    builder.sample(series::EndpointRotationRuns, rotation_runs as f64);
    let mut states: BTreeMap<&str, u64> = ProbePlan::STATES.iter().map(|s| (*s, 0)).collect();
    // Endpoints, not (endpoint, certificate) pairs: one named for two certificates counts once.
    let mut counted: BTreeSet<(&str, u16)> = BTreeSet::new();
    let mut fingerprints: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (target, plan) in targets.iter().zip(plans) {
        let key = (target.domain.clone(), target.port);
        let outcome = match plan {
            ProbePlan::Probe | ProbePlan::OverLimit => outcomes.get(&key),
            ProbePlan::Skip(_) | ProbePlan::NotResolved => None,
        };
        // Skipped by the plan, or probed but every address the name resolved to was refused:
        // skipped, with that reason.
        let skipped = match (plan, outcome) {
            (ProbePlan::Skip(reason), _) => Some(*reason),
            (_, Some((Err(ProbeError::Refused { reason, .. }), _))) => Some(*reason),
            _ => None,
        };
        let state = match skipped {
            Some(_) => ProbePlan::Skip("").state(),
            None => plan.state(),
        };
        if counted.insert((target.domain.as_str(), target.port)) {
            *states.entry(state).or_default() += 1;
        }
        let port = target.port.to_string();
        let (certificate_id, domain, port) = (&*target.certificate_id, &*target.domain, &*port);
        let info = series::EndpointInfo {
            certificate_id,
            domain,
            port,
            resource_type: &target.resource_type,
            source: target.source,
        };
        if let Some(reason) = skipped {
            builder.sample(info, 1.0);
            builder.sample(
                series::EndpointSkipped {
                    certificate_id,
                    domain,
                    port,
                    reason,
                },
                1.0,
            );
            continue;
        }
        match plan {
            ProbePlan::Skip(_) => {}
            ProbePlan::Probe | ProbePlan::OverLimit => {
                // Outside this run's window and never probed (or not lately): nothing to show.
                let Some((outcome, duration)) = outcome else {
                    if *plan == ProbePlan::Probe {
                        builder.sample(info, 1.0);
                    }
                    continue;
                };
                builder.sample(info, 1.0);
                if let Some(at) = probed_at.get(&key) {
                    builder.sample(
                        series::EndpointProbeTimestamp {
                            certificate_id,
                            domain,
                            port,
                        },
                        *at,
                    );
                }
                builder.sample(
                    series::EndpointProbeDuration {
                        certificate_id,
                        domain,
                        port,
                    },
                    duration.as_secs_f64(),
                );
                let expected_fingerprint = expected.get(&*target.certificate_id);
                if let Some(fingerprint) = expected_fingerprint {
                    fingerprints.insert((&target.certificate_id, fingerprint));
                }
                let success = series::EndpointProbeSuccess {
                    certificate_id,
                    domain,
                    port,
                };
                match outcome {
                    Err(error) => {
                        builder.sample(success, 0.0);
                        builder.sample(
                            series::EndpointProbeError {
                                certificate_id,
                                domain,
                                port,
                                reason: error.reason(),
                            },
                            1.0,
                        );
                    }
                    Ok(served) => {
                        builder.sample(success, 1.0);
                        if let Some(fingerprint) = expected_fingerprint {
                            let matches = *fingerprint == served.fingerprint;
                            builder.sample(
                                series::EndpointCertificateMatch {
                                    certificate_id,
                                    domain,
                                    port,
                                },
                                if matches { 1.0 } else { 0.0 },
                            );
                        }
                        builder.sample(
                            series::EndpointChainValid {
                                certificate_id,
                                domain,
                                port,
                            },
                            if served.chain.is_ok() { 1.0 } else { 0.0 },
                        );
                        if let Some(not_after) = served.not_after {
                            builder.sample(
                                series::EndpointServedNotAfter {
                                    certificate_id,
                                    domain,
                                    port,
                                },
                                not_after as f64,
                            );
                        }
                        builder.sample(
                            series::EndpointServedInfo {
                                certificate_id,
                                domain,
                                port,
                                fingerprint_sha1: &served.fingerprint,
                            },
                            1.0,
                        );
                    }
                }
            }
            ProbePlan::NotResolved => {}
        }
    }
    for (state, count) in states {
        builder.sample(series::EndpointTargets { state }, count as f64);
    }
    for (certificate_id, fingerprint_sha1) in fingerprints {
        builder.sample(
            series::CertificateFingerprint {
                certificate_id,
                fingerprint_sha1,
            },
            1.0,
        );
    }
}

/// A certificate above the leaf in a certificate's chain, as `CertChainInfo` states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// 1 for the leaf's issuer, 2 for its issuer, … (the position in `CertChainInfo`, whose
    /// first entry is the leaf).
    pub depth: usize,
    pub subject: String,
    pub issuer: String,
    /// `ValidTo`, unix seconds.
    pub not_after: i64,
}

/// The certificates above the leaf in `detail`'s `CertChainInfo`, and what of it could not be
/// read (an entry without a readable `ValidTo`, an entry or a list that could not be decoded),
/// as `(what, error)`. Position 0 is the leaf (the official example lists the leaf first) and is
/// left out: its expiry is the certificate's own. An entry that could not be decoded leaves the
/// positions of the others unknown (it may have been the leaf, or a link between two others), so
/// then no link is given, only the problems. Pure.
pub fn chain_links(detail: &CertificateDetail) -> (Vec<ChainLink>, Vec<(String, String)>) {
    let mut problems = Vec::new();
    let Some(chain) = detail.cert_chain_info.value() else {
        let error = detail.cert_chain_info.error().unwrap_or_default();
        problems.push(("CertChainInfo".to_string(), error.to_string()));
        return (Vec::new(), problems);
    };
    for skipped in &chain.skipped {
        problems.push((
            format!("CertChainInfo {}", skipped.id),
            skipped.error.clone(),
        ));
    }
    if !chain.skipped.is_empty() {
        return (Vec::new(), problems);
    }
    let mut links = Vec::new();
    for (depth, link) in chain.items.iter().enumerate().skip(1) {
        match parse_api_time(&link.valid_to) {
            Some(not_after) => links.push(ChainLink {
                depth,
                subject: link.subject.trim().to_string(),
                issuer: link.issuer.trim().to_string(),
                not_after,
            }),
            None => problems.push((
                format!("CertChainInfo[{depth}].ValidTo"),
                format!("{:?} is not a time", link.valid_to),
            )),
        }
    }
    (links, problems)
}

/// Writes the chain series of the certificates of `chains`, in certificate order. Pure.
pub fn write_chains(builder: &mut SnapshotBuilder, chains: &HashMap<String, Vec<ChainLink>>) {
    let ordered: BTreeMap<&str, &Vec<ChainLink>> = chains
        .iter()
        .map(|(id, links)| (id.as_str(), links))
        .collect();
    for (certificate_id, links) in ordered {
        for link in links {
            builder.sample(
                series::CertificateChainNotAfter {
                    certificate_id,
                    depth: &link.depth.to_string(),
                    subject: &link.subject,
                    issuer: &link.issuer,
                },
                link.not_after as f64,
            );
        }
    }
}

/// What a `DescribeCertificateDetail` answer says, as far as it is kept: the expected
/// fingerprint and a disagreement about it ([`expected_fingerprint`]), the chain above the leaf
/// and what of it could not be read ([`chain_links`]).
#[derive(Debug)]
struct DetailDigest {
    fingerprint: Option<String>,
    disagreement: Option<String>,
    links: Vec<ChainLink>,
    problems: Vec<(String, String)>,
}

/// What the certificate list says of a certificate's content: its validity dates
/// (`CertBeginTime`, `CertEndTime`). New content under the same ID has new ones.
pub type ContentVersion = (String, String);

/// What an expected fingerprint was fetched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The certificate list's version of the content then (`None`: the list was not read).
    pub version: Option<ContentVersion>,
    /// When it was fetched, unix seconds.
    pub fetched_at: i64,
}

impl Learned {
    /// Whether the content may have changed since: the list now shows another version, or an
    /// upload-update entry was created after the fetch (`uploaded`, unix seconds). Pure.
    pub fn outdated(&self, now: Option<&ContentVersion>, uploaded: Option<&i64>) -> bool {
        let other_version = matches!((&self.version, now), (Some(then), Some(now)) if then != now);
        other_version || uploaded.is_some_and(|at| *at >= self.fetched_at)
    }
}

/// The newest upload-update statement of each certificate the claims name (unix seconds).
fn newest_upload_updates(targets: &[Claim]) -> HashMap<&str, i64> {
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for claim in targets {
        if claim.source != RecordKind::UploadUpdate.label() {
            continue;
        }
        if let Some(at) = claim.stated_at {
            let entry = newest.entry(&*claim.certificate_id).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    newest
}

pub(crate) struct EndpointsCollector {
    core: Core,
    limits: EndpointsLimits,
    book: Arc<TargetBook>,
    prober: Arc<Prober>,
    /// Certificate ID → expected fingerprint, kept while the certificate has targets and its
    /// content is what it was when fetched (see [`Learned`]).
    expected: HashMap<String, String>,
    /// Certificate ID → what the expected fingerprint was fetched against.
    learned: HashMap<String, Learned>,
    /// Certificate ID → the certificates above its leaf (`CertChainInfo`), from the same detail
    /// as its expected fingerprint, kept and refetched with it.
    chains: HashMap<String, Vec<ChainLink>>,
    /// Whether a run has finished (later runs start after a jitter; the first waits for the
    /// sources instead).
    ran: bool,
    /// The last verdict on each probed target (certificate, domain, port), with the run that
    /// gave it: a change is logged once, not every run.
    verdicts: HashMap<(Arc<str>, String, u16), (Verdict, u64)>,
    /// Where this run's window of `max_endpoints` endpoints starts ([`plan`]).
    offset: usize,
    /// Claims the last run left out of the tracked sample (a change in whether there are any
    /// is logged).
    untracked: u64,
    /// Runs finished, the one under way not counted.
    runs: u64,
    /// The last probe of each endpoint: its outcome, when (unix seconds) and in which run.
    /// Served while the endpoint is outside the window, for at most `rotation_runs` runs.
    kept: HashMap<(String, u16), (Outcome, f64, u64)>,
}

impl EndpointsCollector {
    pub(crate) fn new(
        client: Client,
        settings: CollectorSettings,
        limits: EndpointsLimits,
        book: Arc<TargetBook>,
        prober: Arc<Prober>,
    ) -> Self {
        EndpointsCollector {
            core: Core::new(
                "endpoints",
                client,
                settings,
                &[
                    action::DESCRIBE_CERTIFICATES,
                    action::DESCRIBE_CERTIFICATE_DETAIL,
                ],
            ),
            limits,
            book,
            prober,
            expected: HashMap::new(),
            learned: HashMap::new(),
            chains: HashMap::new(),
            ran: false,
            verdicts: HashMap::new(),
            offset: 0,
            untracked: 0,
            runs: 0,
            kept: HashMap::new(),
        }
    }

    /// The certificates whose fingerprint this run needs: those expected on an endpoint it
    /// probes, or whose kept results it serves.
    fn expected_certificates(&self, targets: &[Claim], plans: &[ProbePlan]) -> BTreeSet<String> {
        targets
            .iter()
            .zip(plans)
            .filter(|(t, plan)| match plan {
                ProbePlan::Probe => true,
                // Its kept results are served: what it should serve still matters.
                ProbePlan::OverLimit => self.kept.contains_key(&(t.domain.clone(), t.port)),
                ProbePlan::Skip(_) | ProbePlan::NotResolved => false,
            })
            .map(|(t, _)| t.certificate_id.to_string())
            .collect()
    }

    /// Before the first run, while a source has not answered yet: fetches the fingerprints of
    /// the certificates that what has been published so far expects on the endpoints the first
    /// run will probe. What fails here is fetched again, and reported, by the run; one the
    /// slower sources' claims turn out not to need is let go by it.
    async fn learn_ahead(&mut self) {
        let Tracked { targets, .. } = self.book.targets();
        let prober = Arc::clone(&self.prober);
        let Plans { plans, .. } = plan(&targets, &self.limits, self.offset, |domain, port| {
            prober.has_override(domain, port)
        });
        let mut wanted = self.expected_certificates(&targets, &plans);
        wanted.retain(|id| !self.expected.contains_key(id));
        if wanted.is_empty() {
            return;
        }
        let mut errors = Vec::new();
        let Ok(versions) = self.content_versions(&wanted, &mut errors).await else {
            return;
        };
        let fetched_at = tencentcloud_ssl_api::time::now_unix();
        if let Ok(answers) = self.fetch_details(wanted.into_iter().collect()).await {
            self.learn_expected(answers, versions.as_ref(), fetched_at, &mut errors);
        }
    }

    /// The content version of each of `wanted` (the certificates the run expects somewhere),
    /// from the certificate list. `None` when the list could not be read (nothing is then taken
    /// as changed); a credentials failure fails the run.
    async fn content_versions(
        &self,
        wanted: &BTreeSet<String>,
        errors: &mut Vec<String>,
    ) -> Result<Option<HashMap<String, ContentVersion>>, ApiError> {
        let every = CertificateFilter {
            include_expired: true,
            ..CertificateFilter::default()
        };
        let version_of = |c: tencentcloud_ssl_api::certificates::CertificateState| {
            wanted
                .contains(&c.certificate_id)
                .then_some((c.certificate_id, (c.cert_begin_time, c.cert_end_time)))
        };
        match list_certificates_as(&self.core.client, &every, &self.core.findings, version_of).await
        {
            Ok(versions) => Ok(Some(versions.into_iter().collect())),
            Err(e) if e.is_auth() => Err(e),
            Err(e) => {
                errors.push(format!("certificate list (content versions): {e}"));
                Ok(None)
            }
        }
    }

    /// Forgets the expected fingerprint of every certificate not in `ids`, or whose content may
    /// have changed since it was fetched: the certificate list shows other validity dates
    /// (`versions`), or an upload-update entry for it was created after the fetch (`targets`'
    /// claims). An upload-update replaces a certificate's content under the same ID. Returns the
    /// certificates of `ids` whose fingerprint is to be fetched.
    fn forget_outdated(
        &mut self,
        ids: BTreeSet<String>,
        versions: Option<&HashMap<String, ContentVersion>>,
        targets: &[Claim],
    ) -> Vec<String> {
        self.expected.retain(|id, _| ids.contains(id));
        self.learned.retain(|id, _| ids.contains(id));
        self.chains.retain(|id, _| ids.contains(id));
        let uploaded = newest_upload_updates(targets);
        let changed: Vec<String> = self
            .learned
            .iter()
            .filter(|(id, learned)| {
                learned.outdated(versions.and_then(|v| v.get(*id)), uploaded.get(id.as_str()))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in changed {
            tracing::info!(
                account = %self.core.settings.account,
                collector = self.core.name,
                certificate_id = %id,
                "the certificate's content may have changed under its ID: fetching its fingerprint again"
            );
            self.expected.remove(&id);
            self.learned.remove(&id);
            self.chains.remove(&id);
        }
        ids.into_iter()
            .filter(|id| !self.expected.contains_key(id))
            .collect()
    }

    /// What the details of `missing` say, each reduced to what is kept as it arrives (a
    /// detail carries the certificate's PEM, thousands of them in a large account's run); a
    /// credentials failure fails the run.
    async fn fetch_details(
        &self,
        missing: Vec<String>,
    ) -> Result<Answers<String, DetailDigest>, ApiError> {
        let client = &self.core.client;
        fetch_each(
            missing,
            self.core.settings.concurrency,
            |certificate_id| async move {
                let request = CertificateDetailRequest { certificate_id };
                let detail: CertificateDetail = client
                    .call(action::DESCRIBE_CERTIFICATE_DETAIL, &request)
                    .await?;
                let (links, problems) = chain_links(&detail);
                let (fingerprint, disagreement) = expected_fingerprint(&detail);
                Ok(DetailDigest {
                    fingerprint,
                    disagreement,
                    links,
                    problems,
                })
            },
        )
        .await
    }

    /// Keeps the expected fingerprint each detail of `answers` states (fetched at `fetched_at`,
    /// unix seconds, against `versions`).
    fn learn_expected(
        &mut self,
        answers: Answers<String, DetailDigest>,
        versions: Option<&HashMap<String, ContentVersion>>,
        fetched_at: i64,
        errors: &mut Vec<String>,
    ) {
        for (certificate_id, answer) in answers {
            match answer {
                Ok(DetailDigest {
                    fingerprint,
                    disagreement,
                    links,
                    problems,
                }) => {
                    for (field, error) in problems {
                        self.core.findings.unreadable_field(
                            action::DESCRIBE_CERTIFICATE_DETAIL,
                            &certificate_id,
                            &field,
                            &error,
                        );
                    }
                    if let Some(error) = disagreement {
                        self.core.findings.contradiction(
                            action::DESCRIBE_CERTIFICATE_DETAIL,
                            &certificate_id,
                            &error,
                        );
                    }
                    match fingerprint {
                        Some(fingerprint) => {
                            let version = versions.and_then(|v| v.get(&certificate_id)).cloned();
                            self.learned.insert(
                                certificate_id.clone(),
                                Learned {
                                    version,
                                    fetched_at,
                                },
                            );
                            self.chains.insert(certificate_id.clone(), links);
                            self.expected.insert(certificate_id, fingerprint);
                        }
                        None => errors.push(format!(
                            "certificate {certificate_id}: the detail names no fingerprint"
                        )),
                    }
                }
                Err(e) => errors.push(format!("certificate {certificate_id}: {e}")),
            }
        }
    }

    /// Probes every endpoint of the targets planned for probing, each once.
    async fn probe_all(
        &self,
        targets: &[Claim],
        plans: &[ProbePlan],
    ) -> HashMap<(String, u16), Outcome> {
        let endpoints: BTreeSet<(String, u16)> = targets
            .iter()
            .zip(plans)
            .filter(|(_, plan)| **plan == ProbePlan::Probe)
            .map(|(t, _)| (t.domain.clone(), t.port))
            .collect();
        let prober = &self.prober;
        fan_out(
            stream::iter(endpoints),
            self.limits.concurrency,
            |(domain, port)| async move {
                let started = Instant::now();
                let outcome = prober.probe(&domain, port).await;
                ((domain, port), (outcome, started.elapsed()))
            },
        )
        .await
        .into_iter()
        .collect()
    }
}

impl EndpointsCollector {
    /// Logs every target whose verdict changed since the last run (a new mismatch or failure at
    /// warn, with what was served or the error; a recovery at info), at most [`LOGGED_CHANGES`]
    /// a run, and keeps this run's verdicts. Returns how many targets serve another certificate.
    fn log_changes(
        &mut self,
        targets: &[Claim],
        outcomes: &HashMap<(String, u16), Outcome>,
    ) -> usize {
        let account = self.core.settings.account.as_str();
        // Updated in place (a second map of every target would double it while it is built);
        // each verdict notes the run that gave it, and the others are let go at the end.
        let run = self.runs;
        let (mut changes, mut mismatched) = (0usize, 0usize);
        for target in targets {
            let Some(now) = verdict(target, &self.expected, outcomes) else {
                continue;
            };
            mismatched += usize::from(matches!(now, Verdict::ServesOther(_)));
            let key = (
                target.certificate_id.clone(),
                target.domain.clone(),
                target.port,
            );
            let before = self.verdicts.remove(&key).map(|(verdict, _)| verdict);
            // A first sighting of a good endpoint is no news.
            let news = before.as_ref() != Some(&now)
                && (before.is_some() || matches!(now, Verdict::ServesOther(_) | Verdict::Fails(_)));
            if news {
                changes += 1;
                if changes <= LOGGED_CHANGES {
                    let (certificate_id, domain, port) = (&key.0, &key.1, key.2);
                    match &now {
                        Verdict::ServesOther(served) => tracing::warn!(
                            account,
                            certificate_id = %certificate_id,
                            domain = %domain,
                            port,
                            served_fingerprint = %served,
                            expected_fingerprint = %self.expected.get(&**certificate_id).map_or("", String::as_str),
                            "endpoint serves another certificate than the API says"
                        ),
                        Verdict::Fails(reason) => {
                            let error = outcomes
                                .get(&(domain.clone(), port))
                                .and_then(|(o, _)| o.as_ref().err())
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            tracing::warn!(
                                account,
                                certificate_id = %certificate_id,
                                domain = %domain,
                                port,
                                reason,
                                error = %error,
                                "endpoint probe failed"
                            );
                        }
                        Verdict::Matches | Verdict::NothingExpected => tracing::info!(
                            account,
                            certificate_id = %certificate_id,
                            domain = %domain,
                            port,
                            "endpoint probe succeeds again and serves {}",
                            if now == Verdict::Matches { "the expected certificate" } else { "a certificate (none expected)" }
                        ),
                    }
                }
            }
            self.verdicts.insert(key, (now, run));
        }
        if changes > LOGGED_CHANGES {
            tracing::warn!(
                account,
                more = changes - LOGGED_CHANGES,
                "further endpoint changes not logged"
            );
        }
        self.verdicts.retain(|_, (_, given_in)| *given_in == run);
        mismatched
    }
}

impl EndpointsCollector {
    /// Logs when the API starts naming more endpoints than are tracked (with what to do), or
    /// no longer does; the count itself is `tencentcloud_ssl_endpoint_untracked_claims`.
    fn log_untracked(&mut self, untracked: u64) {
        let account = self.core.settings.account.as_str();
        let max_tracked = self.book.max_tracked();
        match (self.untracked, untracked) {
            (0, 0) => {}
            (0, _) => tracing::warn!(
                account,
                collector = "endpoints",
                untracked_claims = untracked,
                max_tracked,
                "the API names more endpoints than are tracked: a fixed sample of endpoints, with at most {max_tracked} claims about them, is probed, the rest only counted (raise --collector.endpoints.max-tracked to track more, at about 1 KB of memory per claim)"
            ),
            (_, 0) => tracing::info!(
                account,
                collector = "endpoints",
                max_tracked,
                "every endpoint the API names is tracked again"
            ),
            _ => {}
        }
        self.untracked = untracked;
    }
}

/// A random pause of up to a tenth of `interval` (at most a minute), so the probes of several
/// exporters or accounts do not start in lockstep.
fn jitter(interval: Duration) -> Duration {
    let most = (interval / 10).min(Duration::from_secs(60));
    most.mul_f64(fastrand::f64())
}

impl Collector for EndpointsCollector {
    fn name(&self) -> &'static str {
        self.core.name
    }

    /// No: its first run waits for every source of targets (bind, the rollout records) to
    /// answer once, deploy records included, then probes what they name.
    fn gates_readiness(&self) -> bool {
        false
    }

    async fn before_run(&mut self) {
        if self.ran {
            tokio::time::sleep(jitter(self.core.settings.interval)).await;
        } else {
            // The first run waits for every source's first answer, however long a slow one
            // (deploy records at a large account) takes: a source that has not answered is not
            // "no bindings", and probing without it could expect the wrong certificate (the
            // newest statement about an endpoint wins). Its families stay absent meanwhile.
            // What the sources that have answered name is learned meanwhile: the fingerprints
            // are fetched while the slow source still runs, not after it.
            let mut learned_in = None;
            loop {
                let generation = self.book.generation();
                if self.book.complete() {
                    break;
                }
                if learned_in != Some(generation) {
                    self.learn_ahead().await;
                    learned_in = Some(generation);
                    continue;
                }
                let interval = self.core.settings.interval;
                if !self.book.wait_change(generation, interval).await {
                    tracing::info!(
                        account = %self.core.settings.account,
                        collector = "endpoints",
                        "waiting for every source of endpoints to finish its first run before the first probes"
                    );
                }
            }
        }
    }

    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let Tracked { targets, untracked } = self.book.targets();
        self.log_untracked(untracked);
        let prober = Arc::clone(&self.prober);
        let planned = plan(&targets, &self.limits, self.offset, |domain, port| {
            prober.has_override(domain, port)
        });
        let rotation_runs = planned.rotation_runs(self.limits.max_endpoints);
        self.offset = planned.next_offset(self.offset, self.limits.max_endpoints);
        let Plans { plans, eligible } = planned;
        let mut errors = Vec::new();
        let certificates = self.expected_certificates(&targets, &plans);
        let versions = if certificates.is_empty() {
            None
        } else {
            self.content_versions(&certificates, &mut errors).await?
        };
        let missing = self.forget_outdated(certificates, versions.as_ref(), &targets);
        // The fingerprints are fetched while the probes run: the verdicts need both, the probes
        // need neither.
        let fetched_at = tencentcloud_ssl_api::time::now_unix();
        let (answers, fresh) = tokio::join!(
            self.fetch_details(missing),
            self.probe_all(&targets, &plans)
        );
        self.learn_expected(answers?, versions.as_ref(), fetched_at, &mut errors);
        let probed = fresh.len();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let run = self.runs;
        self.runs += 1;
        for (endpoint, outcome) in fresh {
            self.kept.insert(endpoint, (outcome, now, run));
        }
        // Kept while the endpoint is named and its result is within the rotation's bound.
        let named: BTreeSet<(&str, u16)> = targets
            .iter()
            .map(|t| (t.domain.as_str(), t.port))
            .collect();
        self.kept.retain(|(domain, port), (_, _, probed_in)| {
            named.contains(&(domain.as_str(), *port)) && run - *probed_in < rotation_runs as u64
        });
        let outcomes: HashMap<(String, u16), Outcome> = self
            .kept
            .iter()
            .map(|(endpoint, (outcome, _, _))| (endpoint.clone(), outcome.clone()))
            .collect();
        let probed_at: HashMap<(String, u16), f64> = self
            .kept
            .iter()
            .map(|(endpoint, (_, at, _))| (endpoint.clone(), *at))
            .collect();
        let failed = outcomes.values().filter(|(o, _)| o.is_err()).count();
        let mismatched = self.log_changes(&targets, &outcomes);
        tracing::info!(
            account = %self.core.settings.account,
            collector = "endpoints",
            targets = targets.len(),
            probed,
            eligible,
            rotation_runs,
            probe_failures = failed,
            mismatched,
            "endpoints probed"
        );
        let mut builder = self.core.builder();
        for (map, entries) in [
            ("expected", self.expected.len()),
            ("learned", self.learned.len()),
            ("chains", self.chains.len()),
            ("verdicts", self.verdicts.len()),
            ("kept", self.kept.len()),
            ("claims", self.book.claims()),
        ] {
            self.core.entries(&mut builder, map, entries);
        }
        write_run(
            &mut builder,
            &targets,
            &plans,
            &self.expected,
            &outcomes,
            &probed_at,
            rotation_runs,
        );
        builder.sample(series::EndpointUntrackedClaims, untracked as f64);
        write_chains(&mut builder, &self.chains);
        let snapshot = self.core.seal(builder);
        self.ran = true;
        let headlines = Headlines {
            counts: vec![
                (Headline::EndpointsServingAnother, mismatched as u64),
                (Headline::ProbesFailing, failed as u64),
            ],
            expiring: Vec::new(),
        };
        Ok(Collected {
            snapshot,
            errors,
            headlines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;
    use crate::targets::BIND_SOURCE;

    fn target(domain: &str, cert: &str) -> Claim {
        Claim {
            domain: domain.into(),
            port: 443,
            certificate_id: cert.into(),
            resource_type: "cdn".into(),
            source: BIND_SOURCE,
            stated_at: None,
            inactive: None,
        }
    }

    fn limits(max_endpoints: usize, resolved_only: bool) -> EndpointsLimits {
        EndpointsLimits {
            concurrency: 4,
            max_endpoints,
            resolved_only,
        }
    }

    #[test]
    fn a_fingerprint_is_outdated_when_the_content_may_have_changed_under_its_id() {
        let v = |end: &str| ("2025-01-01 08:00:00".to_string(), end.to_string());
        let learned = Learned {
            version: Some(v("2026-01-01 07:59:59")),
            fetched_at: 1_000,
        };
        assert!(!learned.outdated(Some(&v("2026-01-01 07:59:59")), None));
        assert!(
            learned.outdated(Some(&v("2027-01-01 07:59:59")), None),
            "new dates"
        );
        assert!(
            learned.outdated(None, Some(&1_000)),
            "an upload-update at or after the fetch"
        );
        assert!(!learned.outdated(None, Some(&999)), "one before it");
        let unread = Learned {
            version: None,
            fetched_at: 1_000,
        };
        assert!(!unread.outdated(Some(&v("2027-01-01 07:59:59")), None));
        let upload = |cert: &str, at: i64| Claim {
            source: "upload_update",
            stated_at: Some(at),
            ..target("a.example.com", cert)
        };
        let targets = [
            upload("c1", 5),
            upload("c1", 9),
            upload("c2", 3),
            target("b.example.com", "c3"),
        ];
        let newest = newest_upload_updates(&targets);
        assert_eq!(newest.get("c1"), Some(&9));
        assert_eq!(newest.get("c2"), Some(&3));
        assert_eq!(newest.get("c3"), None, "bind claims are not upload-updates");
    }

    #[test]
    fn endpoint_targets_count_endpoints_not_certificate_pairs() {
        // One endpoint the API names for two certificates (RSA and ECC on one listener).
        let targets = [
            target("a.example.com", "rsa"),
            target("a.example.com", "ecc"),
        ];
        let plans = [ProbePlan::Probe, ProbePlan::Probe];
        let mut builder = SnapshotBuilder::new("a");
        write_run(
            &mut builder,
            &targets,
            &plans,
            &HashMap::new(),
            &HashMap::new(),
            &HashMap::new(),
            1,
        );
        let snapshot = builder.finish();
        assert!(snapshot
            .chunk(Family::EndpointTargets)
            .contains("state=\"probed\"} 1\n"));
        assert_eq!(
            snapshot.chunk(Family::EndpointInfo).lines().count(),
            2,
            "one info each"
        );
    }

    #[test]
    fn names_that_cannot_be_dialled() {
        assert_eq!(skip_reason("*.example.com"), Some("wildcard"));
        assert_eq!(skip_reason("a.*.example.com"), Some("wildcard"));
        for bad in [
            "",
            "exa mple.com",
            "example.com:8443",
            "a/b",
            &"a".repeat(300),
        ] {
            assert_eq!(skip_reason(bad), Some("invalid_name"), "{bad}");
        }
        for good in ["example.com", "a-b.example.cn", "localhost", "10.0.0.1"] {
            assert_eq!(skip_reason(good), None, "{good}");
        }
    }

    #[test]
    fn plans_skip_filter_and_cap_by_endpoint() {
        let targets = [
            target("*.w.example.com", "c1"),
            target("a.example.com", "c1"),
            target("a.example.com", "c2"),
            target("b.example.com", "c1"),
            target("c.example.com", "c3"),
        ];
        assert_eq!(
            plan(&targets, &limits(2, false), 0, |_, _| false).plans,
            [
                ProbePlan::Skip("wildcard"),
                ProbePlan::Probe,
                ProbePlan::Probe,
                ProbePlan::Probe,
                ProbePlan::OverLimit
            ],
            "two certificates on one endpoint cost one probe"
        );
        assert_eq!(
            plan(&targets, &limits(10, true), 0, |d, _| d == "b.example.com").plans,
            [
                ProbePlan::Skip("wildcard"),
                ProbePlan::NotResolved,
                ProbePlan::NotResolved,
                ProbePlan::Probe,
                ProbePlan::NotResolved
            ]
        );
        // A binding the API says serves nothing now is skipped with why, even when resolvable;
        // the same endpoint claimed live by another certificate is probed.
        let inactive = Claim {
            inactive: Some("https_off"),
            ..target("a.example.com", "c4")
        };
        let plans = plan(
            &[inactive, target("a.example.com", "c1")],
            &limits(10, false),
            0,
            |_, _| true,
        );
        assert_eq!(
            plans.plans,
            [ProbePlan::Skip("https_off"), ProbePlan::Probe]
        );
    }

    /// The endpoints each of `runs` runs probes, advancing the offset as the collector does.
    fn windows(targets: &[Claim], max: usize, runs: usize) -> Vec<Vec<&str>> {
        let mut offset = 0;
        (0..runs)
            .map(|_| {
                let planned = plan(targets, &limits(max, false), offset, |_, _| false);
                offset = planned.next_offset(offset, max);
                let mut probed: Vec<&str> = targets
                    .iter()
                    .zip(&planned.plans)
                    .filter(|(_, p)| **p == ProbePlan::Probe)
                    .map(|(t, _)| t.domain.as_str())
                    .collect();
                probed.dedup();
                probed
            })
            .collect()
    }

    #[test]
    fn the_window_rotates_so_every_endpoint_is_probed_within_ceil_n_over_max_runs() {
        let targets = [
            target("*.w.example.com", "c0"),
            target("a.example.com", "c1"),
            target("a.example.com", "c2"),
            target("b.example.com", "c1"),
            target("c.example.com", "c3"),
            target("d.example.com", "c4"),
            target("e.example.com", "c5"),
        ];
        let planned = plan(&targets, &limits(2, false), 0, |_, _| false);
        assert_eq!(
            planned.eligible, 5,
            "a wildcard is not eligible; a counts once"
        );
        assert_eq!(planned.rotation_runs(2), 3);
        assert_eq!(
            windows(&targets, 2, 6),
            [
                vec!["a.example.com", "b.example.com"],
                vec!["c.example.com", "d.example.com"],
                vec!["a.example.com", "e.example.com"],
                vec!["b.example.com", "c.example.com"],
                vec!["d.example.com", "e.example.com"],
                vec!["a.example.com", "b.example.com"],
            ]
        );
        for max in 1..=5 {
            let runs = 5usize.div_ceil(max);
            let all = windows(&targets, max, 4 * runs);
            for (start, _) in all.iter().enumerate().take(3 * runs) {
                let covered: BTreeSet<&str> =
                    all[start..start + runs].iter().flatten().copied().collect();
                assert_eq!(
                    covered.len(),
                    5,
                    "max {max}: runs {start}..{} probe every endpoint",
                    start + runs
                );
            }
            assert!(
                all.iter().all(|w| w.len() == max),
                "max {max}: full windows"
            );
        }
        // Stable when everything fits: every endpoint every run, the offset stays 0.
        let planned = plan(&targets, &limits(5, false), 3, |_, _| false);
        assert_eq!(planned.rotation_runs(5), 1);
        assert_eq!(planned.next_offset(3, 5), 0);
        assert_eq!(
            planned
                .plans
                .iter()
                .filter(|p| **p == ProbePlan::Probe)
                .count(),
            6
        );
        assert_eq!(
            windows(&targets, 9, 3),
            vec![windows(&targets, 9, 1)[0].clone(); 3]
        );
    }

    #[test]
    fn an_endpoint_outside_the_window_keeps_its_last_results_and_their_time() {
        let targets = [target("a.example.com", "c1"), target("b.example.com", "c1")];
        let plans = [ProbePlan::Probe, ProbePlan::OverLimit];
        let served = Served {
            fingerprint: "aa".repeat(20),
            not_after: None,
            chain: Ok(()),
        };
        let outcomes: HashMap<(String, u16), Outcome> = [
            (
                ("a.example.com".to_string(), 443),
                (Ok(served.clone()), Duration::ZERO),
            ),
            (
                ("b.example.com".to_string(), 443),
                (Ok(served), Duration::ZERO),
            ),
        ]
        .into();
        let probed_at: HashMap<(String, u16), f64> = [
            (("a.example.com".to_string(), 443), 2000.0),
            (("b.example.com".to_string(), 443), 1000.0),
        ]
        .into();
        let expected: HashMap<String, String> = [("c1".to_string(), "aa".repeat(20))].into();
        let mut builder = SnapshotBuilder::new("a");
        write_run(
            &mut builder,
            &targets,
            &plans,
            &expected,
            &outcomes,
            &probed_at,
            2,
        );
        let snapshot = builder.finish();
        assert_eq!(
            snapshot.chunk(Family::EndpointProbeTimestamp),
            "tencentcloud_ssl_endpoint_probe_timestamp_seconds{account=\"a\",certificate_id=\"c1\",domain=\"a.example.com\",port=\"443\"} 2000\n\
             tencentcloud_ssl_endpoint_probe_timestamp_seconds{account=\"a\",certificate_id=\"c1\",domain=\"b.example.com\",port=\"443\"} 1000\n"
        );
        assert_eq!(
            snapshot
                .chunk(Family::EndpointCertificateMatch)
                .lines()
                .count(),
            2,
            "the kept result is served"
        );
        assert_eq!(
            snapshot.chunk(Family::EndpointRotationRuns),
            "tencentcloud_ssl_endpoint_rotation_runs{account=\"a\"} 2\n"
        );
        assert!(snapshot
            .chunk(Family::EndpointTargets)
            .contains("state=\"over_limit\"} 1\n"));
    }

    #[test]
    fn the_chain_above_the_leaf_with_what_could_not_be_read() {
        let detail: CertificateDetail = serde_json::from_value(serde_json::json!({
            "CertChainInfo": [
                {"Issuer": "TrustAsia DV TLS RSA CA 2025", "Subject": "lukesky.online",
                 "ValidTo": "2026-05-29 07:59:59"},
                {"Issuer": "DigiCert Global Root G2", "Subject": "TrustAsia DV TLS RSA CA 2025",
                 "ValidTo": "2035-01-08 07:59:59"},
                {"Issuer": "X", "Subject": "Y", "ValidTo": "soon"}
            ]
        }))
        .expect("decodes");
        let (links, problems) = chain_links(&detail);
        assert_eq!(
            links,
            [ChainLink {
                depth: 1,
                subject: "TrustAsia DV TLS RSA CA 2025".into(),
                issuer: "DigiCert Global Root G2".into(),
                not_after: 2_051_827_199,
            }]
        );
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["CertChainInfo[2].ValidTo"]);
        // An entry that cannot be decoded (here the leaf) leaves every position unknown: no
        // link is given a depth it may not have, and the entry is named.
        let shifted: CertificateDetail = serde_json::from_value(serde_json::json!({
            "CertChainInfo": [
                {"Subject": {"CN": "lukesky.online"}},
                {"Issuer": "DigiCert Global Root G2", "Subject": "TrustAsia DV TLS RSA CA 2025",
                 "ValidTo": "2035-01-08 07:59:59"}
            ]
        }))
        .expect("decodes");
        let (links, problems) = chain_links(&shifted);
        assert!(links.is_empty(), "{links:?}");
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["CertChainInfo #0"]);
        let none = CertificateDetail::default();
        assert_eq!(
            chain_links(&none),
            (Vec::new(), Vec::new()),
            "no chain, no problem"
        );
    }

    #[test]
    fn expected_fingerprint_prefers_the_stated_one_and_names_disagreement() {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["a.example.com".into()]).expect("p");
        let certificate = params.self_signed(&key).expect("cert");
        let real = crate::probe::fingerprint(certificate.der());
        let detail = |stated: &str, pem: &str| CertificateDetail {
            cert_fingerprint: stated.into(),
            certificate_public_key: pem.into(),
            ..CertificateDetail::default()
        };
        let pem = certificate.pem();
        assert_eq!(
            expected_fingerprint(&detail(&real.to_uppercase(), &pem)),
            (Some(real.clone()), None)
        );
        assert_eq!(
            expected_fingerprint(&detail("", &pem)),
            (Some(real.clone()), None)
        );
        let (chosen, disagreement) = expected_fingerprint(&detail(&"ab".repeat(20), &pem));
        assert_eq!(chosen.as_deref(), Some("ab".repeat(20).as_str()));
        assert!(disagreement.is_some_and(|d| d.contains(&real)));
        let (none, why) = expected_fingerprint(&detail("", ""));
        assert_eq!(none, None);
        assert!(why.is_some());
    }

    #[test]
    fn verdicts_name_what_was_served() {
        let expected: HashMap<String, String> = [("c1".to_string(), "aa".repeat(20))].into();
        let served = |fingerprint: String| Served {
            fingerprint,
            not_after: None,
            chain: Ok(()),
        };
        let outcomes: HashMap<(String, u16), Outcome> = [
            (
                ("a".to_string(), 443),
                (Ok(served("aa".repeat(20))), Duration::ZERO),
            ),
            (
                ("b".to_string(), 443),
                (Ok(served("bb".repeat(20))), Duration::ZERO),
            ),
            (
                ("c".to_string(), 443),
                (Err(ProbeError::Timeout), Duration::ZERO),
            ),
        ]
        .into();
        let of = |domain: &str, cert: &str| verdict(&target(domain, cert), &expected, &outcomes);
        assert_eq!(of("a", "c1"), Some(Verdict::Matches));
        assert_eq!(of("b", "c1"), Some(Verdict::ServesOther("bb".repeat(20))));
        assert_eq!(of("a", "c2"), Some(Verdict::NothingExpected));
        assert_eq!(of("c", "c1"), Some(Verdict::Fails("timeout")));
        assert_eq!(of("d", "c1"), None, "not probed");
    }

    #[test]
    fn writes_every_series_of_a_run() {
        let targets = [
            target("*.w.example.com", "c1"),
            target("good.example.com", "c1"),
            target("stale.example.com", "c1"),
            target("down.example.com", "c2"),
            target("far.example.com", "c3"),
        ];
        let plans = [
            ProbePlan::Skip("wildcard"),
            ProbePlan::Probe,
            ProbePlan::Probe,
            ProbePlan::Probe,
            ProbePlan::OverLimit,
        ];
        let expected: HashMap<String, String> = [("c1".to_string(), "aa".repeat(20))].into();
        let served = |fingerprint: String, chain: Result<(), String>| Served {
            fingerprint,
            not_after: Some(1_900_000_000),
            chain,
        };
        let outcomes: HashMap<(String, u16), Outcome> = [
            (
                ("good.example.com".to_string(), 443),
                (
                    Ok(served("aa".repeat(20), Ok(()))),
                    Duration::from_millis(20),
                ),
            ),
            (
                ("stale.example.com".to_string(), 443),
                (
                    Ok(served("bb".repeat(20), Err("expired".into()))),
                    Duration::from_millis(30),
                ),
            ),
            (
                ("down.example.com".to_string(), 443),
                (
                    Err(ProbeError::Connect("refused".into())),
                    Duration::from_millis(1),
                ),
            ),
        ]
        .into();
        let mut builder = SnapshotBuilder::new("a");
        write_run(
            &mut builder,
            &targets,
            &plans,
            &expected,
            &outcomes,
            &HashMap::new(),
            1,
        );
        let snapshot = builder.finish();
        let l = |d: &str, c: &str| {
            format!("{{account=\"a\",certificate_id=\"{c}\",domain=\"{d}\",port=\"443\"")
        };
        assert_eq!(
            snapshot.chunk(Family::EndpointCertificateMatch),
            format!(
                "tencentcloud_ssl_endpoint_certificate_match{}}} 1\ntencentcloud_ssl_endpoint_certificate_match{}}} 0\n",
                l("good.example.com", "c1"),
                l("stale.example.com", "c1")
            ),
            "absent where the probe failed or nothing is expected"
        );
        assert_eq!(
            snapshot
                .chunk(Family::EndpointProbeSuccess)
                .lines()
                .collect::<Vec<_>>(),
            [
                format!(
                    "tencentcloud_ssl_endpoint_probe_success{}}} 1",
                    l("good.example.com", "c1")
                ),
                format!(
                    "tencentcloud_ssl_endpoint_probe_success{}}} 1",
                    l("stale.example.com", "c1")
                ),
                format!(
                    "tencentcloud_ssl_endpoint_probe_success{}}} 0",
                    l("down.example.com", "c2")
                ),
            ]
        );
        assert_eq!(
            snapshot.chunk(Family::EndpointProbeError),
            format!(
                "tencentcloud_ssl_endpoint_probe_error_info{},reason=\"connect\"}} 1\n",
                l("down.example.com", "c2")
            )
        );
        assert!(snapshot
            .chunk(Family::EndpointChainValid)
            .contains(&format!("{}}} 0", l("stale.example.com", "c1"))));
        assert!(snapshot
            .chunk(Family::EndpointServedNotAfter)
            .contains(&format!("{}}} 1900000000", l("good.example.com", "c1"))));
        assert!(snapshot
            .chunk(Family::EndpointServedInfo)
            .contains(&format!(
                "{},fingerprint_sha1=\"{}\"}} 1",
                l("stale.example.com", "c1"),
                "bb".repeat(20)
            )));
        assert_eq!(
            snapshot.chunk(Family::EndpointSkipped),
            format!(
                "tencentcloud_ssl_endpoint_skipped_info{},reason=\"wildcard\"}} 1\n",
                l("*.w.example.com", "c1")
            )
        );
        assert_eq!(
            snapshot.chunk(Family::EndpointInfo).lines().count(),
            4,
            "probed and skipped targets, not the one over the limit"
        );
        assert_eq!(
            snapshot.chunk(Family::EndpointTargets),
            "tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"not_resolved\"} 0\n\
             tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"over_limit\"} 1\n\
             tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"probed\"} 3\n\
             tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"skipped\"} 1\n"
        );
        assert_eq!(
            snapshot.chunk(Family::CertificateFingerprint),
            format!(
                "tencentcloud_ssl_certificate_fingerprint_info{{account=\"a\",certificate_id=\"c1\",fingerprint_sha1=\"{}\"}} 1\n",
                "aa".repeat(20)
            )
        );
    }

    #[test]
    fn a_name_resolving_only_to_refused_addresses_is_a_skipped_endpoint() {
        let targets = [
            target("meta.example.com", "c1"),
            target("ok.example.com", "c1"),
        ];
        let plans = [ProbePlan::Probe, ProbePlan::Probe];
        let outcomes: HashMap<(String, u16), Outcome> = [
            (
                ("meta.example.com".to_string(), 443),
                (
                    Err(ProbeError::Refused {
                        reason: "link_local_address",
                        addresses: "169.254.169.254".into(),
                    }),
                    Duration::ZERO,
                ),
            ),
            (
                ("ok.example.com".to_string(), 443),
                (Err(ProbeError::Timeout), Duration::ZERO),
            ),
        ]
        .into();
        let mut builder = SnapshotBuilder::new("a");
        write_run(
            &mut builder,
            &targets,
            &plans,
            &HashMap::new(),
            &outcomes,
            &HashMap::new(),
            1,
        );
        let snapshot = builder.finish();
        assert_eq!(
            snapshot.chunk(Family::EndpointSkipped),
            "tencentcloud_ssl_endpoint_skipped_info{account=\"a\",certificate_id=\"c1\",domain=\"meta.example.com\",port=\"443\",reason=\"link_local_address\"} 1\n"
        );
        assert!(
            !snapshot
                .chunk(Family::EndpointProbeSuccess)
                .contains("meta.example.com"),
            "not a failed probe: it was not dialled"
        );
        assert_eq!(snapshot.chunk(Family::EndpointInfo).lines().count(), 2);
        assert_eq!(
            snapshot.chunk(Family::EndpointTargets),
            "tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"not_resolved\"} 0\n\
             tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"over_limit\"} 0\n\
             tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"probed\"} 1\n\
             tencentcloud_ssl_endpoint_targets{account=\"a\",state=\"skipped\"} 1\n"
        );
    }
}
