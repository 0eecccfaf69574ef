//! The landing page in a real browser (Debian's headless Chromium): the demo's page answers "is
//! it working?" — every collector's result, the headline numbers, the certificates about to
//! expire — and the certificate alias the demo writes as HTML is shown as text, never run.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Exporter;
use tencentcloud_ssl_simulator::Dataset;

/// Headless Chromium as the workplace runs it: no sandbox (root), no network of its own.
fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let path = common::tool("chromium", "REQUIRE_CHROMIUM").expect("checked by the caller");
    Command::new(path)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_says_whether_it_works_and_runs_no_api_string() {
    if common::tool("chromium", "REQUIRE_CHROMIUM").is_none() {
        return;
    }
    let exporter = Exporter::spawn(&["--demo".to_string()], &[]);
    exporter.wait_collected(Duration::from_secs(60)).await;
    let url = format!("{}/", exporter.base);
    let profile = std::env::temp_dir().join(format!("landing-chromium-{}", std::process::id()));

    let dom = chromium(&["--dump-dom", &url], &profile);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.contains("<title>Tencent Cloud SSL Exporter</title>"),
        "the alias's onerror did not run:\n{dom}"
    );
    // The alias is text in a table cell: no element came from it.
    assert!(!dom.contains("<img"), "{dom}");
    let shown = Dataset::HOSTILE_ALIAS
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(dom.contains(&shown), "the alias is shown as text:\n{dom}");
    for expected in [
        "Account default",
        "certificates expiring within 30 days",
        "rollout records with a failed operation",
        "endpoints serving another certificate",
        "<td>certificates</td>",
        "<td>bind</td>",
        "<td>upload_update</td>",
        "<td>endpoints</td>",
        "API answers so far:",
        "href=\"metrics\"",
    ] {
        assert!(dom.contains(expected), "{expected} missing:\n{dom}");
    }

    let screenshot = profile.join("landing.png");
    let shot = chromium(
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,1000",
            &url,
        ],
        &profile,
    );
    let png = std::fs::read(&screenshot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    // LANDING_SCREENSHOT=path keeps it (the README's picture is made this way from the demo).
    if let Some(keep) = std::env::var_os("LANDING_SCREENSHOT") {
        std::fs::write(keep, &png).expect("write the screenshot");
    }
    let _ = std::fs::remove_dir_all(&profile);
}
