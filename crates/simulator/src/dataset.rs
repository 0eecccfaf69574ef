//! The simulated world: certificates, what they are bound to, and rollout records with
//! timelines. Built deterministically from a [`DatasetSpec`].

use std::collections::BTreeMap;

use crate::model::{ItemState, Operation, RecordKind};
use crate::scenario::InactiveState;
use crate::Rng;

/// Regional resource types, as the API lists them.
pub const REGIONAL_TYPES: &[&str] = &[
    "clb",
    "tke",
    "waf",
    "apigateway",
    "tcb",
    "cos",
    "tse",
    "tdmq",
    "mqtt",
    "scf",
];
/// Resource types without regions.
pub const GLOBAL_TYPES: &[&str] = &["cdn", "ddos", "live", "vod", "teo", "gaap"];
/// Types whose instances carry `NoMatchDomains`.
pub const UNMATCHED_TYPES: &[&str] = &["clb", "tke", "tdmq"];
pub const REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-beijing",
    "ap-singapore",
    "na-siliconvalley",
];
const NAMES: &[&str] = &[
    "shop", "api", "www", "pay", "static", "img", "m", "admin", "mail", "cdn", "auth", "live",
];
const ZONES: &[&str] = &["example.com", "example.cn", "demo.net", "sample.org"];

/// What to build.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    pub seed: u64,
    pub certificates: usize,
    /// Rollout records of both kinds together.
    pub records: usize,
    /// Unix time the world is built around: expiry dates and record ages are relative to it.
    pub now: i64,
    /// Rollouts still in flight at `now` finish within this many seconds; 0: none is in flight.
    pub live_window_seconds: i64,
    /// Bind tasks take between 1 and this many seconds to finish.
    pub max_task_seconds: i64,
}

impl DatasetSpec {
    pub fn new(seed: u64, certificates: usize, now: i64) -> Self {
        DatasetSpec {
            seed,
            certificates,
            records: certificates / 2 + 4,
            now,
            live_window_seconds: 180,
            max_task_seconds: 4,
        }
    }
}

/// One (resource type, region) a certificate is bound in.
#[derive(Debug, Clone)]
pub struct Binding {
    pub resource_type: &'static str,
    /// `None` for types without regions.
    pub region: Option<&'static str>,
    pub instances: u64,
    /// Set when querying this region fails.
    pub error: Option<String>,
    /// Every `unmatched_every`-th instance (0: none) serves a domain the certificate misses,
    /// drawn from `unmatched_pool` in turn.
    pub unmatched_every: u64,
    pub unmatched_pool: Vec<String>,
    /// Instances whose domain is not the usual `i{index}.{certificate domain}`: the demo's
    /// endpoint targets (see [`Dataset::demo_targets`]), as (instance index, domain).
    pub domain_overrides: Vec<(u64, String)>,
    /// Instances whose documented state says they serve nothing now (a LIVE domain with HTTPS
    /// off, a CDN domain offline, ...), as (instance index, state): see [`crate::scenario`].
    pub inactive: Vec<(u64, InactiveState)>,
}

impl Binding {
    /// The documented "serves nothing now" state of instance `index`, if it has one.
    pub fn inactive_state(&self, index: u64) -> Option<InactiveState> {
        self.inactive
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, state)| *state)
    }

    /// The domain instance `index` serves, as the bind detail lists it.
    pub fn instance_domain(&self, certificate_domain: &str, index: u64) -> String {
        self.domain_overrides
            .iter()
            .find(|(i, _)| *i == index)
            .map_or_else(
                || format!("i{index}.{certificate_domain}"),
                |(_, d)| d.clone(),
            )
    }

    /// `NoMatchDomains` of instance `index`.
    pub fn unmatched_of(&self, index: u64) -> Option<&str> {
        if self.unmatched_every == 0
            || self.unmatched_pool.is_empty()
            || index % self.unmatched_every != 0
        {
            return None;
        }
        let slot = (index / self.unmatched_every) as usize % self.unmatched_pool.len();
        Some(&self.unmatched_pool[slot])
    }

    /// Distinct unmatched domains over every instance.
    pub fn distinct_unmatched(&self) -> u64 {
        if self.unmatched_every == 0 || self.error.is_some() {
            return 0;
        }
        let qualifying = self.instances.div_ceil(self.unmatched_every);
        qualifying.min(self.unmatched_pool.len() as u64)
    }
}

#[derive(Debug, Clone)]
pub struct Certificate {
    pub id: String,
    pub domain: String,
    /// Empty means the API answers `null`.
    pub alias: String,
    pub certificate_type: &'static str,
    pub status: i64,
    pub not_before: i64,
    pub not_after: i64,
    pub bindings: Vec<Binding>,
    /// The bind task of this certificate fails (Status 2).
    pub task_fails: bool,
    /// Seconds a fresh bind task takes.
    pub task_seconds: i64,
    /// `HostingStatus` (-1 not hosted, 0 hosting, 5 replacing, 10 done).
    pub hosting_status: i64,
    /// `AutoRenewFlag` is 1.
    pub auto_renew: bool,
    /// `RenewAble`.
    pub renewable: bool,
    /// `HasRenewOrder`: the ID of the renewal certificate on order, or empty.
    pub renew_order: String,
    /// `HostingRenewCertId`: the successor a hosted renewal created, or empty.
    pub successor: String,
    /// `Deployable`: issued and not expired.
    pub deployable: bool,
    /// The `CertificateType` is answered in lower case (as the official example does).
    pub lower_case_type: bool,
    /// `Tags`: (`TagKey`, `TagValue`) each.
    pub tags: Vec<(String, String)>,
    /// The subscription service the certificate belongs to, if any.
    pub service: Option<Subscription>,
    /// `HostingConfig.ReplaceTime`: days before expiry at which hosting replaces the certificate
    /// on its resources once a renewal exists; `None` answers `HostingConfig: null` (not hosted).
    pub hosting_replace_days: Option<i64>,
    /// The daily window replacements run in (`ReplaceStartTime`, `ReplaceEndTime`: times of day).
    pub hosting_window: (&'static str, &'static str),
    /// `CertRevokedTime`: when revocation completed (status 10), unix seconds.
    pub revoked_at: Option<i64>,
    /// The leaf is signed by an intermediate CA that expires at this time (unix seconds) rather
    /// than by the demo CA directly: `DescribeCertificateDetail` lists it in the chain.
    pub intermediate_not_after: Option<i64>,
}

/// A subscription service (`ServiceId` and its fields in `DescribeCertificates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    /// `ServiceStatus`: `initing`, `running`, `expired`, `refunded` or `nearExpire`.
    pub status: &'static str,
    /// `CertServiceEndTime`, unix seconds.
    pub ends: i64,
    /// `CertificateExtra.ServiceRenewCertificateId`: the next certificate it issued, or empty.
    pub renew_certificate_id: String,
    /// `CertificateExtra.ServiceOriginCertificateId`: the certificate this one renews, or empty.
    pub origin_certificate_id: String,
}

impl Certificate {
    /// Whether the bind detail shows the certificate bound to at least one instance: its task
    /// succeeds and a region without an error holds instances.
    pub fn bound(&self) -> bool {
        !self.task_fails
            && self
                .bindings
                .iter()
                .any(|b| b.error.is_none() && b.instances > 0)
    }
}

/// A resource of a rollout entry, with its timeline.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: u64,
    pub resource_type: &'static str,
    pub region: &'static str,
    pub outcome: ItemState,
    pub pending_until: i64,
    pub running_until: i64,
    /// Answered with a `Status` no decoder can read (`"in progress"`): the exporter must skip
    /// it, say so, and keep the rest of the record.
    pub garbled: bool,
}

impl Item {
    pub fn status_at(&self, t: i64) -> ItemState {
        if t < self.pending_until {
            ItemState::Pending
        } else if t < self.running_until {
            ItemState::Running
        } else {
            self.outcome
        }
    }

    /// The latest transition at or before `t`.
    pub fn updated_at(&self, t: i64, created: i64) -> i64 {
        [created, self.pending_until, self.running_until]
            .into_iter()
            .filter(|x| *x <= t)
            .max()
            .unwrap_or(created)
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub operation: Operation,
    pub created: i64,
    pub items: Vec<Item>,
}

impl Entry {
    /// Entry status at `t`, aggregated from its items.
    pub fn status_at(&self, t: i64) -> ItemState {
        let statuses: Vec<ItemState> = self.items.iter().map(|i| i.status_at(t)).collect();
        if statuses.contains(&ItemState::Running) {
            ItemState::Running
        } else if statuses.contains(&ItemState::Pending) {
            ItemState::Pending
        } else if self.operation == Operation::Rollback {
            if statuses.contains(&ItemState::RollbackFailed) {
                ItemState::RollbackFailed
            } else {
                ItemState::RolledBack
            }
        } else if statuses.contains(&ItemState::Failed) {
            ItemState::Failed
        } else {
            ItemState::Success
        }
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub kind: RecordKind,
    /// New certificate (update records) or the unchanged one (upload updates).
    pub cert_id: String,
    pub old_cert_id: String,
    pub created: i64,
    /// Deploy first; upload updates may add a rollback entry.
    pub entries: Vec<Entry>,
    /// The `Domains` string of items that name real endpoints, by item ID, as the API writes it
    /// (several names joined with commas, a CDN `|on` switch; see [`crate::scenario`]); the
    /// other items name `d{item ID}.example.com`.
    pub item_domains: BTreeMap<u64, String>,
}

impl Record {
    /// Status of the newest entry, which is what the list shows.
    pub fn status_at(&self, t: i64) -> ItemState {
        self.entries
            .last()
            .map_or(ItemState::Success, |e| e.status_at(t))
    }

    /// The `Domains` string of item `item_id`, as the detail answers it.
    pub fn item_domains(&self, item_id: u64) -> String {
        self.item_domains
            .get(&item_id)
            .cloned()
            .unwrap_or_else(|| format!("d{item_id}.example.com"))
    }

    pub fn updated_at(&self, t: i64) -> i64 {
        self.entries
            .iter()
            .flat_map(|e| e.items.iter().map(|i| i.updated_at(t, e.created)))
            .max()
            .unwrap_or(self.created)
    }
}

/// What a demo TLS endpoint serves for the certificate whose bind detail names its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Served {
    /// The leaf `DescribeCertificateDetail` answers, still valid.
    Current,
    /// An older leaf for the same domain (own key, same CA) expiring 5 days after the dataset's
    /// `now`, while the API's certificate runs more than 30 days: renewed, but never deployed here.
    Previous,
    /// The API's own leaf, already expired: it matches, its chain does not verify.
    Expired,
    /// Nothing: the bind detail names the domain, but connecting to it is refused (no listener),
    /// for an issued, unexpired certificate.
    Unreachable,
}

impl Served {
    /// A short lower-case name, for logs.
    pub fn label(self) -> &'static str {
        ["current", "previous", "expired", "unreachable"][self as usize]
    }
}

/// What a demo target is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemoRole {
    /// A TLS endpoint serving this.
    Serves(Served),
    /// A wildcard domain (`*.…`): listed by the bind detail, never dialled.
    Wildcard,
}

/// A bind-detail instance whose domain the demo controls: unique in the whole dataset (no
/// other instance, of any certificate, and no record item lists it), on a type whose instances
/// carry a domain and no port (so 443 is implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTarget {
    pub certificate_id: String,
    /// Lower case, as the detail's keys are (`cdn`, `clb`, …).
    pub resource_type: &'static str,
    pub region: Option<&'static str>,
    /// Index into the certificate's `bindings`.
    pub binding: usize,
    /// Instance index within that binding.
    pub instance: u64,
    pub domain: String,
    pub role: DemoRole,
}

/// Types whose bind-detail instances carry a domain and imply port 443 (not ddos, whose
/// instances name a `VirtualPort`; not the types without a domain or with one of their own).
pub const DOMAIN_TYPES: &[&str] = &[
    "cdn",
    "waf",
    "live",
    "vod",
    "cos",
    "apigateway",
    "teo",
    "clb",
    "tke",
];

/// The whole world.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub spec: DatasetSpec,
    /// Sorted by ID (the order `DescribeCertificates` pages in).
    pub certificates: Vec<Certificate>,
    /// Newest first (the order the record lists page in).
    pub records: Vec<Record>,
    /// Instances given a demo domain: TLS endpoint targets and a wildcard, chosen by a fixed
    /// rule (2 current, 1 previous, 1 expired if any, 1 wildcard, 1 unreachable; in ID order)
    /// without drawing from the generator.
    pub demo_targets: Vec<DemoTarget>,
}

fn cert_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..8).map(|_| *rng.pick(ALPHABET) as char).collect()
}

fn domain(rng: &mut Rng) -> String {
    format!("{}.{}", rng.pick(NAMES), rng.pick(ZONES))
}

const DAY: i64 = 86_400;

impl Dataset {
    pub fn generate(spec: DatasetSpec) -> Dataset {
        let mut rng = Rng::new(spec.seed);
        let now = spec.now;
        let mut certificates = Vec::with_capacity(spec.certificates);
        let mut ids = std::collections::HashSet::new();
        for index in 0..spec.certificates {
            let mut id = cert_id(&mut rng);
            while !ids.insert(id.clone()) {
                id = cert_id(&mut rng);
            }
            // Expiry spread: ~10% expired, ~15% within 30 days, the rest later.
            let roll = rng.below(100);
            let not_after = if roll < 10 {
                now - rng.range(1, 60) as i64 * DAY
            } else if roll < 25 {
                now + rng.range(1, 29) as i64 * DAY + rng.below(DAY as u64) as i64
            } else {
                now + rng.range(31, 400) as i64 * DAY
            };
            let status = if not_after < now {
                3
            } else {
                *rng.pick(&[1, 1, 1, 1, 1, 1, 1, 1, 0, 10])
            };
            let alias = match index % 7 {
                0 => String::new(),
                1 => "生产证书 \"primary\" \\ edge\nsecond line".to_string(),
                _ => format!(
                    "{}-{}",
                    rng.pick(&["prod", "staging", "legacy", "shared"]),
                    index
                ),
            };
            let unbound = rng.chance(0.2);
            let mut bindings = Vec::new();
            if !unbound {
                let type_count = rng.range(1, 4);
                let mut types: Vec<&'static str> = Vec::new();
                while (types.len() as u64) < type_count {
                    let pool = if rng.chance(0.6) {
                        REGIONAL_TYPES
                    } else {
                        GLOBAL_TYPES
                    };
                    let t = *rng.pick(pool);
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
                for resource_type in types {
                    let regional = REGIONAL_TYPES.contains(&resource_type);
                    let region_count = if regional { rng.range(1, 3) } else { 1 };
                    let mut regions: Vec<Option<&'static str>> = Vec::new();
                    while (regions.len() as u64) < region_count {
                        let r = if regional {
                            Some(*rng.pick(REGIONS))
                        } else {
                            None
                        };
                        if !regions.contains(&r) {
                            regions.push(r);
                        }
                    }
                    for region in regions {
                        let instances = if rng.chance(0.08) {
                            rng.range(101, 260)
                        } else {
                            rng.range(1, 12)
                        };
                        let unmatched = UNMATCHED_TYPES.contains(&resource_type) && rng.chance(0.4);
                        bindings.push(Binding {
                            resource_type,
                            region,
                            instances,
                            error: None,
                            unmatched_every: if unmatched { rng.range(1, 3) } else { 0 },
                            unmatched_pool: (0..rng.range(1, 3))
                                .map(|i| format!("legacy{i}.{}", rng.pick(ZONES)))
                                .collect(),
                            domain_overrides: Vec::new(),
                            inactive: Vec::new(),
                        });
                    }
                }
            }
            certificates.push(Certificate {
                id,
                domain: domain(&mut rng),
                alias,
                certificate_type: if rng.chance(0.9) { "SVR" } else { "CA" },
                status,
                not_before: not_after - 365 * DAY,
                not_after,
                bindings,
                task_fails: false,
                task_seconds: rng.range(1, spec.max_task_seconds.max(1) as u64) as i64,
                hosting_status: *rng.pick(&[-1, -1, -1, 0, 5, 10]),
                auto_renew: rng.chance(0.3),
                renewable: rng.chance(0.7),
                renew_order: if rng.chance(0.15) {
                    cert_id(&mut rng)
                } else {
                    String::new()
                },
                successor: if rng.chance(0.1) {
                    cert_id(&mut rng)
                } else {
                    String::new()
                },
                deployable: status == 1 && not_after > now,
                lower_case_type: rng.chance(0.3),
                tags: Vec::new(),
                service: None,
                hosting_replace_days: None,
                hosting_window: ("00:00:00", "23:59:59"),
                revoked_at: None,
                intermediate_not_after: None,
            });
        }
        // Fixed features every demo shows: a certificate about to expire that nothing renews
        // (its alias written as HTML, which every page that shows it must escape), a failed
        // bind task and a region query error.
        if let Some(cert) = certificates
            .iter_mut()
            .find(|c| c.not_after > now && c.not_after < now + 28 * DAY)
        {
            cert.auto_renew = false;
            cert.renew_order.clear();
            cert.successor.clear();
            cert.alias = Self::HOSTILE_ALIAS.to_string();
        }
        if let Some(cert) = certificates.get_mut(3) {
            cert.task_fails = true;
        }
        if let Some(cert) = certificates
            .iter_mut()
            .skip(5)
            .find(|c| c.bindings.iter().any(|b| b.region.is_some()))
        {
            let regional = cert.bindings.iter_mut().find(|b| b.region.is_some());
            if let Some(binding) = regional {
                binding.error =
                    Some("FailedOperation.QueryRegionFailed: region backend timed out".into());
                binding.instances = 0;
            }
        }
        certificates.sort_by(|a, b| a.id.cmp(&b.id));
        let records = Self::records(&spec, &certificates, &mut rng);
        let demo_targets = Self::choose_demo_targets(&mut certificates, now);
        Self::describe_newer_fields(&mut certificates, &demo_targets, now);
        Dataset {
            spec,
            certificates,
            records,
            demo_targets,
        }
    }

    /// The fields newer API versions added, by a fixed rule on the certificates' positions (no
    /// draw from the generator, so the rest of the world is what it was):
    ///
    /// - `Tags`: every fourth certificate has `team` and `env`, the one after it `team` only;
    /// - a subscription service for every fifth certificate expiring more than 60 days ahead
    ///   (its statuses in turn, its renewal chain where it has issued one);
    /// - `HostingConfig` for every hosted certificate (`ReplaceTime` 30, 15 or 7 days);
    /// - `CertRevokedTime` for every revoked certificate (status 10), a week after it began;
    /// - fixed features every demo shows: a revoked certificate still bound to resources, a
    ///   hosted certificate whose replacement date has passed with a renewal ready while it is
    ///   still bound, and the `Previous` demo target's leaf signed by an intermediate that
    ///   expires 20 days from `now`, before the leaf (chosen certificates are never the demo's
    ///   other targets nor the unrenewed one).
    fn describe_newer_fields(certificates: &mut [Certificate], demo: &[DemoTarget], now: i64) {
        const TEAMS: [&str; 3] = ["payments", "web", "platform"];
        const SERVICE_STATES: [&str; 5] =
            ["running", "nearExpire", "expired", "initing", "refunded"];
        for (index, cert) in certificates.iter_mut().enumerate() {
            let team = TEAMS[index / 4 % TEAMS.len()];
            cert.tags = match index % 4 {
                0 => vec![("team".into(), team.into()), ("env".into(), "prod".into())],
                1 => vec![("team".into(), team.into())],
                _ => Vec::new(),
            };
            if index % 5 == 2 && cert.not_after > now + 60 * DAY {
                let status = SERVICE_STATES[index / 5 % SERVICE_STATES.len()];
                cert.service = Some(Subscription {
                    id: format!("ss-{}", cert.id.to_lowercase()),
                    status,
                    ends: cert.not_after + 180 * DAY,
                    renew_certificate_id: if status == "running" {
                        format!("{}-next", cert.id)
                    } else {
                        String::new()
                    },
                    origin_certificate_id: if index % 2 == 0 {
                        format!("{}-prev", cert.id)
                    } else {
                        String::new()
                    },
                });
            }
            if cert.hosting_status != -1 {
                cert.hosting_replace_days = Some([30, 15, 7][index % 3]);
                cert.hosting_window = if index % 2 == 0 {
                    ("00:00:00", "23:59:59")
                } else {
                    ("12:00:00", "23:00:00")
                };
            }
        }
        let free = |cert: &Certificate| {
            !demo.iter().any(|t| t.certificate_id == cert.id)
                && cert.alias != Self::HOSTILE_ALIAS
                && cert.bound()
        };
        // Revoked and still deployed: strict clients refuse it.
        if !certificates.iter().any(|c| c.status == 10 && c.bound()) {
            if let Some(cert) = certificates
                .iter_mut()
                .find(|c| free(c) && c.status == 1 && c.not_after > now)
            {
                cert.status = 10;
                cert.deployable = false;
            }
        }
        // Hosted, a renewal ready, the replacement date (`ReplaceTime` days before expiry: 30, or
        // more for a certificate that expires later) passed days ago, and the resources still
        // hold the old certificate.
        let overdue = |c: &Certificate| free(c) && c.status == 1 && c.not_after > now + 3 * DAY;
        let soonest = certificates
            .iter()
            .position(|c| overdue(c) && c.not_after < now + 25 * DAY)
            .or_else(|| certificates.iter().position(overdue));
        if let Some(cert) = soonest.and_then(|i| certificates.get_mut(i)) {
            cert.hosting_status = 0;
            cert.successor = format!("{}-renewed", cert.id);
            cert.hosting_replace_days = Some(30.max((cert.not_after - now) / DAY + 5));
        }
        for cert in certificates.iter_mut() {
            if cert.status == 10 {
                cert.revoked_at = Some(cert.not_before + 7 * DAY);
            }
        }
        let previous = demo
            .iter()
            .find(|t| t.role == DemoRole::Serves(Served::Previous));
        if let Some(target) = previous {
            if let Some(cert) = certificates
                .iter_mut()
                .find(|c| c.id == target.certificate_id)
            {
                cert.intermediate_not_after = Some(now + 20 * DAY);
            }
        }
    }

    /// The alias of the demo's unrenewed certificate: markup that would run if a page showed it
    /// unescaped.
    pub const HOSTILE_ALIAS: &str =
        "<img src=x onerror=\"document.title='injected'\"><b>web</b> & api";

    /// The first instance of `cert` a demo domain can go to: on a [`DOMAIN_TYPES`] binding
    /// without a region error and without an override yet, not one serving an unmatched domain,
    /// and only if the bind task succeeds (otherwise no detail lists it).
    pub(crate) fn demo_carrier(cert: &Certificate) -> Option<(usize, u64)> {
        if cert.task_fails {
            return None;
        }
        cert.bindings
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                DOMAIN_TYPES.contains(&b.resource_type)
                    && b.error.is_none()
                    && b.domain_overrides.is_empty()
            })
            .find_map(|(i, b)| {
                (0..b.instances)
                    .find(|index| b.unmatched_of(*index).is_none())
                    .map(|index| (i, index))
            })
    }

    /// Picks the demo's endpoint targets and its wildcard, in ID order, without drawing from the
    /// generator (so the rest of the world is what it was), and renames those instances:
    ///
    /// - `Current` ×2: the first two issued (status 1), unexpired certificates with a carrier;
    /// - `Previous`: the next issued certificate expiring more than 30 days after `now`;
    /// - `Expired`: the first expired certificate with a carrier (none if there is none);
    /// - the wildcard: the first certificate left with a carrier;
    /// - `Unreachable`: the next issued, unexpired certificate left with a carrier (picked last,
    ///   so the picks above are what they were before it existed).
    ///
    /// An endpoint's domain is `{lower-case ID}.{certificate domain}` (under the leaf's
    /// `*.{domain}`), the wildcard's `*.wild-{lower-case ID}.{certificate domain}`. Other
    /// instance domains are `i{n}.…`, `access{n}.…` or `host{n}.…` with n < 260, record items
    /// name `d{n}.example.com` and unmatched domains have three labels, so a four-label name
    /// whose first label is an 8-character ID is unique once the ID does not start with
    /// `access` and no two picked IDs are equal in lower case, which is checked here.
    fn choose_demo_targets(certificates: &mut [Certificate], now: i64) -> Vec<DemoTarget> {
        let fits = |role: DemoRole, c: &Certificate| match role {
            DemoRole::Serves(Served::Current | Served::Unreachable) => {
                c.status == 1 && c.not_after > now
            }
            DemoRole::Serves(Served::Previous) => c.status == 1 && c.not_after > now + 30 * DAY,
            DemoRole::Serves(Served::Expired) => c.not_after < now,
            DemoRole::Wildcard => true,
        };
        let wanted = [
            DemoRole::Serves(Served::Current),
            DemoRole::Serves(Served::Current),
            DemoRole::Serves(Served::Previous),
            DemoRole::Serves(Served::Expired),
            DemoRole::Wildcard,
            DemoRole::Serves(Served::Unreachable),
        ];
        let mut used: Vec<String> = Vec::new();
        let mut targets = Vec::new();
        for role in wanted {
            let found = certificates.iter_mut().find_map(|cert| {
                let lower = cert.id.to_lowercase();
                if used.contains(&lower) || lower.starts_with("access") || !fits(role, cert) {
                    return None;
                }
                let (binding, instance) = Self::demo_carrier(cert)?;
                Some((cert, lower, binding, instance))
            });
            let Some((cert, lower, binding, instance)) = found else {
                continue;
            };
            let domain = match role {
                DemoRole::Wildcard => format!("*.wild-{lower}.{}", cert.domain),
                DemoRole::Serves(_) => format!("{lower}.{}", cert.domain),
            };
            let carrier = &mut cert.bindings[binding];
            carrier.domain_overrides.push((instance, domain.clone()));
            targets.push(DemoTarget {
                certificate_id: cert.id.clone(),
                resource_type: carrier.resource_type,
                region: carrier.region,
                binding,
                instance,
                domain,
                role,
            });
            used.push(lower);
        }
        targets
    }

    fn records(spec: &DatasetSpec, certificates: &[Certificate], rng: &mut Rng) -> Vec<Record> {
        let now = spec.now;
        let mut records = Vec::with_capacity(spec.records);
        let mut item_id = 1000u64;
        if certificates.is_empty() {
            return records;
        }
        for index in 0..spec.records {
            let kind = match index % 5 {
                2 => RecordKind::Update,
                4 => RecordKind::Deploy,
                _ => RecordKind::UploadUpdate,
            };
            let cert = rng.pick(certificates);
            let old = rng.pick(certificates);
            // A quarter are live (in flight at start) unless the live window is zero; a few are
            // older than 30 days.
            let live = index % 4 == 0 && spec.live_window_seconds > 0;
            let created = if live {
                now - rng.range(5, 60) as i64
            } else if index % 11 == 5 {
                now - rng.range(31, 60) as i64 * DAY
            } else {
                now - rng.range(1, 25) as i64 * DAY - rng.below(DAY as u64) as i64
            };
            let window = spec.live_window_seconds.max(2);
            let mut entries = Vec::new();
            let mut deploy_items = Vec::new();
            // A deploy record deploys to one resource type in one region.
            let type_count = if kind == RecordKind::Deploy {
                1
            } else {
                rng.range(1, 3)
            };
            for _ in 0..type_count {
                let resource_type = if rng.chance(0.5) {
                    *rng.pick(REGIONAL_TYPES)
                } else {
                    *rng.pick(GLOBAL_TYPES)
                };
                let count = if rng.chance(0.06) {
                    rng.range(201, 260)
                } else {
                    rng.range(1, 8)
                };
                for _ in 0..count {
                    item_id += 1;
                    let roll = rng.below(100);
                    let outcome = if roll < 78 {
                        ItemState::Success
                    } else if roll < 94 {
                        ItemState::Failed
                    } else {
                        ItemState::NoResource
                    };
                    let (pending_until, running_until) = if live {
                        let p = now + rng.range(1, (window / 3).max(1) as u64) as i64;
                        (p, p + rng.range(1, (window * 2 / 3).max(1) as u64) as i64)
                    } else {
                        (created + 5, created + 5 + rng.range(10, 600) as i64)
                    };
                    let region: &'static str = if REGIONAL_TYPES.contains(&resource_type) {
                        REGIONS[rng.below(REGIONS.len() as u64) as usize]
                    } else {
                        ""
                    };
                    deploy_items.push(Item {
                        garbled: false,
                        id: item_id,
                        resource_type,
                        region,
                        outcome,
                        pending_until,
                        running_until,
                    });
                }
            }
            if kind == RecordKind::Deploy {
                let region = deploy_items.first().map_or("", |i| i.region);
                for item in &mut deploy_items {
                    item.region = region;
                }
            }
            let deploy_end = deploy_items
                .iter()
                .map(|i| i.running_until)
                .max()
                .unwrap_or(created);
            let rollback = kind == RecordKind::UploadUpdate && !live && rng.chance(0.3);
            entries.push(Entry {
                operation: Operation::Deploy,
                created,
                items: deploy_items.clone(),
            });
            if rollback {
                let rollback_created = deploy_end + 60;
                let items = deploy_items
                    .iter()
                    .map(|item| {
                        item_id += 1;
                        Item {
                            id: item_id,
                            outcome: if rng.chance(0.85) {
                                ItemState::RolledBack
                            } else {
                                ItemState::RollbackFailed
                            },
                            pending_until: rollback_created + 5,
                            running_until: rollback_created + 5 + rng.range(10, 300) as i64,
                            ..item.clone()
                        }
                    })
                    .collect();
                entries.push(Entry {
                    operation: Operation::Rollback,
                    created: rollback_created,
                    items,
                });
            }
            records.push(Record {
                id: 1 + index as u64,
                kind,
                cert_id: cert.id.clone(),
                old_cert_id: if kind == RecordKind::UploadUpdate {
                    cert.id.clone()
                } else {
                    old.id.clone()
                },
                created,
                entries,
                item_domains: BTreeMap::new(),
            });
        }
        // Fixed features every demo shows: an item with a status code no doc lists, and an item
        // whose status cannot be decoded at all, each in a finished record of the last 30 days.
        let finished = |r: &&mut Record| r.created < now - 3600 && r.created >= now - 25 * DAY;
        if let Some(record) = records
            .iter_mut()
            .filter(finished)
            .find(|r| r.kind == RecordKind::UploadUpdate)
        {
            if let Some(item) = record.entries[0].items.first_mut() {
                item.outcome = ItemState::Undocumented;
            }
        }
        if let Some(record) = records
            .iter_mut()
            .filter(finished)
            .find(|r| r.kind == RecordKind::Update && r.entries[0].items.len() > 1)
        {
            if let Some(item) = record.entries[0].items.last_mut() {
                item.garbled = true;
            }
        }
        records.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        records
    }

    /// The fewest calls per action a complete first collection of this world needs (one list
    /// of certificates, one create and one result call per 100 certificates, every detail page of
    /// every certificate with bound resources and of every record younger than `max_age`), the
    /// yardstick of the benchmarks.
    pub fn minimal_calls(&self, now: i64, max_age_seconds: i64) -> BTreeMap<&'static str, u64> {
        let pages = |count: u64, limit: u64| count.div_ceil(limit).max(1);
        let n = self.certificates.len() as u64;
        let mut calls = BTreeMap::new();
        calls.insert("DescribeCertificates", pages(n, 1000));
        calls.insert("CreateCertificateBindResourceSyncTask", n.div_ceil(100));
        calls.insert("DescribeCertificateBindResourceTaskResult", n.div_ceil(100));
        let details: u64 = self
            .certificates
            .iter()
            .filter(|c| !c.task_fails && c.bindings.iter().any(|b| b.instances > 0))
            .map(|c| {
                let extent = c
                    .bindings
                    .iter()
                    .map(|b| {
                        if b.resource_type == "tcb" {
                            b.instances.div_ceil(2)
                        } else {
                            b.instances
                        }
                    })
                    .max()
                    .unwrap_or(0);
                pages(extent, 100)
            })
            .sum();
        calls.insert("DescribeCertificateBindResourceTaskDetail", details);
        for (kind, list, detail) in [
            (
                RecordKind::UploadUpdate,
                "DescribeHostUploadUpdateRecord",
                "DescribeHostUploadUpdateRecordDetail",
            ),
            (
                RecordKind::Update,
                "DescribeHostUpdateRecord",
                "DescribeHostUpdateRecordDetail",
            ),
            (
                RecordKind::Deploy,
                "DescribeHostDeployRecord",
                "DescribeHostDeployRecordDetail",
            ),
        ] {
            let records: Vec<&Record> = self.records_of(kind).collect();
            let list_pages = if kind == RecordKind::Deploy {
                // Listed per certificate: at least one call each.
                self.certificates
                    .iter()
                    .map(|c| {
                        let of_cert = records.iter().filter(|r| r.cert_id == c.id).count();
                        pages(of_cert as u64, 100)
                    })
                    .sum()
            } else {
                pages(records.len() as u64, 100)
            };
            calls.insert(list, list_pages);
            let detail_pages: u64 = records
                .iter()
                .filter(|r| r.created >= now - max_age_seconds)
                .map(|r| {
                    let largest = r
                        .entries
                        .iter()
                        .flat_map(|e| {
                            let mut per_type: BTreeMap<&str, u64> = BTreeMap::new();
                            for item in &e.items {
                                *per_type.entry(item.resource_type).or_default() += 1;
                            }
                            per_type.into_values()
                        })
                        .max()
                        .unwrap_or(0);
                    pages(largest, 200)
                })
                .sum();
            calls.insert(detail, detail_pages);
        }
        calls
    }

    pub fn certificate(&self, id: &str) -> Option<&Certificate> {
        self.certificates
            .binary_search_by(|c| c.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.certificates[i])
    }

    pub fn records_of(&self, kind: RecordKind) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.kind == kind)
    }

    /// The demo targets a TLS endpoint serves, with what it serves.
    pub fn endpoint_targets(&self) -> impl Iterator<Item = (&DemoTarget, Served)> {
        self.demo_targets.iter().filter_map(|t| match t.role {
            DemoRole::Serves(served) => Some((t, served)),
            DemoRole::Wildcard => None,
        })
    }

    /// The demo's wildcard targets.
    pub fn wildcard_targets(&self) -> impl Iterator<Item = &DemoTarget> {
        self.demo_targets
            .iter()
            .filter(|t| t.role == DemoRole::Wildcard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(seed: u64) -> Dataset {
        Dataset::generate(DatasetSpec::new(seed, 60, 1_750_000_000))
    }

    #[test]
    fn same_seed_same_world() {
        let (a, b) = (dataset(7), dataset(7));
        assert_eq!(
            a.certificates.iter().map(|c| &c.id).collect::<Vec<_>>(),
            b.certificates.iter().map(|c| &c.id).collect::<Vec<_>>()
        );
        assert_eq!(a.records.len(), b.records.len());
        assert_ne!(dataset(8).certificates[0].id, a.certificates[0].id);
    }

    #[test]
    fn demo_world_has_every_feature() {
        let d = dataset(1);
        let now = d.spec.now;
        assert!(d.certificates.iter().any(|c| c.not_after < now), "expired");
        assert!(
            d.certificates
                .iter()
                .any(|c| c.not_after > now && c.not_after < now + 30 * DAY),
            "expiring"
        );
        assert!(
            d.certificates.iter().any(|c| c.bindings.is_empty()),
            "unbound"
        );
        assert!(d.certificates.iter().any(|c| c.task_fails), "failed task");
        assert!(
            d.certificates
                .iter()
                .flat_map(|c| &c.bindings)
                .any(|b| b.error.is_some()),
            "region error"
        );
        assert!(
            d.certificates
                .iter()
                .flat_map(|c| &c.bindings)
                .any(|b| b.distinct_unmatched() > 0),
            "unmatched"
        );
        assert!(
            d.certificates
                .iter()
                .flat_map(|c| &c.bindings)
                .any(|b| b.instances > 100),
            "paged detail"
        );
        assert!(d.records_of(RecordKind::Update).count() > 0);
        assert!(
            d.records.iter().any(|r| r.entries.len() == 2),
            "rollback entry"
        );
        assert!(
            d.records.iter().any(|r| r.status_at(now).in_flight()),
            "live rollout"
        );
        assert!(
            d.records.iter().any(|r| r.created < now - 30 * DAY),
            "older than max age"
        );
    }

    #[test]
    fn every_demo_world_has_a_revoked_bound_certificate_an_overdue_hosting_and_a_short_intermediate(
    ) {
        for seed in 1..20 {
            let d = Dataset::generate(DatasetSpec::new(seed, 48, 1_750_000_000));
            let now = d.spec.now;
            assert!(
                d.certificates
                    .iter()
                    .any(|c| c.status == 10 && c.bound() && c.revoked_at.is_some()),
                "seed {seed}: revoked and bound"
            );
            assert!(
                d.certificates.iter().any(|c| c.bound()
                    && c.hosting_status == 0
                    && !c.successor.is_empty()
                    && c.hosting_replace_days
                        .is_some_and(|days| c.not_after - days * DAY < now - DAY)),
                "seed {seed}: hosting replacement overdue"
            );
            let short: Vec<&Certificate> = d
                .certificates
                .iter()
                .filter(|c| c.intermediate_not_after.is_some())
                .collect();
            assert_eq!(short.len(), 1, "seed {seed}");
            assert!(short[0].intermediate_not_after < Some(short[0].not_after));
            assert!(d
                .certificates
                .iter()
                .all(|c| (c.status == 10) == c.revoked_at.is_some()));
        }
    }

    #[test]
    fn demo_targets_follow_the_rule_and_the_seed() {
        for seed in 1..=12 {
            let d = Dataset::generate(DatasetSpec::new(seed, 48, 1_750_000_000));
            let again = Dataset::generate(DatasetSpec::new(seed, 48, 1_750_000_000));
            assert_eq!(d.demo_targets, again.demo_targets, "seed {seed}");
            let now = d.spec.now;
            let mut certs: Vec<&str> = Vec::new();
            for target in &d.demo_targets {
                let cert = d.certificate(&target.certificate_id).expect("cert");
                assert!(
                    !certs.contains(&cert.id.as_str()),
                    "one target per certificate"
                );
                certs.push(&cert.id);
                assert!(!cert.task_fails);
                let binding = &cert.bindings[target.binding];
                assert_eq!(binding.resource_type, target.resource_type);
                assert_eq!(binding.region, target.region);
                assert!(DOMAIN_TYPES.contains(&binding.resource_type));
                assert!(binding.error.is_none());
                assert!(target.instance < binding.instances, "an existing instance");
                assert!(binding.unmatched_of(target.instance).is_none());
                assert_eq!(
                    binding.instance_domain(&cert.domain, target.instance),
                    target.domain
                );
                let lower = cert.id.to_lowercase();
                match target.role {
                    DemoRole::Serves(Served::Current | Served::Unreachable) => {
                        assert!(cert.status == 1 && cert.not_after > now);
                    }
                    DemoRole::Serves(Served::Previous) => {
                        assert!(cert.status == 1 && cert.not_after > now + 30 * DAY);
                    }
                    DemoRole::Serves(Served::Expired) => assert!(cert.not_after < now),
                    DemoRole::Wildcard => {
                        assert_eq!(target.domain, format!("*.wild-{lower}.{}", cert.domain));
                    }
                }
                if target.role != DemoRole::Wildcard {
                    assert_eq!(target.domain, format!("{lower}.{}", cert.domain));
                }
            }
            assert_eq!(
                d.demo_targets.last().map(|t| t.role),
                Some(DemoRole::Serves(Served::Unreachable)),
                "seed {seed}: the unreachable target is picked last"
            );
            assert_eq!(d.endpoint_targets().count(), d.demo_targets.len() - 1);
            assert_eq!(d.wildcard_targets().count(), 1);
        }
        let d = dataset(1);
        let served: Vec<Served> = d.endpoint_targets().map(|(_, s)| s).collect();
        assert_eq!(
            served,
            [
                Served::Current,
                Served::Current,
                Served::Previous,
                Served::Expired,
                Served::Unreachable
            ]
        );
        // Every other instance keeps its usual name.
        let overridden: usize = d
            .certificates
            .iter()
            .flat_map(|c| &c.bindings)
            .map(|b| b.domain_overrides.len())
            .sum();
        assert_eq!(overridden, d.demo_targets.len());
    }

    #[test]
    fn minimal_calls_count_every_page() {
        let d = dataset(1);
        let calls = d.minimal_calls(d.spec.now, 30 * DAY);
        assert_eq!(calls["DescribeCertificates"], 1);
        assert_eq!(calls["CreateCertificateBindResourceSyncTask"], 1);
        let bound = d
            .certificates
            .iter()
            .filter(|c| !c.task_fails && c.bindings.iter().any(|b| b.instances > 0))
            .count() as u64;
        assert!(
            calls["DescribeCertificateBindResourceTaskDetail"] > bound,
            "some details need two pages"
        );
        let recent = d
            .records
            .iter()
            .filter(|r| r.created >= d.spec.now - 30 * DAY)
            .count() as u64;
        assert!(
            calls["DescribeHostUploadUpdateRecordDetail"]
                + calls["DescribeHostUpdateRecordDetail"]
                + calls["DescribeHostDeployRecordDetail"]
                >= recent
        );
        assert!(
            calls["DescribeHostDeployRecord"] >= d.certificates.len() as u64,
            "deploy records are listed per certificate"
        );
    }

    #[test]
    fn item_timeline() {
        let item = Item {
            id: 1,
            resource_type: "clb",
            region: "ap-guangzhou",
            outcome: ItemState::Failed,
            pending_until: 10,
            running_until: 20,
            garbled: false,
        };
        assert_eq!(item.status_at(5), ItemState::Pending);
        assert_eq!(item.status_at(10), ItemState::Running);
        assert_eq!(item.status_at(20), ItemState::Failed);
        assert_eq!(item.updated_at(15, 0), 10);
    }

    #[test]
    fn unmatched_counts_are_distinct() {
        let binding = Binding {
            resource_type: "clb",
            region: Some("ap-guangzhou"),
            instances: 5,
            error: None,
            unmatched_every: 2,
            unmatched_pool: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            domain_overrides: Vec::new(),
            inactive: Vec::new(),
        };
        let seen: std::collections::BTreeSet<&str> =
            (0..5).filter_map(|i| binding.unmatched_of(i)).collect();
        assert_eq!(seen.len() as u64, binding.distinct_unmatched());
        assert_eq!(binding.distinct_unmatched(), 3);
    }
}
