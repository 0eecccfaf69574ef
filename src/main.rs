use std::process::ExitCode;

use clap::Parser;
use tencentcloud_ssl_exporter::cli::Cli;
use tencentcloud_ssl_exporter::{allocator, app, logging};

/// jemalloc, tuned for a small resident set (see `allocator`).
#[cfg(unix)]
#[global_allocator]
static GLOBAL: allocator::Allocator = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(cli.log_level, cli.log_format) {
        eprintln!("cannot set up logging: {error:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run_cli(&cli, app::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}
