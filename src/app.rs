//! Wires the pieces together: credentials, clients, collectors, the exposition and the server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::records::RecordKind;
use crate::cli::Cli;
use crate::client::{Client, ClientConfig};
use crate::collector::bind::BindCollector;
use crate::collector::certificates::CertificatesCollector;
use crate::collector::deploy::DeployCollector;
use crate::collector::CollectorSettings;
use crate::credentials::{
    self, Credentials, MaskedId, ProvideCredentials, Secret, StaticCredentials,
};
use crate::metrics::Exposition;
use crate::scheduler::{self, Readiness, Schedule};
use crate::server::{self, ServerConfig, ServerState};
use crate::simulator::{SimConfig, Simulator, DEMO_SECRET_ID, DEMO_SECRET_KEY};
use crate::telemetry::Telemetry;

/// Build revision, from the `GIT_REVISION` environment variable at build time when set.
pub const REVISION: &str = match option_env!("GIT_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// One account to collect.
pub struct AccountSetup {
    pub name: String,
    pub client: ClientConfig,
    pub credentials: Arc<dyn ProvideCredentials>,
}

/// Client settings from flags, for `endpoint`.
fn client_config(cli: &Cli, endpoint: &str) -> ClientConfig {
    ClientConfig {
        endpoint: endpoint.to_string(),
        timeout: cli.timeout,
        rate_limits: cli.rate_limits.iter().cloned().collect(),
        ..ClientConfig::default()
    }
}

/// Everything `run` needs, resolved from flags (and, in demo mode, the simulator).
pub struct Setup {
    pub accounts: Vec<AccountSetup>,
    pub server: ServerConfig,
    pub listen: String,
    pub interval: Duration,
    pub stale_intervals: u32,
    pub concurrency: usize,
    pub bind_poll_timeout: Duration,
    pub deploy_max_age: Duration,
}

impl Setup {
    /// The production setup: one account described by flags and the environment.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Setup> {
        let credentials = credentials::from_env(|name| std::env::var(name).ok())
            .context("reading credentials from the environment")?;
        Ok(Setup::with_account(
            cli,
            AccountSetup {
                name: cli.account.clone(),
                client: client_config(cli, &cli.endpoint),
                credentials: Arc::new(StaticCredentials::new(credentials)),
            },
        ))
    }

    /// The demo setup: the normal client, signing and collectors against a simulator running in
    /// this process.
    pub fn demo(cli: &Cli, simulator: &Simulator) -> Setup {
        Setup::with_account(
            cli,
            AccountSetup {
                name: cli.account.clone(),
                client: client_config(cli, &simulator.endpoint()),
                credentials: Arc::new(StaticCredentials::new(Credentials {
                    secret_id: MaskedId::new(DEMO_SECRET_ID),
                    secret_key: Secret::new(DEMO_SECRET_KEY),
                    token: None,
                })),
            },
        )
    }

    /// Flags for everything but the account.
    pub fn with_account(cli: &Cli, account: AccountSetup) -> Setup {
        Setup {
            accounts: vec![account],
            server: ServerConfig {
                telemetry_path: cli.telemetry_path.clone(),
                max_connections: cli.max_connections,
                ..ServerConfig::default()
            },
            listen: cli.listen_socket(),
            interval: cli.effective_interval(),
            stale_intervals: cli.stale_intervals,
            concurrency: cli.concurrency.max(1),
            bind_poll_timeout: cli.bind_poll_timeout,
            deploy_max_age: cli.deploy_max_age,
        }
    }
}

/// Binds the listener, starts every collector and serves until `shutdown` resolves.
pub async fn run(setup: Setup, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&setup.listen)
        .await
        .with_context(|| format!("listening on {}", setup.listen))?;
    serve(setup, listener, shutdown).await
}

/// Like [`run`], on a listener the caller bound.
pub async fn serve(
    setup: Setup,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let telemetry = Telemetry::new();
    let exposition = Arc::new(Exposition::new(
        telemetry.clone(),
        env!("CARGO_PKG_VERSION"),
        REVISION,
    ));
    let readiness = Arc::new(Readiness::new());
    let stop_collectors = CancellationToken::new();
    let mut tasks = Vec::new();
    for account in &setup.accounts {
        let client = Client::new(
            &account.name,
            &account.client,
            Arc::clone(&account.credentials),
            telemetry.clone(),
        )
        .with_context(|| format!("account {}", account.name))?;
        let settings = CollectorSettings {
            account: account.name.clone(),
            interval: setup.interval,
            stale_intervals: setup.stale_intervals,
            concurrency: setup.concurrency,
        };
        let schedule = Schedule {
            account: account.name.clone(),
            interval: setup.interval,
            stale_intervals: setup.stale_intervals,
            exposition: Arc::clone(&exposition),
            readiness: Arc::clone(&readiness),
            shutdown: stop_collectors.clone(),
        };
        tasks.push(scheduler::spawn(
            CertificatesCollector::new(client.clone(), settings.clone()),
            schedule.clone(),
        ));
        tasks.push(scheduler::spawn(
            BindCollector::new(client.clone(), settings.clone(), setup.bind_poll_timeout),
            schedule.clone(),
        ));
        for kind in [RecordKind::UploadUpdate, RecordKind::Update] {
            tasks.push(scheduler::spawn(
                DeployCollector::new(kind, client.clone(), settings.clone(), setup.deploy_max_age),
                schedule.clone(),
            ));
        }
    }
    tasks.push(scheduler::spawn_housekeeping(
        Arc::clone(&exposition),
        stop_collectors.clone(),
    ));
    tracing::info!(
        address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        telemetry_path = %setup.server.telemetry_path,
        interval = %crate::duration::format_duration(setup.interval),
        accounts = setup.accounts.len(),
        "serving"
    );
    let state = Arc::new(ServerState {
        config: setup.server,
        exposition,
        readiness,
    });
    server::run(listener, state, shutdown).await;
    stop_collectors.cancel();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Runs the exporter as the flags say: against Tencent Cloud, or with `--demo` against a
/// simulator started in this process.
pub async fn run_cli(cli: &Cli, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    if !cli.demo {
        return run(Setup::from_cli(cli)?, shutdown).await;
    }
    let simulator = Simulator::start(SimConfig::demo(cli.demo_seed, cli.demo_certificates))
        .await
        .context("starting the demo simulator")?;
    tracing::info!(
        endpoint = %simulator.endpoint(),
        certificates = simulator.dataset().certificates.len(),
        records = simulator.dataset().records.len(),
        "demo mode: collecting from the built-in simulated SSL API"
    );
    let result = run(Setup::demo(cli, &simulator), shutdown).await;
    simulator.stop().await;
    result
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown requested");
}
