//! The HTTP server under abuse: idle and slow clients cannot starve scrapes, clients that never
//! read are cut and free their slots, the rate limit answers 429, and a burst of concurrent
//! scrapers gets only correct answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::{series, Exposition, RunReport, SnapshotBuilder};
use crate::readiness::Readiness;
use crate::telemetry::Telemetry;
use crate::web::server::{self, ServerConfig, ServerState};
use crate::web::{FrontDoor, WebConfig};

/// A server with 2,000 series on a free port, its address, and the handle that stops it.
async fn serve(
    max_connections: usize,
    header_read_timeout: Duration,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = ServerConfig {
        max_connections,
        header_read_timeout,
        ..ServerConfig::default()
    };
    let (addr, stop, _) = serve_with(config, WebConfig::default(), 2000).await;
    (addr, stop)
}

/// A server with `series` series, `config` and `web`; also returns its telemetry.
async fn serve_with(
    config: ServerConfig,
    web: WebConfig,
    series: usize,
) -> (String, tokio::sync::oneshot::Sender<()>, Telemetry) {
    let telemetry = Telemetry::new();
    let exposition = Arc::new(Exposition::new(telemetry.clone(), "test", "test"));
    let mut builder = SnapshotBuilder::new("default");
    for i in 0..series {
        let certificate_id = format!("cert-{i}");
        builder.sample(
            series::CertificateNotAfter {
                certificate_id: &certificate_id,
            },
            1.7e9,
        );
    }
    exposition.publish(
        "default",
        "certificates",
        RunReport {
            snapshot: Some(builder.finish()),
            success: true,
            duration: Duration::from_secs(1),
            keep_for: Duration::from_secs(600),
            ..RunReport::default()
        },
    );
    let state = Arc::new(ServerState {
        config,
        web: Arc::new(FrontDoor::new(None, web, telemetry.clone())),
        exposition,
        readiness: Arc::new(Readiness::new(telemetry.clone())),
        telemetry: telemetry.clone(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(vec![listener], state, async move {
        let _ = stopped.await;
    }));
    (addr, stop, telemetry)
}

/// A client that asks for `/metrics` with a small receive window and never reads the answer.
async fn never_reads(addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket
        .connect(addr.parse().expect("address"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    stream
}

fn counter(telemetry: &Telemetry, series: &str) -> f64 {
    telemetry
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_are_cut_and_free_their_slots() {
    let config = ServerConfig {
        max_connections: 4,
        write_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    // About 4 MB of plain text: far more than the socket buffers of a client that never reads.
    let (addr, _stop, telemetry) = serve_with(config, WebConfig::default(), 40_000).await;
    let mut stuck = Vec::new();
    for _ in 0..8 {
        stuck.push(never_reads(&addr).await);
    }
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("answered despite clients that never read");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("a whole body");
    assert!(body.contains("cert-39999"));
    let cut = r#"tencentcloud_ssl_web_connections_dropped_total{reason="write_timeout"}"#;
    assert!(counter(&telemetry, cut) >= 4.0, "{}", telemetry.render());
    drop(stuck);
}

/// Waits (up to a generous bound, so a regression fails instead of hanging) until `series` of
/// `telemetry` reaches `at_least`; returns its last value.
async fn wait_for_counter(telemetry: &Telemetry, series: &str, at_least: f64) -> f64 {
    for _ in 0..600 {
        let value = counter(telemetry, series);
        if value >= at_least {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    counter(telemetry, series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reading_a_trickle_is_cut_at_the_response_timeout() {
    let config = ServerConfig {
        max_connections: 4,
        // Each pause of the client below is far shorter than this: the stall clock never runs
        // out, only the response deadline can end the connection.
        write_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    // About 4 MB: a trickle of 4 KB per pause would take minutes to read it all.
    let (addr, _stop, telemetry) = serve_with(config, WebConfig::default(), 40_000).await;
    let mut stream = never_reads(&addr).await;
    let mut cut = false;
    // A bound, not an assertion on time: without the response deadline the client would read
    // for minutes; it gives up after this many pauses and the counter assertion fails.
    for _ in 0..150 {
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                cut = true;
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(cut, "a client reading a trickle is disconnected");
    let response_timeout =
        r#"tencentcloud_ssl_web_connections_dropped_total{reason="response_timeout"}"#;
    assert_eq!(
        wait_for_counter(&telemetry, response_timeout, 1.0).await,
        1.0,
        "{}",
        telemetry.render()
    );
    let write_timeout = r#"tencentcloud_ssl_web_connections_dropped_total{reason="write_timeout"}"#;
    assert_eq!(
        counter(&telemetry, write_timeout),
        0.0,
        "{}",
        telemetry.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_gets_a_new_response_deadline_per_request() {
    let config = ServerConfig {
        response_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let (addr, _stop, telemetry) = serve_with(config, WebConfig::default(), 20_000).await;
    // One connection (at most one idle in the pool), reused for every scrape.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let url = format!("http://{addr}/metrics");
    for _ in 0..3 {
        let body = client
            .get(&url)
            .send()
            .await
            .expect("answered")
            .text()
            .await
            .expect("a whole body");
        assert!(body.contains("cert-19999"));
        // Idle past the first response's deadline: the next response has its own.
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let response_timeout =
        r#"tencentcloud_ssl_web_connections_dropped_total{reason="response_timeout"}"#;
    assert_eq!(counter(&telemetry, response_timeout), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_429_and_counted() {
    let web = WebConfig::parse(
        "rate_limit:\n  interval: 1h\n  burst: 2\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        std::path::Path::new("."),
    )
    .expect("valid");
    let (addr, _stop, telemetry) = serve_with(ServerConfig::default(), web, 10).await;
    let url = format!("http://{addr}/-/healthy");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = reqwest::get(&url).await.expect("answer");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert_eq!(response.headers()["x-frame-options"], "deny");
            assert_eq!(response.text().await.expect("body"), "Too Many Requests\n");
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let limited = r#"tencentcloud_ssl_web_requests_rejected_total{reason="rate_limited"}"#;
    assert_eq!(counter(&telemetry, limited), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_password_is_answered_during_a_storm_of_guesses() {
    let hash = bcrypt::hash("right", 8).expect("hash");
    let web = WebConfig::parse(
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
        std::path::Path::new("."),
    )
    .expect("valid");
    let (addr, _stop, telemetry) = serve_with(ServerConfig::default(), web, 10).await;
    let url = format!("http://{addr}/metrics");
    let client = reqwest::Client::new();
    // The first right scrape pays for one hash; later ones are answered from the cache.
    let first = client
        .get(&url)
        .basic_auth("prometheus", Some("right"))
        .send()
        .await
        .expect("answer");
    assert_eq!(first.status(), 200);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut storm = Vec::new();
    for worker in 0..16 {
        let (client, url, stop) = (client.clone(), url.clone(), Arc::clone(&stop));
        storm.push(tokio::spawn(async move {
            let mut guess = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                guess += 1;
                let _ = client
                    .get(&url)
                    .basic_auth("prometheus", Some(format!("guess-{worker}-{guess}")))
                    .send()
                    .await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..20 {
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            client
                .get(&url)
                .basic_auth("prometheus", Some("right"))
                .send(),
        )
        .await
        .expect("not queued behind the guesses")
        .expect("answer");
        assert_eq!(answer.status(), 200);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in storm {
        let _ = task.await;
    }
    let refused = r#"tencentcloud_ssl_web_requests_rejected_total{reason="unauthorized"}"#;
    assert!(counter(&telemetry, refused) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_are_reaped_and_scrapes_still_answer() {
    let (addr, _stop) = serve(16, Duration::from_millis(500)).await;
    // Twice the connection cap of clients that connect and send nothing.
    let mut idle = Vec::new();
    for _ in 0..32 {
        idle.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    let started = Instant::now();
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("answered despite idle clients");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("body").contains("cert-1999"));
    // Idle clients are cut after the header timeout, so the wait is bounded by it, not by them.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut closed = 0;
    for mut stream in idle {
        let mut buf = [0u8; 1];
        if matches!(
            tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        ) {
            closed += 1;
        }
    }
    assert!(
        closed >= 16,
        "idle connections are closed by the server: {closed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off() {
    let (addr, _stop) = serve(64, Duration::from_millis(500)).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let started = Instant::now();
    let mut cut = false;
    for byte in
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            if n == 0 || !String::from_utf8_lossy(&buf[..n]).contains("200 OK") {
                cut = true;
                break;
            }
        }
    }
    assert!(cut, "a client trickling its headers is disconnected");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_scrapers_gets_only_correct_answers() {
    let (addr, _stop) = serve(512, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");
    let expected_len = client
        .get(&url)
        .send()
        .await
        .expect("scrape")
        .bytes()
        .await
        .expect("body")
        .len();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..10 {
                let response = client.get(&url).send().await.expect("answered");
                assert_eq!(response.status(), 200);
                let body = response.bytes().await.expect("body");
                assert!(body.len() >= expected_len - 64 && body.len() <= expected_len + 4096);
                ok += 1;
            }
            ok
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("scraper");
    }
    assert_eq!(total, 2000, "every scrape answered");
}
