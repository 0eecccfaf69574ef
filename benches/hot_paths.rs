//! Criterion benchmarks of the hot paths: signing a request, parsing API answers, and rendering
//! a snapshot into prepared exposition bytes.
//!
//! Run with `cargo bench --bench hot_paths`. Answers are produced by the simulator's handlers, so
//! they have the real shapes and sizes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Map, Value};
use tencentcloud_ssl_exporter::api::bind::parse_detail_page;
use tencentcloud_ssl_exporter::api::certificates::DescribeCertificatesResponse;
use tencentcloud_ssl_exporter::api::records::{self, RecordKind};
use tencentcloud_ssl_exporter::client::parse_response;
use tencentcloud_ssl_exporter::collector::certificates;
use tencentcloud_ssl_exporter::metrics::exposition::RunReport;
use tencentcloud_ssl_exporter::metrics::{Exposition, Family, SnapshotBuilder};
use tencentcloud_ssl_exporter::signing::{sign, SigningInput};
use tencentcloud_ssl_exporter::simulator::handlers::{handle, Ctx, Tasks};
use tencentcloud_ssl_exporter::simulator::{Dataset, DatasetSpec};
use tencentcloud_ssl_exporter::telemetry::Telemetry;

const NOW: i64 = 1_750_000_000;

fn answer(dataset: &Dataset, tasks: &mut Tasks, now_ms: i64, action: &str, body: Value) -> Vec<u8> {
    let mut ctx = Ctx {
        dataset,
        tasks,
        now_ms,
        list_limit_cap: None,
    };
    let request: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    let response = handle(&mut ctx, action, &request).expect("simulator answers");
    json!({"Response": response}).to_string().into_bytes()
}

fn signing(c: &mut Criterion) {
    let payload = br#"{"TaskId":"758001","Limit":"100","Offset":"0"}"#;
    c.bench_function("sign/detail_request", |b| {
        b.iter(|| {
            sign(black_box(&SigningInput {
                secret_id: "AKIDEXAMPLEEXAMPLEEXAMPLEEXAMPLE0001",
                secret_key: "ExampleSecretKeyExampleSecretKey",
                timestamp: NOW,
                host: "ssl.tencentcloudapi.com",
                service: "ssl",
                content_type: "application/json",
                payload,
            }))
        })
    });
}

fn parsing(c: &mut Criterion) {
    let dataset = Dataset::generate(DatasetSpec::new(1, 1000, NOW));
    let mut tasks = Tasks::default();
    let now_ms = NOW * 1000;
    let page = answer(
        &dataset,
        &mut tasks,
        now_ms,
        "DescribeCertificates",
        json!({"Offset": 0, "Limit": 1000}),
    );
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(page.len() as u64));
    group.bench_function("describe_certificates_1000", |b| {
        b.iter(|| {
            parse_response::<DescribeCertificatesResponse>("DescribeCertificates", black_box(&page))
                .expect("parses")
        })
    });

    // The bind detail of the certificate with the most instances.
    let cert = dataset
        .certificates
        .iter()
        .filter(|c| !c.task_fails)
        .max_by_key(|c| c.bindings.iter().map(|b| b.instances).sum::<u64>())
        .expect("a bound certificate");
    let created = answer(
        &dataset,
        &mut tasks,
        now_ms,
        "CreateCertificateBindResourceSyncTask",
        json!({"CertificateIds": [cert.id], "IsCache": 1}),
    );
    let created: Value = serde_json::from_slice(&created).expect("json");
    let task_id = created["Response"]["CertTaskIds"][0]["TaskId"].clone();
    let detail = answer(
        &dataset,
        &mut tasks,
        now_ms + 3_600_000,
        "DescribeCertificateBindResourceTaskDetail",
        json!({"TaskId": task_id, "Limit": "100", "Offset": "0"}),
    );
    group.throughput(Throughput::Bytes(detail.len() as u64));
    group.bench_function("bind_detail_page", |b| {
        b.iter(|| {
            let response: Map<String, Value> =
                parse_response("D", black_box(&detail)).expect("parses");
            parse_detail_page(&response).expect("parses")
        })
    });

    let record = dataset
        .records_of(RecordKind::UploadUpdate)
        .max_by_key(|r| r.entries.iter().map(|e| e.items.len()).sum::<usize>())
        .expect("a record");
    let record_detail = answer(
        &dataset,
        &mut tasks,
        now_ms,
        "DescribeHostUploadUpdateRecordDetail",
        records::detail_request(RecordKind::UploadUpdate, &record.id.to_string(), 0),
    );
    group.throughput(Throughput::Bytes(record_detail.len() as u64));
    group.bench_function("upload_update_record_detail_page", |b| {
        b.iter(|| {
            let response: Value = parse_response("D", black_box(&record_detail)).expect("parses");
            records::parse_detail_page(RecordKind::UploadUpdate, response).expect("parses")
        })
    });
    group.finish();
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
        .certificates;
    let mut group = c.benchmark_group("render");
    group.bench_function("certificates_snapshot_1000", |b| {
        b.iter(|| certificates::snapshot("default", black_box(&certs)))
    });

    // About 10k series: the size of a 2,000-certificate account.
    let mut builder = SnapshotBuilder::new("default");
    for i in 0..10_000u32 {
        let id = format!("cert{:05}", i / 5);
        builder.sample(
            Family::BoundResources,
            &[&id, "clb", "ap-guangzhou"],
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
                },
            )
        })
    });
    group.finish();
    c.bench_function("scrape/prepared_gzip", |b| {
        b.iter(|| exposition.prepared(black_box(true)))
    });
}

criterion_group!(benches, signing, parsing, rendering);
criterion_main!(benches);
