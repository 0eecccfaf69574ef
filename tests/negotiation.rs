//! Content negotiation of /metrics with the exact headers Prometheus 2 and 3 send, and plain
//! curl: OpenMetrics 1.0 checked by a parser that is not ours (the reference Python parser),
//! the text format by promtool, and every format also gzipped to the same bytes.

mod common;

use std::io::Read;
use std::time::Duration;

use common::Exporter;

const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Content type and body of /metrics asked with `accept`, and the body again gzipped.
async fn scrape(exporter: &Exporter, accept: Option<&str>) -> (String, String, String) {
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let url = format!("{}/metrics", exporter.base);
    let get = |gzip: bool| {
        let mut request = client.get(&url);
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        if gzip {
            request = request.header("Accept-Encoding", "gzip");
        }
        request
    };
    let plain = get(false).send().await.expect("answer");
    let content_type = plain.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    let text = plain.text().await.expect("body");
    let zipped = get(true).send().await.expect("answer");
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(
        zipped.headers()["content-type"].to_str().ok(),
        Some(content_type.as_str())
    );
    let bytes = zipped.bytes().await.expect("body");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut unzipped)
        .expect("one valid gzip file");
    (content_type, text, unzipped)
}

/// What the reference OpenMetrics parser makes of `text` (None when it is not installed and
/// REQUIRE_PROMETHEUS_CLIENT is not set).
fn parse_openmetrics(text: &str) -> Option<String> {
    let python = common::tool("python3", "REQUIRE_PROMETHEUS_CLIENT")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tools/parse_openmetrics.py"
    );
    let (status, stdout, stderr) = common::run_with_input(&python, &[script], text);
    if status.code() == Some(3) {
        assert!(
            std::env::var_os("REQUIRE_PROMETHEUS_CLIENT").is_none(),
            "REQUIRE_PROMETHEUS_CLIENT is set but prometheus_client is not installed"
        );
        eprintln!("prometheus_client not installed: skipping the OpenMetrics parse");
        return None;
    }
    assert!(
        status.success(),
        "the reference parser refused our OpenMetrics:\n{stderr}"
    );
    Some(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_the_format_it_asks_for() {
    let exporter = Exporter::spawn(&["--demo".to_string()], &[]);
    exporter.wait_ready(Duration::from_secs(60)).await;

    for (accept, content_type) in [
        (
            PROMETHEUS_3,
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        ),
        (
            PROMETHEUS_2,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    ] {
        let (served, text, unzipped) = scrape(&exporter, Some(accept)).await;
        assert_eq!(served, content_type);
        assert!(text.ends_with("\n# EOF\n"), "OpenMetrics ends with # EOF");
        assert_eq!(text.matches("# EOF").count(), 1);
        assert_eq!(unzipped.len(), text.len());
        assert!(unzipped.ends_with("\n# EOF\n"));
        for line in [
            "# TYPE tencentcloud_ssl_decode_errors counter",
            "# TYPE tencentcloud_ssl_certificate info",
            "# UNIT tencentcloud_ssl_certificate_not_after_timestamp_seconds seconds",
            "# TYPE tencentcloud_ssl_api_requests counter",
            "# UNIT tencentcloud_ssl_api_request_duration_seconds seconds",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} missing");
        }
        if let Some(families) = parse_openmetrics(&text) {
            for family in [
                "tencentcloud_ssl_certificate info - ",
                "tencentcloud_ssl_certificate_not_after_timestamp_seconds gauge seconds ",
                "tencentcloud_ssl_decode_errors counter - ",
                "tencentcloud_ssl_api_request_duration_seconds histogram seconds ",
                "tencentcloud_ssl_build info - 1",
            ] {
                assert!(
                    families.contains(family),
                    "{family} not parsed:\n{families}"
                );
            }
        }
    }

    // curl, and a client that asks for the text format by name (1.0.0 is the same text here).
    for (accept, content_type) in [
        (None, "text/plain; version=0.0.4; charset=utf-8"),
        (Some("*/*"), "text/plain; version=0.0.4; charset=utf-8"),
        (
            Some("text/plain;version=1.0.0;escaping=underscores"),
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
        ),
    ] {
        let (served, text, unzipped) = scrape(&exporter, accept).await;
        assert_eq!(served, content_type);
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        assert!(text.contains("\n# TYPE tencentcloud_ssl_decode_errors_total counter\n"));
        assert_eq!(unzipped.len(), text.len());
        common::promtool_check_metrics(&text);
    }
}
