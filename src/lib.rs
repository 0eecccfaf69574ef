//! Prometheus exporter for Tencent Cloud SSL Certificate Service.
//!
//! It polls the SSL API in the background (through the [`tencentcloud_ssl_api`] crate) and serves
//! what it learns on `/metrics`: when each certificate expires, which cloud resources it is bound
//! to, and how every rollout (deploy and rollback) went. A scrape never waits on the API.
//!
//! # Map of the modules
//!
//! Each module depends only on modules listed before it (and on the API crate):
//!
//! - [`duration`], `shard`: small parsers and the account sharding rule; [`headlines`]: the few
//!   facts a collector states for the landing page.
//! - [`config`]: the YAML file validated into its own type, or one account from a plain
//!   [`config::Defaults`] struct (the flags fill it; the config layer never sees clap).
//! - [`cli`]: flags in the Prometheus exporter style; [`logging`]: log setup from them.
//! - [`telemetry`]: live counters of the exporter's own API traffic (the client's observer).
//! - [`metrics`]: the metrics contract, snapshot rendering and the prepared exposition bytes.
//! - `targets`: the endpoints the API names, published by the bind and rollout collectors and
//!   read by the endpoints collector, and the fixed sample of them that is tracked when there
//!   are too many; `probe`: the TLS probe of one endpoint.
//! - [`collector`]: one file per collector (`certificates`, `bind`, `deploy`, `endpoints`)
//!   behind a small trait, plus the one pager, fan-out (and pipeline), stale-merge and
//!   per-certificate budget they share; each run builds a snapshot.
//! - `readiness`: which collectors are still on their first run; ready once those that gate
//!   readiness (the fast ones) have run.
//! - `scheduler`: runs each collector on its own schedule, skip-not-stack.
//! - [`web`]: the web configuration (`--web.config.file`: TLS, basic auth, headers, rate limit;
//!   followed for changes) and the HTTP server: `/metrics`, `/-/healthy`, `/-/ready` and a landing page over hyper.
//! - [`app`]: wiring, and `--demo` (the `demo` feature) against the simulator crate; `main`
//!   only parses flags, sets up logging and calls [`app::run_cli`] with a shutdown future.
//! - [`allocator`]: the binary's allocator (jemalloc) and the options that keep its resident set
//!   small.
//!
//! Public items are what the binary, the benches and the fuzz targets use; the rest is private.

pub mod allocator;
pub mod app;
pub mod cli;
pub mod collector;
pub mod config;
pub mod duration;
pub mod headlines;
pub mod logging;
pub mod metrics;
mod probe;
mod readiness;
mod scheduler;
mod shard;
mod targets;
pub mod telemetry;
pub mod web;
