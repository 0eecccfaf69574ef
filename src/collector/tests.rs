//! Each collector against an httpmock server.

use std::time::{Duration, Instant};

use httpmock::prelude::*;
use serde_json::{json, Value};
use tencentcloud_ssl_api::client::Client;
use tencentcloud_ssl_api::records::RecordKind;

use super::bind::BindCollector;
use super::certificates::CertificatesCollector;
use super::records::RecordsCollector;
use super::{Collector, CollectorSettings};
use crate::config::CertificateFilter;
use crate::metrics::Family;

/// The API crate's test helpers (a client with fast retries and no pacing), shared rather than
/// copied.
#[path = "../../crates/api/tests/common/mod.rs"]
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
) -> RecordsCollector {
    RecordsCollector::new(
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
    let mut collector = CertificatesCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        Vec::new(),
    );
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
async fn certificates_export_tags_service_hosting_and_revocation() {
    let server = MockServer::start_async().await;
    let mut tagged = cert("tagged");
    tagged["Tags"] =
        json!([{"TagKey": "team", "TagValue": "payments"}, {"TagKey": "env", "TagValue": "prod"}]);
    tagged["ServiceId"] = json!("ss-1");
    tagged["ServiceStatus"] = json!("running");
    tagged["CertServiceEndTime"] = json!("2027-01-01 08:00:00");
    tagged["CertificateExtra"] = json!({"DomainNumber": "1", "OriginCertificateId": null,
        "ServiceRenewCertificateId": "next1", "ServiceOriginCertificateId": ""});
    // As the official example writes a hosted certificate's configuration.
    tagged["HostingConfig"] = json!({"MessageTypes": [0], "ReplaceEndTime": "23:59:59",
        "ReplaceStartTime": "00:00:00", "ReplaceTime": 30});
    let mut revoked = cert("revoked");
    revoked["Status"] = json!(10);
    revoked["CertRevokedTime"] = json!("2025-06-01 08:00:00");
    revoked["Tags"] = json!([]);
    revoked["HostingConfig"] = json!(null);
    let mut odd = cert("odd");
    odd["Tags"] = json!("team=web");
    odd["CertRevokedTime"] = json!("");
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200)
                .json_body(json!({"Response": {"TotalCount": 3,
                "Certificates": [tagged, revoked, odd], "RequestId": "r"}}));
        })
        .await;
    let team = crate::config::TagLabel {
        key: "team".into(),
        label: "tag_team".into(),
    };
    let mut collector = CertificatesCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        vec![team],
    );
    let collected = collect_ok(&mut collector).await;
    let snapshot = &collected.snapshot;
    assert_eq!(
        snapshot.chunk(Family::CertificateTag),
        "tencentcloud_ssl_certificate_tag_info{account=\"default\",certificate_id=\"tagged\",key=\"env\",value=\"prod\"} 1\n\
         tencentcloud_ssl_certificate_tag_info{account=\"default\",certificate_id=\"tagged\",key=\"team\",value=\"payments\"} 1\n"
    );
    assert_eq!(
        snapshot.chunk(Family::CertificateTags),
        "tencentcloud_ssl_certificate_tags_info{account=\"default\",certificate_id=\"tagged\",tag_team=\"payments\"} 1\n\
         tencentcloud_ssl_certificate_tags_info{account=\"default\",certificate_id=\"revoked\"} 1\n\
         tencentcloud_ssl_certificate_tags_info{account=\"default\",certificate_id=\"odd\"} 1\n",
        "one per certificate, the tag label only where the tag is"
    );
    assert_eq!(
        snapshot.chunk(Family::CertificateServiceInfo),
        "tencentcloud_ssl_certificate_service_info{account=\"default\",certificate_id=\"tagged\",service_id=\"ss-1\",service_status=\"running\",service_renew_certificate_id=\"next1\",service_origin_certificate_id=\"\"} 1\n"
    );
    assert_has(
        snapshot,
        Family::CertificateServiceEnd,
        "certificate_id=\"tagged\"} 1798761600\n",
    );
    assert_eq!(
        snapshot.chunk(Family::CertificateHostingInfo),
        "tencentcloud_ssl_certificate_hosting_info{account=\"default\",certificate_id=\"tagged\",replace_window_start=\"00:00:00\",replace_window_end=\"23:59:59\"} 1\n"
    );
    assert_eq!(
        snapshot.chunk(Family::CertificateHostingReplaceBeforeExpiry),
        "tencentcloud_ssl_certificate_hosting_replace_before_expiry_seconds{account=\"default\",certificate_id=\"tagged\"} 2592000\n"
    );
    assert_eq!(
        snapshot.chunk(Family::CertificateRevoked),
        "tencentcloud_ssl_certificate_revoked_timestamp_seconds{account=\"default\",certificate_id=\"revoked\"} 1748736000\n"
    );
    // The unreadable `Tags` of "odd" is left out and counted; "odd" itself is exported.
    assert_has(snapshot, Family::CertificateInfo, "certificate_id=\"odd\"");
    assert_has(
        snapshot,
        Family::DecodeErrors,
        "tencentcloud_ssl_decode_errors_total{account=\"default\",collector=\"certificates\",action=\"DescribeCertificates\"} 1\n",
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
    let mut collector = CertificatesCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        Vec::new(),
    );
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
    let book = std::sync::Arc::new(crate::targets::TargetBook::new(
        vec![crate::targets::BIND_SOURCE],
        100,
    ));
    let mut collector = BindCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        Duration::from_secs(30),
    )
    .publishing_to(std::sync::Arc::clone(&book));
    let collected = collect_ok(&mut collector).await;
    let published: Vec<(String, u16, String, String, Option<i64>)> = book
        .targets()
        .targets
        .into_iter()
        .map(|t| {
            (
                t.domain,
                t.port,
                t.certificate_id.to_string(),
                t.resource_type.to_string(),
                t.stated_at,
            )
        })
        .collect();
    let at = tencentcloud_ssl_api::time::parse_api_time("2025-06-01 12:00:00").expect("time");
    let claim = |d: &str, t: &str| {
        (
            d.to_string(),
            443,
            "bound".to_string(),
            t.to_string(),
            Some(at),
        )
    };
    assert_eq!(
        published,
        [
            claim("a", "tcb"),
            claim("b", "tcb"),
            claim("h", "tcb"),
            claim("x", "clb")
        ],
        "the detail's served domains, once per endpoint and certificate, as of its CacheTime"
    );
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

/// A held deploy row is reused only while it cannot change: a certificate that cannot be
/// deployed is listed again while one of its rows is still running, and rows a failed list keeps
/// are withdrawn at the staleness bound (before, both were reused for good, and a row last seen
/// running stayed running).
#[tokio::test]
async fn held_deploy_rows_are_reused_only_while_final_and_within_the_bound() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200)
                .json_body(json!({"Response": {"TotalCount": 1, "Certificates": [
                {"CertificateId": "old", "Status": 1, "Deployable": false}], "RequestId": "r"}}));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostDeployRecord");
            then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                {"Id": 300, "CertId": "old", "ResourceType": "cdn", "Region": "", "Status": 3, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecordDetail");
            then.status(200).json_body(
                json!({"Response": {"TotalCount": 1, "SuccessTotalCount": 0,
                "FailedTotalCount": 0, "RunningTotalCount": 1, "PendingTotalCount": 0,
                "DeployRecordDetailList": [{"Id": 1, "Status": 3}], "RequestId": "r"}}),
            );
        })
        .await;
    let mut settings = settings();
    settings.interval = Duration::from_millis(400);
    settings.stale_intervals = 1;
    let mut collector = deploy_collector(RecordKind::Deploy, &server, settings);
    collect_ok(&mut collector).await;
    collect_ok(&mut collector).await;
    assert_eq!(
        list.calls_async().await,
        2,
        "a running row is listed again although the certificate cannot be deployed"
    );

    list.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostDeployRecord");
            then.status(200).json_body(json!({"Response": {"Error": {"Code": "InternalError", "Message": "down"}, "RequestId": "r"}}));
        })
        .await;
    let kept = collector.collect().await.expect("collects");
    assert!(
        kept.snapshot
            .chunk(Family::DeployRecordInfo)
            .contains("record_id=\"300\""),
        "kept within the bound"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = collector.collect().await.expect("collects");
    assert_eq!(later.errors.len(), 1, "the failed list is reported");
    assert!(
        !later
            .snapshot
            .chunk(Family::DeployRecordInfo)
            .contains("record_id=\"300\""),
        "withdrawn after the bound, not served as running for good"
    );
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
        "object=\"item\",record_type=\"deploy\",object_id=\"100\",code=\"7\"} 1\n",
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

/// A CA and the leaves it signs, for local TLS endpoints.
struct TestPki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

/// A leaf, its key, and its SHA-1.
struct Leaf {
    certificate: rcgen::Certificate,
    key: rcgen::KeyPair,
    fingerprint: String,
}

impl TestPki {
    fn new() -> TestPki {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "endpoint test CA");
        let ca = params.self_signed(&ca_key).expect("CA");
        TestPki { ca, ca_key }
    }

    /// A leaf for `names`, valid until `not_after` (year, month, day).
    fn leaf(&self, names: &[&str], not_after: (i32, u8, u8)) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let certificate = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("leaf");
        let fingerprint = crate::probe::fingerprint(certificate.der());
        Leaf {
            certificate,
            key,
            fingerprint,
        }
    }

    /// A TLS endpoint on a loopback port serving `leaf` and the CA.
    async fn serve(&self, leaf: &Leaf) -> std::net::SocketAddr {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.certificate.der().clone(), self.ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.serialize_der())),
        )
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(stream).await;
                });
            }
        });
        addr
    }
}

/// The endpoints collector of the test account against the API at `api`, probing through
/// `prober` four at a time, at most 100 endpoints a run, only those a resolve override names.
fn endpoints_collector(
    api: &str,
    book: &std::sync::Arc<crate::targets::TargetBook>,
    prober: crate::probe::Prober,
) -> super::endpoints::EndpointsCollector {
    super::endpoints::EndpointsCollector::new(
        client(api),
        settings(),
        super::endpoints::EndpointsLimits {
            concurrency: 4,
            max_endpoints: 100,
            resolved_only: true,
        },
        std::sync::Arc::clone(book),
        std::sync::Arc::new(prober),
    )
}

/// A `DescribeCertificateDetail` answer naming `leaf` (and, as the real API does, a private key
/// that must never be shown).
fn certificate_detail(id: &str, leaf: &Leaf) -> Value {
    json!({"Response": {
        "CertificateId": id,
        "CertFingerprint": leaf.fingerprint.to_uppercase(),
        "CertificatePublicKey": leaf.certificate.pem(),
        "CertificatePrivateKey": "-----BEGIN PRIVATE KEY-----\nTEST-PRIVATE-KEY-MATERIAL\n-----END PRIVATE KEY-----\n",
        "CertEndTime": "2030-01-01 07:59:59",
        // As the official example lists a chain: the leaf, then its issuer.
        "CertChainInfo": [
            {"Issuer": "Test Intermediate", "Subject": id, "Fingerprint": leaf.fingerprint,
             "ValidFrom": "2025-01-01 08:00:00", "ValidTo": "2030-01-01 07:59:59"},
            {"Issuer": "Test Root", "Subject": "Test Intermediate", "Fingerprint": "",
             "ValidFrom": "2025-01-01 08:00:00", "ValidTo": "2028-01-01 08:00:00"}
        ],
        "RequestId": "r"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_probe_local_tls_servers_against_what_the_api_says() {
    use super::endpoints::{EndpointsCollector, EndpointsLimits};
    use crate::config::ResolveOverride;
    use crate::probe::Prober;
    use crate::targets::{Claim, TargetBook, BIND_SOURCE};
    use std::sync::Arc;

    let pki = TestPki::new();
    let good = pki.leaf(&["good.example.test", "rec.example.test"], (2035, 1, 1));
    let previous = pki.leaf(&["stale.example.test"], (2035, 1, 1));
    let renewed = pki.leaf(&["stale.example.test"], (2036, 1, 1));
    let expired = pki.leaf(&["expired.example.test"], (2021, 3, 4));
    let other = pki.leaf(&["down.example.test"], (2035, 1, 1));

    let good_at = pki.serve(&good).await;
    let stale_at = pki.serve(&previous).await;
    let expired_at = pki.serve(&expired).await;
    let down_at = std::net::SocketAddr::from(([127, 0, 0, 1], api_common::free_port()));
    // Accepts connections and never answers: the probe must give up at its timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_at = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });

    let server = MockServer::start_async().await;
    let mut detail_mocks = Vec::new();
    for (id, leaf) in [
        ("A", &good),
        ("B", &renewed),
        ("C", &expired),
        ("D", &other),
    ] {
        detail_mocks.push(
            server
                .mock_async(|when, then| {
                    when.method(POST)
                        .header("x-tc-action", "DescribeCertificateDetail")
                        .json_body(json!({"CertificateId": id}));
                    then.status(200).json_body(certificate_detail(id, leaf));
                })
                .await,
        );
    }
    // The certificate list: each certificate's validity dates, its content version.
    let list_with = |b_end: &str| {
        json!({"Response": {"TotalCount": 4, "Certificates": [
            {"CertificateId": "A", "CertBeginTime": "2025-01-01 08:00:00", "CertEndTime": "2035-01-01 07:59:59"},
            {"CertificateId": "B", "CertBeginTime": "2025-01-01 08:00:00", "CertEndTime": b_end},
            {"CertificateId": "C", "CertBeginTime": "2020-01-01 08:00:00", "CertEndTime": "2021-03-04 07:59:59"},
            {"CertificateId": "D", "CertBeginTime": "2025-01-01 08:00:00", "CertEndTime": "2035-01-01 07:59:59"}
        ], "RequestId": "r"}})
    };
    let mut certificate_list = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200).json_body(list_with("2036-01-01 07:59:59"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificateDetail")
                .json_body(json!({"CertificateId": "E"}));
            then.status(200).json_body(json!({"Response": {"Error": {
                "Code": "ResourceNotFound.CertificateNotExist", "Message": "no such certificate"},
                "RequestId": "r"}}));
        })
        .await;

    let claim = |domain: &str, port: u16, cert: &str, source: &'static str| Claim {
        domain: domain.into(),
        port,
        certificate_id: cert.into(),
        resource_type: if source == BIND_SOURCE { "cdn" } else { "clb" }.into(),
        source,
        stated_at: Some(100),
        inactive: None,
    };
    let book = Arc::new(TargetBook::new(vec![BIND_SOURCE, "update"], 100));
    book.publish(
        BIND_SOURCE,
        vec![
            claim("good.example.test", 443, "A", BIND_SOURCE),
            claim("stale.example.test", 443, "B", BIND_SOURCE),
            claim("expired.example.test", 443, "C", BIND_SOURCE),
            claim("down.example.test", 443, "D", BIND_SOURCE),
            claim("silent.example.test", 443, "A", BIND_SOURCE),
            claim("*.wild.example.test", 443, "A", BIND_SOURCE),
            claim("unknown.example.test", 443, "E", BIND_SOURCE),
        ]
        .into(),
        Duration::from_secs(3600),
    );
    book.publish(
        "update",
        vec![claim("rec.example.test", 8443, "A", "update")].into(),
        Duration::from_secs(3600),
    );
    let overrides: Vec<ResolveOverride> = [
        ("good.example.test", 443, good_at),
        ("rec.example.test", 8443, good_at),
        ("unknown.example.test", 443, good_at),
        ("stale.example.test", 443, stale_at),
        ("expired.example.test", 443, expired_at),
        ("down.example.test", 443, down_at),
        ("silent.example.test", 443, silent_at),
    ]
    .into_iter()
    .map(|(domain, port, addr)| ResolveOverride {
        domain: domain.into(),
        port,
        addr,
    })
    .collect();
    let prober = Prober::new(
        &overrides,
        &[pki.ca.der().clone()],
        Duration::from_millis(800),
    )
    .expect("prober");
    let mut collector = endpoints_collector(&server.base_url(), &book, prober);

    let first = collector.collect().await.expect("runs");
    assert_eq!(
        first.errors.len(),
        1,
        "only the unknown certificate: {:?}",
        first.errors
    );
    assert!(first.errors[0].contains("ResourceNotFound.CertificateNotExist"));
    let second = collector.collect().await.expect("runs");
    for mock in &detail_mocks {
        assert_eq!(
            mock.calls_async().await,
            1,
            "a certificate's detail is fetched once, ever"
        );
    }
    let s = &second.snapshot;
    let labels = |domain: &str, port: u16, cert: &str| {
        format!(
            "{{account=\"default\",certificate_id=\"{cert}\",domain=\"{domain}\",port=\"{port}\""
        )
    };
    let good_l = labels("good.example.test", 443, "A");
    let stale_l = labels("stale.example.test", 443, "B");
    let expired_l = labels("expired.example.test", 443, "C");
    let rec_l = labels("rec.example.test", 8443, "A");
    let unknown_l = labels("unknown.example.test", 443, "E");
    for (l, value) in [(&good_l, 1), (&stale_l, 0), (&expired_l, 1), (&rec_l, 1)] {
        assert_has(
            s,
            Family::EndpointCertificateMatch,
            &format!("{l}}} {value}\n"),
        );
    }
    assert!(
        !s.chunk(Family::EndpointCertificateMatch)
            .contains(&unknown_l),
        "no match without an expected fingerprint"
    );
    for (l, value) in [(&good_l, 1), (&stale_l, 1), (&expired_l, 0)] {
        assert_has(s, Family::EndpointChainValid, &format!("{l}}} {value}\n"));
    }
    assert_has(
        s,
        Family::EndpointServedNotAfter,
        &format!("{expired_l}}} 1614816000\n"),
    );
    assert_has(
        s,
        Family::EndpointServedInfo,
        &format!(
            "{stale_l},fingerprint_sha1=\"{}\"}} 1\n",
            previous.fingerprint
        ),
    );
    assert_has(
        s,
        Family::CertificateFingerprint,
        &format!(
            "certificate_id=\"B\",fingerprint_sha1=\"{}\"}} 1\n",
            renewed.fingerprint
        ),
    );
    // The chain above each leaf, from the same detail: no call of its own.
    for cert in ["A", "B", "C", "D"] {
        assert_has(
            s,
            Family::CertificateChainNotAfter,
            &format!("{{account=\"default\",certificate_id=\"{cert}\",depth=\"1\",subject=\"Test Intermediate\",issuer=\"Test Root\"}} 1830297600\n"),
        );
    }
    assert!(!s
        .chunk(Family::CertificateChainNotAfter)
        .contains("depth=\"0\""));
    for (domain, reason) in [
        ("down.example.test", "connect"),
        ("silent.example.test", "timeout"),
    ] {
        let cert = if domain.starts_with("down") { "D" } else { "A" };
        let l = labels(domain, 443, cert);
        assert_has(s, Family::EndpointProbeSuccess, &format!("{l}}} 0\n"));
        assert_has(
            s,
            Family::EndpointProbeError,
            &format!("{l},reason=\"{reason}\"}} 1\n"),
        );
    }
    assert_has(
        s,
        Family::EndpointProbeSuccess,
        &format!("{unknown_l}}} 1\n"),
    );
    assert_has(
        s,
        Family::EndpointSkipped,
        &format!(
            "{},reason=\"wildcard\"}} 1\n",
            labels("*.wild.example.test", 443, "A")
        ),
    );
    assert_has(
        s,
        Family::EndpointInfo,
        &format!("{rec_l},resource_type=\"clb\",source=\"update\"}} 1\n"),
    );
    assert_has(s, Family::EndpointTargets, "state=\"probed\"} 7\n");
    assert_has(s, Family::EndpointTargets, "state=\"skipped\"} 1\n");
    let silent_duration = s
        .chunk(Family::EndpointProbeDuration)
        .lines()
        .find(|l| l.contains("silent.example.test"))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .expect("a duration for the silent endpoint");
    assert!(
        (0.7..5.0).contains(&silent_duration),
        "bounded by the probe timeout: {silent_duration}"
    );
    let everything: String = Family::ALL.iter().map(|f| s.chunk(*f)).collect();
    assert!(
        !everything.contains("TEST-PRIVATE-KEY-MATERIAL"),
        "the private key is never exported"
    );

    // An upload-update puts other content under B's ID (the list shows other dates): the
    // fingerprint follows within one run, and the endpoint serving that content now matches.
    certificate_list.delete_async().await;
    certificate_list = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200).json_body(list_with("2035-01-01 07:59:59"));
        })
        .await;
    let mut b_detail = detail_mocks.remove(1);
    b_detail.delete_async().await;
    // The new content comes with another chain: its intermediate expires on another day.
    let mut new_content = certificate_detail("B", &previous);
    new_content["Response"]["CertChainInfo"][1]["ValidTo"] = json!("2029-01-01 08:00:00");
    b_detail = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificateDetail")
                .json_body(json!({"CertificateId": "B"}));
            then.status(200).json_body(new_content);
        })
        .await;
    let third = collector.collect().await.expect("runs");
    assert_eq!(b_detail.calls_async().await, 1, "B fetched again");
    for mock in &detail_mocks {
        assert_eq!(
            mock.calls_async().await,
            1,
            "unchanged certificates are not"
        );
    }
    assert_has(
        &third.snapshot,
        Family::EndpointCertificateMatch,
        &format!("{stale_l}}} 1\n"),
    );
    let chains = third.snapshot.chunk(Family::CertificateChainNotAfter);
    assert!(
        chains.contains("certificate_id=\"B\",depth=\"1\",subject=\"Test Intermediate\",issuer=\"Test Root\"} 1861920000\n")
            && chains.contains("certificate_id=\"A\",depth=\"1\",subject=\"Test Intermediate\",issuer=\"Test Root\"} 1830297600\n"),
        "the chain follows the content too:\n{chains}"
    );
    assert!(certificate_list.calls_async().await >= 1);

    // Three endpoints a run out of seven: the window rotates, and the endpoints outside it keep
    // their last results, so every endpoint shows within ceil(7 / 3) = 3 runs, and stays.
    let mut rotating = EndpointsCollector::new(
        client(&server.base_url()),
        settings(),
        EndpointsLimits {
            concurrency: 4,
            max_endpoints: 3,
            resolved_only: true,
        },
        Arc::clone(&book),
        Arc::new(
            Prober::new(
                &overrides,
                &[pki.ca.der().clone()],
                Duration::from_millis(800),
            )
            .expect("prober"),
        ),
    );
    let shown =
        |s: &crate::metrics::Snapshot, family: Family| -> std::collections::BTreeSet<String> {
            s.chunk(family)
                .lines()
                .filter_map(|l| l.split("domain=\"").nth(1))
                .filter_map(|l| l.split("\"}").next())
                .map(str::to_string)
                .collect()
        };
    for (run, expected) in [(1, 3), (2, 6), (3, 7), (4, 7), (5, 7)] {
        let collected = rotating.collect().await.expect("runs");
        let s = &collected.snapshot;
        assert_eq!(
            shown(s, Family::EndpointProbeSuccess).len(),
            expected,
            "run {run}: {}",
            s.chunk(Family::EndpointProbeSuccess)
        );
        assert_eq!(
            shown(s, Family::EndpointProbeTimestamp),
            shown(s, Family::EndpointProbeSuccess),
            "run {run}: every result shown says when it was probed"
        );
        assert_eq!(
            s.chunk(Family::EndpointRotationRuns),
            "tencentcloud_ssl_endpoint_rotation_runs{account=\"default\"} 3\n"
        );
        assert_has(s, Family::EndpointTargets, "state=\"probed\"} 3\n");
        assert_has(s, Family::EndpointTargets, "state=\"over_limit\"} 4\n");
    }
}

#[tokio::test]
async fn a_failed_source_run_does_not_hold_the_first_probes_back() {
    use crate::targets::{TargetBook, BIND_SOURCE};
    use std::sync::Arc;
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200).json_body(json!({"Response": {"Error": {
                "Code": "AuthFailure.SecretIdNotFound", "Message": "no such key"},
                "RequestId": "r"}}));
        })
        .await;
    let book = Arc::new(TargetBook::new(vec![BIND_SOURCE], 100));
    let mut collector = BindCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        Duration::from_secs(30),
    )
    .publishing_to(Arc::clone(&book));
    assert!(collector.collect().await.is_err());
    assert!(
        book.complete(),
        "the endpoints collector need not wait for it"
    );
    assert!(book.targets().targets.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_first_probes_wait_for_every_source_however_long_its_first_run_takes() {
    use crate::probe::Prober;
    use crate::targets::{TargetBook, BIND_SOURCE};
    use std::sync::Arc;
    let book = Arc::new(TargetBook::new(vec![BIND_SOURCE, "deploy"], 100));
    let prober = Prober::new(&[], &[], Duration::from_secs(1)).expect("prober");
    let mut collector = endpoints_collector("http://127.0.0.1:9", &book, prober);
    book.publish(
        BIND_SOURCE,
        crate::targets::Claims::default(),
        Duration::from_secs(3600),
    );
    let waiting = tokio::spawn(async move {
        collector.before_run().await;
        collector
    });
    // The deploy collector's first run outlasts many intervals: its silence is not "nothing
    // deployed", so the endpoints are not probed on what bind alone says.
    tokio::time::sleep(settings().interval * 10).await;
    assert!(!waiting.is_finished());
    book.tried("deploy");
    tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("runs once every source answered")
        .expect("joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_are_fetched_while_a_slow_source_still_runs() {
    use crate::config::ResolveOverride;
    use crate::probe::Prober;
    use crate::targets::{Claim, TargetBook, BIND_SOURCE};
    use std::sync::Arc;

    let pki = TestPki::new();
    let leaf = pki.leaf(&["early.example.test", "late.example.test"], (2035, 1, 1));
    let served_at = pki.serve(&leaf).await;
    let server = MockServer::start_async().await;
    let mut details = Vec::new();
    for id in ["A", "B"] {
        details.push(
            server
                .mock_async(|when, then| {
                    when.method(POST)
                        .header("x-tc-action", "DescribeCertificateDetail")
                        .json_body(json!({"CertificateId": id}));
                    then.status(200).json_body(certificate_detail(id, &leaf));
                })
                .await,
        );
    }
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200).json_body(json!({"Response": {"TotalCount": 2, "Certificates": [
                {"CertificateId": "A", "CertBeginTime": "2025-01-01 08:00:00", "CertEndTime": "2035-01-01 07:59:59"},
                {"CertificateId": "B", "CertBeginTime": "2025-01-01 08:00:00", "CertEndTime": "2035-01-01 07:59:59"}
            ], "RequestId": "r"}}));
        })
        .await;
    let claim = |domain: &str, cert: &str, source: &'static str| Claim {
        domain: domain.into(),
        port: 443,
        certificate_id: cert.into(),
        resource_type: "cdn".into(),
        source,
        stated_at: Some(100),
        inactive: None,
    };
    let book = Arc::new(TargetBook::new(vec![BIND_SOURCE, "deploy"], 100));
    let overrides: Vec<ResolveOverride> = ["early.example.test", "late.example.test"]
        .into_iter()
        .map(|domain| ResolveOverride {
            domain: domain.into(),
            port: 443,
            addr: served_at,
        })
        .collect();
    let prober =
        Prober::new(&overrides, &[pki.ca.der().clone()], Duration::from_secs(2)).expect("prober");
    let mut collector = endpoints_collector(&server.base_url(), &book, prober);
    let waiting = tokio::spawn(async move {
        collector.before_run().await;
        collector
    });
    // The fast source answers; the slow one (deploy) is still on its first run.
    book.publish(
        "deploy",
        vec![claim("early.example.test", "A", "deploy")].into(),
        Duration::from_secs(3600),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while details[0].calls_async().await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        details[0].calls_async().await,
        1,
        "fetched before the slow source answered"
    );
    assert!(!waiting.is_finished(), "the first probes still wait");
    book.publish(
        BIND_SOURCE,
        vec![claim("late.example.test", "B", BIND_SOURCE)].into(),
        Duration::from_secs(3600),
    );
    let mut collector = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("runs once every source answered")
        .expect("joined");
    let run = collector.collect().await.expect("runs");
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(
        details[0].calls_async().await,
        1,
        "what was learned ahead is not fetched again"
    );
    assert_eq!(
        details[1].calls_async().await,
        1,
        "the rest is fetched by the run"
    );
    for domain in ["early.example.test", "late.example.test"] {
        assert_has(
            &run.snapshot,
            Family::EndpointCertificateMatch,
            &format!("domain=\"{domain}\",port=\"443\""),
        );
    }
}

/// The first-seen order of (action, subject) pairs the mock server was asked for; a custom
/// matcher may be evaluated more than once per request.
#[derive(Clone, Default)]
struct Arrivals(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Arrivals {
    /// A matcher that notes `action` requests by the value of `field` in their body.
    fn note(
        &self,
        action: &'static str,
        field: &'static str,
    ) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
        let seen = self.0.clone();
        move |request: &HttpMockRequest| {
            let is_action = request
                .headers_vec()
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("x-tc-action") && v == action);
            if is_action {
                let body: Value = serde_json::from_slice(request.body_ref()).unwrap_or_default();
                let subject = match &body[field] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let key = format!("{action}:{subject}");
                let mut seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !seen.contains(&key) {
                    seen.push(key);
                }
            }
            true
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        let seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.iter().position(|k| k == key)
    }

    fn of(&self, action: &str) -> Vec<String> {
        let seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.iter()
            .filter_map(|k| k.strip_prefix(&format!("{action}:")).map(str::to_string))
            .collect()
    }
}

/// Pipelines, not phases: a record's detail is asked for as soon as its certificate's list is
/// answered, before the last certificate's list is even asked (one list in flight at a time,
/// paced, so the order of arrival shows whether the two actions overlap).
#[tokio::test]
async fn deploy_details_are_fetched_while_the_lists_go_on() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    let arrivals = Arrivals::default();
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200)
                .json_body(json!({"Response": {"TotalCount": 3, "Certificates": [cert("a"), cert("b"), cert("c")], "RequestId": "r"}}));
        })
        .await;
    for (certificate, record) in [("a", 1), ("b", 2), ("c", 3)] {
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .header("x-tc-action", "DescribeHostDeployRecord")
                    .json_body_includes(format!(r#"{{"CertificateId": "{certificate}"}}"#))
                    .is_true(arrivals.note("DescribeHostDeployRecord", "CertificateId"));
                then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                    {"Id": record, "CertId": certificate, "ResourceType": "cdn", "Region": "", "Status": 1, "CreateTime": recent, "UpdateTime": recent}
                ], "RequestId": "r"}}));
            })
            .await;
    }
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecordDetail")
                .is_true(arrivals.note("DescribeHostDeployRecordDetail", "DeployRecordId"));
            then.status(200).json_body(
                json!({"Response": {"TotalCount": 1, "SuccessTotalCount": 1,
                "FailedTotalCount": 0, "RunningTotalCount": 0, "PendingTotalCount": 0,
                "DeployRecordDetailList": [{"Id": 1, "Status": 1}], "RequestId": "r"}}),
            );
        })
        .await;
    let client = api_common::client_with(&server.base_url(), api_common::Attempts::new(), |c| {
        c.rate_limits
            .insert("DescribeHostDeployRecord".to_string(), 4.0);
    });
    let mut settings = settings();
    settings.concurrency = 1;
    let mut collector = RecordsCollector::new(
        RecordKind::Deploy,
        client,
        settings,
        Duration::from_secs(30 * 86_400),
        all_certificates(),
    );
    let collected = collect_ok(&mut collector).await;
    assert_eq!(
        collected
            .snapshot
            .chunk(Family::DeployRecordInfo)
            .lines()
            .count(),
        3
    );
    let lists = arrivals.of("DescribeHostDeployRecord");
    assert_eq!(lists.len(), 3, "{lists:?}");
    let last_list = arrivals
        .position(&format!("DescribeHostDeployRecord:{}", lists[2]))
        .expect("listed");
    let first_detail = arrivals
        .of("DescribeHostDeployRecordDetail")
        .first()
        .and_then(|id| arrivals.position(&format!("DescribeHostDeployRecordDetail:{id}")))
        .expect("a detail");
    assert!(
        first_detail < last_list,
        "a detail was asked for before the last list: {:?}",
        arrivals.0.lock().map(|a| a.clone()).unwrap_or_default()
    );
}

/// The value of the deploy collector's `family` sample in `snapshot`.
fn deploy_gauge(snapshot: &crate::metrics::Snapshot, family: Family) -> f64 {
    snapshot
        .chunk(family)
        .lines()
        .find(|l| l.contains("collector=\"deploy\""))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A run lists at most `pace × interval` certificates, new ones first, the rest in later runs;
/// a certificate the rotation skips keeps its rows, and the rotation's state is exported.
#[tokio::test]
async fn deploy_lists_spend_the_budget_and_rotate() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(3 * 86_400);
    let arrivals = Arrivals::default();
    let certificates: Vec<Value> = (1..=5).map(|i| cert(&format!("c{i}"))).collect();
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200).json_body(
                json!({"Response": {"TotalCount": 5, "Certificates": certificates, "RequestId": "r"}}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecord")
                .json_body_includes(r#"{"CertificateId": "c1"}"#)
                .is_true(arrivals.note("DescribeHostDeployRecord", "CertificateId"));
            then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                {"Id": 7, "CertId": "c1", "ResourceType": "cdn", "Region": "", "Status": 1, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecord")
                .is_true(arrivals.note("DescribeHostDeployRecord", "CertificateId"));
            then.status(200).json_body(
                json!({"Response": {"TotalCount": 0, "DeployRecordList": [], "RequestId": "r"}}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecordDetail");
            then.status(200).json_body(
                json!({"Response": {"TotalCount": 1, "SuccessTotalCount": 1,
                "FailedTotalCount": 0, "RunningTotalCount": 0, "PendingTotalCount": 0,
                "DeployRecordDetailList": [{"Id": 1, "Status": 1}], "RequestId": "r"}}),
            );
        })
        .await;
    // Two calls a run: a pace of 2/s over a one-second interval.
    let client = api_common::client_with(&server.base_url(), api_common::Attempts::new(), |c| {
        c.rate_limits
            .insert("DescribeHostDeployRecord".to_string(), 2.0);
    });
    let mut settings = settings();
    settings.interval = Duration::from_secs(1);
    let mut collector = RecordsCollector::new(
        RecordKind::Deploy,
        client,
        settings,
        Duration::from_secs(30 * 86_400),
        all_certificates(),
    );
    let first = collect_ok(&mut collector).await;
    assert_eq!(
        arrivals.of("DescribeHostDeployRecord").len(),
        2,
        "two calls"
    );
    assert_eq!(
        deploy_gauge(&first.snapshot, Family::CheckPendingCertificates),
        3.0
    );
    let bound = deploy_gauge(&first.snapshot, Family::CheckRotationBound);
    assert!(bound >= 4.0, "{bound}: three wait, at one new a run");
    let mut last = first;
    for _ in 0..4 {
        last = collect_ok(&mut collector).await;
        // c1's final record stays, listed this run or not.
        assert_has(&last.snapshot, Family::DeployRecordInfo, "record_id=\"7\"");
    }
    let mut listed = arrivals.of("DescribeHostDeployRecord");
    listed.sort();
    assert_eq!(listed, ["c1", "c2", "c3", "c4", "c5"]);
    assert_eq!(
        deploy_gauge(&last.snapshot, Family::CheckPendingCertificates),
        0.0
    );
    let oldest = deploy_gauge(&last.snapshot, Family::CheckOldestAge);
    let bound = deploy_gauge(&last.snapshot, Family::CheckRotationBound);
    assert!(oldest <= bound, "oldest check {oldest} s, bound {bound} s");
}

/// A certificate that cannot be deployed is left unlisted only once nothing held for it can
/// change: a final row whose detail still shows a resource running is listed, and its detail
/// fetched, again.
#[tokio::test]
async fn an_undeployable_certificate_with_a_detail_still_moving_is_listed_again() {
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeCertificates");
            then.status(200)
                .json_body(json!({"Response": {"TotalCount": 1, "Certificates": [
                {"CertificateId": "old", "Status": 1, "Deployable": false}], "RequestId": "r"}}));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostDeployRecord");
            then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                {"Id": 300, "CertId": "old", "ResourceType": "cdn", "Region": "", "Status": 1, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    let detail = server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "DescribeHostDeployRecordDetail");
            then.status(200).json_body(
                json!({"Response": {"TotalCount": 1, "SuccessTotalCount": 0,
                "FailedTotalCount": 0, "RunningTotalCount": 1, "PendingTotalCount": 0,
                "DeployRecordDetailList": [{"Id": 1, "Status": 3}], "RequestId": "r"}}),
            );
        })
        .await;
    let mut collector = deploy_collector(RecordKind::Deploy, &server, settings());
    collect_ok(&mut collector).await;
    collect_ok(&mut collector).await;
    assert_eq!(list.calls_async().await, 2, "listed again");
    assert_eq!(detail.calls_async().await, 2, "its detail fetched again");
}

/// A task detail page of 150 CLB instances (paged by 100), instance `i` serving
/// `d{first + i}.example.com`.
fn numbered_detail_page(first: u64, offset: u64) -> Value {
    let instances: Vec<Value> = (offset..150.min(offset + 100))
        .map(|i| {
            json!({"LoadBalancerId": format!("lb-{i}"), "Listeners": [{"ListenerId": "l",
                   "Rules": [{"Domain": format!("d{}.example.com", first + i)}]}]})
        })
        .collect();
    json!({"Response": {
        "CLB": [{"Region": "ap-guangzhou", "InstanceList": instances, "TotalCount": 150, "Error": ""}],
        "Status": 1, "CacheTime": "2025-06-01 12:00:00", "RequestId": "r"}})
}

#[tokio::test]
async fn bind_holds_only_the_tracked_sample_with_every_claim_about_it() {
    use crate::targets::{endpoint_hash, TargetBook, BIND_SOURCE, DEFAULT_PORT};
    use std::sync::Arc;
    let server = MockServer::start_async().await;
    certificates_capped_at_two(&server, &["one", "two"]).await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .header("x-tc-action", "CreateCertificateBindResourceSyncTask");
            then.status(200).json_body(json!({"Response": {"CertTaskIds": [
                {"CertId": "one", "TaskId": "t1"}, {"CertId": "two", "TaskId": "t2"}], "RequestId": "r"}}));
        })
        .await;
    let region = json!([{"ResourceType": "clb", "BindResourceRegionResult": [{"Region": "ap-guangzhou", "TotalCount": 150}]}]);
    server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeCertificateBindResourceTaskResult");
            then.status(200).json_body(json!({"Response": {"SyncTaskBindResourceResult": [
                {"TaskId": "t1", "Status": 1, "Error": null, "CacheTime": "2025-06-01 12:00:00", "BindResourceResult": region},
                {"TaskId": "t2", "Status": 1, "Error": null, "CacheTime": "2025-06-01 12:00:00", "BindResourceResult": region}],
                "RequestId": "r"}}));
        })
        .await;
    // Certificate one serves d0…d149, two serves d100…d249: d100…d149 are named by both.
    let mut details = Vec::new();
    for (task, first) in [("t1", 0u64), ("t2", 100)] {
        for offset in [0u64, 100] {
            details.push(
                server
                    .mock_async(|when, then| {
                        when.method(POST)
                            .header("x-tc-action", "DescribeCertificateBindResourceTaskDetail")
                            .json_body(json!({"TaskId": task, "Limit": "100", "Offset": offset.to_string()}));
                        then.status(200)
                            .json_body(numbered_detail_page(first, offset));
                    })
                    .await,
            );
        }
    }
    let max_tracked = 20;
    // The endpoint of the largest hash is named by a resolve override: tracked too.
    let mut domains: Vec<u64> = (0..250).collect();
    domains.sort_by_key(|i| endpoint_hash(&format!("d{i}.example.com"), DEFAULT_PORT));
    let pinned = domains[249];
    let book = Arc::new(
        TargetBook::new(vec![BIND_SOURCE], max_tracked)
            .pinning([(format!("d{pinned}.example.com"), DEFAULT_PORT)]),
    );
    let mut collector = BindCollector::new(
        client(&server.base_url()),
        settings(),
        all_certificates(),
        Duration::from_secs(30),
    )
    .publishing_to(Arc::clone(&book));
    let claims_of = |i: u64| -> Vec<(String, String)> {
        let domain = format!("d{i}.example.com");
        [("one", i < 150), ("two", i >= 100)]
            .into_iter()
            .filter(|(_, named)| *named)
            .map(|(cert, _)| (domain.clone(), cert.to_string()))
            .collect()
    };
    // The smallest hashes whose claims (two for an endpoint both certificates name) number at
    // most 20, with all their claims; then the pinned one.
    let mut want: Vec<(String, String)> = Vec::new();
    for i in &domains[..249] {
        let claims = claims_of(*i);
        if want.len() + claims.len() > max_tracked {
            break;
        }
        want.extend(claims);
    }
    want.extend(claims_of(pinned));
    want.sort();
    for run in 0..2 {
        let collected = collect_ok(&mut collector).await;
        let tracked = book.targets();
        let got: Vec<(String, String)> = tracked
            .targets
            .iter()
            .map(|t| (t.domain.clone(), t.certificate_id.to_string()))
            .collect();
        assert_eq!(got, want, "run {run}");
        assert_eq!(
            tracked.untracked,
            300 - want.len() as u64,
            "run {run}: every claim left out is counted"
        );
        assert_eq!(book.claims(), want.len(), "run {run}: nothing else is held");
        // The bind series themselves are whole.
        assert!(collected.snapshot.chunk(Family::BoundResources).contains(
            "certificate_id=\"two\",resource_type=\"clb\",region=\"ap-guangzhou\"} 150\n"
        ));
    }
    for mock in &details {
        assert_eq!(
            mock.calls_async().await,
            1,
            "the second run keeps the held sample"
        );
    }
}

#[tokio::test]
async fn rollout_records_hold_only_their_share_of_the_tracked_sample() {
    use crate::targets::{endpoint_hash, TargetBook, DEFAULT_PORT};
    use std::sync::Arc;
    let server = MockServer::start_async().await;
    let recent = gmt8_seconds_ago(60);
    server
        .mock_async(|when, then| {
            when.method(POST).header("x-tc-action", "DescribeHostUpdateRecord");
            then.status(200).json_body(json!({"Response": {"TotalCount": 1, "DeployRecordList": [
                {"Id": 5, "CertId": "new", "OldCertId": "old", "Status": 1, "CreateTime": recent, "UpdateTime": recent}
            ], "RequestId": "r"}}));
        })
        .await;
    // 250 items that succeeded, item i deployed to r{i}.example.com.
    for offset in [0u64, 200] {
        let items: Vec<Value> = (offset..250.min(offset + 200))
            .map(|i| json!({"Id": i, "Status": 1, "ResourceType": "cdn", "Domains": [format!("r{i}.example.com")]}))
            .collect();
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .header("x-tc-action", "DescribeHostUpdateRecordDetail")
                    .json_body(json!({"DeployRecordId": "5", "Limit": "200", "Offset": offset.to_string()}));
                then.status(200).json_body(json!({"Response": {"TotalCount": 250, "RecordDetailList": [
                    {"ResourceType": "cdn", "TotalCount": 250, "List": items}], "RequestId": "r"}}));
            })
            .await;
    }
    let book = Arc::new(TargetBook::new(vec!["update"], 10));
    let mut collector =
        deploy_collector(RecordKind::Update, &server, settings()).publishing_to(Arc::clone(&book));
    collect_ok(&mut collector).await;
    let mut want: Vec<String> = (0..250).map(|i| format!("r{i}.example.com")).collect();
    want.sort_by_key(|d| endpoint_hash(d, DEFAULT_PORT));
    want.truncate(10);
    want.sort();
    let tracked = book.targets();
    let got: Vec<&str> = tracked.targets.iter().map(|t| t.domain.as_str()).collect();
    assert_eq!(
        got, want,
        "the ten smallest hashes of the record's 250 endpoints"
    );
    assert!(tracked.targets.iter().all(|t| &*t.certificate_id == "new"));
    assert_eq!(tracked.untracked, 240);
    assert_eq!(book.claims(), 10, "nothing else is held");
}
