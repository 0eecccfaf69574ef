//! A simulated Tencent Cloud SSL API, for the demo, the tests and the benchmarks.
//!
//! It behaves as the API reference describes: TC3 signatures and timestamp skew are verified
//! (with the real error codes), per-action rate limits answer `RequestLimitExceeded`, bind tasks
//! run through status 0 → 1/2 over time and honour `IsCache`, pages are capped as documented,
//! fields come back `null` where the docs allow it, and rollouts move from pending/running to
//! their outcome while you watch. Everything follows from a seed.
//!
//! It is an oracle: it shares no code with the exporter or its API crate. Status codes, label
//! values, time formats, the signature check and the exposition lines of its truth are all
//! written here from the API reference and the metrics contract, so a wrong table on either side
//! shows up as a difference instead of passing on both.
//!
//! - [`alerts`]: the alerts of the shipped rules the world should raise, from the documented
//!   conditions.
//! - [`model`]: action names, documented rate limits and status codes, with their label values.
//! - [`clock`]: the API's two time formats, by a different method than the exporter's.
//! - [`dataset`]: the deterministic world (certificates, bindings, rollout records, timelines).
//! - [`events`]: changes made while the world runs (a deploy record created now).
//! - [`handlers`]: one function per action, answering from the dataset at a given time.
//! - [`auth`]: the TC3 signature and credential checks, with the real error codes.
//! - [`faults`]: injected errors, HTTP failures, truncation, slowness and resets.
//! - [`pki`]: the demo CA and the certificates' leaves (`DescribeCertificateDetail`).
//! - [`scenario`]: cases a real account shows, each on its own knob: an upload-update moving
//!   endpoints to new content, domain forms, inactive bindings, refused actions, a deletion
//!   between pages.
//! - [`tls`]: the demo's TLS endpoints, serving current, previous or expired leaves, and one
//!   named by the API where nothing answers.
//! - [`truth`]: what a correct exporter must show for the dataset, as exposition lines.
//! - [`http`]: the HTTP front: authentication, rate limiting, faults, stats and admin routes.

pub mod alerts;
pub mod auth;
pub mod clock;
pub mod dataset;
pub mod events;
pub mod faults;
pub mod handlers;
pub mod http;
pub mod model;
pub mod pki;
pub mod scenario;
pub mod tls;
pub mod truth;

pub use dataset::{Dataset, DatasetSpec, Served};
pub use faults::{FaultConfig, FaultKind};
pub use http::{SimConfig, Simulator};
pub use model::{ItemState, Operation, RecordKind};
pub use scenario::{Refusal, Scenario};
pub use tls::TlsEndpoint;

/// Credentials the demo uses; the simulator accepts exactly these unless told otherwise.
pub const DEMO_SECRET_ID: &str = "AKIDDEMOEXAMPLEEXAMPLEEXAMPLE00001";
pub const DEMO_SECRET_KEY: &str = "demo-secret-key-for-the-simulator";

/// SplitMix64: a tiny, well-known generator, so a seed means the same data on every platform
/// and every version of every crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A stable hash of a few numbers, for per-instance values computed on demand.
pub fn mix(parts: &[u64]) -> u64 {
    let mut rng = Rng::new(0x5eed);
    for part in parts {
        rng = Rng::new(rng.next_u64() ^ part.wrapping_mul(0x2545_f491_4f6c_dd1d));
    }
    rng.next_u64()
}

/// Runs `handle` on every connection `listener` accepts, each in its own task, until `stop`;
/// a failed accept (out of descriptors, say) is retried after a pause. Each handler also ends on
/// `stop`.
pub(crate) async fn accept_each<F, Fut>(
    listener: tokio::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
    mut handle: F,
) where
    F: FnMut(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = handle(stream);
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}
