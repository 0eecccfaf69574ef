//! The demo's world end to end, as issue #19 asks: an upload-update changes a certificate's
//! content under its ID while the exporter runs, the API's domain forms and inactive bindings
//! decode to the right endpoints, and a real Prometheus loaded with the shipped rules raises
//! exactly the alerts the simulator's world justifies. Then refused actions and a certificate
//! deleted between two pages.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{converge, query, start_probing, value_of, Exporter, Prometheus, MAX_AGE};
use tencentcloud_ssl_simulator::alerts::{identify, Alert};
use tencentcloud_ssl_simulator::scenario::InactiveState;
use tencentcloud_ssl_simulator::{Refusal, SimConfig, Simulator};

const RULES: &str = "deploy/prometheus/tencentcloud-ssl-exporter.rules.yml";

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// `{account="default",certificate_id="…",domain="…",port="443"}`.
fn endpoint_labels(certificate_id: &str, domain: &str) -> String {
    format!("{{account=\"default\",certificate_id=\"{certificate_id}\",domain=\"{domain}\",port=\"443\"}}")
}

/// When the exporter's last complete endpoints run started, from its own series.
fn endpoints_run_started(text: &str) -> Option<f64> {
    let labels = "{account=\"default\",collector=\"endpoints\"}";
    let ended = value_of(
        text,
        &format!("tencentcloud_ssl_collector_last_success_timestamp_seconds{labels}"),
    )?;
    let took = value_of(
        text,
        &format!("tencentcloud_ssl_collector_duration_seconds{labels}"),
    )?;
    Some(ended - took)
}

/// The pending or firing alerts of `prometheus`, reduced to what identifies each.
async fn raised(prometheus: &Prometheus) -> BTreeSet<Alert> {
    let answer = common::get_json(common::api_url(prometheus, "/api/v1/alerts", &[])).await;
    answer["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|alert| {
            let labels: BTreeMap<String, String> = alert["labels"]
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            let name = labels.get("alertname")?.clone();
            Some(identify(&name, &labels))
        })
        .collect()
}

fn show(alerts: &BTreeSet<Alert>) -> String {
    alerts
        .iter()
        .map(|(name, labels)| format!("  {name} {labels:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the alerts Prometheus raises are exactly those the simulator's world names.
async fn alerts_become_the_worlds(sim: &Simulator, prometheus: &Prometheus, exporter: &Exporter) {
    let start = Instant::now();
    loop {
        let expected = sim.expected_alerts("default", MAX_AGE);
        let got = raised(prometheus).await;
        if got == expected {
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let missing: BTreeSet<Alert> = expected.difference(&got).cloned().collect();
            let extra: BTreeSet<Alert> = got.difference(&expected).cloned().collect();
            panic!(
                "the alerts raised are not the world's:\nmissing:\n{}\nextra (false alerts):\n{}\n\
                 (expected {}, raised {})\nexporter logs:\n{}",
                show(&missing),
                show(&extra),
                expected.len(),
                got.len(),
                exporter.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
}

/// One simulator, one exporter and (when it is installed) one Prometheus with the shipped rules:
///
/// 1. before the upload-update the exporter equals the truth: the three endpoints of the
///    certificate it will replace match; the deploy record's `domain|on` and the inactive
///    bindings are what the truth says (the first endpoint named only that way, the others
///    skipped with their reasons);
/// 2. the first endpoints run that starts after the upload-update's items finished shows match 1
///    on the two endpoints whose item succeeded and 0 on the one whose item failed (one
///    endpoints interval);
/// 3. the exporter equals the truth again, the two endpoints now named by the record (its one
///    string `"a,B."`);
/// 4. the alerts pending or firing are exactly the world's (`Simulator::expected_alerts`):
///    `TencentCloudSSLEndpointServesOtherCertificate` for the failed item's endpoint and no
///    other of the upload-update's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_update_moves_endpoints_and_prometheus_raises_only_the_worlds_alerts() {
    let prometheus_binary = common::tool("prometheus", "REQUIRE_PROMETHEUS");
    // The demo's world (`--demo`: seed 1, 48 certificates, the upload-update a minute in), with
    // rollouts that settle within seconds.
    let mut config = SimConfig::demo_world(1, 48, Duration::from_secs(60));
    config.dataset.live_window_seconds = 6;
    config.dataset.max_task_seconds = 2;
    let sim = Simulator::start(config).await.expect("simulator starts");
    let plan = sim.scenario_plan().clone();
    let rollover = plan
        .rollover
        .clone()
        .expect("the demo world has an upload-update");
    let (deployed_id, deployed_domain) = plan.deployed.clone().expect("a deploy record");
    let id = rollover.certificate_id.clone();
    let domains: Vec<String> = rollover.endpoints.iter().map(|(d, _)| d.clone()).collect();
    let exporter = start_probing(
        &sim,
        &["--collector.interval=1s", "--collector.deploy.interval=1s"],
    );
    exporter.wait_ready(Duration::from_secs(60)).await;
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(RULES);
    let prometheus = prometheus_binary.map(|binary| {
        let target = exporter.base.trim_start_matches("http://").to_string();
        common::start_prometheus(&binary, &target, &rules)
    });

    // 1. Before the upload-update.
    let text = converge(&sim, &exporter, Duration::from_secs(55), |_| {}).await;
    assert!(
        unix_now() < rollover.at as f64,
        "converged only after the upload-update: lengthen its delay"
    );
    for domain in &domains {
        let series = format!(
            "tencentcloud_ssl_endpoint_certificate_match{}",
            endpoint_labels(&id, domain)
        );
        assert_eq!(value_of(&text, &series), Some(1.0), "{series}");
    }
    let deployed = format!(
        "tencentcloud_ssl_endpoint_info{{account=\"default\",certificate_id=\"{deployed_id}\",domain=\"{deployed_domain}\",port=\"443\",resource_type=\"cdn\",source=\"deploy\"}}"
    );
    assert_eq!(value_of(&text, &deployed), Some(1.0), "`domain|on` decoded");
    let dataset = sim.dataset();
    let mut reasons = BTreeSet::new();
    for cert in &dataset.certificates {
        for binding in &cert.bindings {
            for (index, state) in &binding.inactive {
                let domain = binding.instance_domain(&cert.domain, *index);
                let skipped = format!(
                    "tencentcloud_ssl_endpoint_skipped_info{{account=\"default\",certificate_id=\"{}\",domain=\"{domain}\",port=\"443\",reason=\"{}\"}}",
                    cert.id,
                    state.reason()
                );
                assert_eq!(value_of(&text, &skipped), Some(1.0), "{state:?}: {skipped}");
                let probed = format!(
                    "tencentcloud_ssl_endpoint_probe_success{}",
                    endpoint_labels(&cert.id, &domain)
                );
                assert_eq!(value_of(&text, &probed), None, "{state:?} is not probed");
                reasons.insert(state.reason());
            }
        }
    }
    let every: BTreeSet<&str> = InactiveState::EVERY.iter().map(|s| s.reason()).collect();
    assert_eq!(
        reasons, every,
        "every documented reason shows in this world"
    );

    // 2. The first endpoints run after the items finished.
    let finished = rollover
        .endpoints
        .iter()
        .filter_map(|(_, at)| *at)
        .max()
        .unwrap_or(rollover.at)
        .max(rollover.at + 4) as f64;
    let start = Instant::now();
    let text = loop {
        let text = exporter.metrics().await;
        if endpoints_run_started(&text).is_some_and(|started| started >= finished) {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no endpoints run after the upload-update\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (domain, moved) in &rollover.endpoints {
        let series = format!(
            "tencentcloud_ssl_endpoint_certificate_match{}",
            endpoint_labels(&id, domain)
        );
        let want = if moved.is_some() { 1.0 } else { 0.0 };
        assert_eq!(value_of(&text, &series), Some(want), "{series}");
    }

    // 3. The truth again; the record names the two endpoints that moved.
    let text = converge(&sim, &exporter, Duration::from_secs(60), |_| {}).await;
    for (domain, moved) in &rollover.endpoints {
        let source = if moved.is_some() {
            "upload_update"
        } else {
            "bind"
        };
        let info = format!(
            "tencentcloud_ssl_endpoint_info{{account=\"default\",certificate_id=\"{id}\",domain=\"{domain}\",port=\"443\",resource_type=\"{}\",source=\"{source}\"}}",
            rollover.resource_type
        );
        assert_eq!(value_of(&text, &info), Some(1.0), "{info}");
    }
    common::promtool_check_metrics(&text);

    // 4. The alerts.
    let Some(prometheus) = prometheus else {
        return;
    };
    common::wait_for_scrapes(&prometheus).await;
    alerts_become_the_worlds(&sim, &prometheus, &exporter).await;
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for (name, _) in sim.expected_alerts("default", MAX_AGE) {
        *named.entry(name).or_default() += 1;
    }
    eprintln!("the demo world's alerts, all raised and nothing else: {named:?}");
    let serving_other: BTreeSet<String> = raised(&prometheus)
        .await
        .into_iter()
        .filter(|(name, labels)| {
            name == "TencentCloudSSLEndpointServesOtherCertificate"
                && labels["certificate_id"] == id
        })
        .map(|(_, labels)| labels["domain"].clone())
        .collect();
    assert_eq!(
        serving_other,
        BTreeSet::from([domains[2].clone()]),
        "only the endpoint whose item failed"
    );
    assert!(
        !query(
            &prometheus,
            "ALERTS{alertname=\"TencentCloudSSLCollectorFailing\"}"
        )
        .await
        .iter()
        .any(|a| a["metric"]["collector"] == "endpoints"),
        "the endpoints collector never failed"
    );
}

/// Refused actions and a deletion between pages, in one run without endpoints: the deploy
/// family is not offered (`InvalidAction`): shown as unavailable, the deploy collector not
/// failing; the update list is not permitted (`UnauthorizedOperation`): the update collector
/// fails as an auth error, logged once, not retried; and a certificate of the first page of
/// `DescribeCertificates` is deleted before the second is asked for: no other certificate is
/// lost, in any scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_actions_and_a_deletion_between_pages() {
    let mut config = SimConfig::demo(5, 40);
    config.tls_endpoints = false;
    config.list_limit_cap = Some(10);
    config.dataset.live_window_seconds = 6;
    config.dataset.max_task_seconds = 2;
    config.scenario.refused_actions = vec![
        ("DescribeHostDeployRecord".into(), Refusal::InvalidAction),
        (
            "DescribeHostUpdateRecord".into(),
            Refusal::UnauthorizedOperation,
        ),
    ];
    config.scenario.delete_between_pages = true;
    let sim = Simulator::start(config).await.expect("simulator starts");
    let first: Vec<String> = sim
        .dataset()
        .certificates
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let exporter = Exporter::start(
        &sim.endpoint(),
        &["--collector.interval=1s", "--collector.deploy.interval=1s"],
    );
    exporter.wait_ready(Duration::from_secs(60)).await;
    let left: BTreeSet<String> = sim
        .dataset()
        .certificates
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let deleted: Vec<&String> = first.iter().filter(|id| !left.contains(*id)).collect();
    assert_eq!(
        deleted.len(),
        1,
        "one certificate was deleted between pages"
    );
    let deleted = deleted[0].clone();
    let position = first.iter().position(|id| *id == deleted).unwrap_or(0);
    assert!(position < 10, "on the first page");

    let line = |family: &str, labels: &str| {
        format!("tencentcloud_ssl_{family}{{account=\"default\",{labels}}}")
    };
    let start = Instant::now();
    let mut scrapes = 0;
    loop {
        let text = exporter.metrics().await;
        let shown: BTreeSet<String> = text
            .lines()
            .filter(|l| l.starts_with("tencentcloud_ssl_certificate_info{"))
            .filter_map(|l| {
                l.split("certificate_id=\"")
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_string)
            })
            .collect();
        let lost: Vec<&String> = left.difference(&shown).collect();
        assert!(lost.is_empty(), "scrape {scrapes}: lost {lost:?}");
        scrapes += 1;
        let unavailable = value_of(
            &text,
            &line(
                "action_unavailable",
                "collector=\"deploy\",action=\"DescribeHostDeployRecord\"",
            ),
        );
        let deploy = value_of(&text, &line("collector_success", "collector=\"deploy\""));
        let update = value_of(&text, &line("collector_success", "collector=\"update\""));
        if unavailable == Some(1.0)
            && deploy == Some(1.0)
            && update == Some(0.0)
            && !shown.contains(&deleted)
            && start.elapsed() > Duration::from_secs(5)
        {
            let refused: f64 = text
                .lines()
                .filter(|l| {
                    l.starts_with("tencentcloud_ssl_api_requests_total{")
                        && l.contains("action=\"DescribeHostUpdateRecord\"")
                        && l.contains("code=\"UnauthorizedOperation\"")
                })
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum();
            let logs = exporter.logs();
            let reported = logs
                .lines()
                .filter(|l| {
                    l.contains("credentials or permissions rejected") && l.contains("update")
                })
                .count();
            // One call per run, never retried: each refused call is one run's error line (a
            // run may end between the scrape and the read of the logs).
            assert!(refused >= 1.0, "{refused} refused calls");
            assert!(
                (refused - reported as f64).abs() <= 1.0,
                "{refused} refused calls in {reported} runs\n{logs}"
            );
            for record_type in ["deploy", "update"] {
                assert!(
                    !text.contains(&format!("record_type=\"{record_type}\"")),
                    "nothing collected from an action not offered or not permitted"
                );
            }
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "unavailable {unavailable:?}, deploy {deploy:?}, update {update:?}, deleted shown {}\n{}",
            shown.contains(&deleted),
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
