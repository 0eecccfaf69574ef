//! The simulator's answers, built from its own reading of the docs, decode with this crate's
//! parsers: the two sides were written apart, so agreeing here checks both.

use serde_json::{json, Value};
use tencentcloud_ssl_api::bind::parse_detail_page;
use tencentcloud_ssl_api::client::parse_response;
use tencentcloud_ssl_api::records::{
    detail_request, parse_detail_page as parse_record, RecordKind,
};
use tencentcloud_ssl_simulator::handlers::{respond, Tasks};
use tencentcloud_ssl_simulator::{Dataset, DatasetSpec, RecordKind as SimKind};

fn answer(dataset: &Dataset, tasks: &mut Tasks, now_ms: i64, action: &str, body: Value) -> Value {
    parse_response(action, &respond(dataset, tasks, now_ms, action, &body)).expect("decodes")
}

#[test]
fn bind_details_and_record_details_decode() {
    let dataset = Dataset::generate(DatasetSpec::new(1, 30, 1_750_000_000));
    let mut tasks = Tasks::default();
    let now_ms = dataset.spec.now * 1000;
    let cert = dataset
        .certificates
        .iter()
        .find(|c| {
            !c.task_fails
                && c.bindings
                    .iter()
                    .any(|b| b.instances > 0 && b.error.is_none())
        })
        .expect("a bound certificate");
    let created = answer(
        &dataset,
        &mut tasks,
        now_ms,
        "CreateCertificateBindResourceSyncTask",
        json!({"CertificateIds": [cert.id], "IsCache": 1}),
    );
    let task_id = created["CertTaskIds"][0]["TaskId"].clone();
    let detail = answer(
        &dataset,
        &mut tasks,
        now_ms + 3_600_000,
        "DescribeCertificateBindResourceTaskDetail",
        json!({"TaskId": task_id, "Limit": "100", "Offset": "0"}),
    );
    let page = parse_detail_page(detail.as_object().expect("object")).expect("parses");
    assert_eq!(page.status, Some(1));
    assert!(!page.types.is_empty());

    for (kind, sim_kind, action) in [
        (
            RecordKind::UploadUpdate,
            SimKind::UploadUpdate,
            "DescribeHostUploadUpdateRecordDetail",
        ),
        (
            RecordKind::Update,
            SimKind::Update,
            "DescribeHostUpdateRecordDetail",
        ),
    ] {
        let record = dataset.records_of(sim_kind).next().expect("a record");
        let detail = answer(
            &dataset,
            &mut tasks,
            now_ms,
            action,
            detail_request(kind, &record.id.to_string(), 0),
        );
        let page = parse_record(kind, detail).expect("parses");
        let expected = match kind {
            RecordKind::UploadUpdate => record.entries.len(),
            RecordKind::Update | RecordKind::Deploy => 1,
        };
        assert_eq!(page.entries.len(), expected);
    }
}
