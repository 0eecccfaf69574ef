//! The web side: what `--web.config.file` says (the Prometheus exporter-toolkit format: TLS,
//! basic auth, response headers, a request rate limit) and the HTTP server that applies it.
//!
//! Each file has one job, and each depends only on the ones listed before it:
//!
//! - `error`: [`WebConfigError`], what is wrong and the key it is about.
//! - `files`: which version of a file a configuration was read from (its `stat`).
//! - `tls`: `tls_server_config` as a rustls server configuration, client verification included.
//! - `rate_limit`: `rate_limit`, the token bucket over every request.
//! - `auth`: `basic_auth_users`, bcrypt behind one lock with a cache of outcomes.
//! - `config`: the file format and its validation into one version, [`WebConfig`].
//! - `reload`: following the file and the files it names, keeping the last good version.
//! - `front_door`: [`FrontDoor`], the live version every connection and request asks, and the
//!   loop that reloads it.
//! - `negotiate`: which exposition format (text or OpenMetrics) a scrape's `Accept` asks for.
//! - `status_page`: the landing page, "is it working?" per account and collector.
//! - `routes`: what an admitted request gets (`/metrics`, health, readiness, landing page).
//! - `server`: the accept loop: connection cap, header, handshake and write deadlines, shutdown.

mod auth;
mod config;
mod error;
mod files;
mod front_door;
mod negotiate;
mod rate_limit;
mod reload;
mod routes;
pub(crate) mod server;
mod status_page;
mod tls;

pub use config::WebConfig;
pub use error::WebConfigError;
pub use front_door::FrontDoor;
