//! Following the configuration file: once a second the file and every file it names
//! (`cert_file`, `key_file`, `client_ca_file`) are `stat`ed ([`super::files`]). When one changed,
//! the whole configuration is read again; a valid new version is used from the next handshake and
//! request on, an invalid or unreadable one is logged and the last good one kept, and
//! `tencentcloud_ssl_web_config_last_reload_successful` says which. Turning TLS on or off, and
//! removing every basic auth user, need a restart (a reload that does is refused), so neither a
//! typo nor a file read half-written (between its truncation and its writing) can silently serve
//! plain HTTP or turn authentication off. A read during which one of the files changed (its stamp
//! before and after differ) is not used and not an error: the next check reads it again.

use std::path::{Path, PathBuf};
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
    /// A file changed while it was read: nothing is used, the next check reads it again.
    Changing,
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
        self.check_with(current, WebConfig::load, apply)
    }

    /// [`Reloader::check`] with `load` reading the file (the tests change it while it is read).
    fn check_with(
        &self,
        current: &WebConfig,
        load: impl FnOnce(&Path) -> Result<WebConfig, WebConfigError>,
        apply: impl FnOnce(WebConfig),
    ) -> Reload {
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
        let loaded = load(path);
        // Each file's stamp was taken just before it was read: the same after means a whole
        // version was read, not one being written.
        let settled = match &loaded {
            Ok(new) => new.files_now() == new.files,
            Err(_) => current.files_now() == seen,
        };
        if !settled {
            tracing::debug!(file = %path.display(), "the web configuration changed while it was read; reading it again at the next check");
            return Reload::Changing;
        }
        let loaded = loaded.and_then(|new| {
            if new.tls_enabled() != current.tls_enabled() {
                return Err(error(
                    "tls_server_config",
                    "turning TLS on or off needs a restart; keeping the running configuration",
                ));
            }
            if current.basic_auth_enabled() && !new.basic_auth_enabled() {
                return Err(error(
                    "basic_auth_users",
                    "removing every user turns basic auth off, which needs a restart; keeping the running configuration",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }

    #[test]
    fn a_version_that_changes_while_it_is_read_is_read_again_not_used() {
        let dir = std::env::temp_dir().join(format!("web-config-settle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("web.yml");
        write(
            &path,
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        );
        let current = WebConfig::load(&path).expect("valid");
        let reloader = Reloader::new(path.clone());
        let first = "http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n";
        let last = "http_server_config:\n  headers:\n    Content-Security-Policy: none\n";
        write(&path, first);
        let mut applied = None;
        // The writer replaces the file again while this check reads it.
        let reload = reloader.check_with(
            &current,
            |p| {
                let read = WebConfig::load(p);
                write(p, last);
                read
            },
            |new| applied = Some(new),
        );
        assert_eq!(reload, Reload::Changing, "not done yet, and not an error");
        assert!(
            applied.is_none(),
            "a version read while it changed is not used"
        );
        let reload = reloader.check(&current, |new| applied = Some(new));
        assert_eq!(reload, Reload::Reloaded, "read again at the next check");
        let mut headers = hyper::HeaderMap::new();
        applied.expect("applied").apply_headers(&mut headers);
        assert_eq!(
            headers["content-security-policy"], "none",
            "the settled version"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
