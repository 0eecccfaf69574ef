//! [`FrontDoor`]: the live web configuration the server asks about every connection and request
//! (the TLS acceptor of each handshake; rate limit, then basic auth, for each request), and the
//! loop that follows the file.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use hyper::HeaderMap;
use tokio_util::sync::CancellationToken;

use super::auth::{Auth, Checked};
use super::config::WebConfig;
use super::rate_limit::Bucket;
use super::reload::{Reload, Reloader, RELOAD_CHECK_EVERY};
use crate::telemetry::Telemetry;

/// What the front door decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Let it through to the handlers.
    Allowed,
    /// Missing or wrong credentials: 401.
    Unauthorized,
    /// Over `rate_limit`: 429.
    RateLimited,
    /// Credentials not cached, and too many requests already wait for bcrypt: 429.
    HashingBusy,
}

/// The live web configuration the server consults: the current good version, the bcrypt cache,
/// the rate-limit bucket, and the reloads.
pub struct FrontDoor {
    /// Follows the file, when there is one.
    reloader: Option<Reloader>,
    current: ArcSwap<WebConfig>,
    auth: Auth,
    bucket: ArcSwapOption<Bucket>,
    telemetry: Telemetry,
}

impl std::fmt::Debug for FrontDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontDoor")
            .field("reloader", &self.reloader)
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

impl FrontDoor {
    /// The front door of `config`, read from `path` (followed for changes) when there is one.
    pub fn new(path: Option<PathBuf>, config: WebConfig, telemetry: Telemetry) -> FrontDoor {
        telemetry.web_config_reloaded(true);
        FrontDoor {
            reloader: path.map(Reloader::new),
            bucket: ArcSwapOption::new(config.rate_limit.map(|r| Arc::new(Bucket::new(r)))),
            current: ArcSwap::from_pointee(config),
            auth: Auth::new(),
            telemetry,
        }
    }

    /// Plain HTTP without authentication, nothing to follow.
    pub fn open(telemetry: Telemetry) -> FrontDoor {
        FrontDoor::new(None, WebConfig::default(), telemetry)
    }

    /// The version in use.
    pub fn config(&self) -> Arc<WebConfig> {
        self.current.load_full()
    }

    /// The acceptor of the next handshake (the current certificate, key and client CAs).
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.current.load().tls_acceptor()
    }

    /// Adds the current version's headers to a response.
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        self.current.load().apply_headers(headers);
    }

    /// Rate limit first (as exporter-toolkit), then basic auth.
    pub(super) async fn admit(&self, headers: &HeaderMap) -> Admission {
        if let Some(bucket) = self.bucket.load().as_ref() {
            if !bucket.allow() {
                return Admission::RateLimited;
            }
        }
        let config = self.current.load_full();
        match self
            .auth
            .authorized(&config.users, &config.unknown_user_hash, headers)
            .await
        {
            Checked::Right => Admission::Allowed,
            Checked::Wrong => Admission::Unauthorized,
            Checked::Busy => Admission::HashingBusy,
        }
    }

    /// Reads the configuration again if one of its files changed (or a failed reload is due for
    /// another try). Blocking file IO: run it off the async threads.
    pub(crate) fn reload_if_changed(&self) -> Reload {
        let Some(reloader) = &self.reloader else {
            return Reload::Unchanged;
        };
        let current = self.current.load_full();
        let reload = reloader.check(&current, |new| {
            if new.rate_limit != current.rate_limit {
                self.bucket
                    .store(new.rate_limit.map(|r| Arc::new(Bucket::new(r))));
            }
            // The metric first: a request the new version admits must find it already said.
            self.telemetry.web_config_reloaded(true);
            self.current.store(Arc::new(new));
        });
        if let Reload::Failed(_) = reload {
            self.telemetry.web_config_reloaded(false);
        }
        reload
    }

    /// Checks for changes every second until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        if self.reloader.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(RELOAD_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let front = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || front.reload_if_changed()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use hyper::header::{HeaderValue, AUTHORIZATION};

    use std::path::Path;

    use super::*;
    use crate::web::auth::MAX_WAITING_HASHES;
    use crate::web::rate_limit::RateLimit;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
        );
        headers
    }

    fn door(text: &str) -> FrontDoor {
        let config = WebConfig::parse(text, Path::new(".")).expect("valid");
        FrontDoor::new(None, config, Telemetry::new())
    }

    #[tokio::test]
    async fn basic_auth_accepts_only_the_right_pair() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let door = door(&format!("basic_auth_users:\n  alice: '{hash}'\n"));
        let allowed = |v: Admission| v == Admission::Allowed;
        assert!(allowed(door.admit(&basic("alice", "s3cret")).await));
        assert!(
            allowed(door.admit(&basic("alice", "s3cret")).await),
            "cached"
        );
        assert!(!allowed(door.admit(&basic("alice", "wrong")).await));
        assert!(
            !allowed(door.admit(&basic("alice", "wrong")).await),
            "cached"
        );
        assert!(!allowed(door.admit(&basic("bob", "s3cret")).await));
        assert!(!allowed(door.admit(&HeaderMap::new()).await));
        let mut garbage = HeaderMap::new();
        garbage.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(door.admit(&garbage).await, Admission::Unauthorized);
        // One right pair, two wrong ones (the unknown user against the dummy hash).
        assert_eq!(door.auth.cached(), (1, 2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cached_pair_is_answered_while_the_hashing_lock_is_held() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let door = door(&format!("basic_auth_users:\n  alice: '{hash}'\n"));
        assert_eq!(
            door.admit(&basic("alice", "s3cret")).await,
            Admission::Allowed
        );
        // A storm holds the lock: the cached scraper must not wait for it.
        let _held = Arc::clone(&door.auth.hashing).lock_owned().await;
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            door.admit(&basic("alice", "s3cret")),
        )
        .await;
        assert_eq!(answer, Ok(Admission::Allowed));
        let guess = tokio::time::timeout(
            Duration::from_millis(200),
            door.admit(&basic("alice", "guess")),
        )
        .await;
        assert!(guess.is_err(), "a new guess waits for the hashing lock");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn guesses_beyond_the_hashing_queue_are_turned_away_at_once() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let door = Arc::new(door(&format!("basic_auth_users:\n  alice: '{hash}'\n")));
        assert_eq!(
            door.admit(&basic("alice", "s3cret")).await,
            Admission::Allowed
        );
        let held = Arc::clone(&door.auth.hashing).lock_owned().await;
        let mut queued = Vec::new();
        for i in 0..MAX_WAITING_HASHES {
            let door = Arc::clone(&door);
            queued.push(tokio::spawn(async move {
                door.admit(&basic("alice", &format!("guess-{i}"))).await
            }));
        }
        while door.auth.waiting.load(std::sync::atomic::Ordering::Acquire) < MAX_WAITING_HASHES {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            door.admit(&basic("alice", "one-too-many")).await,
            Admission::HashingBusy
        );
        assert_eq!(
            door.admit(&basic("alice", "s3cret")).await,
            Admission::Allowed,
            "cached"
        );
        drop(held);
        for task in queued {
            assert_eq!(task.await.expect("task"), Admission::Unauthorized);
        }
        assert_eq!(
            door.auth.waiting.load(std::sync::atomic::Ordering::Acquire),
            0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_is_a_token_bucket_like_exporter_toolkit() {
        let door = door("rate_limit:\n  interval: 1s\n  burst: 2\n");
        assert_eq!(
            door.config().rate_limit,
            Some(RateLimit {
                interval: Duration::from_secs(1),
                burst: 2
            })
        );
        let headers = HeaderMap::new();
        assert_eq!(door.admit(&headers).await, Admission::Allowed);
        assert_eq!(door.admit(&headers).await, Admission::Allowed);
        assert_eq!(door.admit(&headers).await, Admission::RateLimited);
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(door.admit(&headers).await, Admission::Allowed);
        assert_eq!(door.admit(&headers).await, Admission::RateLimited);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(door.admit(&headers).await, Admission::Allowed);
        assert_eq!(door.admit(&headers).await, Admission::Allowed);
        assert_eq!(
            door.admit(&headers).await,
            Admission::RateLimited,
            "refills to burst only"
        );
        let off = WebConfig::parse("rate_limit:\n  interval: 0s\n  burst: 5\n", Path::new("."));
        assert!(off.expect("valid").rate_limit.is_none());
    }

    #[test]
    fn a_broken_new_version_keeps_the_last_good_one_and_says_so() {
        let dir = std::env::temp_dir().join(format!("web-config-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("web.yml");
        let write = |text: &str| {
            let tmp = dir.join("web.yml.tmp");
            std::fs::write(&tmp, text).expect("write");
            std::fs::rename(&tmp, &path).expect("rename");
        };
        write("http_server_config:\n  headers:\n    X-Frame-Options: deny\n");
        let telemetry = Telemetry::new();
        let door = FrontDoor::new(
            Some(path.clone()),
            WebConfig::load(&path).expect("valid"),
            telemetry.clone(),
        );
        assert_eq!(door.reload_if_changed(), Reload::Unchanged);
        write("http_server_config:\n  headers:\n    Server: nope\n");
        assert!(matches!(door.reload_if_changed(), Reload::Failed(_)));
        assert!(telemetry
            .render()
            .contains("tencentcloud_ssl_web_config_last_reload_successful 0"));
        let mut headers = HeaderMap::new();
        door.apply_headers(&mut headers);
        assert_eq!(headers["x-frame-options"], "deny", "the last good version");
        assert_eq!(
            door.reload_if_changed(),
            Reload::Unchanged,
            "no retry before it is due"
        );
        write("http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n");
        assert_eq!(door.reload_if_changed(), Reload::Reloaded);
        let mut headers = HeaderMap::new();
        door.apply_headers(&mut headers);
        assert_eq!(headers["x-frame-options"], "sameorigin");
        assert!(telemetry
            .render()
            .contains("tencentcloud_ssl_web_config_last_reload_successful 1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_reload_that_removes_basic_auth_is_refused_and_auth_stays_on() {
        let dir = std::env::temp_dir().join(format!("web-config-no-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("web.yml");
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let users = format!("basic_auth_users:\n  alice: '{hash}'\n");
        std::fs::write(&path, &users).expect("write");
        let telemetry = Telemetry::new();
        let door = FrontDoor::new(
            Some(path.clone()),
            WebConfig::load(&path).expect("valid"),
            telemetry.clone(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Truncated and not yet written: it parses as a version without users.
        std::fs::write(&path, "").expect("truncate");
        match door.reload_if_changed() {
            Reload::Failed(e) => assert_eq!(e.place, "basic_auth_users", "{e}"),
            other => panic!("expected a refused reload, got {other:?}"),
        }
        assert!(telemetry
            .render()
            .contains("tencentcloud_ssl_web_config_last_reload_successful 0"));
        assert_eq!(
            runtime.block_on(door.admit(&HeaderMap::new())),
            Admission::Unauthorized,
            "basic auth stays on"
        );
        // Not only an empty file: any version without users.
        std::fs::write(
            &path,
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .expect("write");
        assert!(matches!(door.reload_if_changed(), Reload::Failed(_)));
        assert_eq!(
            runtime.block_on(door.admit(&HeaderMap::new())),
            Admission::Unauthorized
        );
        // The writer finishes: the whole version is used.
        std::fs::write(
            &path,
            format!("{users}rate_limit:\n  interval: 1s\n  burst: 100\n"),
        )
        .expect("write");
        assert_eq!(door.reload_if_changed(), Reload::Reloaded);
        assert!(door.config().basic_auth_enabled() && door.config().rate_limit.is_some());
        assert!(telemetry
            .render()
            .contains("tencentcloud_ssl_web_config_last_reload_successful 1"));
        assert_eq!(
            runtime.block_on(door.admit(&basic("alice", "s3cret"))),
            Admission::Allowed
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
