//! Logging setup: logfmt or JSON on stderr.
//!
//! Dependencies (HTTP client and server internals) are held at `warn` whatever `--log.level`
//! says, so no debug or trace output of theirs can carry a header or body anywhere.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, LogLevel};

fn directive(level: LogLevel) -> String {
    let level = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    format!("warn,tencentcloud_ssl_exporter={level}")
}

/// Installs the global subscriber.
pub fn init(level: LogLevel, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(directive(level))?;
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
        assert_eq!(
            directive(LogLevel::Debug),
            "warn,tencentcloud_ssl_exporter=debug"
        );
        assert!(EnvFilter::try_new(directive(LogLevel::Info)).is_ok());
    }
}
