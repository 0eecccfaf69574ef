//! Criterion benchmarks of the client's hot paths: signing a request and parsing API answers.
//!
//! Run with `cargo bench -p tencentcloud-ssl-api`. Answers are produced by the simulator's
//! handlers, so they have the real shapes and sizes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Map, Value};
use tencentcloud_ssl_api::bind::parse_detail_page;
use tencentcloud_ssl_api::certificates::DescribeCertificatesResponse;
use tencentcloud_ssl_api::client::parse_response;
use tencentcloud_ssl_api::records::{self, RecordKind};
use tencentcloud_ssl_api::signing::{sign, SigningInput};
use tencentcloud_ssl_simulator::handlers::{respond, Tasks};
use tencentcloud_ssl_simulator::{Dataset, DatasetSpec, RecordKind as SimRecordKind};

const NOW: i64 = 1_750_000_000;

fn answer(dataset: &Dataset, tasks: &mut Tasks, now_ms: i64, action: &str, body: Value) -> Vec<u8> {
    respond(dataset, tasks, now_ms, action, &body)
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
        .records_of(SimRecordKind::UploadUpdate)
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

criterion_group!(benches, signing, parsing);
criterion_main!(benches);
