//! Helpers shared by the API crate's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tencentcloud_ssl_api::client::{Client, ClientConfig, Observer, RetryPolicy};
use tencentcloud_ssl_api::credentials::{Credentials, MaskedId, Secret, StaticCredentials};

pub const SECRET_ID: &str = "AKIDTESTTESTTESTTESTTESTTEST0001";
pub const SECRET_KEY: &str = "test-secret-key-never-logged-7f3a";

pub fn credentials(token: Option<&str>) -> Arc<StaticCredentials> {
    Arc::new(StaticCredentials::new(Credentials {
        secret_id: MaskedId::new(SECRET_ID),
        secret_key: Secret::new(SECRET_KEY),
        token: token.map(Secret::new),
    }))
}

/// Counts the attempts a client reports, by (action, code).
#[derive(Debug, Default)]
pub struct Attempts(Mutex<BTreeMap<(String, String), u64>>);

impl Attempts {
    pub fn new() -> Arc<Attempts> {
        Arc::new(Attempts::default())
    }

    /// Attempts of any action that ended with `code`.
    pub fn with_code(&self, code: &str) -> u64 {
        let seen = self.0.lock().expect("not poisoned");
        seen.iter()
            .filter(|((_, c), _)| c == code)
            .map(|(_, n)| *n)
            .sum()
    }
}

impl Observer for Attempts {
    fn attempt(&self, _account: &str, action: &str, code: &str, _elapsed: Duration) {
        *self
            .0
            .lock()
            .expect("not poisoned")
            .entry((action.to_string(), code.to_string()))
            .or_default() += 1;
    }
}

/// A client with fast retries, for tests against a mock server.
pub fn client(endpoint: &str, attempts: Arc<Attempts>) -> Client {
    client_with(endpoint, attempts, |_| {})
}

pub fn client_with(
    endpoint: &str,
    attempts: Arc<Attempts>,
    adjust: impl FnOnce(&mut ClientConfig),
) -> Client {
    let mut config = ClientConfig {
        endpoint: endpoint.to_string(),
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        },
        ..ClientConfig::default()
    };
    // Tests run far below the real limits; pacing would only slow them down.
    for (action, _) in tencentcloud_ssl_api::client::DOCUMENTED_LIMITS {
        config.rate_limits.insert(action.to_string(), 1000.0);
    }
    adjust(&mut config);
    Client::new("default", &config, credentials(None), attempts).expect("client")
}

/// A port nothing listens on now, for a server a test starts. Taken below the kernel's
/// ephemeral range (32768 and up on Linux): a port the kernel hands out for `:0` can be taken by
/// any outbound connection on the machine (a benchmark's probes, say) before the test binds it.
/// Each process starts at a place of its own in 20000–31999 and moves on with each call.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    for _ in 0..SPAN {
        let port = FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        let port = u16::try_from(port).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
