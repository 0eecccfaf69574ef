//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The age of the oldest rollout records the exporter collects by default (30 days).
pub const MAX_AGE: i64 = 30 * 86_400;

/// Series of the metrics contract (collector snapshots only) in an exposition text:
/// series → value.
pub fn contract_series(text: &str) -> BTreeMap<String, f64> {
    // Counters (`_total`) grow with every run: they are checked on their own, not against the
    // simulator's truth of the world.
    // Probe durations and the target counts of the endpoints collector depend on the machine
    // and on every domain the API names; the truth covers the demo endpoints' outcomes.
    // The exporter's own process metrics are not part of the world either.
    // When each endpoint was last probed, and the rotation's run count, are the machine's too,
    // and what the sample leaves out depends on the exporter's max_tracked;
    // the sizes of the exporter's own maps are not part of the world.
    const EXCLUDED: [&str; 16] = [
        "tencentcloud_ssl_internal_entries",
        "tencentcloud_ssl_check_",
        "process_",
        "tencentcloud_ssl_endpoint_probe_duration_seconds",
        "tencentcloud_ssl_endpoint_probe_timestamp_seconds",
        "tencentcloud_ssl_endpoint_rotation_runs",
        "tencentcloud_ssl_endpoint_targets",
        "tencentcloud_ssl_endpoint_untracked_claims",
        "tencentcloud_ssl_web_",
        "tencentcloud_ssl_collector_",
        "tencentcloud_ssl_build_info",
        "tencentcloud_ssl_api_",
        "tencentcloud_ssl_exposition_",
        "tencentcloud_ssl_decode_errors_total",
        "tencentcloud_ssl_totals_mismatches_total",
        "#",
    ];
    text.lines()
        .filter(|l| !l.is_empty() && !EXCLUDED.iter().any(|p| l.starts_with(p)))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of one exact series in an exposition text.
pub fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(s, _)| *s == series)
        .and_then(|(_, v)| v.parse().ok())
}

/// `program` from PATH; `None` (the caller skips) unless `require` names a set variable, which
/// CI sets so that nothing is skipped there.
pub fn tool(program: &str, require: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {program} is not on PATH"
        );
        eprintln!("{program} not found: skipping");
    }
    found
}

/// Polls `url` with `request` until it answers 200, or panics with the exporter's logs.
pub async fn wait_for_200(exporter: &Exporter, request: impl Fn() -> reqwest::RequestBuilder) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if request().send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no 200 within 60s; logs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `path` answers 200 to `user`'s basic credentials; returns the client used.
pub async fn wait_for_200_as(
    exporter: &Exporter,
    path: &str,
    user: &str,
    password: &str,
) -> reqwest::Client {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", exporter.base);
    wait_for_200(exporter, || {
        client.get(&url).basic_auth(user, Some(password))
    })
    .await;
    client
}

/// A free port below the kernel's ephemeral range (see the API crate's test helpers).
pub fn free_port() -> u16 {
    api_common::free_port()
}

#[path = "../../crates/api/tests/common/mod.rs"]
mod api_common;

/// The real exporter binary, killed on drop.
pub struct Exporter {
    pub child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

impl Exporter {
    /// The exporter against `endpoint` with the demo credentials the simulator accepts.
    pub fn start(endpoint: &str, extra: &[&str]) -> Exporter {
        let mut args = vec![format!("--tencentcloud.endpoint={endpoint}")];
        args.extend(extra.iter().map(|a| a.to_string()));
        Exporter::spawn(
            &args,
            &[
                (
                    "TENCENTCLOUD_SECRET_ID",
                    tencentcloud_ssl_simulator::DEMO_SECRET_ID,
                ),
                (
                    "TENCENTCLOUD_SECRET_KEY",
                    tencentcloud_ssl_simulator::DEMO_SECRET_KEY,
                ),
            ],
        )
    }

    /// The exporter on a free loopback port with exactly `args` and `env`.
    pub fn spawn(args: &[String], env: &[(&str, &str)]) -> Exporter {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("tencentcloud-ssl-exporter-test-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("exporter starts");
        Exporter {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = reqwest::get(format!("{}{path}", self.base)).await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .map(|(_, t)| t)
            .unwrap_or_default()
    }

    /// Waits until `/-/ready` answers 200.
    pub async fn wait_ready(&self, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some((200, _)) = self.get("/-/ready").await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "exporter not ready within {within:?}; logs:\n{}",
            self.logs()
        );
    }

    /// Waits until every collector's first run has ended: `/-/ready` answers exactly `Ready.`
    /// (ready comes earlier, once the fast collectors have run; until the rest end, the body
    /// names them).
    pub async fn wait_collected(&self, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some((200, body)) = self.get("/-/ready").await {
                if body == "Ready.\n" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "first runs not all ended within {within:?}; logs:\n{}",
            self.logs()
        );
    }

    /// Sends SIGTERM and returns the exit status and how long the exit took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let start = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, start.elapsed());
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                panic!("exporter did not exit within 15s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Differences between two series maps, for assertion messages.
pub fn diff(expected: &BTreeMap<String, f64>, actual: &BTreeMap<String, f64>) -> String {
    let mut out = Vec::new();
    for (series, value) in expected {
        match actual.get(series) {
            None => out.push(format!("missing: {series} {value}")),
            Some(v) if v != value => out.push(format!("wrong:   {series} {v} (want {value})")),
            _ => {}
        }
    }
    for (series, value) in actual {
        if !expected.contains_key(series) {
            out.push(format!("extra:   {series} {value}"));
        }
    }
    let shown: Vec<String> = out.iter().take(30).cloned().collect();
    format!("{} differences:\n{}", out.len(), shown.join("\n"))
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
pub fn self_signed_localhost() -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
    (certified.cert.pem(), certified.key_pair.serialize_pem())
}

/// The body of a GET of `url` with `client`, which must answer.
pub async fn text_of(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text")
}

/// Runs `program` with `args`, `input` on its standard input; its exit status and its standard
/// output and error together.
pub fn run_with_input(
    program: &std::path::Path,
    args: &[&str],
    input: &str,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("finishes");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `promtool check metrics` finds nothing wrong in `text` (skipped without promtool unless
/// REQUIRE_PROMTOOL is set).
pub fn promtool_check_metrics(text: &str) {
    let Some(promtool) = tool("promtool", "REQUIRE_PROMTOOL") else {
        return;
    };
    let (status, stdout, stderr) = run_with_input(&promtool, &["check", "metrics"], text);
    let report = format!("{stdout}{stderr}");
    assert!(
        status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

/// A real Prometheus, killed on drop with its data directory.
pub struct Prometheus {
    pub child: Child,
    pub base: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prometheus scraping `target` (job `tencentcloud-ssl`) every second and evaluating `rules`
/// every second.
pub fn start_prometheus(
    binary: &std::path::Path,
    target: &str,
    rules: &std::path::Path,
) -> Prometheus {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("tencentcloud-ssl-prometheus-{port}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tencentcloud-ssl\n    static_configs:\n      - targets: [\"{target}\"]\n",
        rules.display()
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let child = Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log"))
        .spawn()
        .expect("prometheus starts");
    Prometheus {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: TempDir(dir),
    }
}

/// The JSON answer of a GET of `url`, which must answer.
pub async fn get_json(url: reqwest::Url) -> serde_json::Value {
    let text = reqwest::get(url.clone())
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .text()
        .await
        .expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

/// `path` of Prometheus's API with `params`.
pub fn api_url(prometheus: &Prometheus, path: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{}{path}", prometheus.base), params).expect("url")
}

/// The result vector of an instant query.
pub async fn query(prometheus: &Prometheus, expr: &str) -> Vec<serde_json::Value> {
    let response = get_json(api_url(prometheus, "/api/v1/query", &[("query", expr)])).await;
    assert_eq!(response["status"], "success", "{expr}: {response}");
    response["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until Prometheus is ready and has scraped its target a few times.
pub async fn wait_for_scrapes(prometheus: &Prometheus) {
    let start = Instant::now();
    loop {
        let ready = reqwest::get(format!("{}/-/ready", prometheus.base))
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready
            && !query(
                prometheus,
                "count_over_time(up{job=\"tencentcloud-ssl\"}[1m]) > 4",
            )
            .await
            .is_empty()
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Prometheus never scraped the exporter"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The exporter against `sim`, probing the simulator's TLS endpoints (and only those) through
/// the same flags an operator would use: overrides, resolved-only and the simulator's CA.
pub fn start_probing(sim: &tencentcloud_ssl_simulator::Simulator, extra: &[&str]) -> Exporter {
    let ca = std::env::temp_dir().join(format!(
        "tencentcloud-ssl-exporter-test-ca-{}.pem",
        sim.addr().port()
    ));
    std::fs::write(&ca, sim.ca_pem()).expect("CA file");
    let mut args: Vec<String> = vec![
        "--collector.endpoints".into(),
        "--collector.endpoints.interval=1s".into(),
        "--collector.endpoints.resolved-only".into(),
        format!("--collector.endpoints.ca-file={}", ca.display()),
    ];
    args.extend(
        sim.resolve_overrides()
            .into_iter()
            .map(|o| format!("--collector.endpoints.resolve={o}")),
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Exporter::start(&sim.endpoint(), &args)
}

/// The simulator's truth now, as contract series.
pub fn truth(sim: &tencentcloud_ssl_simulator::Simulator) -> BTreeMap<String, f64> {
    contract_series(&sim.truth("default", MAX_AGE))
}

/// Waits until the exporter's contract series equal the simulator's truth, after every
/// in-flight rollout has settled. Returns the last scrape.
pub async fn converge(
    sim: &tencentcloud_ssl_simulator::Simulator,
    exporter: &Exporter,
    within: Duration,
    mut each: impl FnMut(&str),
) -> String {
    let start = Instant::now();
    let settled_at = sim.dataset().spec.now + sim.dataset().spec.live_window_seconds + 1;
    let mut last = String::new();
    while start.elapsed() < within {
        let text = exporter.metrics().await;
        each(&text);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        if now > settled_at && contract_series(&text) == truth(sim) {
            return text;
        }
        last = text;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "no convergence within {within:?}: {}\nlogs:\n{}",
        diff(&truth(sim), &contract_series(&last)),
        exporter.logs()
    );
}
