//! Basic auth (`basic_auth_users`): bcrypt behind one lock, with a cache of outcomes.
//!
//! A wrong user, wrong password or missing header all get the same 401, on every path (health
//! endpoints included). bcrypt is slow on purpose, so as in exporter-toolkit at most one hash runs
//! at a time (one lock) and the outcome of every (user, password, stored hash) is cached, right
//! or wrong, keyed by a salted SHA-256 (never the password itself). The cache is read on the
//! async thread before the hashing lock is taken: a scraper whose password was checked once is
//! never queued behind a storm of guesses. Right and wrong outcomes are kept in separate bounded
//! sets, so guesses cannot evict the scraper's entry. Unknown users pay for one bcrypt
//! verification against a dummy hash of the cost the configured users have
//! ([`unknown_user_hash`]), so timing does not tell which part was wrong. At most
//! [`MAX_WAITING_HASHES`] requests wait for the hashing lock; beyond, new credentials are
//! answered 429 at once (nothing cached), so guesses cannot hold every connection slot.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use base64::Engine as _;
use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::error::{error, WebConfigError};

/// Bound of each of the two outcome caches (right pairs, wrong pairs).
const AUTH_CACHE_ENTRIES: usize = 4096;
/// exporter-toolkit's dummy: bcrypt of "fakepassword" at cost 10. Its salt and digest (after
/// the `$2y$10$`) make the dummies of every cost ([`unknown_user_hash`]).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// The cost of the dummy when no configured hash says otherwise (exporter-toolkit's).
const DEFAULT_DUMMY_COST: u32 = 10;

/// The cost an unknown user's check must have to cost what a configured user's does: the most
/// common cost of `hashes`, the highest among equally common ones (10 when there are none).
pub(super) fn unknown_user_cost<'a>(hashes: impl IntoIterator<Item = &'a str>) -> u32 {
    let mut counts: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    for hash in hashes {
        if let Ok(parts) = hash.parse::<bcrypt::HashParts>() {
            *counts.entry(parts.get_cost()).or_default() += 1;
        }
    }
    // Ascending costs, so among equal counts the last (highest) cost wins.
    counts
        .into_iter()
        .max_by_key(|&(_, count)| count)
        .map_or(DEFAULT_DUMMY_COST, |(cost, _)| cost)
}

/// What an unknown user is verified against, so every failure costs what a configured user's
/// check costs: the dummy's salt and digest at [`unknown_user_cost`]. bcrypt verification runs
/// the cost the hash names, whatever its digest, so no hashing is needed to make it (reloads stay
/// cheap), and no password matches it (a user that is not configured is never admitted anyway).
pub(super) fn unknown_user_hash<'a>(hashes: impl IntoIterator<Item = &'a str>) -> String {
    let cost = unknown_user_cost(hashes);
    format!("$2y${cost:02}${}", &DUMMY_HASH["$2y$10$".len()..])
}
/// bcrypt costs accepted in `basic_auth_users`: Go's `bcrypt.MinCost..=MaxCost`, as
/// exporter-toolkit. A high cost only makes each new password slow to check: verification runs
/// on the blocking pool, one at a time, and its outcome is cached.
pub(super) const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// A `basic_auth_users` value as the bcrypt crate reads it: Go accepts any minor version
/// (`$2$`, `$2a$`, `$2b$`, `$2x$`, `$2y$`) and computes the same for all; the crate reads all but
/// `$2$`, which becomes `$2a$` (the same algorithm).
pub(super) fn normalise_bcrypt_hash(hash: &str) -> String {
    match hash.strip_prefix("$2$") {
        Some(rest) => format!("$2a${rest}"),
        None => hash.to_string(),
    }
}

/// Checks a `basic_auth_users` value without running bcrypt (reloads stay cheap), with the
/// messages of Go's `bcrypt.Cost` where it refuses the same.
pub(super) fn check_bcrypt_hash(user: &str, hash: &str) -> Result<(), WebConfigError> {
    let place = format!("basic_auth_users.{user}");
    if hash.len() < 59 {
        return Err(error(
            &place,
            "crypto/bcrypt: hashedSecret too short to be a bcrypted password",
        ));
    }
    let parts: bcrypt::HashParts = normalise_bcrypt_hash(hash).parse().map_err(|_| {
        error(
            &place,
            "is not a bcrypt hash ($2a$, $2b$, $2x$, $2y$ or $2$, a cost of two digits, 53 characters of salt and digest; htpasswd -nBC 10 \"\" | tr -d ':\\n')",
        )
    })?;
    if !BCRYPT_COSTS.contains(&parts.get_cost()) {
        return Err(error(
            &place,
            format!(
                "crypto/bcrypt: cost {} is outside allowed inclusive range {}..{}",
                parts.get_cost(),
                BCRYPT_COSTS.start(),
                BCRYPT_COSTS.end()
            ),
        ));
    }
    Ok(())
}

/// The user and password of a `Basic` `Authorization` header, if it holds a well-formed one.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        })
}

/// A set of at most `capacity` keys; the oldest is forgotten first.
#[derive(Debug)]
struct BoundedSet {
    keys: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl BoundedSet {
    fn new(capacity: usize) -> Self {
        BoundedSet {
            keys: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    fn contains(&self, key: &[u8; 32]) -> bool {
        self.keys.contains(key)
    }

    fn insert(&mut self, key: [u8; 32]) {
        if !self.keys.insert(key) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Outcomes of bcrypt verifications already made.
#[derive(Debug)]
struct Outcomes {
    right: BoundedSet,
    wrong: BoundedSet,
}

impl Outcomes {
    fn get(&self, key: &[u8; 32]) -> Option<bool> {
        if self.right.contains(key) {
            Some(true)
        } else if self.wrong.contains(key) {
            Some(false)
        } else {
            None
        }
    }
}

/// Most requests waiting for (or running) a bcrypt verification; more are answered 429 at
/// once, so guesses cannot hold every connection slot, each waiting for its turn.
pub(super) const MAX_WAITING_HASHES: usize = 128;

/// What basic auth says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checked {
    Right,
    Wrong,
    /// Not checked: too many requests already wait for bcrypt.
    Busy,
}

/// One of the [`MAX_WAITING_HASHES`] places of the hashing queue, given back on drop.
struct QueuePlace<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a std::sync::atomic::AtomicUsize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WAITING_HASHES).then_some(n + 1)
            })
            .ok()
            .map(|_| QueuePlace(waiting))
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Basic-auth verification: the outcome cache and the one hashing lock.
#[derive(Debug)]
pub(super) struct Auth {
    /// Per-process random salt of the cache keys.
    salt: [u8; 32],
    outcomes: Mutex<Outcomes>,
    /// Held for the whole of one bcrypt verification (moved into the blocking task, so a client
    /// that goes away cannot start a second hash beside the first).
    pub(super) hashing: Arc<tokio::sync::Mutex<()>>,
    /// Requests holding a [`QueuePlace`].
    pub(super) waiting: std::sync::atomic::AtomicUsize,
}

/// 32 random bytes from the standard library's per-process random hash keys.
fn random_salt() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut salt = [0u8; 32];
    for (i, chunk) in salt.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(i);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    salt
}

impl Auth {
    pub(super) fn new() -> Self {
        Auth {
            salt: random_salt(),
            outcomes: Mutex::new(Outcomes {
                right: BoundedSet::new(AUTH_CACHE_ENTRIES),
                wrong: BoundedSet::new(AUTH_CACHE_ENTRIES),
            }),
            hashing: Arc::new(tokio::sync::Mutex::new(())),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn key(&self, user: &str, password: &str, stored: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(self.salt);
        for part in [user, password, stored] {
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        digest.finalize().into()
    }

    /// Whether `headers` carry credentials that `users` (user → bcrypt hash) accept; no users,
    /// no authentication. Cached outcomes are answered here; otherwise bcrypt runs on the
    /// blocking pool, one verification at a time, behind at most [`MAX_WAITING_HASHES`] others
    /// ([`Checked::Busy`] beyond).
    /// An unknown user is verified against `unknown` ([`unknown_user_hash`] of `users`).
    pub(super) async fn authorized(
        &self,
        users: &HashMap<String, String>,
        unknown: &str,
        headers: &HeaderMap,
    ) -> Checked {
        if users.is_empty() {
            return Checked::Right;
        }
        let Some((user, password)) = basic_credentials(headers) else {
            return Checked::Wrong;
        };
        let known = users.contains_key(&user);
        let stored = users.get(&user).map_or(unknown, String::as_str).to_string();
        let key = self.key(&user, &password, &stored);
        let verdict = |ok: bool| {
            if ok && known {
                Checked::Right
            } else {
                Checked::Wrong
            }
        };
        if let Some(ok) = self.outcomes.lock().get(&key) {
            return verdict(ok);
        }
        let Some(_place) = QueuePlace::take(&self.waiting) else {
            return Checked::Busy;
        };
        let guard = Arc::clone(&self.hashing).lock_owned().await;
        // Another request may have checked the same pair while this one waited.
        if let Some(ok) = self.outcomes.lock().get(&key) {
            return verdict(ok);
        }
        let matches = tokio::task::spawn_blocking(move || {
            let _hashing = guard;
            bcrypt::verify(password.as_bytes(), &stored).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let mut outcomes = self.outcomes.lock();
        if matches {
            outcomes.right.insert(key);
        } else {
            outcomes.wrong.insert(key);
        }
        verdict(matches)
    }

    /// Cached outcomes (right, wrong); only the tests read it.
    #[cfg(test)]
    pub(super) fn cached(&self) -> (usize, usize) {
        let outcomes = self.outcomes.lock();
        (outcomes.right.len(), outcomes.wrong.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_caches_are_bounded_and_keep_the_newest() {
        let mut set = BoundedSet::new(3);
        for i in 0..10u8 {
            set.insert([i; 32]);
        }
        assert_eq!(set.len(), 3);
        assert!(set.contains(&[9; 32]) && !set.contains(&[0; 32]));
    }

    fn cost(hash: &str) -> u32 {
        hash.parse::<bcrypt::HashParts>()
            .expect("a bcrypt hash")
            .get_cost()
    }

    #[test]
    fn an_unknown_user_costs_what_the_configured_users_cost() {
        let at = |c: u32| format!("$2y${c:02}${}", &DUMMY_HASH[7..]);
        let (five, twelve) = (at(5), at(12));
        // Users at cost 5 only: the dummy an unknown user is verified against has cost 5.
        let dummy = unknown_user_hash([five.as_str(), five.as_str()]);
        assert_eq!(cost(&dummy), 5);
        assert_eq!(
            unknown_user_cost([five.as_str(), five.as_str(), twelve.as_str()]),
            5
        );
        assert_eq!(
            unknown_user_cost([five.as_str(), twelve.as_str()]),
            12,
            "ties: highest"
        );
        assert_eq!(unknown_user_cost([]), 10);
        assert_eq!(cost(&unknown_user_hash([twelve.as_str()])), 12);
        assert!(
            !bcrypt::verify("fakepassword", &dummy).expect("a valid hash"),
            "no password matches a dummy of another cost"
        );
    }

    #[test]
    fn cache_keys_hide_the_password_and_separate_the_parts() {
        let auth = Auth::new();
        let key = auth.key("alice", "s3cret", DUMMY_HASH);
        assert_ne!(key, auth.key("alices", "3cret", DUMMY_HASH));
        assert_ne!(
            key,
            Auth::new().key("alice", "s3cret", DUMMY_HASH),
            "salted"
        );
        let shown = format!("{key:?}");
        assert!(!shown.contains("s3cret"));
    }
}
