//! The simulated SSL API on its own, for benchmarks and for pointing any client at it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use humantime::parse_duration;
use tencentcloud_ssl_simulator::{FaultConfig, FaultKind, Refusal, Served, SimConfig, Simulator};

/// Simulated Tencent Cloud SSL Certificate API (signatures, rate limits, bind tasks, rollouts,
/// paging, nulls and injected faults), deterministic from a seed.
#[derive(Debug, Parser)]
#[command(name = "tencentcloud-ssl-simulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9878")]
    listen: SocketAddr,
    /// Seed of the data set and of fault draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Certificates in the data set.
    #[arg(long, default_value_t = 48)]
    certificates: usize,
    /// Rollout records (both kinds); default certificates/2 + 4.
    #[arg(long)]
    records: Option<usize>,
    /// In-flight rollouts finish within this long after start (0s: no rollout is in flight).
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    live_window: Duration,
    /// Longest time a bind task takes.
    #[arg(long, default_value = "4s", value_parser = parse_duration)]
    max_task_time: Duration,
    /// Latency added to every answer.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    latency: Duration,
    /// Share of calls that get a fault.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Faults to draw from (comma-separated snake_case names); all when empty.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// Delay of a `slow` fault.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    slow: Duration,
    /// Cap list `Limit`s below the documented maximum (exercises pagers).
    #[arg(long)]
    list_limit_cap: Option<u64>,
    /// Multiply every documented rate limit by this (benchmarks of large accounts).
    #[arg(long, default_value_t = 1.0)]
    rate_limit_scale: f64,
    /// Do not enforce the documented rate limits.
    #[arg(long)]
    no_rate_limits: bool,
    /// SecretId to accept (default: the demo one).
    #[arg(long, env = "SIMULATOR_SECRET_ID")]
    secret_id: Option<String>,
    /// SecretKey to accept (default: the demo one).
    #[arg(long, env = "SIMULATOR_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Start the demo's TLS endpoints on 127.0.0.1 and print them, their `--connect-to`-style
    /// overrides and the demo CA.
    #[arg(long)]
    tls_endpoints: bool,
    /// Churn the data set at this period (certificates renewed under the same IDs, replaced by
    /// new IDs, records and domains with them; for soak tests); off when absent or 0s.
    #[arg(long, value_parser = parse_duration)]
    churn_every: Option<Duration>,
    /// Replace one certificate's content under its ID (an upload-update, with a record whose
    /// items succeed on two endpoints and fail on a third) this long after start.
    #[arg(long, value_parser = parse_duration)]
    upload_update_after: Option<Duration>,
    /// Give bind-detail instances every documented state that serves nothing now.
    #[arg(long)]
    inactive_bindings: bool,
    /// Add a deploy record naming its CDN domain as `domain|on`, with an endpoint there.
    #[arg(long)]
    domain_forms: bool,
    /// Answer ACTION with an error code instead (InvalidAction, UnsupportedOperation,
    /// UnauthorizedOperation or FailedOperation.CAMAuthorizedFail), as ACTION=CODE; repeatable.
    #[arg(long, value_name = "ACTION=CODE")]
    refuse: Vec<String>,
    /// Delete a certificate of the first page of DescribeCertificates before the second page is
    /// asked for (once).
    #[arg(long)]
    delete_between_pages: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut kinds = Vec::new();
    for name in &args.faults {
        match FaultKind::from_name(name) {
            Some(kind) => kinds.push(kind),
            None => {
                eprintln!(
                    "unknown fault {name:?}; known: {:?}",
                    FaultKind::ALL.map(FaultKind::name)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let mut config = SimConfig::demo(args.seed, args.certificates);
    config.listen = args.listen;
    if let Some(records) = args.records {
        config.dataset.records = records;
    }
    config.dataset.live_window_seconds = args.live_window.as_secs() as i64;
    config.dataset.max_task_seconds = args.max_task_time.as_secs().max(1) as i64;
    config.enforce_rate_limits = !args.no_rate_limits;
    config.list_limit_cap = args.list_limit_cap;
    config.rate_limit_scale = args.rate_limit_scale;
    config.tls_endpoints = args.tls_endpoints;
    config.churn_every = args.churn_every;
    config.scenario.upload_update_after = args.upload_update_after;
    config.scenario.inactive_bindings = args.inactive_bindings;
    config.scenario.domain_forms = args.domain_forms;
    config.scenario.delete_between_pages = args.delete_between_pages;
    for text in &args.refuse {
        let refusal = text
            .split_once('=')
            .and_then(|(action, code)| Some((action.to_string(), Refusal::from_code(code)?)));
        match refusal {
            Some(refusal) => config.scenario.refused_actions.push(refusal),
            None => {
                eprintln!(
                    "--refuse {text:?}: want ACTION=CODE with CODE one of {:?}",
                    Refusal::ALL.map(Refusal::code)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    config.faults = FaultConfig {
        rate: args.fault_rate,
        kinds,
        actions: Vec::new(),
        slow_ms: args.slow.as_millis() as u64,
        latency_ms: args.latency.as_millis() as u64,
    };
    if let Some(id) = args.secret_id {
        config.secret_id = id;
    }
    if let Some(key) = args.secret_key {
        config.secret_key = key;
    }
    let simulator = match Simulator::start(config.clone()).await {
        Ok(simulator) => simulator,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "simulated SSL API on {} ({} certificates, {} records)\n\
         point a client at it with:\n  TENCENTCLOUD_SECRET_ID={} TENCENTCLOUD_SECRET_KEY=<the simulator's key> \\\n  \
         tencentcloud-ssl-exporter --tencentcloud.endpoint={}",
        simulator.endpoint(),
        simulator.dataset().certificates.len(),
        simulator.dataset().records.len(),
        config.secret_id,
        simulator.endpoint(),
    );
    if args.tls_endpoints {
        println!("TLS endpoints (DOMAIN:PORT:ADDR, certificate, what it serves):");
        for endpoint in simulator.tls_endpoints() {
            let note = match endpoint.serves {
                Served::Unreachable => " (nothing listens: connection refused)",
                _ => "",
            };
            println!(
                "  {} {} {}{note}",
                endpoint.resolve_override(),
                endpoint.certificate_id,
                endpoint.serves.label()
            );
        }
        for (certificate_id, domain) in simulator.wildcard_domains() {
            println!("  wildcard {domain} {certificate_id} (never served)");
        }
        print!(
            "demo CA (trust it to verify the endpoints):\n{}",
            simulator.ca_pem()
        );
    }
    stopped().await;
    simulator.stop().await;
    ExitCode::SUCCESS
}

/// Resolves on SIGINT, or SIGTERM where there is one.
async fn stopped() {
    #[cfg(unix)]
    if let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
