//! Endpoints the API names, for the `endpoints` collector to probe.
//!
//! The collectors that read bind details and rollout records publish what the answers say about
//! domains ([`Claim`]s) into one [`TargetBook`] per account; the `endpoints` collector reads the
//! resolved [`targets`](TargetBook::targets). Targets come only from the API: nothing a scrape
//! sends can add one.
//!
//! A bind detail states the present ("these resources use this certificate now"); a rollout item
//! states a past event ("this certificate was deployed to these domains then"). For one endpoint
//! (domain and port), the newest statement wins: a rollout newer than every bind detail naming
//! the endpoint decides alone (the bind details may predate it by their 30-minute cache), and of
//! several rollouts only the newest counts (a later rollout replaced the earlier certificate).
//! Otherwise every certificate a bind detail names for the endpoint is expected there; when the
//! API names two, the probe shows which one is really served.
//!
//! An account can name far more endpoints than a probe rotation can cover (a large account's
//! bind details name a million). The book tracks a sample of them: the endpoints whose
//! [`endpoint_hash`] is smallest, as many as have at most `max_tracked` claims together, the
//! same sample on every run and restart. Every claim about a tracked endpoint is kept,
//! whichever source makes it, so the newest-statement rule above sees all of them; claims about
//! the others are counted ([`Tracked::untracked`]), not held. The sources draw their share as
//! their details arrive ([`Draw`], [`cut`]), so they never hold the domains they will not
//! track. An endpoint a resolve override names (not `*`) is tracked
//! whatever its hash: the operator asked for it by name ([`TargetBook::pinning`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

/// `source` of claims from bind details.
pub const BIND_SOURCE: &str = "bind";
/// The port probes use when the API names none.
pub const DEFAULT_PORT: u16 = 443;

/// What one API answer says about one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Claim {
    /// Lower case, as the API names it (may be a wildcard or not a host name at all: the
    /// endpoints collector decides what it can dial).
    pub domain: String,
    pub port: u16,
    /// The certificate the API says the endpoint serves; shared by the claims of one answer (a
    /// certificate's bind detail, a record), and with the book's copy.
    pub certificate_id: Arc<str>,
    /// Lower-case resource type (`cdn`, `clb`, …) of the resource serving it; shared like
    /// `certificate_id`.
    pub resource_type: Arc<str>,
    /// [`BIND_SOURCE`], or the rollout record type (`upload_update`, `update`, `deploy`).
    pub source: &'static str,
    /// When the API made the statement, as unix seconds: the bind detail's `CacheTime`, the
    /// rollout entry's (or record's) creation time. `None` when the answer gave no time it could
    /// be read from, which ranks older than any statement with one.
    pub stated_at: Option<i64>,
    /// Why the binding serves nothing now, when the API's state of the instance says so (a LIVE
    /// domain with HTTPS off, a CDN domain offline, …): such an endpoint is shown as skipped,
    /// never probed. `None` for a live one.
    pub inactive: Option<&'static str>,
}

/// What the tracked sample is drawn by: a hash of the endpoint that stays the same across runs,
/// restarts and builds (FNV-1a of the domain and port, spread with SplitMix64's finaliser).
/// Pure.
pub fn endpoint_hash(domain: &str, port: u16) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in domain.bytes().chain(port.to_be_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The endpoints of the smallest hashes offered so far whose claims, together, number at most
/// `max` (each offer is one claim; an endpoint is kept with all its claims or not at all):
/// while a source reads its answers, an endpoint above them cannot be in the sample of the
/// whole account, so it need not be held.
#[derive(Debug)]
pub struct Smallest {
    max: usize,
    /// Claims per kept hash.
    claims: BTreeMap<u64, usize>,
    total: usize,
    /// The smallest hash let go (refused, or dropped for smaller ones): every kept hash is
    /// below it, and nothing at or above it will be kept.
    bound: Option<u64>,
}

impl Smallest {
    pub fn new(max: usize) -> Smallest {
        Smallest {
            max,
            claims: BTreeMap::new(),
            total: 0,
            bound: None,
        }
    }

    /// Notes one claim about the endpoint of `hash`; false when that endpoint is not in the
    /// sample (and so never will be).
    pub fn offer(&mut self, hash: u64) -> bool {
        let full = self.total >= self.max
            && self
                .claims
                .last_key_value()
                .is_none_or(|(last, _)| hash > *last);
        if !below(hash, self.bound) || full {
            self.let_go(hash);
            return false;
        }
        *self.claims.entry(hash).or_default() += 1;
        self.total += 1;
        while self.total > self.max {
            let Some((last, claims)) = self.claims.pop_last() else {
                break;
            };
            self.total -= claims;
            self.let_go(last);
        }
        self.claims.contains_key(&hash)
    }

    fn let_go(&mut self, hash: u64) {
        self.bound = Some(self.bound.map_or(hash, |b| b.min(hash)));
    }

    /// The exclusive bound of the sample (`None` while nothing was let go).
    pub fn cut(&self) -> Option<u64> {
        self.bound
    }
}

/// Whether an endpoint of `hash` is tracked under `cut` (`None`: every endpoint is). Pure.
pub fn below(hash: u64, cut: Option<u64>) -> bool {
    cut.is_none_or(|cut| hash < cut)
}

/// The cut that tracks the endpoints of the smallest hashes whose claims in `kept` (one hash
/// per claim) number at most `max`, when the hashes at or above `dropped` (the smallest one
/// left out, if any) were not all kept: then fewer are tracked rather than some incompletely.
/// Pure.
pub fn cut(max: usize, kept: impl IntoIterator<Item = u64>, dropped: Option<u64>) -> Option<u64> {
    let mut smallest = Smallest::new(max);
    for hash in kept {
        if below(hash, dropped) {
            smallest.offer(hash);
        }
    }
    match (smallest.cut(), dropped) {
        (Some(cut), Some(dropped)) => Some(cut.min(dropped)),
        (cut, dropped) => cut.or(dropped),
    }
}

/// Endpoints a source left out of the tracked sample: how many, and the smallest hash among
/// them (below it, the source holds every endpoint it was told of).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftOut {
    pub count: u64,
    pub smallest: Option<u64>,
}

impl LeftOut {
    /// Notes one endpoint of `hash` left out.
    pub fn note(&mut self, hash: u64) {
        self.count += 1;
        self.smallest = Some(self.smallest.map_or(hash, |s| s.min(hash)));
    }
}

/// A source's share of the tracked sample, drawn while it reads a run's answers: an endpoint
/// outside the [`Smallest`] of what the run has named so far cannot be in the sample of the
/// whole account, so it is let go at once (and noted) instead of being held until the run
/// ends. Pinned endpoints are always kept.
#[derive(Debug)]
pub struct Draw<'a> {
    book: &'a TargetBook,
    smallest: Mutex<Smallest>,
}

impl<'a> Draw<'a> {
    pub fn new(book: &'a TargetBook) -> Draw<'a> {
        Draw {
            book,
            smallest: Mutex::new(Smallest::new(book.max_tracked)),
        }
    }

    /// Whether to hold the endpoint; one let go is noted in `left_out`.
    pub fn keep(&self, domain: &str, port: u16, left_out: &mut LeftOut) -> bool {
        if self.book.pinned(domain, port) {
            return true;
        }
        let hash = endpoint_hash(domain, port);
        let keep = self.smallest.lock().offer(hash);
        if !keep {
            left_out.note(hash);
        }
        keep
    }

    /// Keeps the `items` whose endpoint is to be held (see [`keep`](Draw::keep)), noting the
    /// others in `left_out`, and gives back the room of those let go.
    pub fn retain<T>(
        &self,
        items: &mut Vec<T>,
        endpoint: impl Fn(&T) -> (&str, u16),
        left_out: &mut LeftOut,
    ) {
        items.retain(|item| {
            let (domain, port) = endpoint(item);
            self.keep(domain, port, left_out)
        });
        release_spare(items);
    }
}

/// Gives back the spare room of a held list that sampling shortened: a large account's lists
/// lose most of their items to the sample, and `retain` keeps the room for all of them.
fn release_spare<T>(items: &mut Vec<T>) {
    if items.capacity() > items.len() {
        items.shrink_to_fit();
    }
}

/// What a source publishes: its claims about the endpoints it tracks, and what it left out.
#[derive(Debug, Default)]
pub struct Claims {
    pub claims: Vec<Claim>,
    /// The source holds only endpoints whose [`endpoint_hash`] is below this (`None`: all).
    pub cut: Option<u64>,
    /// Claims it left out, about endpoints at or above `cut`.
    pub untracked: u64,
}

impl From<Vec<Claim>> for Claims {
    fn from(claims: Vec<Claim>) -> Claims {
        Claims {
            claims,
            cut: None,
            untracked: 0,
        }
    }
}

/// The book's tracked targets, and how many claims it does not track.
#[derive(Debug, Default)]
pub struct Tracked {
    /// [`expected_targets`] of the claims about tracked endpoints.
    pub targets: Vec<Claim>,
    /// Claims about endpoints outside the sample: counted, not held.
    pub untracked: u64,
}

/// The targets the claims make, one per (endpoint, expected certificate), sorted by domain,
/// port and certificate. Pure.
pub fn expected_targets(mut claims: Vec<Claim>) -> Vec<Claim> {
    claims.sort_by(|a, b| (&a.domain, a.port).cmp(&(&b.domain, b.port)));
    let mut targets = Vec::new();
    let mut rest = claims.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|c| c.domain == first.domain && c.port == first.port)
            .count();
        let (group, tail) = rest.split_at(same);
        rest = tail;
        let newest_bind = group
            .iter()
            .filter(|c| c.source == BIND_SOURCE)
            .map(|c| c.stated_at)
            .max();
        // The newest rollout; ties go to the smallest certificate ID, so the choice is stable.
        let newest_rollout = group
            .iter()
            .filter(|c| c.source != BIND_SOURCE)
            .max_by(|a, b| {
                a.stated_at
                    .cmp(&b.stated_at)
                    .then_with(|| b.certificate_id.cmp(&a.certificate_id))
            });
        let mut chosen: Vec<&Claim> = match (newest_rollout, newest_bind) {
            (Some(rollout), None) => vec![rollout],
            (Some(rollout), Some(bind)) if rollout.stated_at > bind => vec![rollout],
            _ => group.iter().filter(|c| c.source == BIND_SOURCE).collect(),
        };
        // One target per certificate: the first resource type names it.
        chosen.sort_by(|a, b| {
            (&a.certificate_id, &a.resource_type).cmp(&(&b.certificate_id, &b.resource_type))
        });
        chosen.dedup_by(|a, b| a.certificate_id == b.certificate_id);
        targets.extend(chosen.into_iter().cloned());
    }
    targets
}

/// One source's latest claims, and until when they may be used.
#[derive(Debug)]
struct Published {
    claims: Claims,
    valid_until: Instant,
}

/// Where the collectors of one account publish their claims.
#[derive(Debug)]
pub struct TargetBook {
    /// The sources that will publish (the enabled bind and rollout collectors).
    expected: Vec<&'static str>,
    /// Most claims tracked (about the endpoints of the smallest [`endpoint_hash`]es).
    max_tracked: usize,
    /// Endpoints tracked beyond the sample: domain → ports.
    pinned: HashMap<String, Vec<u16>>,
    published: Mutex<BTreeMap<&'static str, Published>>,
    /// Publishes and tries so far (see [`TargetBook::generation`]).
    generation: AtomicU64,
    changed: Notify,
}

impl TargetBook {
    /// A book that `expected` sources will publish into, tracking at most `max_tracked`
    /// endpoints.
    pub fn new(expected: Vec<&'static str>, max_tracked: usize) -> TargetBook {
        TargetBook {
            expected,
            max_tracked,
            pinned: HashMap::new(),
            published: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    /// Counts the publishes and tries so far: a reader that saw one generation knows nothing
    /// has changed while it is still the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// Replaces `source`'s claims; they are used for at most `valid_for` (the source's own
    /// staleness bound), so a source that stops publishing stops adding targets.
    pub fn publish(&self, source: &'static str, claims: Claims, valid_for: Duration) {
        let valid_until = Instant::now() + valid_for;
        self.published.lock().insert(
            source,
            Published {
                claims,
                valid_until,
            },
        );
        self.changed();
    }

    /// Records that `source` finished a run without anything to publish (it failed): it
    /// counts as having answered, so the first probes need not wait for it; its claims, if any,
    /// stay as they were.
    pub fn tried(&self, source: &'static str) {
        self.published
            .lock()
            .entry(source)
            .or_insert_with(|| Published {
                claims: Claims::default(),
                valid_until: Instant::now(),
            });
        self.changed();
    }

    /// Whether every expected source has published (or [`tried`](TargetBook::tried)) at least once.
    pub fn complete(&self) -> bool {
        let published = self.published.lock();
        self.expected.iter().all(|s| published.contains_key(s))
    }

    /// Waits until the book changes from `generation` (a source publishes or is tried), or
    /// `timeout` passes; whether it changed.
    pub async fn wait_change(&self, generation: u64, timeout: Duration) -> bool {
        let changed = self.changed.notified();
        if self.generation() != generation {
            return true;
        }
        tokio::select! {
            _ = changed => true,
            _ = tokio::time::sleep(timeout) => self.generation() != generation,
        }
    }

    /// Also tracks `endpoints` (domain, port), whatever their hash.
    pub fn pinning(mut self, endpoints: impl IntoIterator<Item = (String, u16)>) -> TargetBook {
        for (domain, port) in endpoints {
            self.pinned.entry(domain).or_default().push(port);
        }
        self
    }

    /// Most claims tracked, besides those about pinned endpoints.
    pub fn max_tracked(&self) -> usize {
        self.max_tracked
    }

    /// After a run, keeps exactly a source's share of the sample in what it holds: each of
    /// `groups` is a list the source holds, with what that list let go; `endpoint` names an
    /// item's endpoint. Returns the source's cut ([`TargetBook::cut_of`]).
    pub fn keep_share<T>(
        &self,
        mut groups: Vec<(&mut Vec<T>, &mut LeftOut)>,
        endpoint: impl Fn(&T) -> (&str, u16),
    ) -> Option<u64> {
        let cut = self.cut_of(
            groups
                .iter()
                .flat_map(|(items, _)| items.iter().map(&endpoint)),
            groups
                .iter()
                .filter_map(|(_, left_out)| left_out.smallest)
                .min(),
        );
        for (items, left_out) in &mut groups {
            self.retain_sampled(items, &endpoint, cut, left_out);
        }
        cut
    }

    /// The cut that keeps exactly the share of the sample of the endpoints `held` (pinned ones
    /// aside), below the smallest hash let go (`left_out`, see [`cut`]).
    fn cut_of<'e>(
        &self,
        held: impl IntoIterator<Item = (&'e str, u16)>,
        left_out: Option<u64>,
    ) -> Option<u64> {
        let hashes = held
            .into_iter()
            .filter(|(domain, port)| !self.pinned(domain, *port))
            .map(|(domain, port)| endpoint_hash(domain, port));
        cut(self.max_tracked, hashes, left_out)
    }

    /// Keeps the `items` whose endpoint a source keeps under its `cut` (pinned ones too), and
    /// notes the others in `left_out`.
    fn retain_sampled<T>(
        &self,
        items: &mut Vec<T>,
        endpoint: impl Fn(&T) -> (&str, u16),
        cut: Option<u64>,
        left_out: &mut LeftOut,
    ) {
        items.retain(|item| {
            let (domain, port) = endpoint(item);
            let hash = endpoint_hash(domain, port);
            let keep = self.pinned(domain, port) || below(hash, cut);
            if !keep {
                left_out.note(hash);
            }
            keep
        });
        release_spare(items);
    }

    /// Whether the endpoint is tracked whatever its hash.
    pub fn pinned(&self, domain: &str, port: u16) -> bool {
        !self.pinned.is_empty() && self.pinned.get(domain).is_some_and(|p| p.contains(&port))
    }

    /// Claims held, over every source (valid or not: what the book keeps in memory).
    pub fn claims(&self) -> usize {
        self.published
            .lock()
            .values()
            .map(|p| p.claims.claims.len())
            .sum()
    }

    /// The targets of the claims still valid now about tracked endpoints
    /// ([`expected_targets`]): below every source's cut, and of those the `max_tracked`
    /// smallest hashes; the other claims are counted.
    pub fn targets(&self) -> Tracked {
        let now = Instant::now();
        let published = self.published.lock();
        let valid: Vec<&Claims> = published
            .values()
            .filter(|p| p.valid_until >= now)
            .map(|p| &p.claims)
            .collect();
        let every = || valid.iter().flat_map(|c| c.claims.iter());
        let cut = self.cut_of(
            every().map(|claim| (claim.domain.as_str(), claim.port)),
            valid.iter().filter_map(|c| c.cut).min(),
        );
        let mut untracked: u64 = valid.iter().map(|c| c.untracked).sum();
        let mut claims = Vec::new();
        for claim in every() {
            let tracked = self.pinned(&claim.domain, claim.port)
                || below(endpoint_hash(&claim.domain, claim.port), cut);
            if tracked {
                claims.push(claim.clone());
            } else {
                untracked += 1;
            }
        }
        drop(published);
        Tracked {
            targets: expected_targets(claims),
            untracked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(domain: &str, cert: &str, source: &'static str, at: i64) -> Claim {
        Claim {
            domain: domain.into(),
            port: DEFAULT_PORT,
            certificate_id: cert.into(),
            resource_type: "cdn".into(),
            source,
            stated_at: Some(at),
            inactive: None,
        }
    }

    fn chosen(targets: &[Claim]) -> Vec<(&str, &str)> {
        targets
            .iter()
            .map(|t| (t.domain.as_str(), &*t.certificate_id))
            .collect()
    }

    #[test]
    fn the_newest_statement_about_an_endpoint_wins() {
        let targets = expected_targets(vec![
            // A rollout after the bind detail: the new certificate is expected.
            claim("a.example.com", "old", BIND_SOURCE, 100),
            claim("a.example.com", "new", "update", 200),
            // A bind detail after the rollout: the bind detail is the present.
            claim("b.example.com", "rolled", "update", 100),
            claim("b.example.com", "bound", BIND_SOURCE, 200),
            // Two rollouts: only the later counts.
            claim("c.example.com", "first", "deploy", 100),
            claim("c.example.com", "second", "upload_update", 300),
            // Two certificates bound at once: both are expected, each once.
            claim("d.example.com", "rsa", BIND_SOURCE, 100),
            claim("d.example.com", "ecc", BIND_SOURCE, 100),
            claim("d.example.com", "rsa", BIND_SOURCE, 90),
        ]);
        assert_eq!(
            chosen(&targets),
            [
                ("a.example.com", "new"),
                ("b.example.com", "bound"),
                ("c.example.com", "second"),
                ("d.example.com", "ecc"),
                ("d.example.com", "rsa"),
            ]
        );
    }

    #[test]
    fn ports_are_separate_endpoints() {
        let mut other_port = claim("a.example.com", "x", BIND_SOURCE, 1);
        other_port.port = 8443;
        let targets = expected_targets(vec![claim("a.example.com", "y", "update", 5), other_port]);
        assert_eq!(
            targets
                .iter()
                .map(|t| (t.port, &*t.certificate_id))
                .collect::<Vec<_>>(),
            [(443, "y"), (8443, "x")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn claims_expire_with_their_source_and_changes_are_awaited() {
        let book = std::sync::Arc::new(TargetBook::new(vec![BIND_SOURCE, "update"], 100));
        let before = book.generation();
        book.publish(
            BIND_SOURCE,
            vec![claim("a.example.com", "c", BIND_SOURCE, 1)].into(),
            Duration::from_secs(60),
        );
        assert!(!book.complete());
        assert!(
            book.wait_change(before, Duration::from_secs(600)).await,
            "a change already made is seen at once"
        );
        let generation = book.generation();
        let waiter = {
            let book = std::sync::Arc::clone(&book);
            tokio::spawn(
                async move { book.wait_change(generation, Duration::from_secs(600)).await },
            )
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        book.publish("update", Claims::default(), Duration::from_secs(3600));
        assert!(tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the last source")
            .expect("joined"));
        assert!(book.complete());
        assert_eq!(book.targets().targets.len(), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(
            book.targets().targets.is_empty(),
            "a source that stopped publishing adds nothing"
        );
        // A source whose first run failed counts as having answered.
        let failing = TargetBook::new(vec![BIND_SOURCE], 100);
        failing.tried(BIND_SOURCE);
        assert!(failing.complete());
        assert!(failing.targets().targets.is_empty());
        // Without a change, the wait ends at the timeout.
        let lonely = TargetBook::new(vec![BIND_SOURCE], 100);
        let started = Instant::now();
        assert!(
            !lonely
                .wait_change(lonely.generation(), Duration::from_secs(5))
                .await
        );
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn endpoint_hashes_are_fixed_and_spread() {
        // The sample must not change with a restart or a new build.
        assert_eq!(
            endpoint_hash("a.example.com", 443),
            endpoint_hash("a.example.com", 443)
        );
        // FNV-1a and SplitMix64's finaliser, computed apart from this code.
        assert_eq!(endpoint_hash("", 0), 0x7bc2_1004_6bd6_16cc);
        assert_eq!(endpoint_hash("a.example.com", 443), 0xb291_b35c_c739_109e);
        assert_ne!(
            endpoint_hash("a.example.com", 443),
            endpoint_hash("a.example.com", 8443)
        );
        // Names that differ in one character land in both halves of the range.
        let high = (0..1000)
            .filter(|i| endpoint_hash(&format!("i{i}.example.com"), 443) >> 63 == 1)
            .count();
        assert!(
            (400..600).contains(&high),
            "{high} of 1000 in the upper half"
        );
    }

    #[test]
    fn the_smallest_hashes_are_kept_with_all_their_claims_and_the_cut_tracks_none_incompletely() {
        let mut smallest = Smallest::new(4);
        let offered: Vec<bool> = [50, 10, 50, 40, 30, 60, 20, 30, 10]
            .into_iter()
            .map(|h| smallest.offer(h))
            .collect();
        // Four claims at most: 30 drops 50 (two claims), so 60 is refused; the second 30
        // drops 40; the second 10 drops 30 with both its claims. 10 (twice) and 20 are left.
        assert_eq!(
            offered,
            [true, true, true, true, true, false, true, true, true]
        );
        assert_eq!(
            smallest.cut(),
            Some(30),
            "every hash let go is at or above 30"
        );
        assert_eq!(Smallest::new(3).cut(), None, "nothing let go: no cut");
        assert!(!Smallest::new(0).offer(1));
        // The prefix of hashes whose claims number at most three: 1 twice and 5.
        assert_eq!(cut(3, [5, 1, 1, 9, 7], None), Some(7));
        assert_eq!(cut(3, [5, 1], None), None);
        // 6 was left out somewhere: only what is below it is complete.
        assert_eq!(cut(3, [5, 1, 9, 7], Some(6)), Some(6));
        assert_eq!(cut(2, [5, 1, 9, 7], Some(6)), Some(6));
        assert_eq!(cut(1, [5, 1, 9, 7], Some(6)), Some(5));
        assert!(below(5, Some(6)) && !below(6, Some(6)) && below(u64::MAX, None));
    }

    #[test]
    fn the_book_tracks_the_smallest_hashes_with_every_claim_about_them() {
        let domains: Vec<String> = (0..10).map(|i| format!("d{i}.example.com")).collect();
        let mut by_hash = domains.clone();
        by_hash.sort_by_key(|d| endpoint_hash(d, DEFAULT_PORT));
        let book = TargetBook::new(vec![BIND_SOURCE, "update"], 3);
        let bind: Vec<Claim> = domains
            .iter()
            .map(|d| claim(d, "bound", BIND_SOURCE, 100))
            .collect();
        book.publish(BIND_SOURCE, bind.into(), Duration::from_secs(60));
        // A newer rollout about a tracked endpoint, and one about an untracked one.
        book.publish(
            "update",
            vec![
                claim(&by_hash[0], "rolled", "update", 200),
                claim(&by_hash[9], "rolled", "update", 200),
            ]
            .into(),
            Duration::from_secs(60),
        );
        let tracked = book.targets();
        assert_eq!(
            chosen(&tracked.targets),
            {
                let mut want = vec![
                    (by_hash[0].as_str(), "rolled"),
                    (by_hash[1].as_str(), "bound"),
                ];
                want.sort();
                want
            },
            "three claims: the smallest hash's two (bind and the rollout that wins) and the next one's"
        );
        assert_eq!(tracked.untracked, 9, "8 bind claims and 1 rollout claim");
        // A source that drew its own sample: what is above its cut is not complete elsewhere.
        let cut = endpoint_hash(&by_hash[1], DEFAULT_PORT) + 1;
        book.publish(
            BIND_SOURCE,
            Claims {
                claims: vec![
                    claim(&by_hash[0], "bound", BIND_SOURCE, 100),
                    claim(&by_hash[1], "bound", BIND_SOURCE, 100),
                ],
                cut: Some(cut),
                untracked: 8,
            },
            Duration::from_secs(60),
        );
        let tracked = book.targets();
        assert_eq!(tracked.targets.len(), 2);
        assert_eq!(
            tracked.untracked, 9,
            "the source's 8 and the rollout above its cut"
        );
        // An endpoint an operator names is tracked whatever its hash.
        let book = TargetBook::new(vec![BIND_SOURCE], 1).pinning([(by_hash[9].clone(), 443)]);
        let bind: Vec<Claim> = domains
            .iter()
            .map(|d| claim(d, "bound", BIND_SOURCE, 100))
            .collect();
        book.publish(BIND_SOURCE, bind.into(), Duration::from_secs(60));
        let tracked = book.targets();
        let mut want = vec![
            (by_hash[0].as_str(), "bound"),
            (by_hash[9].as_str(), "bound"),
        ];
        want.sort();
        assert_eq!(chosen(&tracked.targets), want);
        assert_eq!(tracked.untracked, 8);
        assert!(book.pinned(&by_hash[9], 443) && !book.pinned(&by_hash[9], 8443));
    }
}
