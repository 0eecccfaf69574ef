//! Prepared exposition bytes: what a scrape copies out.
//!
//! The body (every collector's latest snapshot merged per family, plus collector health and build
//! info) is rendered and compressed once per publish and swapped in atomically. The tail (the live
//! API traffic counters of [`Telemetry`]) is re-rendered at most once a second. A scrape takes both
//! without locks and concatenates them: for gzip, the body is a raw-deflate stream ended with a
//! sync flush and the tail a final raw-deflate stream, so header + body + tail + trailer (CRC-32 of
//! the two parts combined) is one valid single-member gzip file.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};
use tokio::time::Instant;

use super::contract::Family;
use super::snapshot::{escape_label_value, push_value, Snapshot};
use crate::telemetry::Telemetry;

/// How often the live tail is re-rendered at most.
const TAIL_MAX_AGE: Duration = Duration::from_secs(1);
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// One part of the exposition, plain and as raw deflate.
#[derive(Debug, Clone)]
pub struct Part {
    pub plain: Bytes,
    pub deflate: Bytes,
    crc: crc32fast::Hasher,
}

impl Part {
    fn new(plain: Vec<u8>, last: bool) -> Part {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&plain);
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let deflate = raw_deflate(&plain, flush);
        Part {
            plain: Bytes::from(plain),
            deflate: Bytes::from(deflate),
            crc,
        }
    }
}

/// Compresses `data` into a raw deflate stream, ended by `flush` (`Sync`: byte-aligned and open
/// for more blocks; `Finish`: with a final block).
fn raw_deflate(data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(5), false);
    let mut out = Vec::with_capacity(data.len() / 5 + 1024);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = compress.total_in() as usize;
        let before = out.len();
        let status = compress.compress_vec(&data[consumed..], &mut out, flush);
        let all_in = compress.total_in() as usize == data.len();
        let spare_left = out.capacity() > out.len();
        match status {
            Ok(Status::StreamEnd) => break,
            Ok(_) if matches!(flush, FlushCompress::Sync) && all_in && spare_left => break,
            Ok(Status::BufError) if out.len() == before && all_in => break,
            Ok(_) => {}
            // In-memory deflate of a byte slice cannot fail; stop rather than spin if it does.
            Err(_) => break,
        }
    }
    out
}

/// Latest published state of one collector of one account.
#[derive(Debug, Clone)]
struct Entry {
    snapshot: Arc<Snapshot>,
    success: bool,
    duration_seconds: f64,
    last_success_unix: Option<f64>,
    /// After this, the snapshot is older than the staleness bound and is withdrawn.
    valid_until: Instant,
}

/// What a collector run hands to [`Exposition::publish`].
#[derive(Debug)]
pub struct RunReport {
    /// Fresh data, or `None` when the run produced nothing usable (the last data stays until
    /// its staleness bound).
    pub snapshot: Option<Snapshot>,
    pub success: bool,
    pub duration: Duration,
    /// How long published data may be served without a newer successful run.
    pub keep_for: Duration,
}

/// The prepared exposition shared by the collectors (writers) and the HTTP server (readers).
#[derive(Debug)]
pub struct Exposition {
    body: ArcSwap<Part>,
    tail: ArcSwap<(Instant, Part)>,
    tail_rendering: AtomicBool,
    entries: Mutex<BTreeMap<(String, &'static str), Entry>>,
    telemetry: Telemetry,
    build_info: (String, String),
}

/// A response body as a few shared chunks, and its length.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub chunks: Vec<Bytes>,
    pub len: u64,
}

impl Exposition {
    pub fn new(telemetry: Telemetry, version: &str, revision: &str) -> Self {
        let exposition = Exposition {
            body: ArcSwap::from_pointee(Part::new(Vec::new(), false)),
            tail: ArcSwap::from_pointee((Instant::now(), Part::new(Vec::new(), true))),
            tail_rendering: AtomicBool::new(false),
            entries: Mutex::new(BTreeMap::new()),
            telemetry,
            build_info: (version.to_string(), revision.to_string()),
        };
        let entries = BTreeMap::new();
        exposition
            .body
            .store(Arc::new(exposition.render_body(&entries)));
        exposition.refresh_tail();
        exposition
    }

    /// Publishes a collector run and re-renders the body.
    pub fn publish(&self, account: &str, collector: &'static str, report: RunReport) {
        let now = Instant::now();
        let mut entries = self.lock_entries();
        let key = (account.to_string(), collector);
        let previous = entries.get(&key).cloned();
        let wall_now = unix_now();
        let last_success_unix = if report.success {
            Some(wall_now)
        } else {
            previous.as_ref().and_then(|p| p.last_success_unix)
        };
        let (snapshot, valid_until) = match (report.snapshot, previous) {
            (Some(snapshot), _) => (Arc::new(snapshot), now + report.keep_for),
            (None, Some(previous)) => (previous.snapshot, previous.valid_until),
            (None, None) => (Arc::new(Snapshot::default()), now),
        };
        entries.insert(
            key,
            Entry {
                snapshot,
                success: report.success,
                duration_seconds: report.duration.as_secs_f64(),
                last_success_unix,
                valid_until,
            },
        );
        self.withdraw_expired(&mut entries, now);
        self.body.store(Arc::new(self.render_body(&entries)));
    }

    /// Withdraws snapshots past their staleness bound; called periodically so data never
    /// outlives its bound even when its collector hangs.
    pub fn expire_stale(&self) {
        let mut entries = self.lock_entries();
        if self.withdraw_expired(&mut entries, Instant::now()) {
            self.body.store(Arc::new(self.render_body(&entries)));
        }
    }

    fn withdraw_expired(
        &self,
        entries: &mut BTreeMap<(String, &'static str), Entry>,
        now: Instant,
    ) -> bool {
        let mut changed = false;
        for ((account, collector), entry) in entries.iter_mut() {
            if entry.snapshot.series() > 0 && now >= entry.valid_until {
                tracing::warn!(
                    account = %account,
                    collector,
                    "withdrawing data older than its staleness bound"
                );
                entry.snapshot = Arc::new(Snapshot::default());
                changed = true;
            }
        }
        changed
    }

    fn lock_entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, &'static str), Entry>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn render_body(&self, entries: &BTreeMap<(String, &'static str), Entry>) -> Part {
        let capacity: usize = entries
            .values()
            .map(|e| e.snapshot.series() * 160)
            .sum::<usize>()
            + 4096;
        let mut out = String::with_capacity(capacity);
        for family in Family::ALL {
            let def = family.def();
            let header = |out: &mut String| {
                out.push_str("# HELP ");
                out.push_str(def.name);
                out.push(' ');
                out.push_str(def.help);
                out.push_str("\n# TYPE ");
                out.push_str(def.name);
                out.push(' ');
                out.push_str(def.kind);
                out.push('\n');
            };
            match family {
                Family::CollectorSuccess
                | Family::CollectorDuration
                | Family::CollectorLastSuccess => {
                    if entries.is_empty() {
                        continue;
                    }
                    header(&mut out);
                    for ((account, collector), entry) in entries {
                        let value = match family {
                            Family::CollectorSuccess => Some(if entry.success { 1.0 } else { 0.0 }),
                            Family::CollectorDuration => Some(entry.duration_seconds),
                            _ => entry.last_success_unix,
                        };
                        if let Some(value) = value {
                            push_sample(&mut out, def.name, account, "collector", collector, value);
                        }
                    }
                }
                Family::BuildInfo => {
                    header(&mut out);
                    out.push_str(def.name);
                    out.push_str("{version=\"");
                    out.push_str(&escape_label_value(&self.build_info.0));
                    out.push_str("\",revision=\"");
                    out.push_str(&escape_label_value(&self.build_info.1));
                    out.push_str("\"} 1\n");
                }
                _ => {
                    if entries
                        .values()
                        .all(|e| e.snapshot.chunk(*family).is_empty())
                    {
                        continue;
                    }
                    header(&mut out);
                    for entry in entries.values() {
                        out.push_str(entry.snapshot.chunk(*family));
                    }
                }
            }
        }
        Part::new(out.into_bytes(), false)
    }

    /// Re-renders the live tail if it is older than a second and nobody else is doing it.
    fn refresh_tail(&self) {
        if self
            .tail_rendering
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let part = Part::new(self.telemetry.render().into_bytes(), true);
        self.tail.store(Arc::new((Instant::now(), part)));
        self.tail_rendering.store(false, Ordering::Release);
    }

    /// The bytes of one scrape: plain text, or a gzip file when `gzip` is true.
    pub fn prepared(&self, gzip: bool) -> Prepared {
        if self.tail.load().0.elapsed() >= TAIL_MAX_AGE {
            self.refresh_tail();
        }
        let body = self.body.load_full();
        let tail = self.tail.load_full();
        let tail = &tail.1;
        if !gzip {
            let len = (body.plain.len() + tail.plain.len()) as u64;
            return Prepared {
                chunks: vec![body.plain.clone(), tail.plain.clone()],
                len,
            };
        }
        let mut crc = body.crc.clone();
        crc.combine(&tail.crc);
        let total = (body.plain.len() + tail.plain.len()) as u64;
        let mut trailer = Vec::with_capacity(8);
        trailer.extend_from_slice(&crc.finalize().to_le_bytes());
        trailer.extend_from_slice(&(total as u32).to_le_bytes());
        let chunks = vec![
            Bytes::from_static(&GZIP_HEADER),
            body.deflate.clone(),
            tail.deflate.clone(),
            Bytes::from(trailer),
        ];
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        Prepared { chunks, len }
    }
}

fn push_sample(
    out: &mut String,
    name: &str,
    account: &str,
    label: &str,
    value_label: &str,
    value: f64,
) {
    out.push_str(name);
    out.push_str("{account=\"");
    out.push_str(&escape_label_value(account));
    out.push_str("\",");
    out.push_str(label);
    out.push_str("=\"");
    out.push_str(&escape_label_value(value_label));
    out.push_str("\"} ");
    push_value(out, value);
    out.push('\n');
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SnapshotBuilder;
    use std::io::Read;

    fn concat(prepared: &Prepared) -> Vec<u8> {
        let bytes: Vec<u8> = prepared
            .chunks
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect();
        assert_eq!(bytes.len() as u64, prepared.len);
        bytes
    }

    fn gunzip(bytes: &[u8]) -> String {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut out)
            .expect("valid gzip");
        out
    }

    fn snapshot(account: &str, id: &str) -> Snapshot {
        let mut builder = SnapshotBuilder::new(account);
        builder.sample(Family::CertificateNotAfter, &[id], 1.0);
        builder.finish()
    }

    /// Publishes a successful `certificates` run of `account` holding certificate `id`.
    fn publish_good(exposition: &Exposition, account: &str, id: &str) {
        exposition.publish(
            account,
            "certificates",
            report(Some(snapshot(account, id)), true, Duration::from_secs(60)),
        );
    }

    fn report(snapshot: Option<Snapshot>, success: bool, keep_for: Duration) -> RunReport {
        RunReport {
            snapshot,
            success,
            duration: Duration::from_millis(1500),
            keep_for,
        }
    }

    #[tokio::test]
    async fn gzip_is_the_plain_text_compressed() {
        let telemetry = Telemetry::new();
        telemetry.observe("a", "DescribeCertificates", "OK", 0.1);
        let exposition = Exposition::new(telemetry, "0.1.0", "abc");
        publish_good(&exposition, "a", "c1");
        let plain = String::from_utf8(concat(&exposition.prepared(false))).expect("utf8");
        assert!(plain.contains("tencentcloud_ssl_certificate_not_after_timestamp_seconds{account=\"a\",certificate_id=\"c1\"} 1\n"));
        assert!(plain.contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 1\n"
        ));
        assert!(plain.contains("tencentcloud_ssl_collector_duration_seconds{account=\"a\",collector=\"certificates\"} 1.5\n"));
        assert!(
            plain.contains("tencentcloud_ssl_build_info{version=\"0.1.0\",revision=\"abc\"} 1\n")
        );
        assert!(plain.contains("tencentcloud_ssl_api_requests_total"));
        assert_eq!(gunzip(&concat(&exposition.prepared(true))), plain);
    }

    #[test]
    fn large_bodies_compress_and_round_trip() {
        let data: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| format!("{i} ").into_bytes())
            .collect();
        let body = Part::new(data.clone(), false);
        let tail = Part::new(b"tail\n".to_vec(), true);
        let mut crc = body.crc.clone();
        crc.combine(&tail.crc);
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend_from_slice(&body.deflate);
        gz.extend_from_slice(&tail.deflate);
        gz.extend_from_slice(&crc.finalize().to_le_bytes());
        gz.extend_from_slice(&((data.len() + 5) as u32).to_le_bytes());
        let mut expected = String::from_utf8(data).expect("utf8");
        expected.push_str("tail\n");
        assert_eq!(gunzip(&gz), expected);
    }

    #[tokio::test]
    async fn families_merge_across_accounts_with_one_header() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        publish_good(&exposition, "b", "c2");
        let plain = String::from_utf8(concat(&exposition.prepared(false))).expect("utf8");
        let name = "tencentcloud_ssl_certificate_not_after_timestamp_seconds";
        assert_eq!(plain.matches(&format!("# TYPE {name} gauge")).count(), 1);
        assert_eq!(plain.matches(&format!("{name}{{")).count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_run_keeps_data_until_its_bound_then_withdraws_it() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        exposition.publish(
            "a",
            "certificates",
            report(None, false, Duration::from_secs(60)),
        );
        let text = || String::from_utf8(concat(&exposition.prepared(false))).expect("utf8");
        assert!(text().contains("certificate_id=\"c1\""));
        assert!(text().contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 0\n"
        ));
        assert!(text()
            .contains("tencentcloud_ssl_collector_last_success_timestamp_seconds{account=\"a\""));
        tokio::time::advance(Duration::from_secs(61)).await;
        exposition.expire_stale();
        assert!(
            !text().contains("certificate_id=\"c1\""),
            "stale data withdrawn"
        );
        assert!(text()
            .contains("tencentcloud_ssl_collector_last_success_timestamp_seconds{account=\"a\""));
    }

    #[tokio::test]
    async fn never_successful_collector_has_no_last_success() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        exposition.publish("a", "bind", report(None, false, Duration::from_secs(60)));
        let text = String::from_utf8(concat(&exposition.prepared(false))).expect("utf8");
        assert!(text
            .contains("tencentcloud_ssl_collector_success{account=\"a\",collector=\"bind\"} 0\n"));
        assert!(!text.contains("last_success_timestamp_seconds{"));
    }
}
