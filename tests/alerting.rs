//! Alerts delivered end to end: the demo, a real Prometheus with the shipped rules, and Debian's
//! Alertmanager with the shipped routing (deploy/alertmanager/alertmanager.yml) sending to webhook
//! receivers of this test. The alerts the demo's world raises must arrive at the receiver their
//! severity routes to, with their labels and runbook; the exporter's own "down" alert must not.
//!
//! The rules' `for:` durations (15 minutes to an hour) are set to 0 in the copy Prometheus loads,
//! and the routing's waits to a second: this tests delivery and routing; the promtool unit tests
//! in deploy/prometheus/tests test the timers.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Exporter;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A child process killed on drop, with its directory removed.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(binary: &Path, args: &[String], dir: &Path) -> Daemon {
    let child = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).expect("log"))
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    Daemon {
        child,
        dir: dir.to_path_buf(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tencentcloud-ssl-{name}-{}-{}",
        std::process::id(),
        common::free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Webhook notifications received: (receiver path, alert) for every alert of every notification.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A webhook receiver on a free port, answering 200 to every POST (keep-alive included).
async fn webhook_receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received: Received = Arc::default();
    let store = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if let Ok(notification) = serde_json::from_slice::<Value>(&body) {
                        let mut store = store.lock().expect("lock");
                        for alert in notification["alerts"].as_array().into_iter().flatten() {
                            store.push((path.clone(), alert.clone()));
                        }
                    }
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if write.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, received)
}

/// The shipped rules with every `for:` set to 0.
fn rules_firing_at_once() -> String {
    read("deploy/prometheus/tencentcloud-ssl-exporter.rules.yml")
        .lines()
        .map(|line| match line.split_once("for: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}for: 0s"),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The shipped routing, sending to `port`, with waits of a second.
fn routing(port: u16) -> String {
    read("deploy/alertmanager/alertmanager.yml")
        .replace(
            "http://127.0.0.1:5001/",
            &format!("http://127.0.0.1:{port}/"),
        )
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_interval: 5m", "group_interval: 1s")
}

#[test]
fn the_shipped_routing_is_valid_and_documented() {
    let text = read("deploy/alertmanager/alertmanager.yml");
    assert!(
        read("docs/alerts.md").contains(text.trim()),
        "docs/alerts.md shows deploy/alertmanager/alertmanager.yml verbatim"
    );
    let Some(amtool) = common::tool("amtool", "REQUIRE_ALERTMANAGER") else {
        return;
    };
    let out = Command::new(amtool)
        .args(["check-config"])
        .arg(root().join("deploy/alertmanager/alertmanager.yml"))
        .output()
        .expect("amtool runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_routing_by_team_sends_each_teams_alerts_to_it_and_the_rest_by_severity() {
    let path = "deploy/alertmanager/routing-by-team.yml";
    let text = read(path);
    assert!(
        read("docs/alerts.md").contains(text.trim()),
        "docs/alerts.md shows {path} verbatim"
    );
    let Some(amtool) = common::tool("amtool", "REQUIRE_ALERTMANAGER") else {
        return;
    };
    let check = Command::new(&amtool)
        .arg("check-config")
        .arg(root().join(path))
        .output()
        .expect("amtool runs");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // (labels of an alert, the receiver it must reach)
    let cases: [(&[&str], &str); 7] = [
        (
            &["tag_team=payments", "severity=critical"],
            "payments-pager",
        ),
        (
            &["tag_team=payments", "severity=warning"],
            "payments-tickets",
        ),
        (&["tag_team=payments", "severity=info"], "payments-tickets"),
        (&["tag_team=web", "severity=critical"], "web-pager"),
        (&["tag_team=search", "severity=warning"], "tickets"),
        (&["severity=critical"], "pager"),
        (&["severity=info"], "default"),
    ];
    for (labels, receiver) in cases {
        let out = Command::new(&amtool)
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", root().join(path).display()))
            .arg(format!("--verify.receivers={receiver}"))
            .arg("alertname=TencentCloudSSLCertificateExpiringSoon")
            .args(labels)
            .output()
            .expect("amtool runs");
        assert!(
            out.status.success(),
            "{labels:?} should reach {receiver}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_alerts_reach_the_receivers_their_severity_routes_to() {
    let Some(prometheus_bin) = common::tool("prometheus", "REQUIRE_PROMETHEUS") else {
        return;
    };
    let Some(alertmanager_bin) = common::tool("prometheus-alertmanager", "REQUIRE_ALERTMANAGER")
    else {
        return;
    };
    let exporter = Exporter::spawn(
        &["--demo".to_string(), "--collector.interval=5s".to_string()],
        &[],
    );
    exporter.wait_collected(Duration::from_secs(60)).await;
    let (webhook_port, received) = webhook_receiver().await;

    let am_dir = temp_dir("alertmanager");
    std::fs::write(am_dir.join("alertmanager.yml"), routing(webhook_port)).expect("routing");
    let am_port = common::free_port();
    let _alertmanager = spawn(
        &alertmanager_bin,
        &[
            format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ),
            format!("--storage.path={}", am_dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            // No cluster: a single Alertmanager, no gossip port.
            "--cluster.listen-address=".to_string(),
        ],
        &am_dir,
    );

    let prom_dir = temp_dir("prometheus-alerting");
    std::fs::write(prom_dir.join("rules.yml"), rules_firing_at_once()).expect("rules");
    let target = exporter.base.trim_start_matches("http://");
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"127.0.0.1:{am_port}\"]\n\
             scrape_configs:\n  - job_name: tencentcloud-ssl\n    static_configs:\n      - targets: [\"{target}\"]\n",
            prom_dir.join("rules.yml").display()
        ),
    )
    .expect("config");
    let prom_port = common::free_port();
    let _prometheus = spawn(
        &prometheus_bin,
        &[
            format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", prom_dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &prom_dir,
    );

    // alert → the receiver its severity routes to.
    let expected: BTreeMap<&str, &str> = [
        ("TencentCloudSSLEndpointServedCertificateExpiring", "/pager"),
        ("TencentCloudSSLEndpointServesOtherCertificate", "/tickets"),
        ("TencentCloudSSLEndpointProbeFailing", "/tickets"),
        ("TencentCloudSSLUnmatchedDomains", "/tickets"),
        ("TencentCloudSSLBindTaskFailing", "/tickets"),
        ("TencentCloudSSLBindQueryErrors", "/default"),
        // What newer API fields say: a revoked certificate still bound, a hosting replacement
        // overdue, an intermediate expiring before its leaf.
        ("TencentCloudSSLRevokedCertificateStillBound", "/pager"),
        ("TencentCloudSSLHostingReplacementOverdue", "/tickets"),
        (
            "TencentCloudSSLChainCertificateExpiresBeforeLeaf",
            "/tickets",
        ),
    ]
    .into_iter()
    .collect();
    let start = Instant::now();
    let seen = loop {
        let seen: BTreeMap<String, BTreeSet<String>> = {
            let received = received.lock().expect("lock");
            let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (path, alert) in received.iter() {
                if let Some(name) = alert["labels"]["alertname"].as_str() {
                    seen.entry(name.to_string())
                        .or_default()
                        .insert(path.clone());
                }
            }
            seen
        };
        if expected.keys().all(|name| seen.contains_key(*name)) {
            break seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "alerts never delivered: expected {expected:?}, received {seen:?}\nprometheus:\n{}\nalertmanager:\n{}",
            std::fs::read_to_string(prom_dir.join("log")).unwrap_or_default(),
            std::fs::read_to_string(am_dir.join("log")).unwrap_or_default(),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (name, receiver) in &expected {
        assert_eq!(
            seen[*name],
            BTreeSet::from([receiver.to_string()]),
            "{name} routed by its severity"
        );
    }
    // Every delivered alert of ours: account, severity and a runbook; never "exporter down".
    let received = received.lock().expect("lock");
    for (path, alert) in received.iter() {
        let labels = &alert["labels"];
        let name = labels["alertname"].as_str().unwrap_or_default();
        assert_ne!(name, "TencentCloudSSLExporterDown", "the exporter is up");
        if !name.starts_with("TencentCloudSSL") {
            continue;
        }
        let severity = labels["severity"].as_str().unwrap_or_default();
        let routed = match severity {
            "critical" => "/pager",
            "warning" => "/tickets",
            _ => "/default",
        };
        assert_eq!(path, routed, "{name} ({severity})");
        assert!(
            alert["annotations"]["runbook"]
                .as_str()
                .is_some_and(|r| r.len() > 20),
            "{name} carries its runbook: {alert}"
        );
        assert!(
            alert["annotations"]["summary"].as_str().is_some(),
            "{name} has a summary: {alert}"
        );
    }
    let by_account = received
        .iter()
        .filter(|(_, a)| a["labels"]["alertname"] == "TencentCloudSSLEndpointProbeFailing")
        .all(|(_, a)| a["labels"]["account"] == "default" && a["labels"]["domain"].is_string());
    assert!(
        by_account,
        "endpoint alerts name the account and the domain"
    );
}
