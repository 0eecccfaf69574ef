//! The HTTP server under abuse: idle and slow clients cannot starve scrapes, and a burst of
//! concurrent scrapers gets only correct answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::{Exposition, Family, RunReport, SnapshotBuilder};
use crate::readiness::Readiness;
use crate::server::{self, ServerConfig, ServerState};
use crate::telemetry::Telemetry;
use crate::web_config::WebConfig;

/// A server with 2,000 series on a free port, its address, and the handle that stops it.
async fn serve(
    max_connections: usize,
    header_read_timeout: Duration,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let exposition = Arc::new(Exposition::new(Telemetry::new(), "test", "test"));
    let mut builder = SnapshotBuilder::new("default");
    for i in 0..2000 {
        builder.sample(Family::CertificateNotAfter, &[&format!("cert-{i}")], 1.7e9);
    }
    exposition.publish(
        "default",
        "certificates",
        RunReport {
            snapshot: Some(builder.finish()),
            success: true,
            duration: Duration::from_secs(1),
            keep_for: Duration::from_secs(600),
        },
    );
    let state = Arc::new(ServerState {
        config: ServerConfig {
            max_connections,
            header_read_timeout,
            ..ServerConfig::default()
        },
        web: WebConfig::default(),
        exposition,
        readiness: Arc::new(Readiness::new()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, state, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
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
