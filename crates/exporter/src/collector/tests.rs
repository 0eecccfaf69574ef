//! Each collector against an httpmock server.

use std::time::{Duration, Instant};

use httpmock::prelude::*;
use serde_json::{json, Value};
use tencentcloud_ssl_api::client::Client;
use tencentcloud_ssl_api::records::RecordKind;

use super::bind::BindCollector;
use super::certificates::CertificatesCollector;
use super::deploy::DeployCollector;
use super::{Collector, CollectorSettings};
use crate::config::CertificateFilter;
use crate::metrics::Family;

/// The API crate's test helpers (a client with fast retries and no pacing), shared rather than
/// copied.
#[path = "../../../api/tests/common/mod.rs"]
mod api_common;

fn client(endpoint: &str) -> Client {
    api_common::client(endpoint, api_common::Attempts::new())
}

fn settings() -> CollectorSettings {
    CollectorSettings {
        account: "default".into(),
        interval: Duration::from_secs(60),
        stale_intervals: 3,
        concurrency: 4,
        detail_series: false,
    }
}

/// Asserts that the snapshot's lines of `family` contain `needle`.
#[track_caller]
fn assert_has(snapshot: &crate::metrics::Snapshot, family: Family, needle: &str) {
    let lines = snapshot.chunk(family);
    assert!(lines.contains(needle), "{needle:?} not in:\n{lines}");
}

/// A rollout collector of `kind` against `server`, with a 30-day max age.
fn deploy_collector(
    kind: RecordKind,
    server: &MockServer,
    settings: CollectorSettings,
) -> DeployCollector {
    DeployCollector::new(
        kind,
        client(&server.base_url()),
        settings,
        Duration::from_secs(30 * 86_400),
        all_certificates(),
    )
}

/// One run that must succeed without per-item errors.
async fn collect_ok(collector: &mut impl Collector) -> super::Collected {
    let collected = collector.collect().await.expect("collects");
    assert!(collected.errors.is_empty(), "{:?}", collected.errors);
    collected
}

fn all_certificates() -> CertificateFilter {
    CertificateFilter {
        include_expired: true,
        ..CertificateFilter::default()
    }
}

/// The API's GMT+8 time format, `seconds` before now.
fn gmt8_seconds_ago(seconds: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    tencentcloud_ssl_simulator::clock::beijing(now - seconds)
}

fn cert(id: &str) -> Value {
    json!({"CertificateId": id, "Domain": format!("{id}.example.com"), "Alias": null, "CertificateType": "SVR",
           "Status": 1, "CertBeginTime": "2025-01-01 08:00:00", "CertEndTime": "2026-01-01 08:00:00"})
}

/// A `DescribeCertificates` server that caps `Limit` at 2 whatever the client asks.
async fn certificates_capped_at_two(server: &MockServer, ids: &[&str]) {
    let total = ids.len();
    for (page, chunk) in ids.chunks(2).enumerate() {
        let offset = page * 2;
        let rows: Vec<Value> = chunk.iter().map(|id| cert(id)).collect();
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .header("x-tc-action", "DescribeCertificates")
                    .json_body_includes(format!("{{\"Offset\": {offset}}}"));
                then.status(200)
                    .json_body(json!({"Response": {"TotalCount": total, "Certificates": rows, "RequestId": "r"}}));
            })
            .await;
    }
}

#[tokio::test]
async fn certificates_page_by_rows_when_the_server_caps_limit() {
    let server = MockServer::start_async().await;
    certificates_capped_at_two(&server, &["a", "b", "c", "d", "e"]).await;
    let mut collector =
        CertificatesCollector::new(client(&server.base_url()), settings(), all_certificates());
    let collected = collect_ok(&mut collector).await;
    let info = collected.snapshot.chunk(Family::CertificateInfo);
    assert_eq!(info.lines().count(), 5, "{info}");
    assert!(info.contains("certificate_id=\"e\",domain=\"e.example.com\",alias=\"\",status=\"issued\",certificate_type=\"SVR\"} 1"));
    assert_has(
        &collected.snapshot,
        Family::CertificateNotAfter,
        "certificate_id=\"a\"} 1767225600\n",
    );
}

#[tokio::test]
async fn certificate_list_failure_fails_the_run() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "AuthFailure.UnauthorizedOperation", "Message": "no permission"}, "RequestId": "r"}}));
        })
        .await;
    let mut collector =
        CertificatesCollector::new(client(&server.base_url()), settings(), all_certificates());
    let err = collector.collect().await.unwrap_err();
    assert!(err.is_auth());
}

/// The detail page of a task with 150 CLB instances in one region (paged by 100), a region
/// error, a TDMQ entry (newer than the docs) and TCB environments.
fn detail_page(offset: u64) -> Value {
    let clb_instances: Vec<Value> = (offset..150.min(offset + 100))
        .map(|i| {
            let unmatched: Vec<String> = if i % 50 == 0 { vec![format!("old{}.example.com", i / 50)] } else { vec![] };
            json!({"LoadBalancerId": format!("lb-{i}"), "Listeners": [{"ListenerId": "l", "NoMatchDomains": unmatched,
                   "Rules": [{"Domain": "x", "NoMatchDomains": unmatched}]}]})
        })
        .collect();
    json!({"Response": {
        "CLB": [
            {"Region": "ap-guangzhou", "InstanceList": clb_instances, "TotalCount": 150, "Error": ""},
            {"Region": "ap-beijing", "InstanceList": [], "TotalCount": 0, "Error": "FailedOperation: region timeout"}
        ],
        "CDN": null,
        "TDMQ": [{"Region": "ap-shanghai", "InstanceList": if offset == 0 { json!([{"InstanceId": "t", "NoMatchDomains": ["mq.example.com"]}]) } else { json!([]) }, "TotalCount": 1, "Error": ""}],
        "TCB": [{"Region": "ap-guangzhou", "Error": "", "Environments": [{
            "Environment": {"ID": "env"},
            "AccessService": {"InstanceList": if offset == 0 { json!([{"Domain": "a"}, {"Domain": "b"}]) } else { json!([]) }, "TotalCount": 2},
            "HostService": {"InstanceList": if offset == 0 { json!([{"Domain": "h"}]) } else { json!([]) }, "TotalCount": 1}}]}],
        "Status": 1, "CacheTime": "2025-06-01 12:00:00", "RequestId": "r"}})
}

#[tokio::test]
async fn bind_waits_for_tasks_pages_details_and_parses_generically() {
    let server = MockServer::start_async().await;
    certificates_capped_at_two(&server, &["bound", "unbound", "broken"]).await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "CreateCertificateBindResourceSyncTask")
                .json_body(json!({"CertificateIds": ["bound", "unbound", "broken"], "IsCache": 1}));
            then.status(200).json_body(json!({"Response": {"CertTaskIds": [
                {"CertId": "bound", "TaskId": "t1"}, {"CertId": "unbound", "TaskId": "t2"}, {"CertId": "broken", "TaskId": "t3"}], "RequestId": "r"}}));
        })
        .await;
    let ready_at = Instant::now() + Duration::from_millis(700);
    // Status 0 until `ready_at`, then done (t1 bound, t2 nothing bound) or failed (t3).
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificateBindResourceTaskResult")
                .is_true(move |_| Instant::now() < ready_at);
            then.status(200).json_body(json!({"Response": {"SyncTaskBindResourceResult": [
                {"TaskId": "t1", "Status": 0, "Error": null, "CacheTime": null, "BindResourceResult": null},
                {"TaskId": "t2", "Status": 0, "Error": null, "CacheTime": null, "BindResourceResult": null},
                {"TaskId": "t3", "Status": 0, "Error": null, "CacheTime": null, "BindResourceResult": null}], "RequestId": "r"}}));
        })
        .await;
    let done = server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeCertificateBindResourceTaskResult");
            then.status(200).json_body(json!({"Response": {"SyncTaskBindResourceResult": [
                {"TaskId": "t1", "Status": 1, "Error": null, "CacheTime": "2025-06-01 12:00:00", "BindResourceResult": [
                    {"ResourceType": "clb", "BindResourceRegionResult": [{"Region": "ap-guangzhou", "TotalCount": 150}]}]},
                {"TaskId": "t2", "Status": 1, "Error": null, "CacheTime": "2025-06-01 12:00:00", "BindResourceResult": [
                    {"ResourceType": "waf", "BindResourceRegionResult": [{"Region": "ap-seoul", "TotalCount": 0, "Error": "InternalError: waf down"}]}]},
                {"TaskId": "t3", "Status": 2, "Error": {"Code": "FailedOperation", "Message": "task failed"}, "CacheTime": "2025-06-01 12:00:00", "BindResourceResult": null}],
                "RequestId": "r"}}));
        })
        .await;
    let mut detail_mocks = Vec::new();
    for offset in [0u64, 100] {
        detail_mocks.push(
            server
                .mock_async(|when, then| {
                    when.method(POST)
                        .header("x-tc-action", "DescribeCertificateBindResourceTaskDetail")
                        .json_body(
                            json!({"TaskId": "t1", "Limit": "100", "Offset": offset.to_string()}),
                        );
                    then.status(200).json_body(detail_page(offset));
                })
                .await,
        );
    }
    let mut collector = BindCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        Duration::from_secs(30),
    );
    let collected = collect_ok(&mut collector).await;
    assert!(done.calls_async().await >= 1);
    for mock in &detail_mocks {
        assert_eq!(mock.calls_async().await, 1, "each detail page fetched once");
    }
    let s = &collected.snapshot;
    let bound = s.chunk(Family::BoundResources);
    assert!(
        bound.contains(
            "certificate_id=\"bound\",resource_type=\"clb\",region=\"ap-guangzhou\"} 150\n"
        ),
        "{bound}"
    );
    assert!(
        bound.contains("resource_type=\"tdmq\",region=\"ap-shanghai\"} 1\n"),
        "unknown types need no code change"
    );
    assert!(
        bound.contains("resource_type=\"tcb\",region=\"ap-guangzhou\"} 3\n"),
        "TCB: access + host instances"
    );
    let errors = s.chunk(Family::BindQueryError);
    assert!(errors
        .contains("certificate_id=\"bound\",resource_type=\"clb\",region=\"ap-beijing\"} 1\n"));
    assert!(errors
        .contains("certificate_id=\"bound\",resource_type=\"clb\",region=\"ap-guangzhou\"} 0\n"));
    assert!(
        errors
            .contains("certificate_id=\"unbound\",resource_type=\"waf\",region=\"ap-seoul\"} 1\n"),
        "summary errors without detail"
    );
    let unmatched = s.chunk(Family::UnmatchedDomains);
    assert!(
        unmatched.contains("resource_type=\"clb\",region=\"ap-guangzhou\"} 3\n"),
        "distinct over both pages: {unmatched}"
    );
    assert!(unmatched.contains("resource_type=\"tdmq\",region=\"ap-shanghai\"} 1\n"));
    let status = s.chunk(Family::BindTaskStatus);
    assert!(status.contains("certificate_id=\"bound\",status=\"succeeded\"} 1\n"));
    assert!(status.contains("certificate_id=\"broken\",status=\"failed\"} 1\n"));
    assert!(status.contains("certificate_id=\"broken\",status=\"querying\"} 0\n"));
    assert!(s
        .chunk(Family::BindResultTimestamp)
        .contains("certificate_id=\"bound\"} 1748750400\n"));
    assert!(!bound.contains("unbound"));

    // Same task and CacheTime on the next run: the detail is not fetched again.
    let again = collector.collect().await.expect("collects");
    for mock in &detail_mocks {
        assert_eq!(
            mock.calls_async().await,
            1,
            "unchanged CacheTime is not refetched"
        );
    }
    assert_eq!(again.snapshot.chunk(Family::BoundResources), bound);
}

fn upload_detail(rollback_status: u8) -> Value {
    json!({"Response": {"DeployRecordDetail": [
        {"Type": 0, "Status": 2, "CreateTime": "2025-05-20 15:03:17", "TotalCount": 3, "RecordDetailList": [
            {"ResourceType": "clb", "TotalCount": 2, "List": [{"Id": 1, "Status": 1}, {"Id": 2, "Status": 2}]},
            {"ResourceType": "cdn", "TotalCount": 1, "List": [{"Id": 3, "Status": 6}]}]},
        {"Type": 1, "Status": rollback_status, "CreateTime": "2025-05-20 15:18:58", "TotalCount": 1, "RecordDetailList": [
            {"ResourceType": "clb", "TotalCount": 1, "List": [{"Id": 9, "Status": rollback_status}]}]}
    ], "RequestId": "r"}})
}

#[tokio::test]
async fn upload_update_records_count_deploy_and_rollback_and_skip_final_records() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(3600);
    server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostUploadUpdateRecord");
            then.status(200).json_body(json!({"Response": {"TotalCount": 2, "DeployRecordList": [
                {"Id": 42, "OldCertId": "cert-a", "ResourceTypes": ["clb", "cdn"], "Status": 4, "CreateTime": recent, "UpdateTime": recent},
                {"Id": 7, "OldCertId": "cert-old", "ResourceTypes": ["clb"], "Status": 1, "CreateTime": "2020-01-01 00:00:00", "UpdateTime": "2020-01-01 00:00:00"}
            ], "RequestId": "r"}}));
        })
        .await;
    let detail = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostUploadUpdateRecordDetail")
                .json_body(json!({"DeployRecordId": 42, "Limit": 200, "Offset": 0}));
            then.status(200).json_body(upload_detail(4));
        })
        .await;
    let mut collector = deploy_collector(RecordKind::UploadUpdate, &server, settings());
    let collected = collect_ok(&mut collector).await;
    let s = &collected.snapshot;
    let resources = s.chunk(Family::DeployResources);
    let prefix = "tencentcloud_ssl_deploy_resources{account=\"default\",record_type=\"upload_update\",record_id=\"42\",certificate_id=\"cert-a\"";
    for (operation, resource_type, status, count) in [
        ("deploy", "clb", "success", 1),
        ("deploy", "clb", "failed", 1),
        ("deploy", "cdn", "no_resource", 1),
        ("rollback", "clb", "rollback_success", 1),
    ] {
        let line = format!("{prefix},operation=\"{operation}\",resource_type=\"{resource_type}\",status=\"{status}\"}} {count}\n");
        assert!(resources.contains(&line), "missing {line} in\n{resources}");
    }
    let status = s.chunk(Family::DeployRecordStatus);
    assert!(status.contains("operation=\"deploy\",status=\"failed\"} 1\n"));
    assert!(status.contains("operation=\"rollback\",status=\"rollback_success\"} 1\n"));
    assert!(
        !s.chunk(Family::DeployRecordInfo)
            .contains("record_id=\"7\""),
        "older than max age"
    );
    assert_eq!(collector.final_records(), 1);

    collector.collect().await.expect("collects again");
    assert_eq!(
        detail.calls_async().await,
        1,
        "a final record is not fetched again"
    );
}

#[tokio::test]
async fn update_records_take_status_from_the_list_and_page_details() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    // The list server ignores Limit and sends one row per page.
    for (offset, id) in [(0, 5), (1, 6)] {
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .header("x-tc-action", "DescribeHostUpdateRecord")
                    .json_body_includes(format!("{{\"Offset\": {offset}}}"));
                then.status(200).json_body(json!({"Response": {"TotalCount": 2, "DeployRecordList": [
                    {"Id": id, "CertId": format!("new-{id}"), "OldCertId": format!("old-{id}"), "Status": 3, "CreateTime": recent, "UpdateTime": recent}
                ], "RequestId": "r"}}));
            })
            .await;
    }
    for id in [5, 6] {
        for offset in [0u64, 200] {
            let items: Vec<Value> = (offset..250.min(offset + 200))
                .map(|i| json!({"Id": i, "Status": if i < 240 { 1 } else { 3 }, "ResourceType": "cdn"}))
                .collect();
            server
                .mock_async(|when, then| {
                    when.method(POST)
                        .header("x-tc-action", "DescribeHostUpdateRecordDetail")
                        .json_body(json!({"DeployRecordId": id.to_string(), "Limit": "200", "Offset": offset.to_string()}));
                    then.status(200).json_body(json!({"Response": {"TotalCount": 250, "RecordDetailList": [
                        {"ResourceType": "cdn", "TotalCount": 250, "List": items}], "RequestId": "r"}}));
                })
                .await;
        }
    }
    let mut collector = deploy_collector(RecordKind::Update, &server, settings());
    let collected = collect_ok(&mut collector).await;
    let resources = collected.snapshot.chunk(Family::DeployResources);
    for id in [5, 6] {
        let base = format!("record_type=\"update\",record_id=\"{id}\",certificate_id=\"new-{id}\",operation=\"deploy\",resource_type=\"cdn\"");
        assert!(
            resources.contains(&format!("{base},status=\"success\"}} 240\n")),
            "{resources}"
        );
        assert!(
            resources.contains(&format!("{base},status=\"running\"}} 10\n")),
            "{resources}"
        );
    }
    assert_has(
        &collected.snapshot,
        Family::DeployRecordInfo,
        "record_id=\"5\",certificate_id=\"new-5\",old_certificate_id=\"old-5\"} 1\n",
    );
    assert_has(
        &collected.snapshot,
        Family::DeployRecordStatus,
        "record_id=\"6\",certificate_id=\"new-6\",operation=\"deploy\",status=\"running\"} 1\n",
    );
    assert_eq!(
        collector.final_records(),
        0,
        "running records are fetched again"
    );
}

#[tokio::test]
async fn a_record_that_cannot_be_refreshed_is_served_within_the_staleness_bound_then_withdrawn() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostUpdateRecord");
            then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                {"Id": 9, "CertId": "new", "OldCertId": "old", "Status": 3, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    let detail = server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostUpdateRecordDetail");
            then.status(200).json_body(json!({"Response": {"RecordDetailList": [
                {"ResourceType": "clb", "TotalCount": 1, "List": [{"Id": 1, "Status": 3}]}], "RequestId": "r"}}));
        })
        .await;
    let mut settings = settings();
    settings.interval = Duration::from_millis(400);
    settings.stale_intervals = 1;
    let mut collector = deploy_collector(RecordKind::Update, &server, settings);
    let running = "record_id=\"9\",certificate_id=\"new\",operation=\"deploy\",resource_type=\"clb\",status=\"running\"} 1";
    let first = collector.collect().await.expect("collects");
    assert!(first
        .snapshot
        .chunk(Family::DeployResources)
        .contains(running));

    detail.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostUpdateRecordDetail");
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "InternalError", "Message": "down"}, "RequestId": "r"}}));
        })
        .await;
    let second = collector.collect().await.expect("collects");
    assert_eq!(second.errors.len(), 1, "the failure is reported");
    assert!(
        second
            .snapshot
            .chunk(Family::DeployResources)
            .contains(running),
        "last good values within the bound"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = collector.collect().await.expect("collects");
    assert_eq!(third.errors.len(), 1);
    assert!(
        !third
            .snapshot
            .chunk(Family::DeployResources)
            .contains("record_id=\"9\""),
        "withdrawn after the bound"
    );
    assert!(third.snapshot.chunk(Family::DeployRecordInfo).is_empty());
}

#[tokio::test]
async fn deploy_records_are_listed_per_certificate_and_undocumented_answers_are_shown() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200)
                .json_body(json!({"Response": {"TotalCount": 2, "Certificates": [
                {"CertificateId": "dep", "Status": 1, "Deployable": true},
                {"CertificateId": "old", "Status": 3, "Deployable": false}], "RequestId": "r"}}));
        })
        .await;
    let dep_list = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecord")
                .json_body_includes(r#"{"CertificateId": "dep"}"#);
            then.status(200).json_body(json!({"Response": {"TotalCount": 2, "DeployRecordList": [
                {"Id": 100, "CertId": "dep", "ResourceType": "CLB", "Region": "ap-guangzhou", "Status": 1, "CreateTime": recent, "UpdateTime": recent},
                {"Id": 101, "CertId": "dep", "ResourceType": "cdn", "Region": "", "Status": 0, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    let old_list = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecord")
                .json_body_includes(r#"{"CertificateId": "old"}"#);
            then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                {"Id": 200, "CertId": "old", "ResourceType": "cdn", "Region": "", "Status": 1, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    for (id, items, total) in [
        (
            "100",
            json!([{"Id": 1, "Status": 1, "OldCertId": "prev"}, {"Id": 2, "Status": 7}, {"Id": 3, "Status": "in progress"}]),
            3,
        ),
        ("101", json!([{"Id": 4, "Status": 0}]), 1),
        (
            "200",
            json!([{"Id": 5, "Status": 1, "OldCertId": 12345}]),
            1,
        ),
    ] {
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .header("x-tc-action", "DescribeHostDeployRecordDetail")
                    .json_body(json!({"DeployRecordId": id, "Limit": 200, "Offset": 0}));
                then.status(200).json_body(
                    json!({"Response": {"TotalCount": total, "SuccessTotalCount": 1,
                    "FailedTotalCount": 0, "RunningTotalCount": 0, "PendingTotalCount": 0,
                    "DeployRecordDetailList": items, "RequestId": "r"}}),
                );
            })
            .await;
    }
    let mut collector = deploy_collector(RecordKind::Deploy, &server, settings());
    let first = collect_ok(&mut collector).await;
    let resources = first.snapshot.chunk(Family::DeployResources);
    let base = "record_type=\"deploy\",record_id=\"100\",certificate_id=\"dep\",operation=\"deploy\",resource_type=\"clb\"";
    assert!(
        resources.contains(&format!("{base},status=\"success\"}} 1\n")),
        "{resources}"
    );
    assert!(
        resources.contains(&format!("{base},status=\"unknown\"}} 1\n")),
        "an undocumented item code is shown, not dropped: {resources}"
    );
    assert_has(
        &first.snapshot,
        Family::UnknownStatusCodes,
        "object=\"item\",object_id=\"100\",code=\"7\"} 1\n",
    );
    assert_has(
        &first.snapshot,
        Family::DeployRecordInfo,
        "record_id=\"100\",certificate_id=\"dep\",old_certificate_id=\"prev\"} 1\n",
    );
    assert!(
        first
            .snapshot
            .chunk(Family::DeployRecordInfo)
            .contains("record_id=\"200\",certificate_id=\"old\",old_certificate_id=\"12345\"} 1\n"),
        "an integer OldCertId is read as its text"
    );
    assert_has(
        &first.snapshot,
        Family::DeployRecordStatus,
        "record_id=\"101\",certificate_id=\"dep\",operation=\"deploy\",status=\"pending\"} 1\n",
    );
    let decode = first.snapshot.chunk(Family::DecodeErrors);
    assert!(
        decode.contains("collector=\"deploy\",action=\"DescribeHostDeployRecordDetail\"} 1\n"),
        "the undecodable item is counted: {decode}"
    );
    assert!(
        first
            .snapshot
            .chunk(Family::TotalsMismatches)
            .contains("collector=\"deploy\",action=\"DescribeHostDeployRecordDetail\"} 2\n"),
        "record 100 received fewer items than it states, record 101 has a pending item it counts as a success"
    );

    let second = collect_ok(&mut collector).await;
    assert_eq!(
        dep_list.calls_async().await,
        2,
        "a deployable certificate is listed each run"
    );
    assert_eq!(
        old_list.calls_async().await,
        1,
        "a certificate that cannot be deployed is not listed again"
    );
    assert_has(
        &second.snapshot,
        Family::DeployRecordInfo,
        "record_id=\"200\"",
    );
}
