//! The official example answers, replayed: every example of every action the exporter calls
//! (vendored from `tccli`'s `examples.json`, see `fixtures/tccli-examples.json` for the source)
//! decodes to exactly the values it states, and variants of each (integers for strings and
//! strings for integers, unknown extra fields, every field null, empty lists, an unknown
//! resource type) never fail the answer: at most the items they break are skipped.

use serde_json::{Map, Value};
use tencentcloud_ssl_api::bind::{
    parse_detail_page, CreateSyncTaskResponse, TaskResultResponse, TaskStatus,
};
use tencentcloud_ssl_api::certificates::{normalized_type, DescribeCertificatesResponse};
use tencentcloud_ssl_api::client::parse_response;
use tencentcloud_ssl_api::records::{
    parse_detail_page as parse_record, DeployStatus, ListResponse, RecordKind,
};
use tencentcloud_ssl_api::time::parse_api_time;

fn examples(action: &str) -> Vec<(String, Value)> {
    let text = include_str!("fixtures/tccli-examples.json");
    let all: Value = serde_json::from_str(text).expect("fixture is JSON");
    let list = all["actions"][action]
        .as_array()
        .expect("action in the fixture");
    assert!(!list.is_empty(), "{action} has examples");
    list.iter()
        .map(|e| {
            (
                e["title"].as_str().unwrap_or_default().to_string(),
                e["output"].clone(),
            )
        })
        .collect()
}

fn body(output: &Value) -> Vec<u8> {
    output.to_string().into_bytes()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn describe_certificates_examples_state_what_we_export() {
    for (title, output) in examples("DescribeCertificates") {
        let page: DescribeCertificatesResponse =
            parse_response("DescribeCertificates", &body(&output)).expect(&title);
        let raw = output["Response"]["Certificates"].as_array().expect("list");
        assert_eq!(
            page.total_count,
            output["Response"]["TotalCount"].as_u64().expect("n")
        );
        assert!(
            page.certificates.skipped.is_empty(),
            "{title}: {:?}",
            page.certificates.skipped
        );
        assert_eq!(page.certificates.items.len(), raw.len(), "{title}");
        for (cert, raw) in page.certificates.items.iter().zip(raw) {
            assert_eq!(cert.certificate_id, text(&raw["CertificateId"]), "{title}");
            assert_eq!(cert.domain, text(&raw["Domain"]), "{title}");
            assert_eq!(cert.alias, text(&raw["Alias"]), "{title}");
            assert_eq!(cert.status, raw["Status"].as_i64(), "{title}");
            let kind = normalized_type(&cert.certificate_type);
            assert!(kind == "SVR" || kind == "CA", "{title}: {kind}");
            assert!(
                parse_api_time(&cert.cert_end_time).is_some(),
                "{title}: end time"
            );
            assert_eq!(
                cert.hosting_status,
                raw["HostingStatus"].as_i64(),
                "{title}"
            );
            assert_eq!(cert.deployable, raw["Deployable"].as_bool(), "{title}");
            assert_eq!(cert.is_expiring, raw["IsExpiring"].as_bool(), "{title}");
            assert_eq!(cert.has_renew_order, text(&raw["HasRenewOrder"]), "{title}");
            assert_eq!(
                cert.hosting_renew_cert_id,
                text(&raw["HostingRenewCertId"]),
                "{title}"
            );
        }
    }
    // The first example answers `svr` where the docs say `SVR`.
    let (_, first) = &examples("DescribeCertificates")[0];
    let page: DescribeCertificatesResponse =
        parse_response("DescribeCertificates", &body(first)).expect("ok");
    assert_eq!(
        normalized_type(&page.certificates.items[0].certificate_type),
        "SVR"
    );
}

#[test]
fn bind_task_examples() {
    for (title, output) in examples("CreateCertificateBindResourceSyncTask") {
        let created: CreateSyncTaskResponse = parse_response("C", &body(&output)).expect(&title);
        let raw = output["Response"]["CertTaskIds"].as_array().expect("list");
        assert_eq!(created.cert_task_ids.items.len(), raw.len());
        for (pair, raw) in created.cert_task_ids.items.iter().zip(raw) {
            assert_eq!(pair.cert_id, text(&raw["CertId"]));
            assert_eq!(pair.task_id, text(&raw["TaskId"]));
        }
    }
    for (title, output) in examples("DescribeCertificateBindResourceTaskResult") {
        let results: TaskResultResponse = parse_response("R", &body(&output)).expect(&title);
        let raw = output["Response"]["SyncTaskBindResourceResult"]
            .as_array()
            .expect("list");
        assert_eq!(
            results.sync_task_bind_resource_result.items.len(),
            raw.len()
        );
        for (result, raw) in results.sync_task_bind_resource_result.items.iter().zip(raw) {
            assert_eq!(result.task_id, text(&raw["TaskId"]));
            assert_eq!(result.cache_time, text(&raw["CacheTime"]));
            assert_eq!(TaskStatus::from_code(result.status), TaskStatus::Succeeded);
            let counts: u64 = raw["BindResourceResult"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| {
                    t["BindResourceRegionResult"]
                        .as_array()
                        .into_iter()
                        .flatten()
                })
                .filter_map(|r| r["TotalCount"].as_u64())
                .sum();
            assert_eq!(result.has_bound_resources(), counts > 0, "{title}");
        }
    }
    for (title, output) in examples("DescribeCertificateBindResourceTaskDetail") {
        let response: Map<String, Value> = parse_response("D", &body(&output)).expect(&title);
        let page = parse_detail_page(&response).expect(&title);
        assert!(page.skipped.is_empty(), "{title}: {:?}", page.skipped);
        for (key, value) in &response {
            let Some(entries) = value.as_array() else {
                continue;
            };
            if !entries.iter().all(Value::is_object) || key == "RequestId" {
                continue;
            }
            let regions = &page.types[&key.to_ascii_lowercase()];
            assert_eq!(regions.len(), entries.len(), "{title}: {key}");
            for (region, raw) in regions.iter().zip(entries) {
                assert_eq!(
                    region.total_count,
                    raw["TotalCount"].as_u64(),
                    "{title}: {key}"
                );
                assert_eq!(region.region, text(&raw["Region"]), "{title}: {key}");
            }
        }
    }
}

#[test]
fn record_list_examples_including_an_undocumented_status() {
    for (action, kind) in [
        ("DescribeHostUploadUpdateRecord", RecordKind::UploadUpdate),
        ("DescribeHostUpdateRecord", RecordKind::Update),
        ("DescribeHostDeployRecord", RecordKind::Deploy),
    ] {
        for (title, output) in examples(action) {
            let list: ListResponse = parse_response(action, &body(&output)).expect(&title);
            let raw = output["Response"]["DeployRecordList"]
                .as_array()
                .expect("list");
            assert!(list.deploy_record_list.skipped.is_empty(), "{title}");
            assert_eq!(list.deploy_record_list.items.len(), raw.len(), "{title}");
            for (row, raw) in list.deploy_record_list.items.iter().zip(raw) {
                assert_eq!(row.id, text(&raw["Id"]));
                assert_eq!(row.status, raw["Status"].as_i64());
                assert_eq!(row.create_time, text(&raw["CreateTime"]));
                assert_eq!(row.certificate_id(kind), {
                    let key = if kind == RecordKind::UploadUpdate {
                        "OldCertId"
                    } else {
                        "CertId"
                    };
                    text(&raw[key])
                });
                if kind == RecordKind::Deploy {
                    assert_eq!(row.resource_type, text(&raw["ResourceType"]));
                    assert_eq!(row.region, text(&raw["Region"]));
                }
            }
        }
    }
    let (_, upload) = &examples("DescribeHostUploadUpdateRecord")[0];
    let list: ListResponse = parse_response("U", &body(upload)).expect("ok");
    let statuses: Vec<DeployStatus> = list
        .deploy_record_list
        .items
        .iter()
        .filter_map(|r| r.status.map(DeployStatus::from_code))
        .collect();
    assert!(
        statuses.contains(&DeployStatus::Unknown),
        "the official example answers Status 7, which no doc lists: {statuses:?}"
    );
}

#[test]
fn record_detail_examples() {
    for (action, kind) in [
        (
            "DescribeHostUploadUpdateRecordDetail",
            RecordKind::UploadUpdate,
        ),
        ("DescribeHostUpdateRecordDetail", RecordKind::Update),
        ("DescribeHostDeployRecordDetail", RecordKind::Deploy),
    ] {
        for (title, output) in examples(action) {
            let response: Value = parse_response(action, &body(&output)).expect(&title);
            let page = parse_record(kind, response.clone()).expect(&title);
            assert!(page.skipped.is_empty(), "{title}: {:?}", page.skipped);
            let items_stated: usize = match kind {
                RecordKind::Deploy => response["DeployRecordDetailList"]
                    .as_array()
                    .map_or(0, Vec::len),
                RecordKind::Update => response["RecordDetailList"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| t["List"].as_array().map_or(0, Vec::len))
                    .sum(),
                RecordKind::UploadUpdate => response["DeployRecordDetail"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|e| e["RecordDetailList"].as_array().into_iter().flatten())
                    .map(|t| t["List"].as_array().map_or(0, Vec::len))
                    .sum(),
            };
            let items_read: usize = page
                .entries
                .iter()
                .flat_map(|(_, e)| e.types.values().map(|t| t.items.len()))
                .sum();
            assert_eq!(items_read, items_stated, "{title}");
            if kind != RecordKind::UploadUpdate {
                let (_, entry) = &page.entries[0];
                assert_eq!(
                    entry.totals.total_count,
                    response["TotalCount"].as_u64().unwrap_or(0),
                    "{title}"
                );
                assert_eq!(
                    entry.totals.success_total_count,
                    response["SuccessTotalCount"].as_u64().unwrap_or(0),
                    "{title}"
                );
            }
        }
    }
}

/// Every variant of `value`: each scalar retyped (integers as strings, numeric strings as
/// integers), every object given an unknown field, every field null, every list empty.
fn variants(value: &Value) -> Vec<(&'static str, Value)> {
    fn map(value: &Value, f: &dyn Fn(&str, &Value) -> Option<Value>) -> Value {
        match value {
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), f(k, v).unwrap_or_else(|| map(v, f))))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| map(v, f)).collect()),
            other => other.clone(),
        }
    }
    let retyped = map(value, &|_, v| match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(Value::String(n.to_string())),
        Value::String(s)
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() < 18 =>
        {
            s.parse::<u64>().ok().map(Value::from)
        }
        _ => None,
    });
    fn extra(value: &Value) -> Value {
        match value {
            Value::Object(o) => {
                let mut o: Map<String, Value> =
                    o.iter().map(|(k, v)| (k.clone(), extra(v))).collect();
                o.insert(
                    "ZzUndocumentedField".into(),
                    serde_json::json!({"Nested": [1, "x"]}),
                );
                Value::Object(o)
            }
            Value::Array(a) => Value::Array(a.iter().map(extra).collect()),
            other => other.clone(),
        }
    }
    let nulled = map(value, &|k, _| {
        (k != "Response" && k != "RequestId").then_some(Value::Null)
    });
    let emptied = map(value, &|_, v| {
        v.is_array().then(|| Value::Array(Vec::new()))
    });
    vec![
        ("retyped", retyped),
        ("extra fields", extra(value)),
        ("all null", nulled),
        ("empty lists", emptied),
    ]
}

#[test]
fn variants_of_every_example_never_fail_the_answer() {
    let actions = [
        "DescribeCertificates",
        "CreateCertificateBindResourceSyncTask",
        "DescribeCertificateBindResourceTaskResult",
        "DescribeCertificateBindResourceTaskDetail",
        "DescribeHostUploadUpdateRecord",
        "DescribeHostUploadUpdateRecordDetail",
        "DescribeHostUpdateRecord",
        "DescribeHostUpdateRecordDetail",
        "DescribeHostDeployRecord",
        "DescribeHostDeployRecordDetail",
    ];
    for action in actions {
        for (title, output) in examples(action) {
            for (variant, changed) in variants(&output) {
                let bytes = body(&changed);
                let what = format!("{action} / {title} / {variant}");
                match action {
                    "DescribeCertificates" => {
                        let page: DescribeCertificatesResponse =
                            parse_response(action, &bytes).expect(&what);
                        if variant != "all null" {
                            assert!(page.certificates.skipped.is_empty(), "{what}");
                        }
                    }
                    "CreateCertificateBindResourceSyncTask" => {
                        let _: CreateSyncTaskResponse =
                            parse_response(action, &bytes).expect(&what);
                    }
                    "DescribeCertificateBindResourceTaskResult" => {
                        let r: TaskResultResponse = parse_response(action, &bytes).expect(&what);
                        if variant != "all null" {
                            assert!(
                                r.sync_task_bind_resource_result.skipped.is_empty(),
                                "{what}"
                            );
                        }
                    }
                    "DescribeCertificateBindResourceTaskDetail" => {
                        let mut response: Map<String, Value> =
                            parse_response(action, &bytes).expect(&what);
                        // An unknown resource type is a type like any other.
                        response.insert(
                            "NEWTYPE".into(),
                            serde_json::json!([{"Region": "ap-x", "TotalCount": 2, "InstanceList": [{}, {}], "Error": ""}]),
                        );
                        let page = parse_detail_page(&response).expect(&what);
                        assert_eq!(page.types["newtype"][0].total_count, Some(2), "{what}");
                    }
                    "DescribeHostUploadUpdateRecord"
                    | "DescribeHostUpdateRecord"
                    | "DescribeHostDeployRecord" => {
                        let list: ListResponse = parse_response(action, &bytes).expect(&what);
                        if variant != "all null" {
                            assert!(list.deploy_record_list.skipped.is_empty(), "{what}");
                        }
                    }
                    _ => {
                        let kind = match action {
                            "DescribeHostUploadUpdateRecordDetail" => RecordKind::UploadUpdate,
                            "DescribeHostUpdateRecordDetail" => RecordKind::Update,
                            _ => RecordKind::Deploy,
                        };
                        let response: Value = parse_response(action, &bytes).expect(&what);
                        let page = parse_record(kind, response).expect(&what);
                        if variant != "all null" {
                            assert!(page.skipped.is_empty(), "{what}: {:?}", page.skipped);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn describe_certificate_detail_examples_decode_and_keep_no_private_key() {
    use tencentcloud_ssl_api::detail::{normalize_fingerprint, CertificateDetail};
    for (title, output) in examples("DescribeCertificateDetail") {
        let response = &output["Response"];
        let detail: CertificateDetail =
            parse_response("DescribeCertificateDetail", &body(&output)).expect(&title);
        assert_eq!(
            detail.certificate_id,
            text(&response["CertificateId"]),
            "{title}"
        );
        assert_eq!(
            detail.cert_end_time,
            text(&response["CertEndTime"]),
            "{title}"
        );
        assert_eq!(
            detail.fingerprint(),
            normalize_fingerprint(&text(&response["CertFingerprint"])),
            "{title}"
        );
        // The docs mask the example's fingerprint with asterisks: it reads as none, never as a
        // wrong value.
        if text(&response["CertFingerprint"]).contains('*') {
            assert_eq!(detail.fingerprint(), None, "{title}");
        }
        let private_key = text(&response["CertificatePrivateKey"]);
        if !private_key.is_empty() {
            assert!(!format!("{detail:?}").contains(&private_key), "{title}");
        }
    }
}

/// Every domain the official record-detail examples name, as the items' domains decode them:
/// the comma-joined string of the upload-update example and the `|on` CDN domain of the deploy
/// examples included.
#[test]
fn record_detail_examples_name_their_domains_as_written() {
    let mut named = std::collections::BTreeSet::new();
    for (action, kind) in [
        (
            "DescribeHostUploadUpdateRecordDetail",
            RecordKind::UploadUpdate,
        ),
        ("DescribeHostDeployRecordDetail", RecordKind::Deploy),
    ] {
        for (title, output) in examples(action) {
            let response: Value = parse_response(action, &body(&output)).expect(&title);
            let page = parse_record(kind, response).expect(&title);
            for (_, entry) in &page.entries {
                for items in entry.types.values() {
                    for item in &items.domains {
                        named.extend(item.domains.iter().map(|d| d.domain.clone()));
                    }
                }
            }
        }
    }
    for domain in [
        "tencent.com",
        "www.tencent.online",
        "www.qq.com",
        "cdn.tencent.com.cn",
        "clb.tencent.com",
        "*.live.tencent.com",
        "tse.tencent.com",
    ] {
        assert!(named.contains(domain), "{domain} not decoded: {named:?}");
    }
    assert!(
        named.iter().all(|d| !d.contains(',') && !d.contains('|')),
        "{named:?}"
    );
}
