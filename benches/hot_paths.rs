//! Criterion benchmarks of the exporter's hot paths: rendering a snapshot, publishing it as
//! prepared exposition bytes, and handing them to a scrape.
//!
//! Run with `cargo bench -p tencentcloud-ssl-exporter` (signing and parsing are benched in
//! `tencentcloud-ssl-api`). Answers come from the simulator's handlers, with real shapes and sizes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use tencentcloud_ssl_api::certificates::DescribeCertificatesResponse;
use tencentcloud_ssl_api::client::parse_response;
use tencentcloud_ssl_exporter::collector::certificates;
use tencentcloud_ssl_exporter::metrics::{series, Exposition, Format, RunReport, SnapshotBuilder};
use tencentcloud_ssl_exporter::telemetry::Telemetry;
use tencentcloud_ssl_simulator::handlers::{respond, Tasks};
use tencentcloud_ssl_simulator::{Dataset, DatasetSpec};

const NOW: i64 = 1_750_000_000;

fn answer(dataset: &Dataset, tasks: &mut Tasks, now_ms: i64, action: &str, body: Value) -> Vec<u8> {
    respond(dataset, tasks, now_ms, action, &body)
}

fn rendering(c: &mut Criterion) {
    let dataset = Dataset::generate(DatasetSpec::new(1, 2000, NOW));
    let page = answer(
        &dataset,
        &mut Tasks::default(),
        NOW * 1000,
        "DescribeCertificates",
        json!({"Offset": 0, "Limit": 1000}),
    );
    let certs = parse_response::<DescribeCertificatesResponse>("D", &page)
        .expect("parses")
        .certificates
        .items;
    let mut group = c.benchmark_group("render");
    group.bench_function("certificates_snapshot_1000", |b| {
        b.iter(|| certificates::snapshot("default", black_box(&certs), &[]))
    });

    // About 10k series: the size of a 2,000-certificate account.
    let mut builder = SnapshotBuilder::new("default");
    for i in 0..10_000u32 {
        let id = format!("cert{:05}", i / 5);
        builder.sample(
            series::BoundResources {
                certificate_id: &id,
                resource_type: "clb",
                region: "ap-guangzhou",
            },
            f64::from(i % 97),
        );
    }
    let snapshot = builder.finish();
    let exposition = Exposition::new(Telemetry::new(), "bench", "bench");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("publish_10k_series_plain_and_gzip", |b| {
        b.iter(|| {
            exposition.publish(
                "default",
                "bind",
                RunReport {
                    snapshot: Some(snapshot.clone()),
                    success: true,
                    duration: Duration::from_secs(1),
                    keep_for: Duration::from_secs(900),
                    ..RunReport::default()
                },
            )
        })
    });
    group.finish();
    c.bench_function("scrape/prepared_gzip", |b| {
        b.iter(|| exposition.prepared(Format::Text, black_box(true)))
    });
    c.bench_function("scrape/prepared_openmetrics_gzip", |b| {
        b.iter(|| exposition.prepared(Format::OpenMetrics, black_box(true)))
    });
}

criterion_group!(benches, rendering);
criterion_main!(benches);
