use std::process::ExitCode;

use clap::Parser;
use tencentcloud_ssl_exporter::app;
use tencentcloud_ssl_exporter::cli::Cli;
use tencentcloud_ssl_exporter::logging;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = logging::init(cli.log_level, cli.log_format) {
        eprintln!("cannot set up logging: {error:#}");
        return ExitCode::FAILURE;
    }
    match app::run_cli(&cli, app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}
