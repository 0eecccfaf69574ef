//! The real binary against the simulated API: values equal the simulator's truth, faults do not
//! stop it, bad credentials are reported clearly, and SIGTERM exits cleanly.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{contract_series, converge, start_probing, Exporter};
use tencentcloud_ssl_exporter::metrics::Family;
use tencentcloud_ssl_simulator::{FaultConfig, SimConfig, Simulator};

async fn simulator(seed: u64, certificates: usize, faults: FaultConfig) -> Simulator {
    let mut config = SimConfig::demo(seed, certificates);
    config.dataset.live_window_seconds = 6;
    config.dataset.max_task_seconds = 2;
    config.faults = faults;
    Simulator::start(config).await.expect("simulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_series_equal_the_simulator_truth_and_sigterm_exits_cleanly() {
    let sim = simulator(7, 40, FaultConfig::default()).await;
    let mut exporter = start_probing(
        &sim,
        &["--collector.interval=1s", "--collector.deploy.interval=1s"],
    );
    exporter.wait_ready(Duration::from_secs(60)).await;
    let text = converge(&sim, &exporter, Duration::from_secs(90), |_| {}).await;

    let series = contract_series(&text);
    // Everything but the opt-in per-instance series and tag labels (no certificates.tag_labels
    // here), and what only an endpoint without an action shows (the simulator offers every
    // action).
    for family in Family::ALL.iter().filter(|f| {
        !matches!(
            f,
            Family::BoundInstanceInfo | Family::ActionUnavailable | Family::CertificateTags
        )
    }) {
        let name = family.def().name;
        if name.contains("_collector_")
            || name.contains("build_info")
            || name.ends_with("_total")
            || name == "tencentcloud_ssl_endpoint_targets"
            || name == "tencentcloud_ssl_endpoint_untracked_claims"
            || name == "tencentcloud_ssl_endpoint_probe_duration_seconds"
            || name == "tencentcloud_ssl_endpoint_probe_timestamp_seconds"
            || name == "tencentcloud_ssl_endpoint_rotation_runs"
            || name == "tencentcloud_ssl_internal_entries"
            || name.starts_with("tencentcloud_ssl_check_")
        {
            assert!(text.contains(&format!("\n{name}{{")), "{name} missing");
            continue;
        }
        assert!(
            series.keys().any(|s| s.starts_with(&format!("{name}{{"))),
            "{name} has no series"
        );
    }
    // The simulated world has one item whose status no decoder can read: skipped and counted.
    let skipped = text
        .lines()
        .find(|l| {
            l.starts_with("tencentcloud_ssl_decode_errors_total{account=\"default\",collector=\"update\",action=\"DescribeHostUpdateRecordDetail\"}")
        })
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse::<f64>().ok());
    assert!(
        skipped.is_some_and(|n| n >= 1.0),
        "the undecodable item is counted: {skipped:?}"
    );
    for collector in ["certificates", "bind", "upload_update", "update", "deploy"] {
        assert!(
            text.contains(&format!("tencentcloud_ssl_collector_success{{account=\"default\",collector=\"{collector}\"}} 1\n")),
            "{collector} not successful"
        );
    }
    assert!(text.contains("tencentcloud_ssl_api_requests_total{account=\"default\",action=\"DescribeCertificateBindResourceTaskDetail\",code=\"OK\"}"));
    assert!(
        !sim.stats()
            .keys()
            .any(|k| k.contains("RequestLimitExceeded")),
        "paced, never throttled: {:?}",
        sim.stats()
    );
    common::promtool_check_metrics(&text);

    let (status, took) = exporter.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(!exporter
        .logs()
        .contains(tencentcloud_ssl_simulator::DEMO_SECRET_KEY));
}

/// The fault suite: 10% of calls fail in every way the API and the network can (each
/// throttling code, InternalError, HTTP 502/503 with HTML, truncated JSON, empty body, an answer
/// slower than the client timeout, connection reset). For 30 s the exporter must keep answering
/// /metrics and /-/healthy; then, faults still on, its values must equal the simulator's truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_tag_key_labels_every_certificate_that_has_it() {
    let sim = simulator(3, 24, FaultConfig::default()).await;
    let exporter = Exporter::start(
        &sim.endpoint(),
        &["--collector.interval=1s", "--certificates.tag-label=team"],
    );
    exporter.wait_ready(Duration::from_secs(60)).await;
    // From the world model: the `team` tag of each certificate, if it has one.
    let expected: Vec<String> = sim
        .dataset()
        .certificates
        .iter()
        .map(|cert| {
            let team = cert
                .tags
                .iter()
                .find(|(key, _)| key == "team")
                .map_or(String::new(), |(_, value)| format!(",tag_team=\"{value}\""));
            format!(
                "tencentcloud_ssl_certificate_tags_info{{account=\"default\",certificate_id=\"{}\"{team}}} 1",
                cert.id
            )
        })
        .collect();
    assert!(expected.iter().any(|l| l.contains("tag_team=")));
    assert!(expected.iter().any(|l| !l.contains("tag_team=")));
    let text = exporter.metrics().await;
    let served: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tencentcloud_ssl_certificate_tags_info{"))
        .collect();
    assert_eq!(served, expected, "one per certificate, in list order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_serving_and_converges_with_ten_percent_of_calls_failing() {
    let faults = FaultConfig {
        rate: 0.1,
        slow_ms: 1_500,
        ..FaultConfig::default()
    };
    let sim = simulator(11, 30, faults).await;
    let mut exporter = start_probing(
        &sim,
        &[
            "--collector.interval=1s",
            "--collector.deploy.interval=1s",
            "--tencentcloud.timeout=1s",
        ],
    );
    exporter.wait_ready(Duration::from_secs(120)).await;
    let window = Instant::now();
    let mut checks = 0;
    while window.elapsed() < Duration::from_secs(30) {
        let (status, _) = exporter.get("/-/healthy").await.expect("healthy answers");
        assert_eq!(status, 200);
        let text = exporter.metrics().await;
        assert!(
            text.contains("tencentcloud_ssl_build_info"),
            "/metrics answers"
        );
        assert!(
            exporter.child.try_wait().ok().flatten().is_none(),
            "still running"
        );
        checks += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converging = Instant::now();
    let text = converge(&sim, &exporter, Duration::from_secs(120), |_| {}).await;
    let cycles = converging.elapsed().as_secs_f64() / 1.0;

    let stats = sim.stats();
    let mut per_kind: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (key, count) in &stats {
        if let Some((_, kind)) = key.split_once("fault:") {
            *per_kind.entry(kind).or_default() += count;
        }
    }
    let injected: u64 = per_kind.values().sum();
    let answered: u64 = stats.values().sum();
    eprintln!(
        "fault suite: {injected} faults in {answered} calls ({:.1}%); per kind: {per_kind:?}; \
         {checks} health and metrics checks passed; converged {cycles:.1} cycles after the window",
        100.0 * injected as f64 / answered.max(1) as f64
    );
    assert!(
        per_kind.len() >= 9,
        "nearly every kind of fault was drawn: {per_kind:?}"
    );
    let codes: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("tencentcloud_ssl_api_requests_total{"))
        .filter_map(|l| l.split("code=\"").nth(1)?.split('"').next())
        .collect();
    for class in [
        "OK",
        "InternalError",
        "http_502",
        "http_503",
        "decode_error",
        "transport_timeout",
    ] {
        assert!(codes.contains(class), "{class} is counted: {codes:?}");
    }
    assert!(
        codes.iter().any(|c| c.contains("LimitExceeded")),
        "{codes:?}"
    );
    common::promtool_check_metrics(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_reported_without_a_retry_storm() {
    let sim = simulator(3, 10, FaultConfig::default()).await;
    let exporter = Exporter::spawn(
        &[
            format!("--tencentcloud.endpoint={}", sim.endpoint()),
            "--collector.interval=1s".to_string(),
            "--log.level=debug".to_string(),
        ],
        &[
            (
                "TENCENTCLOUD_SECRET_ID",
                tencentcloud_ssl_simulator::DEMO_SECRET_ID,
            ),
            (
                "TENCENTCLOUD_SECRET_KEY",
                "wrong-key-that-must-never-be-logged",
            ),
        ],
    );
    exporter.wait_collected(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = exporter.metrics().await;
    let logs = exporter.logs();
    assert!(
        text.contains(
            "tencentcloud_ssl_collector_success{account=\"default\",collector=\"certificates\"} 0"
        ),
        "{text}"
    );
    let auth_failures: f64 = text
        .lines()
        .filter(|l| l.contains("code=\"AuthFailure.SignatureFailure\""))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    // Four collectors, about one run a second for ~3-4 s, one call each, never retried.
    assert!(
        (4.0..=40.0).contains(&auth_failures),
        "{auth_failures} auth failures"
    );
    assert!(
        logs.contains("credentials or permissions rejected"),
        "{logs}"
    );
    assert!(!logs.contains("wrong-key-that-must-never-be-logged"));
    assert!(!text.contains("wrong-key-that-must-never-be-logged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_collection_exits_cleanly_and_a_restart_rebuilds_everything() {
    let slow = FaultConfig {
        latency_ms: 300,
        ..FaultConfig::default()
    };
    let sim = simulator(9, 40, slow).await;
    let mut exporter = start_probing(
        &sim,
        &[
            "--collector.interval=30s",
            "--collector.deploy.interval=30s",
        ],
    );
    // Healthy but not ready: the first collection is under way.
    let start = Instant::now();
    loop {
        let healthy = exporter
            .get("/-/healthy")
            .await
            .is_some_and(|(s, _)| s == 200);
        let ready = exporter.get("/-/ready").await.map(|(s, _)| s);
        if healthy && ready == Some(503) {
            break;
        }
        assert!(
            ready != Some(200),
            "collection finished before the test could interrupt it"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, took) = exporter.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The exporter keeps no state: a new process rebuilds every value from the API.
    sim.set_faults(FaultConfig::default());
    let again = start_probing(
        &sim,
        &["--collector.interval=1s", "--collector.deploy.interval=1s"],
    );
    again.wait_ready(Duration::from_secs(60)).await;
    converge(&sim, &again, Duration::from_secs(60), |_| {}).await;
}

/// A nameserver that receives queries and never answers, as a blackholed resolver does: the
/// endpoints collector's lookups wait on it, and SIGTERM must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_promptly_while_probes_wait_on_a_blackholed_nameserver() {
    let sim = simulator(12, 40, FaultConfig::default()).await;
    let nameserver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let config = std::env::temp_dir().join(format!(
        "tencentcloud-ssl-exporter-test-blackhole-{}.yml",
        sim.addr().port()
    ));
    std::fs::write(
        &config,
        format!(
            "accounts:\n  - name: default\n    endpoint: {}\n\
             collectors:\n  endpoints:\n    enabled: true\n    interval: 1s\n\
             endpoints:\n  timeout: 5m\n  nameservers: [\"{}\"]\n",
            sim.endpoint(),
            nameserver.local_addr().expect("addr")
        ),
    )
    .expect("config file");
    let mut exporter = Exporter::start(
        &sim.endpoint(),
        &[&format!("--config.file={}", config.display())],
    );
    // Probes are resolving once the nameserver hears a query (each would wait 5 minutes).
    let heard = tokio::task::spawn_blocking(move || {
        nameserver
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        let mut query = [0u8; 512];
        nameserver.recv_from(&mut query).map(|(size, _)| size)
    })
    .await
    .expect("task");
    assert!(
        heard.as_ref().is_ok_and(|size| *size > 12),
        "no DNS query reached the nameserver: {heard:?}\n{}",
        exporter.logs()
    );
    let (status, took) = exporter.terminate();
    assert!(status.success(), "{status:?}\n{}", exporter.logs());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn missing_credentials_exit_non_zero_with_a_clear_message() {
    // The chain ends with the CVM role: point it at a closed local port, never the real
    // metadata host (which may exist, or hang, where the tests run).
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"))
        .arg("--web.listen-address=127.0.0.1:0")
        .env_clear()
        .env("TENCENTCLOUD_METADATA_ENDPOINT", &closed)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TENCENTCLOUD_SECRET_ID"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_serves_every_family_of_the_contract() {
    let exporter = Exporter::spawn(&["--demo".to_string()], &[]);
    exporter.wait_collected(Duration::from_secs(60)).await;
    let text = exporter.metrics().await;
    let (_, landing) = exporter.get("/").await.expect("landing page");
    // Everything but the opt-in per-instance series and tag labels (no certificates.tag_labels
    // here), and what only an endpoint without an action shows (the simulator offers every
    // action).
    for family in Family::ALL.iter().filter(|f| {
        !matches!(
            f,
            Family::BoundInstanceInfo | Family::ActionUnavailable | Family::CertificateTags
        )
    }) {
        let name = family.def().name;
        assert!(text.contains(&format!("\n{name}{{")), "{name} missing");
    }
    assert!(!text.contains("tencentcloud_ssl_certificate_bound_instance_info{"));
    assert!(landing.contains("href=\"metrics\""));
    // The exporter's own process, as every exporter serves it.
    if cfg!(target_os = "linux") {
        for family in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n{family} ")), "{family} missing");
        }
    }
    common::promtool_check_metrics(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_exporter_metrics_leaves_out_the_process_metrics_only() {
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            "--web.disable-exporter-metrics".to_string(),
        ],
        &[],
    );
    exporter.wait_ready(Duration::from_secs(60)).await;
    let text = exporter.metrics().await;
    assert!(!text.contains("\nprocess_"), "{text}");
    assert!(text.contains("\ntencentcloud_ssl_certificate_info{"));
    assert!(text.contains("\ntencentcloud_ssl_api_requests_total{"));
}
