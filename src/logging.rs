//! Logging setup: logfmt or JSON on stderr.
//!
//! Dependencies (HTTP client and server internals) are held at `warn` whatever `--log.level`
//! says, so no debug or trace output of theirs can carry a header or body anywhere.

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{LogFormat, LogLevel};

/// `warn` for everything, `level` for this crate. A fixed target filter, not an `EnvFilter`:
/// no directive language to parse, and no regex engine in the binary.
fn filter(level: LogLevel) -> Targets {
    let level = match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    Targets::new()
        .with_default(Level::WARN)
        .with_target(env!("CARGO_CRATE_NAME"), level)
}

/// Installs the global subscriber.
pub fn init(level: LogLevel, format: LogFormat) -> anyhow::Result<()> {
    let filter = filter(level);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_stay_at_warn() {
        let verbose = filter(LogLevel::Debug);
        assert!(verbose.would_enable("tencentcloud_ssl_exporter::client", &Level::DEBUG));
        assert!(verbose.would_enable("tencentcloud_ssl_exporter", &Level::DEBUG));
        assert!(!verbose.would_enable("hyper::proto", &Level::INFO));
        assert!(!verbose.would_enable("reqwest", &Level::DEBUG));
        assert!(verbose.would_enable("reqwest", &Level::WARN));
        let quiet = filter(LogLevel::Error);
        assert!(!quiet.would_enable("tencentcloud_ssl_exporter::scheduler", &Level::WARN));
    }
}
