//! Wires the pieces together: configuration, credentials, clients, collectors, the exposition
//! and the server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use tencentcloud_ssl_api::client::{Client, ClientConfig};
use tencentcloud_ssl_api::credentials::warn_if_readable_by_others;
use tencentcloud_ssl_api::providers;
use tencentcloud_ssl_api::records::RecordKind;

use crate::cli::Cli;
use crate::collector::bind::BindCollector;
use crate::collector::certificates::CertificatesCollector;
use crate::collector::endpoints::{EndpointsCollector, EndpointsLimits};
use crate::collector::records::RecordsCollector;
use crate::collector::CollectorSettings;
use crate::config::{AccountConfig, CollectorsConfig, Config};
use crate::metrics::Exposition;
use crate::probe::{self, AddressPolicy, Prober};
use crate::readiness::Readiness;
use crate::scheduler::{self, DeliberatePanics, Schedule};
use crate::shard;
use crate::targets::{TargetBook, BIND_SOURCE};
use crate::telemetry::Telemetry;
use crate::web::server::{self, ServerConfig, ServerState};
use crate::web::{FrontDoor, WebConfig};

/// Build revision, from the `GIT_REVISION` environment variable at build time when set.
pub const REVISION: &str = match option_env!("GIT_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// Everything `run` needs, resolved from flags, the configuration files and (in demo mode) the
/// simulator.
struct Setup {
    config: Config,
    server: ServerConfig,
    web: WebConfig,
    /// Where `web` was read from (followed for changes), if anywhere.
    web_config_file: Option<std::path::PathBuf>,
    /// Addresses to listen on (`--web.listen-address`, repeatable).
    listen: Vec<String>,
    /// Listen on systemd's sockets instead (`--web.systemd-socket`).
    systemd_socket: bool,
    stale_intervals: u32,
    concurrency: usize,
    /// `--debug.panic-collector` (test hook).
    deliberate_panics: Option<Arc<DeliberatePanics>>,
    /// Extra trust roots of the endpoint probes (`ca_file`, and the demo's CA).
    probe_roots: Vec<CertificateDer<'static>>,
    /// Whether the process metrics of the exporter itself are served.
    exporter_metrics: bool,
}

impl Setup {
    /// Flags plus, when given, the configuration and web configuration files; `--shard` applied.
    fn from_cli(cli: &Cli) -> anyhow::Result<Setup> {
        let defaults = cli.config_defaults();
        let mut config = match &cli.config_file {
            Some(path) => Config::load(path, &defaults)?,
            None => Config::from_defaults(&defaults)?,
        };
        if let Some(path) = &cli.config_file {
            if config.has_inline_secret() {
                warn_if_readable_by_others(path, "the configuration file");
            }
        }
        if let Some((index, count)) = cli.shard {
            config
                .accounts
                .retain(|a| shard::owns(&a.name, index, count));
            tracing::info!(
                shard = index,
                shards = count,
                accounts = config.accounts.len(),
                "sharding accounts"
            );
        }
        let web = match &cli.web_config_file {
            Some(path) => WebConfig::load(path)?,
            None => WebConfig::default(),
        };
        let probe_roots = match &config.endpoints.ca_file {
            Some(path) => std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| probe::pem_certificates(&pem))
                .map_err(|e| anyhow::anyhow!("endpoints CA file {}: {e}", path.display()))?,
            None => Vec::new(),
        };
        Ok(Setup {
            config,
            server: ServerConfig {
                telemetry_path: cli.telemetry_path.clone(),
                max_connections: cli.max_connections,
                write_timeout: cli.write_timeout,
                response_timeout: cli.response_timeout,
                ..ServerConfig::default()
            },
            web,
            web_config_file: cli.web_config_file.clone(),
            listen: cli.listen_sockets(),
            systemd_socket: cli.systemd_socket(),
            stale_intervals: cli.stale_intervals,
            concurrency: cli.concurrency.max(1),
            deliberate_panics: cli.panic_collector.as_ref().map(|(collector, times)| {
                Arc::new(DeliberatePanics {
                    collector: collector.clone(),
                    left: std::sync::atomic::AtomicU32::new(*times),
                })
            }),
            probe_roots,
            exporter_metrics: !cli.disable_exporter_metrics,
        })
    }

    /// The demo: the normal client, signing and collectors against a simulator in this process.
    #[cfg(feature = "demo")]
    fn demo(cli: &Cli, simulator: &tencentcloud_ssl_simulator::Simulator) -> anyhow::Result<Setup> {
        use tencentcloud_ssl_api::credentials::Secret;
        use tencentcloud_ssl_api::providers::{CredentialsConfig, SecretSource};
        use tencentcloud_ssl_simulator::{DEMO_SECRET_ID, DEMO_SECRET_KEY};
        let mut setup = Setup::from_cli(cli)?;
        // The demo's endpoints are local TLS servers: dial only those, trusting the demo CA.
        let endpoints = &mut setup.config.endpoints;
        for text in simulator.resolve_overrides() {
            endpoints.resolve.push(
                text.parse()
                    .map_err(|e| anyhow::anyhow!("demo endpoint override: {e}"))?,
            );
        }
        endpoints.resolved_only = true;
        setup.probe_roots.extend(
            probe::pem_certificates(simulator.ca_pem().as_bytes())
                .map_err(|e| anyhow::anyhow!("demo CA: {e}"))?,
        );
        for account in &mut setup.config.accounts {
            account.endpoint = simulator.endpoint();
            account.credentials = CredentialsConfig::Static {
                secret_id: SecretSource::Inline(Secret::new(DEMO_SECRET_ID)),
                secret_key: SecretSource::Inline(Secret::new(DEMO_SECRET_KEY)),
                token: None,
            };
        }
        Ok(setup)
    }
}

/// Runs the exporter as the flags say: against Tencent Cloud, or with `--demo` against a
/// simulator started in this process. With `--config.check`, validates and returns.
pub async fn run_cli(cli: &Cli, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    if cli.config_check {
        let setup = Setup::from_cli(cli)?;
        println!(
            "configuration OK: {}; web: {}",
            setup.config.summary(),
            setup.web.summary()
        );
        return Ok(());
    }
    if !cli.demo {
        return run(Setup::from_cli(cli)?, shutdown).await;
    }
    run_demo(cli, shutdown).await
}

/// `--demo`: a simulator in this process, and the exporter collecting from it.
#[cfg(feature = "demo")]
async fn run_demo(cli: &Cli, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    use tencentcloud_ssl_simulator::{SimConfig, Simulator};
    // The demo's world shows an upload-update a minute in: two endpoints move to the new
    // content, the one whose item failed does not (and is the only one that alerts).
    let world = SimConfig::demo_world(
        cli.demo_seed,
        cli.demo_certificates,
        std::time::Duration::from_secs(60),
    );
    let simulator = Simulator::start(world)
        .await
        .context("starting the demo simulator")?;
    tracing::info!(
        endpoint = %simulator.endpoint(),
        certificates = simulator.dataset().certificates.len(),
        records = simulator.dataset().records.len(),
        "demo mode: collecting from the built-in simulated SSL API"
    );
    let result = match Setup::demo(cli, &simulator) {
        Ok(setup) => run(setup, shutdown).await,
        Err(error) => Err(error),
    };
    simulator.stop().await;
    result
}

#[cfg(not(feature = "demo"))]
async fn run_demo(_cli: &Cli, _shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    anyhow::bail!("this build has no demo: it was built without the `demo` feature")
}

/// Binds the listeners, starts every collector and serves until `shutdown` resolves.
async fn run(setup: Setup, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listeners = if setup.systemd_socket {
        systemd_listeners()?
    } else {
        let mut listeners = Vec::with_capacity(setup.listen.len());
        for address in &setup.listen {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address}"))?;
            listeners.push(listener);
        }
        listeners
    };
    serve(setup, listeners, shutdown).await
}

/// The listening sockets systemd passed (`LISTEN_FDS` from descriptor 3, for this process's
/// `LISTEN_PID`), as exporter-toolkit's `--web.systemd-socket` takes them.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn systemd_listeners() -> anyhow::Result<Vec<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::new();
    for index in 0..fds.len() {
        let listener = fds
            .take_tcp_listener(index)
            .with_context(|| format!("systemd socket {index}"))?
            .with_context(|| format!("systemd socket {index} is not a TCP listener"))?;
        listener
            .set_nonblocking(true)
            .with_context(|| format!("systemd socket {index}"))?;
        listeners.push(
            TcpListener::from_std(listener).with_context(|| format!("systemd socket {index}"))?,
        );
    }
    anyhow::ensure!(
        !listeners.is_empty(),
        "--web.systemd-socket: no socket activation file descriptors found (LISTEN_FDS, LISTEN_PID)"
    );
    tracing::info!(
        listeners = listeners.len(),
        "listening on systemd activated listeners instead of port listeners"
    );
    Ok(listeners)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn systemd_listeners() -> anyhow::Result<Vec<TcpListener>> {
    anyhow::bail!("--web.systemd-socket is only available on Linux")
}

/// Like [`run`], on listeners the caller bound: the shared pieces, every account's collectors,
/// the front door, then the server until `shutdown`; the collectors stop after it.
async fn serve(
    setup: Setup,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let telemetry = if setup.exporter_metrics {
        Telemetry::new()
    } else {
        Telemetry::without_exporter_metrics()
    };
    let wiring = Wiring {
        exposition: Arc::new(Exposition::new(
            telemetry.clone(),
            env!("CARGO_PKG_VERSION"),
            REVISION,
        )),
        readiness: Arc::new(Readiness::new(telemetry.clone())),
        stop_collectors: CancellationToken::new(),
        prober: prober(&setup)?,
        telemetry,
        setup: &setup,
    };
    let mut tasks = Vec::new();
    for account in &setup.config.accounts {
        let client = wiring.client(account).await?;
        tasks.extend(wiring.spawn_collectors(account, &client));
    }
    tasks.push(scheduler::spawn_housekeeping(
        Arc::clone(&wiring.exposition),
        wiring.stop_collectors.clone(),
    ));
    tracing::info!(
        addresses = %listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(","),
        telemetry_path = %setup.server.telemetry_path,
        tls = setup.web.tls_enabled(),
        basic_auth = setup.web.basic_auth_enabled(),
        config = %setup.config.summary(),
        "serving"
    );
    let Wiring {
        exposition,
        readiness,
        stop_collectors,
        telemetry,
        ..
    } = wiring;
    let web = Arc::new(FrontDoor::new(
        setup.web_config_file.clone(),
        setup.web,
        telemetry.clone(),
    ));
    tasks.push(tokio::spawn(
        Arc::clone(&web).watch(stop_collectors.clone()),
    ));
    let state = Arc::new(ServerState {
        config: setup.server,
        web,
        exposition,
        readiness,
        telemetry,
    });
    server::run(listeners, state, shutdown).await;
    stop_collectors.cancel();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The endpoint prober, when the endpoints collector is on.
fn prober(setup: &Setup) -> anyhow::Result<Option<Arc<Prober>>> {
    let config = &setup.config;
    if config.collectors.endpoints.is_none() {
        return Ok(None);
    }
    let prober = Prober::new(
        &config.endpoints.resolve,
        &setup.probe_roots,
        config.endpoints.timeout,
    )
    .map_err(|e| anyhow::anyhow!("endpoints: {e}"))?
    .with_address_policy(AddressPolicy {
        allow: config.endpoints.allow_cidrs.clone(),
        deny: config.endpoints.deny_cidrs.clone(),
    })
    .with_nameservers(&config.endpoints.nameservers);
    Ok(Some(Arc::new(prober)))
}

/// The sources the endpoints collector waits for: the enabled collectors that name endpoints.
/// Pure.
fn target_sources(plan: &CollectorsConfig) -> Vec<&'static str> {
    [
        (BIND_SOURCE, plan.bind),
        (RecordKind::UploadUpdate.label(), plan.upload_update),
        (RecordKind::Update.label(), plan.update),
        (RecordKind::Deploy.label(), plan.deploy),
    ]
    .into_iter()
    .filter(|(_, enabled)| enabled.is_some())
    .map(|(source, _)| source)
    .collect()
}

/// What every account's collectors share: where they publish, the readiness they report to,
/// the process's telemetry, the token that stops them, and the prober.
struct Wiring<'a> {
    setup: &'a Setup,
    exposition: Arc<Exposition>,
    readiness: Arc<Readiness>,
    telemetry: Telemetry,
    stop_collectors: CancellationToken,
    prober: Option<Arc<Prober>>,
}

impl Wiring<'_> {
    /// The signed client of `account`, with its credentials.
    async fn client(&self, account: &AccountConfig) -> anyhow::Result<Client> {
        let place = format!("account {}", account.name);
        let observer = Arc::new(self.telemetry.clone());
        let context = providers::Context::new(&account.name, observer.clone())
            .with_context(|| format!("{place}: credentials"))?;
        let credentials = providers::build_resolved(&account.credentials, &context)
            .await
            .with_context(|| format!("{place}: credentials"))?;
        let client_config = ClientConfig {
            endpoint: account.endpoint.clone(),
            timeout: account.timeout,
            rate_limits: account.rate_limits.clone(),
            per_certificate_share: account.per_certificate_share,
            language: account.language.clone(),
            ..ClientConfig::default()
        };
        Client::new(&account.name, &client_config, credentials, observer).with_context(|| place)
    }

    /// How a collector of `account` running every `interval` is scheduled.
    fn schedule(&self, account: &AccountConfig, interval: Duration) -> Schedule {
        Schedule {
            account: account.name.clone(),
            interval,
            stale_intervals: self.setup.stale_intervals,
            exposition: Arc::clone(&self.exposition),
            readiness: Arc::clone(&self.readiness),
            telemetry: self.telemetry.clone(),
            shutdown: self.stop_collectors.clone(),
            deliberate_panics: self.setup.deliberate_panics.clone(),
        }
    }

    /// The settings of a collector of `account` running every `interval`.
    fn settings(&self, account: &AccountConfig, interval: Duration) -> CollectorSettings {
        CollectorSettings {
            account: account.name.clone(),
            interval,
            stale_intervals: self.setup.stale_intervals,
            concurrency: self.setup.concurrency,
            detail_series: self.setup.config.detail_series,
        }
    }

    /// Starts every enabled collector of `account`. Each is made by a closure, called again when
    /// its supervisor restarts it.
    fn spawn_collectors(
        &self,
        account: &AccountConfig,
        client: &Client,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let config = &self.setup.config;
        let plan = &config.collectors;
        // The endpoints the bind and rollout collectors learn, for the endpoints collector.
        let book = plan.endpoints.map(|_| {
            // An endpoint a resolve override names is tracked whatever the sample.
            let named = config.endpoints.resolve.iter().filter(|o| o.domain != "*");
            Arc::new(
                TargetBook::new(target_sources(plan), config.endpoints.max_tracked)
                    .pinning(named.map(|o| (o.domain.clone(), o.port))),
            )
        });
        let mut tasks = Vec::new();
        if let Some(interval) = plan.certificates {
            let (client, settings, filter, tag_labels) = (
                client.clone(),
                self.settings(account, interval),
                config.certificates.clone(),
                config.tag_labels.clone(),
            );
            tasks.push(scheduler::spawn(
                move || {
                    CertificatesCollector::new(
                        client.clone(),
                        settings.clone(),
                        filter.clone(),
                        tag_labels.clone(),
                    )
                },
                self.schedule(account, interval),
            ));
        }
        if let Some(interval) = plan.bind {
            let (client, settings, filter, poll_timeout, book) = (
                client.clone(),
                self.settings(account, interval),
                config.certificates.clone(),
                plan.bind_poll_timeout,
                book.clone(),
            );
            tasks.push(scheduler::spawn(
                move || {
                    let collector = BindCollector::new(
                        client.clone(),
                        settings.clone(),
                        filter.clone(),
                        poll_timeout,
                    );
                    match &book {
                        Some(book) => collector.publishing_to(Arc::clone(book)),
                        None => collector,
                    }
                },
                self.schedule(account, interval),
            ));
        }
        for (kind, enabled) in [
            (RecordKind::UploadUpdate, plan.upload_update),
            (RecordKind::Update, plan.update),
            (RecordKind::Deploy, plan.deploy),
        ] {
            let Some(interval) = enabled else {
                continue;
            };
            let (client, settings, max_age, filter, book) = (
                client.clone(),
                self.settings(account, interval),
                config.records_max_age,
                config.certificates.clone(),
                book.clone(),
            );
            tasks.push(scheduler::spawn(
                move || {
                    let collector = RecordsCollector::new(
                        kind,
                        client.clone(),
                        settings.clone(),
                        max_age,
                        filter.clone(),
                    );
                    match &book {
                        Some(book) => collector.publishing_to(Arc::clone(book)),
                        None => collector,
                    }
                },
                self.schedule(account, interval),
            ));
        }
        if let (Some(interval), Some(book), Some(prober)) = (plan.endpoints, &book, &self.prober) {
            let (client, settings, book, prober) = (
                client.clone(),
                self.settings(account, interval),
                Arc::clone(book),
                Arc::clone(prober),
            );
            let limits = EndpointsLimits {
                concurrency: config.endpoints.concurrency,
                max_endpoints: config.endpoints.max_endpoints,
                resolved_only: config.endpoints.resolved_only,
            };
            tasks.push(scheduler::spawn(
                move || {
                    EndpointsCollector::new(
                        client.clone(),
                        settings.clone(),
                        limits.clone(),
                        Arc::clone(&book),
                        Arc::clone(&prober),
                    )
                },
                self.schedule(account, interval),
            ));
        }
        tasks
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoints_collector_waits_for_the_enabled_sources_only() {
        let minute = Some(Duration::from_secs(60));
        let plan = CollectorsConfig {
            certificates: minute,
            bind: minute,
            upload_update: None,
            update: minute,
            deploy: None,
            endpoints: minute,
            bind_poll_timeout: Duration::from_secs(30),
        };
        assert_eq!(target_sources(&plan), ["bind", "update"]);
    }
}
