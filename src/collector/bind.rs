//! The `bind` collector: which cloud resources each certificate is bound to.
//!
//! One run: list the certificates; create sync tasks in batches of 100 with `IsCache=1` (a task of
//! the last 30 minutes is reused by the API); poll task results, 100 per call, with backoff until
//! each task is done, failed, or the poll deadline passes; and, as soon as a task is done, fetch its
//! detail, only for certificates whose summary shows bound resources, and only when its `CacheTime`
//! differs from the detail already held (an unchanged result needs no second look). Per-certificate
//! failures keep that certificate's last good values for at most the staleness bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{
    fan_out, fetch_pages, list_certificate_ids, merge, queue, CollectError, Collected, Collector,
    CollectorSettings, Core, Findings, Held, Refresh,
};
use crate::config::CertificateFilter;
use crate::headlines::Headlines;
use crate::metrics::{series, Snapshot, SnapshotBuilder};
use crate::targets::{Claim, Claims, Draw, LeftOut, TargetBook, BIND_SOURCE, DEFAULT_PORT};
use tencentcloud_ssl_api::action;
use tencentcloud_ssl_api::bind::{
    error_text, parse_detail_page_with, BoundDomain, CertTaskId, Collect, CreateSyncTaskRequest,
    CreateSyncTaskResponse, DetailTotals, TaskDetailRequest, TaskResult, TaskResultRequest,
    TaskResultResponse, TaskStatus, DETAIL_LIMIT, MAX_BATCH,
};
use tencentcloud_ssl_api::client::{ApiError, Client};
use tencentcloud_ssl_api::time;

/// One (resource type, region) of one certificate, and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEntry {
    /// Lower-case resource type; shared between certificates (see [`Labels`]).
    pub resource_type: Arc<str>,
    /// `""` for types without regions; shared like `resource_type`.
    pub region: Arc<str>,
    pub values: RegionValues,
}

/// Values of one (resource type, region) of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionValues {
    /// Instances bound; `None` when the region's query failed.
    pub bound: Option<u64>,
    pub unmatched_domains: u64,
    /// Identifiers of the bound instances; empty unless per-instance series are enabled.
    pub instance_ids: Vec<String>,
    /// Domains the bound instances serve the certificate on, those in the tracked sample (see
    /// `targets`); empty unless endpoints are probed.
    pub domains: Vec<BoundDomain>,
    /// Domains left out of the tracked sample.
    pub left_out: LeftOut,
}

/// What the domains of each (resource type, region) of a detail left out of the sample.
pub type LeftOuts = BTreeMap<(String, String), LeftOut>;

/// The endpoint (domain, port) `bound` names.
fn endpoint_of(bound: &BoundDomain) -> (&str, u16) {
    (&bound.domain, bound.port.unwrap_or(DEFAULT_PORT))
}

/// Draws the domains of `totals` into the run's share of the tracked sample as the detail
/// arrives (see [`Draw`]): what cannot be tracked is counted and let go.
fn sample_domains(totals: &mut DetailTotals, draw: &Draw) -> LeftOuts {
    let mut left_outs = LeftOuts::new();
    for (key, found) in &mut totals.regions {
        let mut left_out = LeftOut::default();
        found.domains.retain(|bound| {
            let (domain, port) = endpoint_of(bound);
            draw.keep(domain, port, &mut left_out)
        });
        if left_out.count > 0 {
            left_outs.insert(key.clone(), left_out);
        }
    }
    left_outs
}

/// What is known about one certificate's bindings.
#[derive(Debug, Clone)]
pub struct CertBinding {
    pub task_id: String,
    pub status: TaskStatus,
    /// The task's raw `Status` code (shown when it is outside the documented set).
    pub status_code: Option<i64>,
    pub cache_time: String,
    /// Sorted by (resource type, region). A boxed slice rather than a map: a certificate has a
    /// handful of entries, and thousands of small maps cost megabytes of half-empty nodes.
    pub regions: Box<[RegionEntry]>,
    /// True when `regions` came from a complete detail fetch of `task_id` at `cache_time`.
    pub detailed: bool,
}

pub(crate) struct BindCollector {
    core: Core,
    filter: CertificateFilter,
    /// How long one run waits for tasks still querying before reporting them as such.
    poll_timeout: Duration,
    /// Last good values per certificate.
    cache: HashMap<String, Held<CertBinding>>,
}

impl BindCollector {
    pub(crate) fn new(
        client: Client,
        settings: CollectorSettings,
        filter: CertificateFilter,
        poll_timeout: Duration,
    ) -> Self {
        BindCollector {
            core: Core::new(
                BIND_SOURCE,
                client,
                settings,
                &[
                    action::DESCRIBE_CERTIFICATES,
                    action::CREATE_BIND_SYNC_TASK,
                    action::DESCRIBE_BIND_TASK_RESULT,
                    action::DESCRIBE_BIND_TASK_DETAIL,
                ],
            ),
            filter,
            poll_timeout,
            cache: HashMap::new(),
        }
    }

    /// Also collects the domains bound instances serve, and publishes them to `book` after
    /// every run.
    pub(crate) fn publishing_to(mut self, book: Arc<TargetBook>) -> Self {
        self.core.publish_to(book);
        self
    }

    /// Keeps this source's share of the tracked sample in the held domains: the smallest
    /// hashes (claims at most `max_tracked`) below the smallest one left out (see
    /// [`crate::targets::cut`]); the others are let go and counted. Returns the cut.
    fn draw_sample(&mut self, book: &TargetBook) -> Option<u64> {
        let groups = self
            .cache
            .values_mut()
            .flat_map(|held| held.value.regions.iter_mut())
            .map(|entry| {
                let values = &mut entry.values;
                (&mut values.domains, &mut values.left_out)
            })
            .collect();
        book.keep_share(groups, endpoint_of)
    }

    /// The endpoints every held binding names, as claims of [`BIND_SOURCE`], with what the
    /// sample under `cut` left out.
    fn claims(&self, cut: Option<u64>) -> Claims {
        let held = self
            .cache
            .values()
            .flat_map(|held| held.value.regions.iter())
            .map(|entry| entry.values.domains.len())
            .sum();
        let mut claims = Vec::with_capacity(held);
        let mut untracked = 0;
        for (cert_id, held) in &self.cache {
            let stated_at = time::parse_api_time(&held.value.cache_time);
            let cert_id: Arc<str> = Arc::from(cert_id.as_str());
            for entry in &held.value.regions {
                untracked += entry.values.left_out.count;
                for bound in &entry.values.domains {
                    claims.push(Claim {
                        domain: bound.domain.clone(),
                        port: bound.port.unwrap_or(DEFAULT_PORT),
                        certificate_id: Arc::clone(&cert_id),
                        resource_type: Arc::clone(&entry.resource_type),
                        source: BIND_SOURCE,
                        stated_at,
                        inactive: bound.inactive,
                    });
                }
            }
        }
        Claims {
            claims,
            cut,
            untracked,
        }
    }
}

/// Label values that repeat across certificates (resource types, regions), held once per run
/// instead of once per certificate. A fresh set each run keeps it bounded by what the API says now.
#[derive(Debug, Default)]
pub struct Labels(HashSet<Arc<str>>);

impl Labels {
    /// The shared copy of `value`.
    pub fn get(&mut self, value: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(value) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(value);
        self.0.insert(Arc::clone(&shared));
        shared
    }

    fn entry(&mut self, resource_type: &str, region: &str, values: RegionValues) -> RegionEntry {
        RegionEntry {
            resource_type: self.get(resource_type),
            region: self.get(region),
            values,
        }
    }
}

/// Regions of a task summary that reported errors (used when no detail is fetched).
fn summary_regions(result: &TaskResult, labels: &mut Labels) -> Box<[RegionEntry]> {
    let mut regions = Vec::new();
    for summary in &result.bind_resource_result {
        let resource_type = summary.resource_type.to_ascii_lowercase();
        for region in &summary.bind_resource_region_result {
            if error_text(region.error.as_ref()).is_some() {
                let values = RegionValues {
                    bound: None,
                    unmatched_domains: 0,
                    instance_ids: Vec::new(),
                    domains: Vec::new(),
                    left_out: LeftOut::default(),
                };
                regions.push(labels.entry(&resource_type, &region.region, values));
            }
        }
    }
    regions.sort_by(|a, b| (&a.resource_type, &a.region).cmp(&(&b.resource_type, &b.region)));
    regions.dedup_by(|a, b| a.resource_type == b.resource_type && a.region == b.region);
    regions.into_boxed_slice()
}

/// Regions of a complete detail (already in key order), with what each left out of the sample.
pub fn detail_regions(
    totals: &DetailTotals,
    left_outs: &LeftOuts,
    labels: &mut Labels,
) -> Box<[RegionEntry]> {
    totals
        .regions
        .iter()
        .map(|(key, found)| {
            let (resource_type, region) = key;
            let values = RegionValues {
                bound: found.error.is_none().then(|| found.bound()),
                unmatched_domains: found.no_match_domains.len() as u64,
                instance_ids: found.instance_ids.iter().cloned().collect(),
                domains: found.domains.iter().cloned().collect(),
                left_out: left_outs.get(key).copied().unwrap_or_default(),
            };
            labels.entry(resource_type, region, values)
        })
        .collect()
}

/// Writes one certificate's series. Pure.
pub fn write_binding(builder: &mut SnapshotBuilder, cert_id: &str, binding: &CertBinding) {
    builder.state_set(
        &TaskStatus::ALL,
        binding.status,
        TaskStatus::label,
        |status| series::BindTaskStatus {
            certificate_id: cert_id,
            status,
        },
    );
    if binding.status == TaskStatus::Unknown {
        let code = binding
            .status_code
            .map_or_else(|| "none".to_string(), |c| c.to_string());
        builder.sample(
            series::UnknownStatusCodes {
                object: "bind_task",
                record_type: "",
                object_id: cert_id,
                code: &code,
            },
            1.0,
        );
    }
    if let Some(unix) = time::parse_api_time(&binding.cache_time) {
        builder.sample(
            series::BindResultTimestamp {
                certificate_id: cert_id,
            },
            unix as f64,
        );
    }
    for entry in &binding.regions {
        let (resource_type, region, values) =
            (&*entry.resource_type, &*entry.region, &entry.values);
        let query_error = series::BindQueryError {
            certificate_id: cert_id,
            resource_type,
            region,
        };
        match values.bound {
            None => builder.sample(query_error, 1.0),
            Some(0) => {}
            Some(bound) => {
                builder.sample(query_error, 0.0);
                builder.sample(
                    series::BoundResources {
                        certificate_id: cert_id,
                        resource_type,
                        region,
                    },
                    bound as f64,
                );
                builder.sample(
                    series::UnmatchedDomains {
                        certificate_id: cert_id,
                        resource_type,
                        region,
                    },
                    values.unmatched_domains as f64,
                );
                for instance in &values.instance_ids {
                    builder.sample(
                        series::BoundInstanceInfo {
                            certificate_id: cert_id,
                            resource_type,
                            region,
                            instance_id: instance,
                        },
                        1.0,
                    );
                }
            }
        }
    }
}

/// Fetches every page of one task's detail, collecting what `collect` asks for beyond counts.
pub(crate) async fn fetch_detail(
    client: &Client,
    task_id: &str,
    collect: Collect<'_>,
    findings: &Findings,
) -> Result<DetailTotals, ApiError> {
    let pages = fetch_pages(|offset| async move {
        let request = TaskDetailRequest {
            task_id: task_id.to_string(),
            limit: DETAIL_LIMIT.to_string(),
            offset: offset.to_string(),
        };
        let response: Map<String, Value> = client
            .call(action::DESCRIBE_BIND_TASK_DETAIL, &request)
            .await?;
        parse_detail_page_with(&response, collect).map_err(|message| ApiError::Decode {
            action: action::DESCRIBE_BIND_TASK_DETAIL.to_string(),
            message,
        })
    })
    .await?;
    let mut totals = DetailTotals::default();
    for (_, page) in pages {
        totals.add_page(page);
    }
    findings.skipped(
        action::DESCRIBE_BIND_TASK_DETAIL,
        &std::mem::take(&mut totals.skipped),
    );
    for ((resource_type, region), found) in &totals.regions {
        if let Some(stated) = found.total_count {
            if found.error.is_none() && stated != found.instances_seen {
                findings.totals_mismatch(
                    action::DESCRIBE_BIND_TASK_DETAIL,
                    &format!("task {task_id} {resource_type} {region}"),
                    &[("TotalCount", stated, found.instances_seen)],
                );
            }
        }
    }
    Ok(totals)
}

/// Creates (or reuses) tasks for `ids`; certificates deleted meanwhile are skipped.
async fn create_tasks(
    client: &Client,
    ids: &[String],
    concurrency: usize,
    findings: &Findings,
    errors: &mut Vec<String>,
) -> Result<Vec<CertTaskId>, ApiError> {
    let create = |batch: Vec<String>| async move {
        let request = CreateSyncTaskRequest {
            certificate_ids: batch.clone(),
            is_cache: 1,
        };
        let result: Result<CreateSyncTaskResponse, ApiError> =
            client.call(action::CREATE_BIND_SYNC_TASK, &request).await;
        (batch, result)
    };
    let batches = ids.chunks(MAX_BATCH).map(<[String]>::to_vec);
    let answers = fan_out(stream::iter(batches), concurrency, create).await;
    let mut tasks = Vec::new();
    for (batch, answer) in answers {
        match answer {
            Ok(response) => {
                findings.skipped(
                    action::CREATE_BIND_SYNC_TASK,
                    &response.cert_task_ids.skipped,
                );
                tasks.extend(response.cert_task_ids.items)
            }
            Err(e) if e.is_auth() => return Err(e),
            Err(e)
                if e.api_code() == Some("FailedOperation.CertificateNotFound")
                    && batch.len() > 1 =>
            {
                // One deleted certificate fails its whole batch: ask for the others one by one.
                for id in batch {
                    match create(vec![id.clone()]).await.1 {
                        Ok(response) => {
                            let ids = response.cert_task_ids;
                            findings.skipped(action::CREATE_BIND_SYNC_TASK, &ids.skipped);
                            tasks.extend(ids.items)
                        }
                        Err(e) if e.api_code() == Some("FailedOperation.CertificateNotFound") => {}
                        Err(e) => errors.push(format!("certificate {id}: {e}")),
                    }
                }
            }
            Err(e) => errors.push(format!("{} certificates: {e}", batch.len())),
        }
    }
    Ok(tasks)
}

impl BindCollector {
    /// Whether the held detail of `cert_id` is the answer `result` describes.
    fn holds_detail(&self, cert_id: &str, result: &TaskResult) -> bool {
        self.cache
            .get(cert_id)
            .is_some_and(|held| held.value.is_detail_of(result))
    }

    /// Polls task results until every task has finished or the deadline passes; each task that
    /// finished with bound resources and no held detail is sent to `to_fetch` at once.
    async fn poll_tasks(
        &self,
        tasks: &HashMap<String, String>,
        to_fetch: tokio::sync::mpsc::UnboundedSender<(String, String)>,
        errors: &mut Vec<String>,
    ) -> HashMap<String, TaskResult> {
        let deadline = Instant::now() + self.poll_timeout;
        let mut pending: Vec<String> = tasks.keys().cloned().collect();
        pending.sort();
        let mut done: HashMap<String, TaskResult> = HashMap::new();
        let mut delay = Duration::from_millis(500);
        let mut last_error: HashMap<String, String> = HashMap::new();
        loop {
            let client = &self.core.client;
            let batches = pending.chunks(MAX_BATCH).map(<[String]>::to_vec);
            let answers: Vec<(Vec<String>, Result<TaskResultResponse, ApiError>)> = fan_out(
                stream::iter(batches),
                self.core.settings.concurrency,
                |batch| async move {
                    let request = TaskResultRequest {
                        task_ids: batch.clone(),
                    };
                    let answer = client
                        .call(action::DESCRIBE_BIND_TASK_RESULT, &request)
                        .await;
                    (batch, answer)
                },
            )
            .await;
            for (batch, answer) in answers {
                match answer {
                    Ok(response) => {
                        let results = response.sync_task_bind_resource_result;
                        self.core
                            .findings
                            .skipped(action::DESCRIBE_BIND_TASK_RESULT, &results.skipped);
                        for mut result in results.items {
                            let Some(cert_id) = tasks.get(&result.task_id) else {
                                continue;
                            };
                            if TaskStatus::from_code(result.status) == TaskStatus::Querying {
                                done.insert(result.task_id.clone(), result);
                                continue;
                            }
                            if TaskStatus::from_code(result.status) == TaskStatus::Succeeded
                                && result.has_bound_resources()
                                && !self.holds_detail(cert_id, &result)
                            {
                                let _ = to_fetch.send((cert_id.clone(), result.task_id.clone()));
                            }
                            result.thin();
                            done.insert(result.task_id.clone(), result);
                        }
                    }
                    Err(e) => {
                        for task in batch {
                            last_error.insert(task, e.to_string());
                        }
                    }
                }
            }
            pending.retain(|task| {
                done.get(task)
                    .is_none_or(|r| TaskStatus::from_code(r.status) == TaskStatus::Querying)
            });
            if pending.is_empty() || Instant::now() + delay > deadline {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        for task in &pending {
            if !done.contains_key(task) {
                let why = last_error
                    .get(task)
                    .cloned()
                    .unwrap_or_else(|| "no result for task".to_string());
                errors.push(format!("task {task}: {why}"));
            }
        }
        done
    }
}

impl Collector for BindCollector {
    fn name(&self) -> &'static str {
        self.core.name
    }

    /// No: besides its batched tasks (100 certificates a call), which the API computes in its
    /// own time (up to the poll timeout), a first run fetches one detail per bound
    /// certificate, so it grows with the account. Until it ends, nothing is said about
    /// bindings (its families are absent, never "bound to nothing").
    fn gates_readiness(&self) -> bool {
        false
    }

    fn source_of(&self) -> Option<Arc<TargetBook>> {
        self.core.target_book().cloned()
    }

    async fn collect(&mut self) -> Result<Collected, CollectError> {
        let outcome = self.run().await;
        self.core.tried(outcome)
    }
}

impl BindCollector {
    /// One run; [`Collector::collect`] adds what the target book needs.
    async fn run(&mut self) -> Result<Collected, CollectError> {
        let started = Instant::now();
        let ids =
            list_certificate_ids(&self.core.client, &self.filter, &self.core.findings).await?;
        let mut errors = Vec::new();
        let answers = self.query(&ids, &mut errors).await?;
        // `merge` consumes the answers, so they are freed before the snapshot is rendered
        // (held together, they were the largest part of a run's peak memory).
        self.merge(&ids, answers, started.elapsed(), &mut errors);
        let valid_for = self.core.settings.stale_after(started.elapsed());
        if let Some(book) = self.core.target_book().cloned() {
            let cut = self.draw_sample(&book);
            self.core.publish(|| self.claims(cut), valid_for);
        }
        Ok(Collected {
            snapshot: self.snapshot(&ids),
            errors,
            headlines: Headlines::default(),
        })
    }
}

/// What one run learned from the API.
struct RunAnswers {
    /// Task ID → certificate ID.
    tasks: HashMap<String, String>,
    /// Task ID → its last result (finished, or still querying at the deadline).
    results: HashMap<String, TaskResult>,
    /// Certificate ID → the regions of its fetched detail.
    details: HashMap<String, Result<Box<[RegionEntry]>, ApiError>>,
    /// The run's shared label values.
    labels: Labels,
}

impl BindCollector {
    /// Creates tasks for `ids`, polls them, and fetches the details worth fetching.
    async fn query(
        &self,
        ids: &[String],
        errors: &mut Vec<String>,
    ) -> Result<RunAnswers, CollectError> {
        let created = create_tasks(
            &self.core.client,
            ids,
            self.core.settings.concurrency,
            &self.core.findings,
            errors,
        )
        .await?;
        let tasks: HashMap<String, String> = created
            .into_iter()
            .map(|t| (t.task_id, t.cert_id))
            .collect();

        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let client = &self.core.client;
        let findings = &self.core.findings;
        let instance_ids = self.core.settings.detail_series;
        let domains = self.core.publishes();
        // This run's share of the sample: what cannot be tracked is let go as it arrives.
        let draw = self.core.target_book().map(|book| Draw::new(book));
        let draw = draw.as_ref();
        // Each detail is reduced to what is held as it arrives (its pages' sets are let go).
        let run_labels = Mutex::new(Labels::default());
        let labels = &run_labels;
        let fetch_all = fan_out(
            queue(receiver),
            self.core.settings.concurrency,
            |(cert_id, task_id): (String, String)| async move {
                let collect = Collect {
                    instance_ids,
                    domains_of: domains.then_some(cert_id.as_str()),
                };
                let detail =
                    fetch_detail(client, &task_id, collect, findings)
                        .await
                        .map(|mut totals| {
                            let left_outs = draw
                                .map(|draw| sample_domains(&mut totals, draw))
                                .unwrap_or_default();
                            detail_regions(&totals, &left_outs, &mut labels.lock())
                        });
                (cert_id, detail)
            },
        );
        let mut poll_errors = Vec::new();
        let (results, details) =
            tokio::join!(self.poll_tasks(&tasks, sender, &mut poll_errors), fetch_all);
        errors.extend(poll_errors);
        Ok(RunAnswers {
            tasks,
            results,
            details: details.into_iter().collect(),
            labels: run_labels.into_inner(),
        })
    }

    /// Replaces the cache with what this run's answers say about each of `ids`, keeping held
    /// values where the answers say nothing new and the staleness bound allows.
    fn merge(
        &mut self,
        ids: &[String],
        answers: RunAnswers,
        run: Duration,
        errors: &mut Vec<String>,
    ) {
        let RunAnswers {
            tasks,
            results,
            mut details,
            mut labels,
        } = answers;
        let results_by_cert: HashMap<&str, &TaskResult> = results
            .values()
            .filter_map(|r| tasks.get(&r.task_id).map(|cert| (cert.as_str(), r)))
            .collect();
        let now = Instant::now();
        let stale_after = self.core.settings.stale_after(run);
        // In place: a second map of every certificate would double the cache while it is built.
        let listed: HashSet<&str> = ids.iter().map(String::as_str).collect();
        self.cache
            .retain(|cert_id, _| listed.contains(cert_id.as_str()));
        for cert_id in ids {
            let held = self.cache.remove(cert_id);
            let merged = match results_by_cert.get(cert_id.as_str()) {
                None => merge(held, Refresh::Unanswered, now, stale_after),
                Some(result) => {
                    self.warn_if_newly_failed(cert_id, result, held.as_ref());
                    let detail = details.remove(cert_id);
                    let (merged, error) =
                        fold_task(held, result, detail, &mut labels, now, stale_after);
                    if let Some(e) = error {
                        errors.push(format!("certificate {cert_id}: {e}"));
                    }
                    merged
                }
            };
            if let Some(binding) = merged {
                self.cache.insert(cert_id.clone(), binding);
            }
        }
    }

    /// Logs a task that failed where the last one had not.
    fn warn_if_newly_failed(
        &self,
        cert_id: &str,
        result: &TaskResult,
        held: Option<&Held<CertBinding>>,
    ) {
        let was_failed = held.is_some_and(|h| h.value.status == TaskStatus::Failed);
        if TaskStatus::from_code(result.status) == TaskStatus::Failed && !was_failed {
            tracing::warn!(
                account = %self.core.settings.account,
                certificate_id = %cert_id,
                error = error_text(result.error.as_ref()).unwrap_or_default(),
                "bind task failed"
            );
        }
    }
}

/// What to hold for a certificate whose task answered `result`, given what was held and the
/// detail fetched for it this run (if any); a detail that failed is returned as the error.
/// Pure (but for the shared label strings).
fn fold_task(
    held: Option<Held<CertBinding>>,
    result: &TaskResult,
    detail: Option<Result<Box<[RegionEntry]>, ApiError>>,
    labels: &mut Labels,
    now: Instant,
    stale_after: Duration,
) -> (Option<Held<CertBinding>>, Option<ApiError>) {
    let status = TaskStatus::from_code(result.status);
    let base = CertBinding {
        task_id: result.task_id.clone(),
        status,
        status_code: result.status,
        cache_time: result.cache_time.clone(),
        regions: Box::default(),
        detailed: false,
    };
    match status {
        TaskStatus::Querying | TaskStatus::Failed | TaskStatus::Unknown => {
            (keep_under_status(held, base, now, stale_after), None)
        }
        TaskStatus::Succeeded if !result.has_bound_resources() => {
            let binding = CertBinding {
                regions: summary_regions(result, labels),
                ..base
            };
            (merge(held, Refresh::Fresh(binding), now, stale_after), None)
        }
        TaskStatus::Succeeded => {
            let (refresh, error) = match detail {
                Some(Ok(regions)) => (
                    Refresh::Fresh(CertBinding {
                        regions,
                        detailed: true,
                        ..base
                    }),
                    None,
                ),
                Some(Err(e)) => (Refresh::Unanswered, Some(e)),
                // Same task and CacheTime as the detail held: still current.
                None if held.as_ref().is_some_and(|h| h.value.is_detail_of(result)) => {
                    (Refresh::Unchanged, None)
                }
                None => (Refresh::Unanswered, None),
            };
            (merge(held, refresh, now, stale_after), error)
        }
    }
}

/// A task that says nothing about bindings (still querying, failed, or in an unknown state):
/// the last good bindings stay within the staleness bound, under the task's real status; with
/// none, the task's status alone (`base`).
fn keep_under_status(
    held: Option<Held<CertBinding>>,
    base: CertBinding,
    now: Instant,
    stale_after: Duration,
) -> Option<Held<CertBinding>> {
    match merge(held, Refresh::Unanswered, now, stale_after) {
        Some(mut h) => {
            h.value.status = base.status;
            h.value.status_code = base.status_code;
            h.value.task_id = base.task_id;
            Some(h)
        }
        None => merge(None, Refresh::Fresh(base), now, stale_after),
    }
}

impl CertBinding {
    /// True when these values are the complete detail of the answer `result` describes: same
    /// task, same `CacheTime`, so fetching it again would return the same thing.
    pub fn is_detail_of(&self, result: &TaskResult) -> bool {
        self.detailed && self.task_id == result.task_id && self.cache_time == result.cache_time
    }
}

impl BindCollector {
    fn snapshot(&mut self, ids: &[String]) -> Snapshot {
        let mut builder = self.core.builder();
        self.core
            .entries(&mut builder, "bindings", self.cache.len());
        for cert_id in ids {
            if let Some(held) = self.cache.get(cert_id) {
                write_binding(&mut builder, cert_id, &held.value);
            }
        }
        self.core.seal(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Family;
    use tencentcloud_ssl_api::bind::RegionTotals;

    fn task(status: i64, bound: bool, cache_time: &str) -> TaskResult {
        serde_json::from_value(serde_json::json!({
            "TaskId": "t1",
            "Status": status,
            "CacheTime": cache_time,
            "BindResourceResult": [{"ResourceType": "CLB", "BindResourceRegionResult": [
                {"Region": "ap-guangzhou", "TotalCount": if bound { 2 } else { 0 }}]}]
        }))
        .expect("task result")
    }

    fn held(binding: CertBinding, at: Instant) -> Option<Held<CertBinding>> {
        Some(Held {
            value: binding,
            confirmed_at: at,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn fold_task_keeps_held_bindings_under_the_task_status_within_the_bound() {
        let (start, bound) = (Instant::now(), Duration::from_secs(60));
        let mut labels = Labels::default();
        let done = task(1, true, "2025-01-01 00:00:00");
        let fresh = |detail: DetailTotals, labels: &mut Labels| {
            let (merged, error) = fold_task(
                None,
                &done,
                Some(Ok(detail_regions(&detail, &LeftOuts::new(), labels))),
                labels,
                start,
                bound,
            );
            assert!(error.is_none());
            merged.expect("fresh").value
        };
        let binding = fresh(DetailTotals::default(), &mut labels);
        assert!(binding.detailed && binding.status == TaskStatus::Succeeded);

        // Still querying: the held bindings stay, under the new task and status.
        tokio::time::advance(Duration::from_secs(30)).await;
        let querying = TaskResult {
            task_id: "t2".into(),
            ..task(0, false, "")
        };
        let still_querying = |labels: &mut Labels| {
            let held = held(binding.clone(), start);
            fold_task(held, &querying, None, labels, Instant::now(), bound).0
        };
        let merged = still_querying(&mut labels).expect("within the bound");
        assert_eq!(merged.value.status, TaskStatus::Querying);
        assert_eq!(merged.value.task_id, "t2");
        assert!(merged.value.detailed, "the bindings held are kept");
        assert_eq!(merged.confirmed_at, start, "nothing confirmed them again");

        // Past the bound, only the task's status is left.
        tokio::time::advance(Duration::from_secs(31)).await;
        let merged = still_querying(&mut labels).expect("the status alone");
        assert!(!merged.value.detailed && merged.value.regions.is_empty());

        // The same task and CacheTime with no new detail: unchanged, confirmed now.
        let now = Instant::now();
        let (merged, _) = fold_task(held(binding, now), &done, None, &mut labels, now, bound);
        assert_eq!(merged.expect("unchanged").confirmed_at, now);

        // Succeeded with nothing bound: the summary alone, no detail needed.
        let nothing = task(1, false, "2025-01-02 00:00:00");
        let (merged, error) = fold_task(None, &nothing, None, &mut labels, now, bound);
        assert!(error.is_none() && !merged.expect("fresh").value.detailed);
    }

    #[test]
    fn labels_are_shared_and_summary_regions_sorted_once() {
        let mut labels = Labels::default();
        let a = labels.get("clb");
        let b = labels.get("clb");
        assert!(Arc::ptr_eq(&a, &b), "one copy per distinct value");
        let result: TaskResult = serde_json::from_str(
            r#"{"TaskId":"t","Status":1,"CacheTime":"","BindResourceResult":[
                {"ResourceType":"WAF","BindResourceRegionResult":[{"Region":"r2","TotalCount":0,"Error":"boom"}]},
                {"ResourceType":"CLB","BindResourceRegionResult":[
                    {"Region":"r1","TotalCount":0,"Error":{"Code":"InternalError","Message":"x"}},
                    {"Region":"r0","TotalCount":0,"Error":null},
                    {"Region":"r1","TotalCount":0,"Error":"again"}]}]}"#,
        )
        .expect("literal parses");
        let regions = summary_regions(&result, &mut labels);
        let keys: Vec<(&str, &str)> = regions
            .iter()
            .map(|e| (&*e.resource_type, &*e.region))
            .collect();
        assert_eq!(keys, [("clb", "r1"), ("waf", "r2")]);
        assert!(Arc::ptr_eq(&regions[0].resource_type, &a));
        assert!(regions.iter().all(|e| e.values.bound.is_none()));
    }

    #[test]
    fn writes_bound_errors_and_unmatched() {
        let mut totals = DetailTotals::default();
        totals.regions.insert(
            ("clb".into(), "ap-guangzhou".into()),
            RegionTotals {
                total_count: Some(3),
                instances_seen: 3,
                error: None,
                no_match_domains: ["a.com".to_string(), "b.com".to_string()].into(),
                instance_ids: Default::default(),
                domains: Default::default(),
            },
        );
        totals.regions.insert(
            ("clb".into(), "ap-beijing".into()),
            RegionTotals {
                error: Some("InternalError".into()),
                ..Default::default()
            },
        );
        totals
            .regions
            .insert(("cdn".into(), "".into()), RegionTotals::default());
        let binding = CertBinding {
            task_id: "t".into(),
            status: TaskStatus::Succeeded,
            status_code: Some(1),
            cache_time: "2025-01-01 08:00:00".into(),
            regions: detail_regions(&totals, &LeftOuts::new(), &mut Labels::default()),
            detailed: true,
        };
        let mut builder = SnapshotBuilder::new("a");
        write_binding(&mut builder, "c1", &binding);
        let s = builder.finish();
        assert_eq!(
            s.chunk(Family::BoundResources),
            "tencentcloud_ssl_certificate_bound_resources{account=\"a\",certificate_id=\"c1\",resource_type=\"clb\",region=\"ap-guangzhou\"} 3\n"
        );
        assert!(s
            .chunk(Family::BindQueryError)
            .contains("region=\"ap-beijing\"} 1\n"));
        assert!(s
            .chunk(Family::BindQueryError)
            .contains("region=\"ap-guangzhou\"} 0\n"));
        assert!(s
            .chunk(Family::UnmatchedDomains)
            .contains("region=\"ap-guangzhou\"} 2\n"));
        assert!(
            !s.chunk(Family::BoundResources).contains("cdn"),
            "zero counts are not series"
        );
        assert!(s
            .chunk(Family::BindTaskStatus)
            .contains("status=\"succeeded\"} 1\n"));
        assert_eq!(
            s.chunk(Family::BindResultTimestamp),
            "tencentcloud_ssl_certificate_bind_result_timestamp_seconds{account=\"a\",certificate_id=\"c1\"} 1735689600\n"
        );
    }

    #[test]
    fn a_detail_lets_go_at_once_of_what_cannot_be_tracked() {
        let bound = |i: u64| BoundDomain {
            domain: format!("d{i}.example.com"),
            port: None,
            inactive: None,
        };
        let mut totals = DetailTotals::default();
        let found = RegionTotals {
            domains: (0..100).map(bound).collect(),
            ..RegionTotals::default()
        };
        totals
            .regions
            .insert(("clb".to_string(), "ap-guangzhou".to_string()), found);
        let book = TargetBook::new(vec![BIND_SOURCE], 10);
        let draw = Draw::new(&book);
        let left_outs = sample_domains(&mut totals, &draw);
        let bound_hash = |b: &BoundDomain| {
            let (domain, port) = endpoint_of(b);
            crate::targets::endpoint_hash(domain, port)
        };
        let kept: Vec<u64> = totals
            .regions
            .values()
            .next()
            .expect("region")
            .domains
            .iter()
            .map(bound_hash)
            .collect();
        let mut all: Vec<u64> = (0..100)
            .map(|i| crate::targets::endpoint_hash(&format!("d{i}.example.com"), 443))
            .collect();
        all.sort_unstable();
        // The first ten offered are held until smaller ones come; at most the ten smallest
        // of those offered stay, and whatever was let go is above them.
        assert!(kept.len() >= 10, "{}", kept.len());
        assert!(
            all[..10].iter().all(|h| kept.contains(h)),
            "the ten smallest are held"
        );
        let left_out = left_outs.values().next().expect("left out");
        assert_eq!(left_out.count, 100 - kept.len() as u64);
        assert!(left_out.count > 0 && left_out.smallest.is_some_and(|s| s > all[9]));
        // The run's bound is now the tenth smallest: a larger hash in a later detail is let go.
        let mut later = LeftOut::default();
        let largest = (0..100)
            .map(|i| format!("d{i}.example.com"))
            .max_by_key(|d| crate::targets::endpoint_hash(d, 443))
            .expect("domains");
        assert!(!draw.keep(&largest, 443, &mut later));
        assert_eq!(later.count, 1);
    }
}
