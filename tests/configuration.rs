//! The real binary with configuration files: several accounts, `--config.check`, `--shard`,
//! basic auth and TLS from `--web.config.file`, and secrets that never reach logs or metrics.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::Exporter;
use tencentcloud_ssl_simulator::{
    FaultConfig, SimConfig, Simulator, DEMO_SECRET_ID, DEMO_SECRET_KEY,
};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tencentcloud-ssl-config-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write");
    path
}

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tencentcloud-ssl-exporter"));
    command.env_clear();
    command
}

async fn simulator() -> Simulator {
    let mut config = SimConfig::demo(5, 12);
    config.dataset.max_task_seconds = 1;
    config.faults = FaultConfig::default();
    Simulator::start(config).await.expect("simulator")
}

#[test]
fn config_check_accepts_the_example_and_names_the_place_of_errors() {
    let ok = binary()
        .args([
            "--config.file",
            concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.example.yml"),
            "--config.check",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("configuration OK") && stdout.contains("5 account(s)"),
        "{stdout}"
    );

    let dir = temp_dir("check");
    let bad = write(&dir, "bad.yml", "accounts:\n  - name: a\n  - name: b\n  - name: c\n    credentials:\n      source: assume_role\n");
    let out = binary()
        .args(["--config.check", "--config.file"])
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("accounts[2].credentials.role_arn"),
        "{stderr}"
    );
}

#[test]
fn shards_split_accounts_without_overlap() {
    let dir = temp_dir("shards");
    let names: Vec<String> = (0..12).map(|i| format!("team-{i}")).collect();
    let body: String = names
        .iter()
        .map(|n| format!("  - name: {n}\n    credentials: {{source: environment}}\n"))
        .collect();
    let file = write(&dir, "accounts.yml", &format!("accounts:\n{body}"));
    let mut seen = BTreeSet::new();
    for index in 0..3 {
        let out = binary()
            .arg("--config.check")
            .arg("--config.file")
            .arg(&file)
            .arg(format!("--shard={index}/3"))
            .output()
            .expect("runs");
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        for name in &names {
            if stdout.contains(&format!("\"{name}\"")) {
                assert!(seen.insert(name.clone()), "{name} is in two shards");
            }
        }
    }
    assert_eq!(seen.len(), names.len(), "every account lands in a shard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_accounts_from_a_file_and_no_secret_in_logs_or_metrics() {
    let sim = simulator().await;
    let dir = temp_dir("accounts");
    let key_file = write(&dir, "key", &format!("{DEMO_SECRET_KEY}\n"));
    let config = write(
        &dir,
        "config.yml",
        &format!(
            "accounts:\n  - name: good\n    endpoint: {ep}\n    credentials:\n      secret_id: {DEMO_SECRET_ID}\n      secret_key_file: {key}\n  - name: wrong-key\n    endpoint: {ep}\n    credentials:\n      secret_id: {DEMO_SECRET_ID}\n      secret_key: inline-wrong-key-4c1e\ncollectors:\n  certificates: {{interval: 2s}}\n  bind: {{interval: 2s}}\n  upload_update: {{enabled: false}}\n  update: {{interval: 2s}}\n",
            ep = sim.endpoint(),
            key = key_file.display()
        ),
    );
    let exporter = Exporter::spawn(
        &[
            format!("--config.file={}", config.display()),
            "--log.level=debug".to_string(),
        ],
        &[],
    );
    exporter.wait_collected(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = exporter.metrics().await;
    let logs = exporter.logs();
    assert!(
        text.contains(
            "tencentcloud_ssl_collector_success{account=\"good\",collector=\"certificates\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "tencentcloud_ssl_collector_success{account=\"wrong-key\",collector=\"certificates\"} 0"
    ));
    assert!(
        !text.contains("collector=\"upload_update\""),
        "disabled collectors are not run"
    );
    assert!(text.contains("tencentcloud_ssl_certificate_info{account=\"good\""));
    for secret in [DEMO_SECRET_KEY, "inline-wrong-key-4c1e"] {
        assert!(!logs.contains(secret), "secret in logs");
        assert!(!text.contains(secret), "secret in metrics");
    }
    assert!(
        logs.contains("readable by group or others") || cfg!(not(unix)),
        "warns about the world-readable config: {logs}"
    );
}

fn htpasswd(password: &str) -> String {
    bcrypt::hash(password, 4).expect("hash")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_path_with_one_answer() {
    let sim = simulator().await;
    let dir = temp_dir("auth");
    let web = write(
        &dir,
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: '{}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            htpasswd("scrape-pass")
        ),
    );
    let exporter = Exporter::start(
        &sim.endpoint(),
        &[&format!("--web.config.file={}", web.display())],
    );
    let client = common::wait_for_200_as(&exporter, "/-/ready", "prometheus", "scrape-pass").await;
    for path in ["/metrics", "/-/healthy", "/-/ready", "/"] {
        let url = format!("{}{path}", exporter.base);
        let none = client.get(&url).send().await.expect("answer");
        let wrong_password = client
            .get(&url)
            .basic_auth("prometheus", Some("nope"))
            .send()
            .await
            .expect("answer");
        let wrong_user = client
            .get(&url)
            .basic_auth("root", Some("scrape-pass"))
            .send()
            .await
            .expect("answer");
        let mut bodies = Vec::new();
        for response in [none, wrong_password, wrong_user] {
            assert_eq!(response.status(), 401, "{path}");
            assert_eq!(response.headers()["x-frame-options"], "deny");
            bodies.push(response.text().await.expect("body"));
        }
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "one answer for every failure"
        );
        let ok = client
            .get(&url)
            .basic_auth("prometheus", Some("scrape-pass"))
            .send()
            .await
            .expect("answer");
        assert_eq!(ok.status(), 200, "{path}");
    }
    assert!(!exporter.logs().contains("scrape-pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_from_the_web_config() {
    let sim = simulator().await;
    let dir = temp_dir("tls");
    let (cert_pem, key_pem) = common::self_signed_localhost();
    write(&dir, "server.crt", &cert_pem);
    let key = write(&dir, "server.key", &key_pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let web = write(&dir, "web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n");
    let exporter = Exporter::start(
        &sim.endpoint(),
        &[&format!("--web.config.file={}", web.display())],
    );
    let https = exporter.base.replace("http://", "https://");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let healthy = format!("{https}/-/healthy");
    common::wait_for_200(&exporter, || client.get(&healthy)).await;
    let metrics = common::text_of(&client, &format!("{https}/metrics")).await;
    assert!(metrics.contains("tencentcloud_ssl_build_info"));
    assert!(
        reqwest::get(format!("{}/-/healthy", exporter.base))
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true),
        "plain HTTP is refused"
    );
    assert!(!exporter.logs().contains("PRIVATE KEY"));
}

#[test]
fn web_config_errors_exit_with_the_place() {
    let dir = temp_dir("badweb");
    let web = write(&dir, "web.yml", "basic_auth_users:\n  alice: not-a-hash\n");
    let out = binary()
        .arg(format!("--web.config.file={}", web.display()))
        .arg("--demo")
        .arg("--config.check")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("basic_auth_users.alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_instance_series_are_opt_in() {
    let dir = temp_dir("detail");
    let config = write(
        &dir,
        "config.yml",
        "accounts:\n  - name: demo\ndetail_series: true\n",
    );
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            format!("--config.file={}", config.display()),
        ],
        &[],
    );
    exporter.wait_collected(Duration::from_secs(60)).await;
    let text = exporter.metrics().await;
    let instances = text
        .lines()
        .filter(|l| {
            l.starts_with("tencentcloud_ssl_certificate_bound_instance_info{account=\"demo\"")
        })
        .count();
    assert!(instances > 10, "{instances} instance series");
    assert!(
        text.contains("instance_id=\"lb-"),
        "CLB instances are named by LoadBalancerId"
    );
}
