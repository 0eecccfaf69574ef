//! The shipped dashboards and rules: well-formed, passing promtool, and working against a real
//! Prometheus that scrapes the exporter in demo mode.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{api_url, get_json, query, start_prometheus, Exporter, Prometheus};
use serde_json::Value;
use tencentcloud_ssl_exporter::metrics::Family;

const RULES: &str = "deploy/prometheus/tencentcloud-ssl-exporter.rules.yml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("dashboards")).expect("dashboards/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read");
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            out.push((path.display().to_string(), value));
        }
    }
    assert!(out.len() >= 2, "overview and rollouts dashboards");
    out
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// (panel title, expression) of every query.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |t| t["expr"].as_str().map(|e| (title.clone(), e.to_string())))
        })
        .collect()
}

/// Template-variable queries (`label_values(selector, label)`) as PromQL that must return data.
fn variable_queries(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let query = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or_default();
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unexpected variable query {query}"));
            let (selector, label) = inner.rsplit_once(',').expect("selector, label");
            (
                format!("variable {}", v["name"]),
                format!("count by ({}) ({})", label.trim(), selector.trim()),
            )
        })
        .collect()
}

/// Grafana's variables replaced as "All" selects them.
fn substitute(expr: &str) -> String {
    let mut out = expr.replace("$__rate_interval", "1m");
    for var in [
        "$job",
        "$instance",
        "$account",
        "$certificate",
        "$resource_type",
        "$record_type",
    ] {
        out = out.replace(var, ".*");
    }
    out
}

fn known_metric_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = Family::ALL
        .iter()
        .map(|f| f.def().name.to_string())
        .collect();
    names.insert("tencentcloud_ssl_api_requests_total".into());
    names.insert(tencentcloud_ssl_exporter::telemetry::COLLECTOR_FIRST_RUN_COMPLETE.into());
    for suffix in ["bucket", "sum", "count"] {
        names.insert(format!(
            "tencentcloud_ssl_api_request_duration_seconds_{suffix}"
        ));
    }
    names
}

#[test]
fn dashboards_are_importable_and_only_use_contract_metrics() {
    let known = known_metric_names();
    for (path, dashboard) in dashboards() {
        assert!(
            dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()),
            "{path}: uid"
        );
        assert!(
            dashboard["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Tencent Cloud SSL")),
            "{path}: title"
        );
        assert!(
            dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{path}: schemaVersion"
        );
        let variables: Vec<&Value> = dashboard["templating"]["list"]
            .as_array()
            .expect("templating")
            .iter()
            .collect();
        let datasource = variables
            .iter()
            .find(|v| v["name"] == "datasource")
            .expect("datasource variable");
        assert_eq!(datasource["type"], "datasource");
        assert_eq!(datasource["query"], "prometheus");
        assert!(
            variables.iter().any(|v| v["name"] == "account"),
            "{path}: account variable"
        );
        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let id = panel["id"].as_u64().expect("panel id");
            assert!(ids.insert(id), "{path}: duplicate panel id {id}");
            let grid = &panel["gridPos"];
            let (x, w) = (
                grid["x"].as_u64().expect("x"),
                grid["w"].as_u64().expect("w"),
            );
            assert!(x + w <= 24, "{path}: panel {id} overflows the grid");
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{path}: panel {id}"
            );
            assert!(
                panel["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{path}: panel {id} description"
            );
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{path}: panel {id} has no query");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}");
            }
        }
        for (title, expr) in queries(&dashboard)
            .into_iter()
            .chain(variable_queries(&dashboard))
        {
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                if word.starts_with("tencentcloud_ssl_") {
                    assert!(
                        known.contains(word),
                        "{path}: {title}: unknown metric {word}"
                    );
                }
            }
        }
    }
}

#[test]
fn rules_pass_promtool_check_and_unit_tests() {
    let Some(promtool) = common::tool("promtool", "REQUIRE_PROMTOOL") else {
        return;
    };
    let check = Command::new(&promtool)
        .args(["check", "rules", RULES])
        .current_dir(root())
        .output()
        .expect("promtool runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let tests: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/prometheus/tests"))
        .expect("rule tests")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    assert!(tests.len() >= 3);
    let unit = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .args(&tests)
        .current_dir(root())
        .output()
        .expect("promtool runs");
    assert!(
        unit.status.success(),
        "{}{}",
        String::from_utf8_lossy(&unit.stdout),
        String::from_utf8_lossy(&unit.stderr)
    );
}

#[test]
fn every_alert_has_a_unit_test_and_a_runbook() {
    let rules = std::fs::read_to_string(root().join(RULES)).expect("rules");
    let tests: String = std::fs::read_dir(root().join("deploy/prometheus/tests"))
        .expect("rule tests")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 12, "{alerts:?}");
    for alert in alerts {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool test"
        );
    }
    assert_eq!(
        rules.matches("- alert: ").count(),
        rules.matches("runbook: ").count(),
        "every alert has a runbook annotation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_and_rules_work_against_a_real_prometheus() {
    let Some(binary) = common::tool("prometheus", "REQUIRE_PROMETHEUS") else {
        return;
    };
    let exporter = Exporter::spawn(
        &["--demo".to_string(), "--collector.interval=5s".to_string()],
        &[],
    );
    exporter.wait_collected(Duration::from_secs(60)).await;
    let target = exporter.base.trim_start_matches("http://").to_string();
    let prometheus = start_prometheus(&binary, &target, &root().join(RULES));

    // Wait for a few scrapes and rule evaluations.
    common::wait_for_scrapes(&prometheus).await;

    let mut empty = Vec::new();
    for (path, dashboard) in dashboards() {
        for (title, expr) in queries(&dashboard)
            .into_iter()
            .chain(variable_queries(&dashboard))
        {
            if query(&prometheus, &substitute(&expr)).await.is_empty() {
                empty.push(format!("{path}: {title}: {expr}"));
            }
        }
    }
    assert!(
        empty.is_empty(),
        "queries without data on the demo:\n{}",
        empty.join("\n")
    );

    let rules = get_json(api_url(&prometheus, "/api/v1/rules", &[])).await;
    let mut count = 0;
    for group in rules["data"]["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            count += 1;
            assert_eq!(
                rule["health"], "ok",
                "rule {} unhealthy: {}",
                rule["name"], rule["lastError"]
            );
        }
    }
    assert!(count >= 16, "{count} rules loaded");
    let alerts = get_json(api_url(&prometheus, "/api/v1/alerts", &[])).await;
    let active: BTreeSet<String> = alerts["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    assert!(
        !active.contains("TencentCloudSSLExporterDown"),
        "{active:?}"
    );
    assert!(
        active.contains("TencentCloudSSLCertificateExpiryCritical")
            || active.contains("TencentCloudSSLCertificateExpiringSoon"),
        "the demo has certificates in use that expire soon: {active:?}"
    );
    assert!(
        active.contains("TencentCloudSSLUnmatchedDomains"),
        "{active:?}"
    );
    // The demo's endpoints: one serves the previous certificate (expiring in 5 days while the
    // API's runs for months), one is unreachable. Each alert names the endpoint, pending its `for`.
    let exported = exporter.metrics().await;
    for (alert, family, value) in [
        (
            "TencentCloudSSLEndpointServesOtherCertificate",
            "tencentcloud_ssl_endpoint_certificate_match",
            " 0",
        ),
        (
            "TencentCloudSSLEndpointServedCertificateExpiring",
            "tencentcloud_ssl_endpoint_certificate_match",
            " 0",
        ),
        (
            "TencentCloudSSLEndpointProbeFailing",
            "tencentcloud_ssl_endpoint_probe_success",
            " 0",
        ),
    ] {
        let domain = exported
            .lines()
            .find(|l| l.starts_with(&format!("{family}{{")) && l.ends_with(value))
            .and_then(|l| l.split("domain=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("the demo has an endpoint with {family}{value}"));
        let named: Vec<&Value> = alerts["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == alert)
            .collect();
        assert!(
            named.iter().any(|a| a["labels"]["domain"] == domain),
            "{alert} names {domain}: {named:?}"
        );
    }
}

/// `account/collector` → `tencentcloud_ssl_collector_first_run_complete`, as Prometheus has it.
async fn first_runs(prometheus: &Prometheus) -> std::collections::BTreeMap<String, f64> {
    query(prometheus, "tencentcloud_ssl_collector_first_run_complete")
        .await
        .iter()
        .filter_map(|sample| {
            let collector = sample["metric"]["collector"].as_str()?;
            let value = sample["value"][1].as_str()?.parse().ok()?;
            Some((collector.to_string(), value))
        })
        .collect()
}

/// The alerts Prometheus holds active (pending or firing): their labels.
async fn active_alerts(prometheus: &Prometheus) -> Vec<Value> {
    let alerts = get_json(api_url(prometheus, "/api/v1/alerts", &[])).await;
    alerts["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["labels"].clone())
        .collect()
}

/// What of `alerts` could only come from `collector`'s data (or its absence).
fn alerts_on(collector: &str, alerts: &[Value]) -> Vec<Value> {
    alerts
        .iter()
        .filter(|labels| {
            let name = labels["alertname"].as_str().unwrap_or_default();
            labels["collector"] == collector
                || labels["record_type"] == collector
                || match collector {
                    "bind" => name.starts_with("TencentCloudSSLCertificateExpi"),
                    // The endpoints collector probes once every source has answered.
                    "deploy" => name.starts_with("TencentCloudSSLEndpoint"),
                    _ => false,
                }
        })
        .cloned()
        .collect()
}

/// The query of the dashboard panel titled `title`, Grafana's variables as "All" selects them
/// but `$record_type`, set to `record_type`.
fn panel_query(title: &str, record_type: &str) -> String {
    dashboards()
        .iter()
        .flat_map(|(_, dashboard)| queries(dashboard))
        .find(|(t, _)| t == title)
        .map(|(_, expr)| substitute(&expr.replace("$record_type", record_type)))
        .unwrap_or_else(|| panic!("no panel {title}"))
}

/// A large account in small: the deploy collector's first run (one list call per certificate)
/// is slowed to a call a second, the bind collector's details likewise. Deploy's interval is long
/// enough for its budget (pace × interval list calls a run) to cover every certificate in one run. `/-/ready` answers 200
/// long before they end; meanwhile their `first_run_complete` is 0, their families are absent,
/// and a real Prometheus with the shipped rules holds no alert that comes from them (nor the
/// endpoints alerts, which wait for every source). Once each run ends, its data and its alerts
/// (the demo has expiring bound certificates and endpoints serving another certificate) appear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_first_runs_are_not_waited_for_and_no_alert_fires_on_what_they_have_not_collected() {
    let Some(binary) = common::tool("prometheus", "REQUIRE_PROMETHEUS") else {
        return;
    };
    let started = Instant::now();
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            "--collector.interval=5s".to_string(),
            "--collector.deploy.interval=2m".to_string(),
            "--tencentcloud.rate-limit=DescribeHostDeployRecord=1".to_string(),
            "--tencentcloud.rate-limit=DescribeCertificateBindResourceTaskDetail=1".to_string(),
        ],
        &[],
    );
    let target = exporter.base.trim_start_matches("http://").to_string();
    let prometheus = start_prometheus(&binary, &target, &root().join(RULES));

    exporter.wait_ready(Duration::from_secs(60)).await;
    let ready_after = started.elapsed();
    // Ready, with deploy on its first run: named, with its progress once it has counted the
    // certificates to list.
    let body = loop {
        let (_, body) = exporter.get("/-/ready").await.expect("ready answers");
        assert!(
            body.starts_with("Ready.\n") && body.contains("default/deploy"),
            "ready while deploy is on its first run: {body}"
        );
        if body.contains("default/deploy (") {
            break body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body.contains(" items)"), "{body}");
    let text = exporter.metrics().await;
    assert_eq!(
        common::value_of(
            &text,
            "tencentcloud_ssl_collector_first_run_complete{account=\"default\",collector=\"deploy\"}"
        ),
        Some(0.0)
    );
    assert!(
        !text.contains("record_type=\"deploy\"") && !text.contains("\ntencentcloud_ssl_endpoint_"),
        "nothing of deploy or endpoints is served: {text}"
    );
    for family in [
        "tencentcloud_ssl_collector_success{account=\"default\",collector=\"deploy\"}",
        "tencentcloud_ssl_collector_last_success_timestamp_seconds{account=\"default\",collector=\"deploy\"}",
    ] {
        assert_eq!(common::value_of(&text, family), None, "{family}");
    }
    let (_, landing) = exporter.get("/").await.expect("landing page");
    assert!(landing.contains("Not collected yet: "), "{landing}");

    let bound_instances = panel_query("Bound resource instances", ".*");
    let deploy_records = panel_query("Records", "deploy");
    // While the slow first runs last: what Prometheus evaluated (alerts first, then the state
    // they were evaluated on, which only goes from 0 to 1) holds nothing from them.
    let mut observed = std::collections::BTreeMap::<&str, usize>::new();
    let deploy_done = loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "deploy's first run never ended; logs:\n{}",
            exporter.logs()
        );
        let alerts = active_alerts(&prometheus).await;
        // The dashboards' counts show no data, not 0, for what is not collected yet.
        let bound = query(&prometheus, &bound_instances).await;
        let records = query(&prometheus, &deploy_records).await;
        let states = first_runs(&prometheus).await;
        for (collector, panel) in [("bind", &bound), ("deploy", &records)] {
            if states.get(collector) == Some(&0.0) {
                *observed.entry(collector).or_default() += 1;
                let from = alerts_on(collector, &alerts);
                assert!(
                    from.is_empty(),
                    "alerts on {collector}'s uncollected data: {from:?}"
                );
                assert!(
                    panel.is_empty(),
                    "a dashboard shows {collector}'s uncollected data as {panel:?}"
                );
            }
        }
        let text = exporter.metrics().await;
        if common::value_of(
            &text,
            "tencentcloud_ssl_collector_first_run_complete{account=\"default\",collector=\"deploy\"}",
        ) == Some(1.0)
        {
            break started.elapsed();
        }
        assert!(
            !text.contains("record_type=\"deploy\""),
            "deploy records served before the run ended"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        observed.get("deploy").is_some_and(|n| *n >= 3),
        "Prometheus evaluated the rules during deploy's first run: {observed:?}"
    );

    // After: their data, and the alerts on it, come.
    let mut seen_after = BTreeSet::new();
    let wanted = ["bind", "deploy"];
    while !wanted.iter().all(|c| seen_after.contains(*c)) {
        assert!(
            started.elapsed() < Duration::from_secs(420),
            "alerts after the first runs: {seen_after:?}; logs:\n{}",
            exporter.logs()
        );
        let alerts = active_alerts(&prometheus).await;
        for collector in wanted {
            if !alerts_on(collector, &alerts).is_empty() {
                seen_after.insert(collector);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for expr in [&bound_instances, &deploy_records] {
        assert!(!query(&prometheus, expr).await.is_empty(), "{expr}");
    }
    let (_, body) = exporter.get("/-/ready").await.expect("ready answers");
    eprintln!(
        "ready after {:.1}s; deploy's first run ended after {:.1}s: ratio {:.3}; bind observed on its first run {} times",
        ready_after.as_secs_f64(),
        deploy_done.as_secs_f64(),
        ready_after.as_secs_f64() / deploy_done.as_secs_f64(),
        observed.get("bind").copied().unwrap_or(0)
    );
    assert_eq!(body, "Ready.\n", "every first run has ended");
}
