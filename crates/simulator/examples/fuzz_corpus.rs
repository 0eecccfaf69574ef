//! Writes a seed corpus for the fuzz targets from the simulator's answers and the shipped
//! configuration files: `cargo run -p tencentcloud-ssl-simulator --example fuzz_corpus -- fuzz/corpus`
//! (from the repository root, where the shipped configuration files are).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tencentcloud_ssl_simulator::handlers::{respond, Tasks};
use tencentcloud_ssl_simulator::{Dataset, DatasetSpec, RecordKind};

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus folder");
    std::fs::write(dir.join(name), data).expect("corpus file");
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let now = 1_750_000_000;
    let dataset = Dataset::generate(DatasetSpec::new(3, 40, now));
    let mut tasks = Tasks::default();
    let mut answer =
        |action: &str, body: Value, at_ms: i64| respond(&dataset, &mut tasks, at_ms, action, &body);
    let api = out.join("api_responses");
    let ms = now * 1000;
    write(
        &api,
        "certificates",
        &answer("DescribeCertificates", json!({"Limit": 5}), ms),
    );
    let ids: Vec<String> = dataset
        .certificates
        .iter()
        .take(5)
        .map(|c| c.id.clone())
        .collect();
    let created = answer(
        "CreateCertificateBindResourceSyncTask",
        json!({"CertificateIds": ids}),
        ms,
    );
    write(&api, "create", &created);
    let created: Value = serde_json::from_slice(&created).expect("json");
    let task_ids: Vec<Value> = created["Response"]["CertTaskIds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["TaskId"].clone())
        .collect();
    write(
        &api,
        "result",
        &answer(
            "DescribeCertificateBindResourceTaskResult",
            json!({"TaskIds": task_ids}),
            ms + 10_000,
        ),
    );
    for (i, task) in task_ids.iter().enumerate() {
        let detail = answer(
            "DescribeCertificateBindResourceTaskDetail",
            json!({"TaskId": task, "Limit": "3"}),
            ms + 10_000,
        );
        write(&api, &format!("detail-{i}"), &detail);
    }
    for kind in [
        RecordKind::UploadUpdate,
        RecordKind::Update,
        RecordKind::Deploy,
    ] {
        let (list, detail) = match kind {
            RecordKind::UploadUpdate => (
                "DescribeHostUploadUpdateRecord",
                "DescribeHostUploadUpdateRecordDetail",
            ),
            RecordKind::Update => ("DescribeHostUpdateRecord", "DescribeHostUpdateRecordDetail"),
            RecordKind::Deploy => ("DescribeHostDeployRecord", "DescribeHostDeployRecordDetail"),
        };
        if let Some(record) = dataset.records_of(kind).next() {
            let list_request = json!({"Limit": 3, "CertificateId": record.cert_id});
            write(&api, list, &answer(list, list_request, ms));
            // The documented types: integers for upload updates and deploys, strings for updates.
            let request = match kind {
                RecordKind::UploadUpdate => {
                    json!({"DeployRecordId": record.id, "Limit": 200, "Offset": 0})
                }
                RecordKind::Update => {
                    json!({"DeployRecordId": record.id.to_string(), "Limit": "200", "Offset": "0"})
                }
                RecordKind::Deploy => {
                    json!({"DeployRecordId": record.id.to_string(), "Limit": 200, "Offset": 0})
                }
            };
            write(&api, detail, &answer(detail, request, ms));
        }
    }
    write(
        &api,
        "error",
        br#"{"Response":{"Error":{"Code":"InternalError","Message":"x"},"RequestId":"r"}}"#,
    );
    let config = out.join("config_files");
    for (name, path) in [
        ("example", "deploy/config.example.yml"),
        ("kubernetes", "deploy/kubernetes/base/config.yml"),
    ] {
        write(&config, name, &std::fs::read(path).expect("shipped config"));
    }
    write(&config, "web", b"basic_auth_users:\n  a: '$2y$04$abcdefghijklmnopqrstuuWmQnN7zvx8GJYvY3HtYjUB3oDC3cWMq'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n");
    let text = out.join("text_fields");
    for (i, sample) in ["2025-05-20 15:03:17", "2025-05-20T07:03:17.000000Z", "1h30m", "250ms",
        "TC3-HMAC-SHA256 Credential=a/2024-01-01/ssl/tc3_request, SignedHeaders=content-type;host, Signature=ff",
        "证书 \"x\" \\ y\nz"]
    .iter()
    .enumerate()
    {
        write(&text, &format!("seed-{i}"), sample.as_bytes());
    }
    println!("corpus written to {}", out.display());
}
