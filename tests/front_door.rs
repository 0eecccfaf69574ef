//! The front door of the real binary, tried as an attacker on the same network and as an SRE
//! rotating secrets would: a right password is answered during a storm of wrong ones, clients
//! that never read free their slots, a certificate replaced the Kubernetes way is served on a
//! later handshake, a broken web configuration keeps the last good one (and says so), and a
//! collector that dies shows `success 0` and comes back.
//!
//! Deadlines here are generous (tens of seconds): they catch a door that does not hold, not a
//! slow machine. The figures against the targets come from `bench/bench.py --only front-door`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{value_of, Exporter};
use tokio::io::AsyncWriteExt;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tencentcloud-ssl-front-door-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Replaces `path` at once (write aside, then rename), as editors and config managers do.
fn write_atomic(path: &Path, text: &str) {
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text).expect("write");
    std::fs::rename(&aside, path).expect("rename");
}

#[cfg(unix)]
fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[cfg(not(unix))]
fn private(_path: &Path) {}

/// Polls `check` every 100 ms until it holds, or panics with the exporter's logs.
async fn eventually<F, Fut>(exporter: &Exporter, within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; logs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The metrics text with these credentials (empty on any failure).
async fn scrape_as(client: &reqwest::Client, exporter: &Exporter, password: &str) -> String {
    match client
        .get(format!("{}/metrics", exporter.base))
        .basic_auth("prometheus", Some(password))
        .send()
        .await
    {
        Ok(response) if response.status() == 200 => response.text().await.unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_password_is_answered_during_a_storm_of_wrong_ones() {
    let dir = temp_dir("storm");
    let web = dir.join("web.yml");
    // A low cost keeps the debug build's bcrypt quick; the one-hash-at-a-time queue is the same.
    let hash = bcrypt::hash("right-pass-5d1f", 6).expect("hash");
    write_atomic(
        &web,
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    );
    private(&web);
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            format!("--web.config.file={}", web.display()),
        ],
        &[],
    );
    let client =
        common::wait_for_200_as(&exporter, "/-/ready", "prometheus", "right-pass-5d1f").await;

    let stop = Arc::new(AtomicBool::new(false));
    let guesses = Arc::new(AtomicU64::new(0));
    let mut storm = Vec::new();
    for worker in 0..32 {
        let (client, url) = (reqwest::Client::new(), format!("{}/metrics", exporter.base));
        let (stop, guesses) = (Arc::clone(&stop), Arc::clone(&guesses));
        storm.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let answer = client
                    .get(&url)
                    .basic_auth("prometheus", Some(format!("guess-{worker}-{n}")))
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await;
                if answer.is_ok_and(|r| r.status() == 401) {
                    guesses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let started = Instant::now();
        let text = tokio::time::timeout(
            Duration::from_secs(10),
            scrape_as(&client, &exporter, "right-pass-5d1f"),
        )
        .await
        .unwrap_or_default();
        slowest = slowest.max(started.elapsed());
        assert!(
            text.contains("tencentcloud_ssl_build_info"),
            "a right-password scrape failed during the storm; logs:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let text = scrape_as(&client, &exporter, "right-pass-5d1f").await;
    for task in storm {
        let _ = task.await;
    }
    eprintln!(
        "storm: {} wrong guesses answered 401; slowest right scrape {slowest:?}",
        guesses.load(Ordering::Relaxed)
    );
    assert!(
        guesses.load(Ordering::Relaxed) > 0,
        "the storm was answered"
    );
    let refused = value_of(
        &text,
        r#"tencentcloud_ssl_web_requests_rejected_total{reason="unauthorized"}"#,
    )
    .unwrap_or_default();
    assert!(refused >= 1.0, "refusals are counted: {refused}");
    let logs = exporter.logs();
    assert!(!logs.contains("right-pass-5d1f") && !logs.contains("guess-"));
}

/// A client that asks for `/metrics` with a tiny receive window and never reads the answer.
async fn never_reads(addr: &str) -> Option<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.set_recv_buffer_size(4096).ok()?;
    let mut stream = socket.connect(addr.parse().ok()?).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    Some(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_free_their_slots_and_a_big_scrape_completes() {
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            "--demo.certificates=8000".to_string(),
            "--web.max-connections=8".to_string(),
            "--web.write-timeout=1s".to_string(),
        ],
        &[],
    );
    // Wait for a body larger than the kernel buffers a client that never reads can fill (a few
    // MB on loopback: a smaller one would sit in them, and only the header timeout would cut
    // the connection after it).
    eventually(
        &exporter,
        Duration::from_secs(180),
        "a big body",
        || async { exporter.metrics().await.len() > 4_500_000 },
    )
    .await;
    let addr = exporter.base.trim_start_matches("http://").to_string();
    let mut stuck = Vec::new();
    for _ in 0..12 {
        stuck.extend(never_reads(&addr).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let text = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
        .get(format!("{}/metrics", exporter.base))
        .send()
        .await
        .expect("answered despite 12 clients that never read, 8 slots")
        .text()
        .await
        .expect("the whole body");
    let took = started.elapsed();
    eprintln!("slow readers: a {} byte scrape took {took:?}", text.len());
    assert!(text.len() > 4_500_000 && text.contains("tencentcloud_ssl_build_info"));
    // The counter lives in the live tail, rendered at most once a second: wait for it rather
    // than race the cut against the scrape.
    let dropped = r#"tencentcloud_ssl_web_connections_dropped_total{reason="write_timeout"}"#;
    eventually(
        &exporter,
        Duration::from_secs(30),
        "stuck clients counted as cut",
        || async { value_of(&exporter.metrics().await, dropped).unwrap_or_default() >= 1.0 },
    )
    .await;
    drop(stuck);
}

/// One version of a Kubernetes secret volume: `..<version>/{tls.crt,tls.key}`.
fn secret_version(volume: &Path, version: &str, (cert, key): &(String, String)) -> PathBuf {
    let dir = volume.join(format!("..{version}"));
    std::fs::create_dir_all(&dir).expect("version dir");
    std::fs::write(dir.join("tls.crt"), cert).expect("cert");
    std::fs::write(dir.join("tls.key"), key).expect("key");
    private(&dir.join("tls.key"));
    dir
}

/// A client that trusts only `cert` and opens a new connection (so a new handshake) every time.
fn trusting(cert: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_replaced_kubernetes_style_is_served_on_a_later_handshake() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("rotation");
    let volume = dir.join("secret");
    std::fs::create_dir_all(&volume).expect("volume");
    let (old, new) = (
        common::self_signed_localhost(),
        common::self_signed_localhost(),
    );
    // The layout the kubelet makes: files are links through `..data` to a versioned folder.
    secret_version(&volume, "2026_01_01_v1", &old);
    symlink("..2026_01_01_v1", volume.join("..data")).expect("..data");
    symlink("..data/tls.crt", volume.join("tls.crt")).expect("tls.crt");
    symlink("..data/tls.key", volume.join("tls.key")).expect("tls.key");
    let web = dir.join("web.yml");
    write_atomic(
        &web,
        "tls_server_config:\n  cert_file: secret/tls.crt\n  key_file: secret/tls.key\n",
    );
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            format!("--web.config.file={}", web.display()),
        ],
        &[],
    );
    let https = exporter.base.replace("http://", "https://");
    let healthy = format!("{https}/-/healthy");
    let (trusts_old, trusts_new) = (trusting(&old.0), trusting(&new.0));
    common::wait_for_200(&exporter, || trusts_old.get(&healthy)).await;
    assert!(
        trusts_new.get(&healthy).send().await.is_err(),
        "the new certificate is not served yet"
    );

    // The kubelet's update: a new versioned folder, `..data_tmp` pointing at it, renamed over
    // `..data` in one step, the old folder removed.
    secret_version(&volume, "2026_02_01_v2", &new);
    symlink("..2026_02_01_v2", volume.join("..data_tmp")).expect("..data_tmp");
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).expect("atomic swap");
    std::fs::remove_dir_all(volume.join("..2026_01_01_v1")).expect("old version removed");
    let swapped = Instant::now();

    eventually(
        &exporter,
        Duration::from_secs(30),
        "the new certificate",
        || async {
            trusts_new
                .get(&healthy)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    eprintln!(
        "rotation: the new certificate was served {:?} after the swap",
        swapped.elapsed()
    );
    assert!(
        trusts_old.get(&healthy).send().await.is_err(),
        "the old certificate is no longer served"
    );
    let text = common::text_of(&trusts_new, &format!("{https}/metrics")).await;
    assert_eq!(
        value_of(&text, "tencentcloud_ssl_web_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(!exporter.logs().contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_web_config_keeps_the_last_good_one_and_the_reload_metric_says_so() {
    let dir = temp_dir("reload");
    let web = dir.join("web.yml");
    let version = |password: &str, frame: &str| {
        format!(
            "basic_auth_users:\n  prometheus: '{}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: {frame}\n",
            bcrypt::hash(password, 4).expect("hash")
        )
    };
    write_atomic(&web, &version("first-pass", "deny"));
    private(&web);
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            format!("--web.config.file={}", web.display()),
        ],
        &[],
    );
    let client = common::wait_for_200_as(&exporter, "/-/healthy", "prometheus", "first-pass").await;
    let healthy = format!("{}/-/healthy", exporter.base);
    let reload_ok = "tencentcloud_ssl_web_config_last_reload_successful";
    assert_eq!(
        value_of(
            &scrape_as(&client, &exporter, "first-pass").await,
            reload_ok
        ),
        Some(1.0)
    );

    // A broken version: the last good one stays in force, and the metric says the reload failed.
    write_atomic(&web, "basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n");
    eventually(
        &exporter,
        Duration::from_secs(30),
        "the failed reload",
        || async {
            value_of(
                &scrape_as(&client, &exporter, "first-pass").await,
                reload_ok,
            ) == Some(0.0)
        },
    )
    .await;
    let response = client.get(&healthy).send().await.expect("answer");
    assert_eq!(response.status(), 401, "still guarded");
    assert_eq!(response.headers()["x-frame-options"], "deny");
    assert!(
        exporter
            .logs()
            .contains("reloading the web configuration failed"),
        "{}",
        exporter.logs()
    );

    // A good version again: new password and headers from the next request on.
    write_atomic(&web, &version("second-pass", "sameorigin"));
    eventually(
        &exporter,
        Duration::from_secs(30),
        "the new password",
        || async {
            !scrape_as(&client, &exporter, "second-pass")
                .await
                .is_empty()
        },
    )
    .await;
    let text = scrape_as(&client, &exporter, "second-pass").await;
    assert_eq!(value_of(&text, reload_ok), Some(1.0));
    assert!(scrape_as(&client, &exporter, "first-pass").await.is_empty());
    let response = client
        .get(&healthy)
        .basic_auth("prometheus", Some("second-pass"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.headers()["x-frame-options"], "sameorigin");
    let logs = exporter.logs();
    assert!(!logs.contains("first-pass") && !logs.contains("second-pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_collector_shows_success_0_at_once_and_comes_back() {
    // The hidden test hook: the bind collector panics at the start of its first two runs.
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            "--debug.panic-collector=bind:2".to_string(),
        ],
        &[],
    );
    let success = r#"tencentcloud_ssl_collector_success{account="default",collector="bind"}"#;
    let restarts =
        r#"tencentcloud_ssl_collector_restarts_total{account="default",collector="bind"}"#;
    // Polled from the start: the deaths come first, with at least 1 s + 2 s of backoff after.
    let seen_dead = AtomicBool::new(false);
    eventually(
        &exporter,
        Duration::from_secs(60),
        "bind back after two restarts",
        || {
            let (exporter, seen_dead) = (&exporter, &seen_dead);
            async move {
                let text = exporter.metrics().await;
                let (up, restarted) = (value_of(&text, success), value_of(&text, restarts));
                if up == Some(0.0) && restarted.is_some_and(|r| r >= 1.0) {
                    seen_dead.store(true, Ordering::Relaxed);
                }
                up == Some(1.0) && restarted == Some(2.0)
            }
        },
    )
    .await;
    exporter.wait_ready(Duration::from_secs(60)).await;
    assert!(
        seen_dead.load(Ordering::Relaxed),
        "a dead collector showed success 0; logs:\n{}",
        exporter.logs()
    );
    let logs = exporter.logs();
    assert!(logs.contains("collector task panicked"), "{logs}");
    // The other collectors never noticed.
    let text = exporter.metrics().await;
    assert_eq!(
        value_of(
            &text,
            r#"tencentcloud_ssl_collector_success{account="default",collector="certificates"}"#
        ),
        Some(1.0)
    );
}

/// A self-signed client certificate (clientAuth) with the DNS SAN `san`, as one PEM buffer of
/// certificate and key (what `reqwest::Identity::from_pem` reads).
fn client_identity(san: &str) -> reqwest::Identity {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![san.to_string()]).expect("params");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key).expect("cert");
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    reqwest::Identity::from_pem(pem.as_bytes()).expect("identity")
}

/// exporter-toolkit's `web_config_auth_client_san.{good,bad}.yaml` against the real binary: an
/// inline certificate and key, `RequireAnyClientCert` (never verified), and
/// `client_allowed_sans`; a client whose SAN is listed is served, others are refused at the
/// handshake, and the inline key is never logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_admit_only_the_listed_names_on_the_real_binary() {
    let dir = temp_dir("client-sans");
    let (cert, key) = common::self_signed_localhost();
    let indent = |pem: &str| pem.trim_end().replace('\n', "\n    ");
    let web = dir.join("web.yml");
    write_atomic(
        &web,
        &format!(
            "tls_server_config:\n  cert: |\n    {}\n  key: |\n    {}\n  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [one, scraper, two]\n",
            indent(&cert),
            indent(&key)
        ),
    );
    private(&web);
    let exporter = Exporter::spawn(
        &[
            "--demo".to_string(),
            format!("--web.config.file={}", web.display()),
        ],
        &[],
    );
    let healthy = format!("{}/-/healthy", exporter.base.replace("http://", "https://"));
    let client = |identity: Option<reqwest::Identity>| {
        let builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
            .tls_built_in_root_certs(false)
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10));
        match identity {
            Some(identity) => builder.identity(identity),
            None => builder,
        }
        .build()
        .expect("client")
    };
    let listed = client(Some(client_identity("scraper")));
    common::wait_for_200(&exporter, || listed.get(&healthy)).await;
    let unlisted = client(Some(client_identity("stranger")));
    assert!(
        unlisted.get(&healthy).send().await.is_err(),
        "a SAN not in the list is refused"
    );
    assert!(
        client(None).get(&healthy).send().await.is_err(),
        "no client certificate is refused"
    );
    let logs = exporter.logs();
    assert!(!logs.contains("PRIVATE KEY"), "{logs}");
    assert!(
        logs.contains("client certificates are not verified"),
        "{logs}"
    );
}
