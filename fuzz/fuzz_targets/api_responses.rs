//! Any bytes as an API answer: every parser must return a value or an error, never panic, and
//! whatever parses must render into exposition text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tencentcloud_ssl_api::bind::{
    parse_detail_page_with, Collect, CreateSyncTaskResponse, DetailTotals, TaskResultResponse,
};
use tencentcloud_ssl_api::certificates::DescribeCertificatesResponse;
use tencentcloud_ssl_api::client::parse_response;
use tencentcloud_ssl_api::detail::CertificateDetail;
use tencentcloud_ssl_api::records::{self, ListResponse, RecordKind};
use tencentcloud_ssl_exporter::collector::bind::{detail_regions, write_binding, CertBinding, Labels};
use tencentcloud_ssl_exporter::collector::certificates;
use tencentcloud_ssl_exporter::collector::records::{
    add_page, rollout_claims, summarize, write_record, RecordDetail,
};
use tencentcloud_ssl_exporter::collector::endpoints::{expected_fingerprint, skip_reason};
use tencentcloud_ssl_exporter::metrics::SnapshotBuilder;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_response::<DescribeCertificatesResponse>("A", data) {
        let (snapshot, _) = certificates::snapshot("fuzz", &page.certificates.items, &[]);
        let _ = snapshot.series();
    }
    if let Ok(detail) = parse_response::<CertificateDetail>("A", data) {
        let _ = expected_fingerprint(&detail);
    }
    let _ = parse_response::<CreateSyncTaskResponse>("A", data);
    let _ = parse_response::<TaskResultResponse>("A", data);
    if let Ok(list) = parse_response::<ListResponse>("A", data) {
        for row in &list.deploy_record_list.items {
            let summary = summarize(RecordKind::Update, row, &RecordDetail::default());
            let mut builder = SnapshotBuilder::new("fuzz");
            write_record(&mut builder, RecordKind::Update, row, &summary);
        }
    }
    if let Ok(response) = parse_response::<Map<String, Value>>("A", data) {
        let collect = Collect {
            instance_ids: true,
            domains_of: Some("c"),
        };
        if let Ok(page) = parse_detail_page_with(&response, collect) {
            for region in page.types.values().flatten() {
                for bound in &region.domains {
                    let _ = skip_reason(&bound.domain);
                }
            }
            let mut totals = DetailTotals::default();
            totals.add_page(page);
            let binding = CertBinding {
                task_id: "t".into(),
                status: tencentcloud_ssl_api::bind::TaskStatus::Succeeded,
                status_code: Some(1),
                cache_time: totals.cache_time.clone(),
                regions: detail_regions(&totals, &mut Labels::default()),
                detailed: true,
            };
            let mut builder = SnapshotBuilder::new("fuzz");
            write_binding(&mut builder, "c", &binding);
        }
    }
    if let Ok(response) = parse_response::<Value>("A", data) {
        for kind in [RecordKind::UploadUpdate, RecordKind::Update, RecordKind::Deploy] {
            if let Ok(page) = records::parse_detail_page(kind, response.clone()) {
                let mut detail = RecordDetail::default();
                add_page(&mut detail, page, 0);
                let row = records::ListedRecord {
                    id: "1".into(),
                    cert_id: "c".into(),
                    old_cert_id: "o".into(),
                    resource_type: String::new(),
                    region: String::new(),
                    status: Some(1),
                    create_time: String::new(),
                    update_time: String::new(),
                };
                let summary = summarize(kind, &row, &detail);
                for claim in rollout_claims(kind, &row, &detail) {
                    let _ = skip_reason(&claim.domain);
                }
                let mut builder = SnapshotBuilder::new("fuzz");
                write_record(&mut builder, kind, &row, &summary);
            }
        }
    }
});
