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

use std::collections::BTreeMap;
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
    /// The certificate the API says the endpoint serves.
    pub certificate_id: String,
    /// Lower-case resource type (`cdn`, `clb`, …) of the resource serving it.
    pub resource_type: String,
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
    claims: Vec<Claim>,
    valid_until: Instant,
}

/// Where the collectors of one account publish their claims.
#[derive(Debug)]
pub struct TargetBook {
    /// The sources that will publish (the enabled bind and rollout collectors).
    expected: Vec<&'static str>,
    published: Mutex<BTreeMap<&'static str, Published>>,
    changed: Notify,
}

impl TargetBook {
    /// A book that `expected` sources will publish into.
    pub fn new(expected: Vec<&'static str>) -> TargetBook {
        TargetBook {
            expected,
            published: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
        }
    }

    /// Replaces `source`'s claims; they are used for at most `valid_for` (the source's own
    /// staleness bound), so a source that stops publishing stops adding targets.
    pub fn publish(&self, source: &'static str, claims: Vec<Claim>, valid_for: Duration) {
        let valid_until = Instant::now() + valid_for;
        self.published.lock().insert(
            source,
            Published {
                claims,
                valid_until,
            },
        );
        self.changed.notify_waiters();
    }

    /// Records that `source` finished a run without anything to publish (it failed): it
    /// counts as having answered, so the first probes need not wait for it; its claims, if any,
    /// stay as they were.
    pub fn tried(&self, source: &'static str) {
        self.published
            .lock()
            .entry(source)
            .or_insert_with(|| Published {
                claims: Vec::new(),
                valid_until: Instant::now(),
            });
        self.changed.notify_waiters();
    }

    /// Whether every expected source has published (or [`tried`](TargetBook::tried)) at least once.
    pub fn complete(&self) -> bool {
        let published = self.published.lock();
        self.expected.iter().all(|s| published.contains_key(s))
    }

    /// Waits until every expected source has published once, or `timeout` passes.
    pub async fn wait_complete(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if self.complete() {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// The targets of every source's claims still valid now ([`expected_targets`]).
    /// Claims held, over every source (valid or not: what the book keeps in memory).
    pub fn claims(&self) -> usize {
        self.published.lock().values().map(|p| p.claims.len()).sum()
    }

    pub fn targets(&self) -> Vec<Claim> {
        let now = Instant::now();
        let claims: Vec<Claim> = self
            .published
            .lock()
            .values()
            .filter(|p| p.valid_until >= now)
            .flat_map(|p| p.claims.iter().cloned())
            .collect();
        expected_targets(claims)
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
            .map(|t| (t.domain.as_str(), t.certificate_id.as_str()))
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
                .map(|t| (t.port, t.certificate_id.as_str()))
                .collect::<Vec<_>>(),
            [(443, "y"), (8443, "x")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn claims_expire_with_their_source_and_completion_is_awaited() {
        let book = std::sync::Arc::new(TargetBook::new(vec![BIND_SOURCE, "update"]));
        book.publish(
            BIND_SOURCE,
            vec![claim("a.example.com", "c", BIND_SOURCE, 1)],
            Duration::from_secs(60),
        );
        assert!(!book.complete());
        let waiter = {
            let book = std::sync::Arc::clone(&book);
            tokio::spawn(async move { book.wait_complete(Duration::from_secs(600)).await })
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        book.publish("update", Vec::new(), Duration::from_secs(3600));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("woken by the last source")
            .expect("joined");
        assert!(book.complete());
        assert_eq!(book.targets().len(), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(
            book.targets().is_empty(),
            "a source that stopped publishing adds nothing"
        );
        // A source whose first run failed counts as having answered.
        let failing = TargetBook::new(vec![BIND_SOURCE]);
        failing.tried(BIND_SOURCE);
        assert!(failing.complete());
        assert!(failing.targets().is_empty());
        // Without every source, the wait ends at the timeout.
        let lonely = TargetBook::new(vec![BIND_SOURCE]);
        let started = Instant::now();
        lonely.wait_complete(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }
}
