//! Prometheus exporter for Tencent Cloud SSL Certificate Service.
//!
//! It polls the SSL API in the background and serves what it learns on `/metrics`: when each
//! certificate expires, which cloud resources it is bound to, and how every rollout (deploy and
//! rollback) went. A scrape never waits on the API.
//!
//! # Map of the modules
//!
//! Talking to the API:
//! - [`signing`]: TC3-HMAC-SHA256 signatures, a pure function.
//! - [`credentials`]: secrets that never print, and where credentials come from.
//! - [`client`]: the signed client: rate limiting per action, retries, size caps, typed errors.
//! - [`api`]: request/response types and pure parse functions for every action used.
//!
//! Turning answers into metrics:
//! - [`collector`]: one module per collector (`certificates`, `bind`, `deploy`) behind a
//!   small trait; each builds a complete snapshot per run.
//! - [`metrics`]: the metrics contract, snapshot rendering and the prepared exposition bytes.
//! - [`telemetry`]: live counters of the exporter's own API traffic.
//! - [`scheduler`]: runs each collector on its own schedule, skip-not-stack, and tracks readiness.
//!
//! Demo and tests:
//! - [`simulator`]: a simulated SSL API (signatures, rate limits, tasks over time, paging,
//!   nulls, faults) that `--demo`, the integration tests and the benchmarks run against.
//!
//! Serving:
//! - [`server`]: `/metrics`, `/-/healthy`, `/-/ready` and a landing page over hyper.
//! - [`web_config`]: `--web.config.file` (TLS, basic auth, headers).
//! - [`app`]: wiring; `main` only parses flags, sets up logging and calls [`app::run_cli`].
//!
//! Configuration:
//! - [`config`]: the YAML file validated into its own type, or one account from flags.
//! - [`shard`]: which accounts a replica collects under `--shard=I/N`.
//! - [`cli`], [`logging`], [`duration`], [`timefmt`]: flags, log setup and small parsers.
//! - [`locking`]: the one way a mutex is taken (poison is taken over, never a second panic).
//! - [`allocator`]: the binary's allocator (jemalloc) and the options that keep its resident set small.

pub mod allocator;
pub mod api;
pub mod app;
pub mod cli;
pub mod client;
pub mod collector;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod locking;
pub mod logging;
pub mod metrics;
pub mod scheduler;
pub mod server;
pub mod shard;
pub mod signing;
pub mod simulator;
pub mod telemetry;
pub mod timefmt;
pub mod web_config;
