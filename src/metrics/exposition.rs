//! Prepared exposition bytes: what a scrape hands out.
//!
//! The body is a list of shared [`Part`]s: per family a header piece, then the piece of that
//! family from every collector's latest snapshot (compressed when the collector finished), then
//! collector health and build info. A publish re-lines-up the list in each format, joins the
//! text format's deflate bytes (already compressed, a tenth of the text) behind the gzip header
//! into one buffer, and swaps the bodies in atomically; no text is copied or recompressed. The
//! OpenMetrics body's joined buffer is built by the first gzip OpenMetrics scrape after a
//! publish (one builder; concurrent first scrapes wait for it) and kept until the next publish,
//! so an exporter nobody scrapes in OpenMetrics holds no second copy. The tail (the live API
//! traffic counters of [`Telemetry`]) is re-rendered at most once a second. A scrape takes both
//! without locks: gzip is three chunks, the joined body, the tail's final deflate bytes and a
//! trailer with the combined CRC-32, one valid single-member gzip file that the server writes
//! with one vectored write; plain text is the pieces' text in order, which each piece restores
//! from its deflate bytes the first time a plain scrape needs it (see [`Part`]), so an exporter
//! scraped only with gzip, as Prometheus does, holds no text at all.

use std::collections::BTreeMap;
#[cfg(test)]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::contract::Family;
use super::format::{header, openmetrics_from_text, Format, OPENMETRICS_EOF};
use super::part::{compression_failures, gzip_trailer, Part, GZIP_HEADER};
use super::snapshot::{escape_label_value, push_value, Snapshot};
use crate::headlines::Headlines;
use crate::telemetry::Telemetry;

/// Counter of exposition pieces that could not be compressed (served stored instead).
pub const COMPRESSION_FAILURES_TOTAL: &str =
    "tencentcloud_ssl_exposition_compression_failures_total";

/// How often the live tail is re-rendered at most.
const TAIL_MAX_AGE: Duration = Duration::from_secs(1);

/// The problem of a collector whose task died.
const DIED: &str = "the collector's task died and is being restarted (see the logs)";

/// Longest a snapshot is kept without a newer good run, whatever `keep_for` says (so deadline
/// arithmetic cannot overflow).
const MAX_KEEP_FOR: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The lined-up pieces of the body.
#[derive(Debug)]
struct Body {
    pieces: Vec<Arc<Part>>,
    /// Plain length of the pieces.
    len: u64,
    /// Their deflate bytes joined behind the gzip header, built once per publish by whoever
    /// needs it first (see [`Body::joined`]).
    joined: OnceLock<Joined>,
    /// How many times `joined` was built (at most once).
    #[cfg(test)]
    joins: AtomicUsize,
}

/// The gzip header and every piece's deflate bytes, joined, and the pieces' combined CRC.
#[derive(Debug)]
struct Joined {
    gzip: Bytes,
    crc: crc32fast::Hasher,
}

impl Body {
    fn new(pieces: Vec<Arc<Part>>) -> Body {
        let len = pieces.iter().map(|p| p.len() as u64).sum();
        Body {
            pieces,
            len,
            joined: OnceLock::new(),
            #[cfg(test)]
            joins: AtomicUsize::new(0),
        }
    }

    /// The joined gzip bytes, built on first use: one caller builds, callers meanwhile wait
    /// for it, later ones take it as it is.
    fn joined(&self) -> &Joined {
        self.joined.get_or_init(|| {
            #[cfg(test)]
            self.joins.fetch_add(1, Ordering::Relaxed);
            let mut crc = crc32fast::Hasher::new();
            let deflated: usize = self.pieces.iter().map(|p| p.deflate.len()).sum();
            let mut gzip = Vec::with_capacity(GZIP_HEADER.len() + deflated);
            gzip.extend_from_slice(&GZIP_HEADER);
            for piece in &self.pieces {
                crc.combine(piece.crc());
                gzip.extend_from_slice(&piece.deflate);
            }
            Joined {
                gzip: Bytes::from(gzip),
                crc,
            }
        })
    }
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
    /// When the last run ended (unix seconds), what went wrong, and when the next starts.
    last_run_unix: f64,
    problem: Option<String>,
    next_run_unix: Option<f64>,
    /// The headlines of the data served (withdrawn with it).
    headlines: Arc<Headlines>,
}

/// What a collector run hands to [`Exposition::publish`].
#[derive(Debug, Default)]
pub struct RunReport {
    /// Fresh data, or `None` when the run produced nothing usable (the last data stays until
    /// its staleness bound).
    pub snapshot: Option<Snapshot>,
    /// Whether the run succeeded completely (`tencentcloud_ssl_collector_success`).
    pub success: bool,
    /// How long the run took.
    pub duration: Duration,
    /// How long published data may be served without a newer successful run.
    pub keep_for: Duration,
    /// What went wrong, in plain words, when something did.
    pub problem: Option<String>,
    /// The run's headline numbers; `None` keeps the last ones (with the data they belong to).
    pub headlines: Option<Headlines>,
    /// When the next run starts, as unix seconds.
    pub next_run_unix: Option<f64>,
}

/// What the landing page shows of one collector of one account.
#[derive(Debug, Clone)]
pub struct CollectorStatus {
    pub account: String,
    pub collector: &'static str,
    pub success: bool,
    pub duration_seconds: f64,
    /// When its last run ended, as unix seconds.
    pub last_run_unix: f64,
    pub last_success_unix: Option<f64>,
    pub next_run_unix: Option<f64>,
    pub problem: Option<String>,
    /// Whether the data it serves is withdrawn (older than its staleness bound).
    pub withdrawn: bool,
    pub headlines: Arc<Headlines>,
}

/// The rendered live tail, in each format (by [`Format::index`]; OpenMetrics' ends with
/// `# EOF`, as the tail ends the body).
#[derive(Debug)]
struct Tail {
    rendered_at: Instant,
    /// [`Telemetry::epoch`] when it was rendered.
    epoch: u64,
    parts: [Part; 2],
}

/// The prepared exposition shared by the collectors (writers) and the HTTP server (readers).
#[derive(Debug)]
pub struct Exposition {
    /// The body in each format, by [`Format::index`]; the sample pieces are shared.
    bodies: ArcSwap<[Body; 2]>,
    /// The live tail, when it was rendered, and the telemetry epoch it shows.
    tail: ArcSwap<Tail>,
    tail_rendering: AtomicBool,
    entries: Mutex<BTreeMap<(String, &'static str), Entry>>,
    telemetry: Telemetry,
    /// The metadata piece of every family in each format, by [`Format::index`] then
    /// [`Family::index`].
    headers: [Vec<Arc<Part>>; 2],
    /// The build info sample.
    build_info: Arc<Part>,
}

/// One piece of a body: a family's metadata (which differs by format) or samples (shared).
enum Piece {
    Header(Family),
    Samples(Arc<Part>),
}

/// A response body as a few shared chunks, and its length.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The body, in order.
    pub chunks: Vec<Bytes>,
    /// Total length of the chunks.
    pub len: u64,
}

impl Exposition {
    /// An exposition with no collector data yet; `version` and `revision` label the build info.
    pub fn new(telemetry: Telemetry, version: &str, revision: &str) -> Self {
        let build_info = format!(
            "{}{{version=\"{}\",revision=\"{}\"}} 1\n",
            Family::BuildInfo.def().name,
            escape_label_value(version),
            escape_label_value(revision)
        );
        let exposition = Exposition {
            bodies: ArcSwap::from_pointee([Body::new(Vec::new()), Body::new(Vec::new())]),
            tail: ArcSwap::from_pointee(Tail {
                rendered_at: Instant::now(),
                epoch: 0,
                parts: [Part::last(Vec::new()), Part::last(Vec::new())],
            }),
            tail_rendering: AtomicBool::new(false),
            entries: Mutex::new(BTreeMap::new()),
            telemetry,
            headers: Format::ALL.map(|format| {
                Family::ALL
                    .iter()
                    .map(|f| Arc::new(Part::open(header(f.def(), format).into_bytes())))
                    .collect()
            }),
            build_info: Arc::new(Part::open(build_info.into_bytes())),
        };
        let entries = BTreeMap::new();
        exposition
            .bodies
            .store(Arc::new(exposition.render_bodies(&entries)));
        exposition.refresh_tail();
        exposition
    }

    /// Publishes a collector run and re-renders the body.
    pub fn publish(&self, account: &str, collector: &'static str, report: RunReport) {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let key = (account.to_string(), collector);
        let previous = entries.get(&key).cloned();
        let wall_now = tencentcloud_ssl_api::time::now_unix_millis() as f64 / 1000.0;
        let last_success_unix = if report.success {
            Some(wall_now)
        } else {
            previous.as_ref().and_then(|p| p.last_success_unix)
        };
        let headlines = match (report.headlines, &previous) {
            (Some(headlines), _) => Arc::new(headlines),
            (None, Some(previous)) => Arc::clone(&previous.headlines),
            (None, None) => Arc::default(),
        };
        let (snapshot, valid_until) = match (report.snapshot, previous) {
            (Some(snapshot), _) => (
                Arc::new(snapshot),
                now.checked_add(report.keep_for.min(MAX_KEEP_FOR))
                    .unwrap_or(now),
            ),
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
                last_run_unix: wall_now,
                problem: report.problem,
                next_run_unix: report.next_run_unix,
                headlines,
            },
        );
        self.withdraw_expired(&mut entries, now);
        self.bodies.store(Arc::new(self.render_bodies(&entries)));
    }

    /// A collector's task died (panicked or returned): `success 0` at once. Its data stays until
    /// its staleness bound, as after any failed run.
    pub fn mark_failed(&self, account: &str, collector: &'static str) {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        entries
            .entry((account.to_string(), collector))
            .and_modify(|entry| {
                entry.success = false;
                entry.problem = Some(DIED.to_string());
            })
            .or_insert_with(|| Entry {
                snapshot: Arc::new(Snapshot::default()),
                success: false,
                duration_seconds: 0.0,
                last_success_unix: None,
                valid_until: now,
                last_run_unix: tencentcloud_ssl_api::time::now_unix_millis() as f64 / 1000.0,
                problem: Some(DIED.to_string()),
                next_run_unix: None,
                headlines: Arc::default(),
            });
        self.withdraw_expired(&mut entries, now);
        self.bodies.store(Arc::new(self.render_bodies(&entries)));
    }

    /// Withdraws snapshots past their staleness bound (and reports their collector failed);
    /// called periodically so data never outlives its bound even when its collector hangs.
    pub fn expire_stale(&self) {
        let mut entries = self.entries.lock();
        if self.withdraw_expired(&mut entries, Instant::now()) {
            self.bodies.store(Arc::new(self.render_bodies(&entries)));
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
                entry.headlines = Arc::default();
                // Whatever the last run said, what is served now is not a success.
                entry.success = false;
                changed = true;
            }
        }
        changed
    }

    /// Every collector's latest state, by account then collector.
    pub fn status(&self) -> Vec<CollectorStatus> {
        let now = Instant::now();
        self.entries
            .lock()
            .iter()
            .map(|((account, collector), entry)| CollectorStatus {
                account: account.clone(),
                collector,
                success: entry.success,
                duration_seconds: entry.duration_seconds,
                last_run_unix: entry.last_run_unix,
                last_success_unix: entry.last_success_unix,
                next_run_unix: entry.next_run_unix,
                problem: entry.problem.clone(),
                withdrawn: entry.valid_until <= now,
                headlines: Arc::clone(&entry.headlines),
            })
            .collect()
    }

    /// The body in each format: per family its metadata, then its samples from every entry.
    fn render_bodies(&self, entries: &BTreeMap<(String, &'static str), Entry>) -> [Body; 2] {
        let mut pieces = Vec::new();
        for family in Family::ALL {
            match family {
                Family::CollectorSuccess
                | Family::CollectorDuration
                | Family::CollectorLastSuccess => {
                    if entries.is_empty() {
                        continue;
                    }
                    let mut out = String::new();
                    for ((account, collector), entry) in entries {
                        let value = match family {
                            Family::CollectorSuccess => Some(if entry.success { 1.0 } else { 0.0 }),
                            Family::CollectorDuration => Some(entry.duration_seconds),
                            _ => entry.last_success_unix,
                        };
                        if let Some(value) = value {
                            push_sample(
                                &mut out,
                                family.def().name,
                                account,
                                "collector",
                                collector,
                                value,
                            );
                        }
                    }
                    pieces.push(Piece::Header(*family));
                    pieces.push(Piece::Samples(Arc::new(Part::open(out.into_bytes()))));
                }
                Family::BuildInfo => {
                    pieces.push(Piece::Header(*family));
                    pieces.push(Piece::Samples(Arc::clone(&self.build_info)));
                }
                _ => {
                    let mut parts = entries
                        .values()
                        .filter_map(|e| e.snapshot.part(*family))
                        .peekable();
                    if parts.peek().is_some() {
                        pieces.push(Piece::Header(*family));
                        pieces.extend(parts.map(|p| Piece::Samples(Arc::clone(p))));
                    }
                }
            }
        }
        let bodies = Format::ALL.map(|format| {
            let headers = &self.headers[format.index()];
            Body::new(
                pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Header(family) => Arc::clone(&headers[family.index()]),
                        Piece::Samples(part) => Arc::clone(part),
                    })
                    .collect(),
            )
        });
        // The text body's gzip is joined now, so that a text scrape never waits for it; the
        // OpenMetrics one when first asked for (until then, and for plain scrapes, it takes no
        // memory).
        bodies[Format::Text.index()].joined();
        bodies
    }

    /// Renders the live tail as it is now.
    fn render_tail(&self) -> Arc<Tail> {
        // Read first: a change made while rendering shows up as a newer epoch next time.
        let epoch = self.telemetry.epoch();
        let mut text = self.telemetry.render();
        text.push_str(&format!(
            "# HELP {COMPRESSION_FAILURES_TOTAL} Exposition pieces that could not be compressed (served stored, uncompressed, in the gzip body) or restored from their compressed bytes (served empty in plain scrapes).\n# TYPE {COMPRESSION_FAILURES_TOTAL} counter\n{COMPRESSION_FAILURES_TOTAL} {}\n",
            compression_failures()
        ));
        let mut openmetrics = openmetrics_from_text(&text);
        openmetrics.push_str(OPENMETRICS_EOF);
        let tail = Arc::new(Tail {
            rendered_at: Instant::now(),
            epoch,
            parts: [
                Part::last(text.into_bytes()),
                Part::last(openmetrics.into_bytes()),
            ],
        });
        self.tail.store(Arc::clone(&tail));
        tail
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
        self.render_tail();
        self.tail_rendering.store(false, Ordering::Release);
    }

    /// The tail a scrape serves: re-rendered at once when a change that must be seen at once was
    /// made since (so a state and the metric that reports it never disagree), otherwise at most
    /// once a second.
    fn current_tail(&self) -> Arc<Tail> {
        let tail = self.tail.load_full();
        if tail.epoch != self.telemetry.epoch() {
            return self.render_tail();
        }
        if tail.rendered_at.elapsed() >= TAIL_MAX_AGE {
            self.refresh_tail();
            return self.tail.load_full();
        }
        tail
    }

    /// The bytes of one scrape in `format`: plain, or a gzip file when `gzip` is true.
    pub fn prepared(&self, format: Format, gzip: bool) -> Prepared {
        let bodies = self.bodies.load_full();
        let body = &bodies[format.index()];
        let tail = self.current_tail();
        let tail = &tail.parts[format.index()];
        let mut chunks = Vec::with_capacity(body.pieces.len() + 3);
        if !gzip {
            chunks.extend(body.pieces.iter().map(|p| p.plain().clone()));
            chunks.push(tail.plain().clone());
            let len = chunks.iter().map(|c| c.len() as u64).sum();
            return Prepared { chunks, len };
        }
        let joined = body.joined();
        let mut crc = joined.crc.clone();
        crc.combine(tail.crc());
        chunks.push(joined.gzip.clone());
        chunks.push(tail.deflate.clone());
        chunks.push(gzip_trailer(crc, body.len + tail.len() as u64));
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
        builder.sample(
            crate::metrics::series::CertificateNotAfter { certificate_id: id },
            1.0,
        );
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
            ..RunReport::default()
        }
    }

    #[tokio::test]
    async fn gzip_is_the_plain_text_compressed() {
        let telemetry = Telemetry::new();
        telemetry.observe("a", "DescribeCertificates", "OK", 0.1);
        let exposition = Exposition::new(telemetry, "0.1.0", "abc");
        publish_good(&exposition, "a", "c1");
        let plain =
            String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
        assert!(plain.contains("tencentcloud_ssl_certificate_not_after_timestamp_seconds{account=\"a\",certificate_id=\"c1\"} 1\n"));
        assert!(plain.contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 1\n"
        ));
        assert!(plain.contains("tencentcloud_ssl_collector_duration_seconds{account=\"a\",collector=\"certificates\"} 1.5\n"));
        assert!(
            plain.contains("tencentcloud_ssl_build_info{version=\"0.1.0\",revision=\"abc\"} 1\n")
        );
        assert!(plain.contains("tencentcloud_ssl_api_requests_total"));
        assert_eq!(
            gunzip(&concat(&exposition.prepared(Format::Text, true))),
            plain
        );
    }

    /// Both formats' gzip bodies are, byte for byte, the gzip header, every piece's deflate
    /// bytes in order, the tail's, and a trailer of the plain text's CRC-32 and length (what the
    /// eager join wrote before the OpenMetrics one became lazy).
    #[tokio::test]
    async fn gzip_bodies_are_the_pieces_deflate_bytes_in_both_formats() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        publish_good(&exposition, "b", "c2");
        for format in Format::ALL {
            let plain = concat(&exposition.prepared(format, false));
            let gzip = concat(&exposition.prepared(format, true));
            let bodies = exposition.bodies.load_full();
            let tail = exposition.tail.load_full();
            let mut expected = GZIP_HEADER.to_vec();
            for piece in &bodies[format.index()].pieces {
                expected.extend_from_slice(&piece.deflate);
            }
            expected.extend_from_slice(&tail.parts[format.index()].deflate);
            expected.extend_from_slice(&crc32fast::hash(&plain).to_le_bytes());
            expected.extend_from_slice(&(plain.len() as u32).to_le_bytes());
            assert_eq!(gzip, expected, "{format:?}");
            assert_eq!(gunzip(&gzip).into_bytes(), plain, "{format:?}");
        }
        let openmetrics =
            String::from_utf8(concat(&exposition.prepared(Format::OpenMetrics, false)))
                .expect("utf8");
        assert!(openmetrics.ends_with("# EOF\n"));
        assert!(openmetrics.contains("certificate_id=\"c2\""));
    }

    #[tokio::test]
    async fn gzip_scrapes_hold_no_text_and_a_plain_scrape_restores_it() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        let held = |format: Format| {
            exposition.bodies.load_full()[format.index()]
                .pieces
                .iter()
                .filter(|p| p.text_is_held())
                .count()
        };
        for format in Format::ALL {
            exposition.prepared(format, true);
        }
        assert_eq!((held(Format::Text), held(Format::OpenMetrics)), (0, 0));
        let plain = concat(&exposition.prepared(Format::Text, false));
        let pieces = exposition.bodies.load_full()[Format::Text.index()]
            .pieces
            .len();
        assert_eq!(held(Format::Text), pieces);
        assert_eq!(
            gunzip(&concat(&exposition.prepared(Format::Text, true))).into_bytes(),
            plain
        );
    }

    #[tokio::test]
    async fn the_openmetrics_gzip_body_is_built_once_by_the_first_request_after_a_publish() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        let joins = |format: Format| {
            exposition.bodies.load_full()[format.index()]
                .joins
                .load(Ordering::Relaxed)
        };
        // The text body's is built by the publish, the OpenMetrics one by nobody yet.
        assert_eq!((joins(Format::Text), joins(Format::OpenMetrics)), (1, 0));
        exposition.prepared(Format::OpenMetrics, false);
        exposition.prepared(Format::Text, true);
        assert_eq!((joins(Format::Text), joins(Format::OpenMetrics)), (1, 0));
        // Concurrent first requests: one builds, every one serves the same buffer.
        let threads = 8;
        let start = std::sync::Barrier::new(threads);
        let firsts: Vec<Bytes> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        exposition.prepared(Format::OpenMetrics, true).chunks[0].clone()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a scrape"))
                .collect()
        });
        assert_eq!(joins(Format::OpenMetrics), 1);
        assert!(firsts.iter().all(|b| b.as_ptr() == firsts[0].as_ptr()));
        exposition.prepared(Format::OpenMetrics, true);
        assert_eq!(
            joins(Format::OpenMetrics),
            1,
            "cached until the next publish"
        );
        publish_good(&exposition, "a", "c2");
        assert_eq!((joins(Format::Text), joins(Format::OpenMetrics)), (1, 0));
        let text = gunzip(&concat(&exposition.prepared(Format::OpenMetrics, true)));
        assert!(text.contains("certificate_id=\"c2\""));
        assert_eq!(joins(Format::OpenMetrics), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_change_is_in_the_next_scrape_not_a_second_later() {
        let telemetry = Telemetry::new();
        let exposition = Exposition::new(telemetry.clone(), "v", "r");
        let reload_ok = |text: &str, value: &str| {
            text.contains(&format!(
                "\ntencentcloud_ssl_web_config_last_reload_successful {value}\n"
            ))
        };
        let plain = |e: &Exposition| {
            String::from_utf8(concat(&e.prepared(Format::Text, false))).expect("utf8")
        };
        assert!(reload_ok(&plain(&exposition), "1"));
        // The clock does not move: only the change itself can make the tail render again.
        telemetry.web_config_reloaded(false);
        assert!(reload_ok(&plain(&exposition), "0"));
        assert!(reload_ok(
            &gunzip(&concat(&exposition.prepared(Format::Text, true))),
            "0"
        ));
        telemetry.web_config_reloaded(true);
        assert!(reload_ok(&plain(&exposition), "1"));
        // Counters that need not be seen at once still wait for the tail's age limit.
        telemetry.observe("a", "DescribeCertificates", "OK", 0.1);
        assert!(!plain(&exposition).contains("action=\"DescribeCertificates\",code=\"OK\"} 1"));
        tokio::time::advance(TAIL_MAX_AGE).await;
        assert!(plain(&exposition).contains("action=\"DescribeCertificates\",code=\"OK\"} 1"));
    }

    #[tokio::test]
    async fn families_merge_across_accounts_with_one_header() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        publish_good(&exposition, "b", "c2");
        let plain =
            String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
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
        let text =
            || String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
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
        assert!(text().contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 0\n"
        ));
        assert!(text()
            .contains("tencentcloud_ssl_collector_last_success_timestamp_seconds{account=\"a\""));
    }

    #[tokio::test(start_paused = true)]
    async fn a_withdrawn_snapshot_of_a_successful_run_reports_failure() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        let text =
            || String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
        let success =
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"}";
        assert!(text().contains(&format!("{success} 1\n")));
        // The collector hangs: no publish, only housekeeping.
        tokio::time::advance(Duration::from_secs(61)).await;
        exposition.expire_stale();
        assert!(!text().contains("certificate_id=\"c1\""));
        assert!(text().contains(&format!("{success} 0\n")), "{}", text());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_collector_reports_failure_at_once_and_keeps_its_data_until_the_bound() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        publish_good(&exposition, "a", "c1");
        exposition.mark_failed("a", "certificates");
        exposition.mark_failed("a", "bind");
        let text =
            String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
        assert!(text.contains(
            "tencentcloud_ssl_collector_success{account=\"a\",collector=\"certificates\"} 0\n"
        ));
        assert!(text
            .contains("tencentcloud_ssl_collector_success{account=\"a\",collector=\"bind\"} 0\n"));
        assert!(
            text.contains("certificate_id=\"c1\""),
            "kept until its bound"
        );
    }

    #[tokio::test]
    async fn a_huge_keep_for_does_not_overflow() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        exposition.publish(
            "a",
            "certificates",
            report(Some(snapshot("a", "c1")), true, Duration::MAX),
        );
        let text =
            String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
        assert!(text.contains("certificate_id=\"c1\""));
    }

    #[tokio::test]
    async fn never_successful_collector_has_no_last_success() {
        let exposition = Exposition::new(Telemetry::new(), "v", "r");
        exposition.publish("a", "bind", report(None, false, Duration::from_secs(60)));
        let text =
            String::from_utf8(concat(&exposition.prepared(Format::Text, false))).expect("utf8");
        assert!(text
            .contains("tencentcloud_ssl_collector_success{account=\"a\",collector=\"bind\"} 0\n"));
        assert!(!text.contains("last_success_timestamp_seconds{"));
    }
}
