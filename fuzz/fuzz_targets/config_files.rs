//! Any text as a configuration or web configuration file: a validated value or an error that
//! names its place, never a panic.
#![no_main]

use clap::Parser;
use libfuzzer_sys::fuzz_target;
use tencentcloud_ssl_exporter::cli::Cli;
use tencentcloud_ssl_exporter::config::Config;
use tencentcloud_ssl_exporter::web::WebConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cli) = Cli::try_parse_from(["fuzz"]) else {
        return;
    };
    if let Err(error) = Config::parse(text, &cli.config_defaults()) {
        assert!(!error.place.is_empty());
    }
    // Relative file names resolve inside an empty folder, so no real file is read.
    let _ = WebConfig::parse(text, std::path::Path::new("/nonexistent-fuzz-base"));
});
