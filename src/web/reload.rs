//! Following the configuration file: once a second the file and every file it names
//! (`cert_file`, `key_file`, `client_ca_file`) are `stat`ed ([`super::files`]). When one changed,
//! the whole configuration is read again; a valid new version is used from the next handshake and
//! request on, an invalid or unreadable one is logged and the last good one kept, and
//! `tencentcloud_ssl_web_config_last_reload_successful` says which. Turning TLS on or off needs a
//! restart (a reload that does is refused), so a typo cannot silently serve plain HTTP.

use std::path::PathBuf;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::config::WebConfig;
use super::error::{error, WebConfigError};
use super::files::Watched;

/// How often the files are checked for changes.
pub(super) const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A reload that failed is tried again this often even when no watched file changed (it may
/// have failed on a file the new version names and the old one did not).
const RETRY_FAILED_EVERY: Duration = Duration::from_secs(10);

/// What one reload check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reload {
    /// No watched file changed (or there is no file).
    Unchanged,
    /// A new version is in use.
    Reloaded,
    /// The new version is invalid or unreadable; the last good one is kept.
    Failed(WebConfigError),
}

/// A reload attempt that failed.
#[derive(Debug)]
struct Failed {
    /// Its error (logged once per distinct message).
    message: String,
    at: Instant,
    /// The watched files as they were when it was tried.
    seen: Vec<Watched>,
}

/// Follows one configuration file: when it is due to be read again, and the reading.
#[derive(Debug)]
pub(super) struct Reloader {
    path: PathBuf,
    /// The last attempt, when it failed. Held for a whole check, so checks never overlap.
    failed: Mutex<Option<Failed>>,
}

impl Reloader {
    pub(super) fn new(path: PathBuf) -> Reloader {
        Reloader {
            path,
            failed: Mutex::new(None),
        }
    }

    /// Reads the file again if one of `current`'s files changed (or a failed reload is due for
    /// another try), and hands a valid new version to `apply`. Blocking file IO.
    pub(super) fn check(&self, current: &WebConfig, apply: impl FnOnce(WebConfig)) -> Reload {
        let path = &self.path;
        let mut failed = self.failed.lock();
        // Taken before anything is read, so a change while reading is seen next time.
        let seen = current.files_now();
        let due = match &*failed {
            None => seen != current.files,
            Some(failed) => failed.seen != seen || failed.at.elapsed() >= RETRY_FAILED_EVERY,
        };
        if !due {
            return Reload::Unchanged;
        }
        let loaded = WebConfig::load(path).and_then(|new| {
            if new.tls_enabled() != current.tls_enabled() {
                return Err(error(
                    "tls_server_config",
                    "turning TLS on or off needs a restart; keeping the running configuration",
                ));
            }
            Ok(new)
        });
        match loaded {
            Ok(new) => {
                tracing::info!(file = %path.display(), web = %new.summary(), "web configuration reloaded");
                apply(new);
                *failed = None;
                Reload::Reloaded
            }
            Err(e) => {
                let message = e.to_string();
                if failed.as_ref().map(|f| &f.message) != Some(&message) {
                    tracing::error!(file = %path.display(), error = %message, "reloading the web configuration failed; serving the last good one");
                }
                *failed = Some(Failed {
                    message,
                    at: Instant::now(),
                    seen,
                });
                Reload::Failed(e)
            }
        }
    }
}
