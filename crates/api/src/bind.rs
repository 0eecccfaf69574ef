//! Bind-resource tasks: which cloud resources use a certificate.
//!
//! `CreateCertificateBindResourceSyncTask` starts (or, with `IsCache=1`, reuses) a task per
//! certificate; `DescribeCertificateBindResourceTaskResult` reports status and per-region counts;
//! `DescribeCertificateBindResourceTaskDetail` lists instances. The detail is parsed generically:
//! every top-level list is a resource type, so types newer than the docs need no code change.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::de;
use crate::{domains_in, Items, SkippedItem};

/// Most certificates per create call and task IDs per result call.
pub const MAX_BATCH: usize = 100;
/// Largest detail page.
pub const DETAIL_LIMIT: u64 = 100;

/// Request of `CreateCertificateBindResourceSyncTask`: start (or reuse) one bind-resource query
/// task per certificate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSyncTaskRequest {
    /// Certificates to query (`CertificateIds`), at most [`MAX_BATCH`].
    pub certificate_ids: Vec<String>,
    /// 1: reuse a task of the certificate finished within the last 30 minutes.
    pub is_cache: u64,
}

/// Answer of `CreateCertificateBindResourceSyncTask`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSyncTaskResponse {
    /// The task started or reused for each certificate (`CertTaskIds`); `null` is empty.
    #[serde(default)]
    pub cert_task_ids: Items<CertTaskId>,
}

/// One certificate's bind-resource task, as `CreateCertificateBindResourceSyncTask` returns it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CertTaskId {
    /// The certificate (`CertId`).
    #[serde(deserialize_with = "de::text")]
    pub cert_id: String,
    /// The bind-resource task for it (`TaskId`).
    #[serde(deserialize_with = "de::text")]
    pub task_id: String,
}

/// Request of `DescribeCertificateBindResourceTaskResult`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskResultRequest {
    /// Tasks to report on (`TaskIds`), at most [`MAX_BATCH`].
    pub task_ids: Vec<String>,
}

/// Answer of `DescribeCertificateBindResourceTaskResult`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskResultResponse {
    /// One result per requested task (`SyncTaskBindResourceResult`); `null` is empty.
    #[serde(default)]
    pub sync_task_bind_resource_result: Items<TaskResult>,
}

/// Status and per-region counts of one bind-resource task.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskResult {
    /// The task (`TaskId`).
    #[serde(deserialize_with = "de::text")]
    pub task_id: String,
    /// `Status`: 0 querying, 1 done, 2 failed; see [`TaskStatus::from_code`].
    #[serde(default, deserialize_with = "de::opt_code")]
    pub status: Option<i64>,
    /// `Error` (`{Code, Message}` or `null`) when the task failed; see [`error_text`].
    #[serde(default)]
    pub error: Option<Value>,
    /// When the API computed this result (`CacheTime`), `YYYY-MM-DD HH:MM:SS` GMT+8; `null` is
    /// empty.
    #[serde(default, deserialize_with = "de::null_default")]
    pub cache_time: String,
    /// Counts per resource type (`BindResourceResult`); `null` is empty.
    #[serde(default, deserialize_with = "de::null_default")]
    pub bind_resource_result: Vec<TypeSummary>,
}

/// A task result's counts for one resource type.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TypeSummary {
    /// The resource type (`ResourceType`), e.g. `clb`, `cdn`, `tke`.
    #[serde(default, deserialize_with = "de::null_default")]
    pub resource_type: String,
    /// Counts per region (`BindResourceRegionResult`); `null` is empty.
    #[serde(default, deserialize_with = "de::null_default")]
    pub bind_resource_region_result: Vec<RegionSummary>,
}

/// A task result's count for one resource type in one region.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionSummary {
    /// The region (`Region`); empty for types without regions.
    #[serde(default, deserialize_with = "de::null_default")]
    pub region: String,
    /// Instances of this type in this region that use the certificate (`TotalCount`).
    #[serde(default, deserialize_with = "de::count")]
    pub total_count: u64,
    /// `Error` of querying this region, if any; see [`error_text`].
    #[serde(default)]
    pub error: Option<Value>,
}

/// State of a bind task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Status 0: still querying.
    Querying,
    /// Status 1: done, the counts are complete.
    Succeeded,
    /// Status 2: the task failed (see its `Error`).
    Failed,
    /// A missing code or one outside the documented set: says nothing about the bindings, and
    /// is asked again next run.
    Unknown,
}

impl TaskStatus {
    /// Status code 0/1/2; anything else (or none) is [`TaskStatus::Unknown`].
    pub fn from_code(code: Option<i64>) -> TaskStatus {
        match code {
            Some(0) => TaskStatus::Querying,
            Some(1) => TaskStatus::Succeeded,
            Some(2) => TaskStatus::Failed,
            _ => TaskStatus::Unknown,
        }
    }

    /// Lower-case name of the status (`querying`, `succeeded`, `failed`, `unknown`).
    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Querying => "querying",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Unknown => "unknown",
        }
    }

    /// Every status, in code order, unknown last.
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Querying,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Unknown,
    ];
}

/// The text of an `Error` field, or `None` when it means "no error" (`null`, `""`, `{}`).
pub fn error_text(error: Option<&Value>) -> Option<String> {
    match error? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(map) if map.is_empty() => None,
        Value::Object(map) => {
            let field = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or_default();
            let (code, message) = (field("Code"), field("Message"));
            if code.is_empty() && message.is_empty() {
                Some(Value::Object(map.clone()).to_string())
            } else {
                Some(format!("{code}: {message}"))
            }
        }
        other => Some(other.to_string()),
    }
}

impl TaskResult {
    /// Whether any region reports bound instances, i.e. whether the detail is worth fetching.
    pub fn has_bound_resources(&self) -> bool {
        self.bind_resource_result
            .iter()
            .flat_map(|t| &t.bind_resource_region_result)
            .any(|r| r.total_count > 0)
    }

    /// Lets go of the per-region counts a run does not fold in once the task has finished: a
    /// task with bound instances has them counted from its detail, so only the first region that
    /// says so is kept (what [`has_bound_resources`](TaskResult::has_bound_resources) reads);
    /// regions whose query failed are kept (they are reported when no detail is fetched); the
    /// rest (empty regions, types left with none) are dropped. A large account's run holds one
    /// result per certificate until it ends.
    pub fn thin(&mut self) {
        let mut bound_kept = false;
        for summary in &mut self.bind_resource_result {
            summary.bind_resource_region_result.retain(|region| {
                let keep = error_text(region.error.as_ref()).is_some()
                    || (region.total_count > 0 && !bound_kept);
                bound_kept |= region.total_count > 0 && keep;
                keep
            });
            summary.bind_resource_region_result.shrink_to_fit();
        }
        self.bind_resource_result
            .retain(|summary| !summary.bind_resource_region_result.is_empty());
        self.bind_resource_result.shrink_to_fit();
    }
}

/// Request of `DescribeCertificateBindResourceTaskDetail`: one page of a task's instances.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskDetailRequest {
    /// The task (`TaskId`).
    pub task_id: String,
    /// Page size (`Limit`), at most [`DETAIL_LIMIT`]. Sent as strings, as the docs type them.
    pub limit: String,
    /// Instances to skip in every region's `InstanceList` (`Offset`), as a string.
    pub offset: String,
}

/// One region (or the single entry of a non-regional type) on one detail page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionPage {
    /// `""` for types without regions.
    pub region: String,
    /// The region's whole count; `None` for TCB-style entries that have none.
    pub total_count: Option<u64>,
    /// Instances listed on this page (for TCB: access plus host instances of every environment).
    pub instances: u64,
    /// Largest count this entry implies, for paging.
    pub extent: u64,
    /// Longest instance list of this entry on this page (`Offset` applies to each list), for
    /// paging by rows received.
    pub rows: u64,
    /// The entry's `Error`, if it reports one; see [`error_text`].
    pub error: Option<String>,
    /// Domains served by these instances that the certificate does not cover (every
    /// `NoMatchDomains` in the entry).
    pub no_match_domains: BTreeSet<String>,
    /// Identifiers of the listed instances, only when asked for (per-instance series).
    pub instance_ids: Vec<String>,
    /// Domains the listed instances serve the certificate on, only when asked for (endpoint
    /// probes); see [`Collect::domains_of`].
    pub domains: Vec<BoundDomain>,
}

/// A domain a bound instance (or a rollout item) serves the certificate on, with the port when
/// the API names one (DDoS `VirtualPort`, an item's `Port`); probes use 443 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundDomain {
    /// As the API writes it, split and [normalised](crate::domains_in); may be a wildcard.
    pub domain: String,
    /// `VirtualPort` or `Port` of the instance, if it names a valid one.
    pub port: Option<u16>,
    /// Why the binding serves nothing now, when its instance's documented state says so (see
    /// [`inactive_state`]) or the domain is written with the CDN HTTPS billing switch off
    /// (`https_billing_off`, see [`written_domains`](crate::written_domains)); `None` for a live
    /// binding.
    pub inactive: Option<&'static str>,
}

impl BoundDomain {
    /// The domains one string of a domain field names, on `port`: inactive as `inactive` says,
    /// else `https_billing_off` when written `domain|off`. The one reading of a domain field.
    pub fn written<'a>(
        text: &'a str,
        port: Option<u16>,
        inactive: Option<&'static str>,
    ) -> impl Iterator<Item = BoundDomain> + 'a {
        crate::written_domains(text).map(move |(domain, billing_off)| BoundDomain {
            domain,
            port,
            inactive: inactive.or(billing_off.then_some("https_billing_off")),
        })
    }
}

/// Why an instance of `resource_type` (lower case) serves no HTTPS with the certificate now,
/// by the states its detail documents; `None` when it does (or says nothing). Pure.
///
/// - LIVE `Status`: -1 "domain not associated with a certificate", 0 "HTTPS off" (1 is on);
/// - CDN `Status` `offline` or `rejected` (`online`, `processing` serve), and `HttpsBillingSwitch`
///   `off` (HTTPS requests are not enabled);
/// - COS `Status` `DISABLED`;
/// - TEO (EdgeOne) `Status` `failed` (application failed), `issued` (binding failed) or
///   `applying` (`deployed`, `processing` serve).
pub fn inactive_state(resource_type: &str, instance: &Map<String, Value>) -> Option<&'static str> {
    let text = |key: &str| match instance.get(key) {
        Some(Value::String(s)) => Some(s.trim().to_ascii_lowercase()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match resource_type {
        "live" => match text("Status").as_deref() {
            Some("-1") | Some("0") => Some("https_off"),
            _ => None,
        },
        "cdn" => match (
            text("Status").as_deref(),
            text("HttpsBillingSwitch").as_deref(),
        ) {
            (Some("offline") | Some("rejected"), _) => Some("domain_offline"),
            (_, Some("off")) => Some("https_billing_off"),
            _ => None,
        },
        "cos" => match text("Status").as_deref() {
            Some("disabled") => Some("domain_disabled"),
            _ => None,
        },
        "teo" => match text("Status").as_deref() {
            Some("failed") | Some("issued") | Some("applying") => Some("not_deployed"),
            _ => None,
        },
        _ => None,
    }
}

/// What a detail parse collects beyond the counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Collect<'a> {
    /// The identifier of every listed instance (per-instance series).
    pub instance_ids: bool,
    /// The domains the listed instances serve the certificate with this ID on: `Domain` and
    /// `Host` values, `TlsDomains` and `BindDomains` lists, anywhere in an instance, except under
    /// `NoMatchDomains` (not covered) and in objects that name another certificate (`CertId`,
    /// `CertificateId` or `Certificate.CertId` of a listener or rule with its own certificate).
    pub domains_of: Option<&'a str>,
}

/// One parsed detail page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailPage {
    /// The task's `Status` (0 querying, 1 done, 2 failed), if present.
    pub status: Option<i64>,
    /// When the API computed this detail (`CacheTime`), `YYYY-MM-DD HH:MM:SS` GMT+8; empty if
    /// absent.
    pub cache_time: String,
    /// Lower-case resource type → its region entries on this page.
    pub types: BTreeMap<String, Vec<RegionPage>>,
    /// Region entries that could not be decoded (`"CLB ap-guangzhou"`, `"TCB #2"`) and why.
    pub skipped: Vec<SkippedItem>,
}

impl DetailPage {
    /// The longest instance list on this page: the next page starts that much further.
    pub fn rows(&self) -> u64 {
        self.types
            .values()
            .flatten()
            .map(|r| r.rows)
            .max()
            .unwrap_or(0)
    }

    /// The largest count of any region: paging continues while the offset is below it.
    pub fn extent(&self) -> u64 {
        self.types
            .values()
            .flatten()
            .map(|r| r.extent)
            .max()
            .unwrap_or(0)
    }
}

/// Top-level keys that are not resource types even though a future API might make them lists.
const NOT_RESOURCE_TYPES: &[&str] = &["RequestId", "Error", "Status", "CacheTime"];

/// Fields that identify an instance, most specific first.
const INSTANCE_ID_KEYS: &[&str] = &[
    "InstanceId",
    "LoadBalancerId",
    "ClusterId",
    "ServiceId",
    "GatewayId",
    "Bucket",
    "Domain",
    "Host",
];

/// The identifier of one listed instance, whatever its type.
fn instance_id(instance: &Value) -> Option<String> {
    let object = instance.as_object()?;
    INSTANCE_ID_KEYS
        .iter()
        .find_map(|key| match object.get(*key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
}

/// Parses the `Response` object of a detail answer. Pure. Also collects what `collect` asks for:
/// instance identifiers, served domains.
pub fn parse_detail_page_with(
    response: &Map<String, Value>,
    collect: Collect<'_>,
) -> Result<DetailPage, String> {
    let mut page = parse_detail_page(response)?;
    if collect.instance_ids || collect.domains_of.is_some() {
        for (key, value) in response {
            let resource_type = key.to_ascii_lowercase();
            let Some(regions) = page.types.get_mut(&resource_type) else {
                continue;
            };
            // The entries `parse_detail_page` kept, in order: an entry it skipped as undecodable
            // must not shift the instances and domains of the next onto the wrong region.
            let entries = value
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_object)
                .filter(|entry| parse_region(entry).is_ok());
            for (region, entry) in regions.iter_mut().zip(entries) {
                if let Some(cert_id) = collect.domains_of {
                    let within = Within {
                        resource_type: &resource_type,
                        port: None,
                        inactive: None,
                    };
                    collect_domains(entry, cert_id, within, &mut region.domains);
                }
                if !collect.instance_ids {
                    continue;
                }
                let lists = match entry.get("Environments").and_then(Value::as_array) {
                    Some(environments) => environments
                        .iter()
                        .flat_map(|e| {
                            ["AccessService", "HostService"]
                                .map(|s| e.get(s).and_then(|s| s.get("InstanceList")))
                        })
                        .flatten()
                        .collect::<Vec<_>>(),
                    None => entry.get("InstanceList").into_iter().collect(),
                };
                region.instance_ids.extend(
                    lists
                        .into_iter()
                        .filter_map(Value::as_array)
                        .flatten()
                        .filter_map(instance_id),
                );
            }
        }
    }
    Ok(page)
}

/// Parses the `Response` object of a detail answer. Pure.
pub fn parse_detail_page(response: &Map<String, Value>) -> Result<DetailPage, String> {
    let mut page = DetailPage {
        status: match response.get("Status") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_i64(),
            // A status that is no number at all reads as unknown (it is asked again).
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        },
        cache_time: response
            .get("CacheTime")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        types: BTreeMap::new(),
        skipped: Vec::new(),
    };
    for (key, value) in response {
        if NOT_RESOURCE_TYPES.contains(&key.as_str()) {
            continue;
        }
        let Value::Array(entries) = value else {
            continue;
        };
        if !entries.iter().all(Value::is_object) {
            // A list of scalars is some other field, not a resource type.
            continue;
        }
        let mut regions = Vec::with_capacity(entries.len());
        for (position, entry) in entries.iter().enumerate() {
            let Some(object) = entry.as_object() else {
                continue;
            };
            match parse_region(object) {
                Ok(region) => regions.push(region),
                Err(error) => page.skipped.push(SkippedItem {
                    id: format!(
                        "{key} {}",
                        object
                            .get("Region")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("#{position}"), str::to_string)
                    ),
                    error,
                }),
            }
        }
        page.types.insert(key.to_ascii_lowercase(), regions);
    }
    Ok(page)
}

fn count_field(entry: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} {n} is not a non-negative integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} {s:?} is not a non-negative integer")),
        Some(other) => Err(format!("{key} has unexpected value {other}")),
    }
}

fn list_len(entry: &Map<String, Value>, key: &str) -> Result<u64, String> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Array(list)) => Ok(list.len() as u64),
        Some(other) => Err(format!("{key} is not a list: {other}")),
    }
}

fn parse_region(entry: &Map<String, Value>) -> Result<RegionPage, String> {
    let region = match entry.get("Region") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // The meaning is clear: a region named by a number is that text.
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("Region is not a string: {other}")),
    };
    let mut page = RegionPage {
        region,
        error: error_text(entry.get("Error")),
        ..RegionPage::default()
    };
    match entry.get("Environments") {
        Some(Value::Array(environments)) => {
            for environment in environments.iter().filter_map(Value::as_object) {
                for service in ["AccessService", "HostService"] {
                    if let Some(Value::Object(service)) = environment.get(service) {
                        let listed = list_len(service, "InstanceList")?;
                        let total = count_field(service, "TotalCount")?.unwrap_or(0);
                        page.instances += listed;
                        page.rows = page.rows.max(listed);
                        page.extent = page.extent.max(listed).max(total);
                    }
                }
            }
            page.total_count = count_field(entry, "TotalCount")?;
        }
        Some(Value::Null) | None => {
            page.instances = list_len(entry, "InstanceList")?;
            page.rows = page.instances;
            page.total_count = count_field(entry, "TotalCount")?;
            page.extent = page.instances.max(page.total_count.unwrap_or(0));
        }
        Some(other) => return Err(format!("Environments is not a list: {other}")),
    }
    collect_no_match_domains(entry, &mut page.no_match_domains);
    Ok(page)
}

/// Fields naming one served domain, and lists of them.
const DOMAIN_KEYS: &[&str] = &["Domain", "Host"];
const DOMAIN_LIST_KEYS: &[&str] = &["TlsDomains", "BindDomains"];
/// Fields naming the port an instance serves on.
const PORT_KEYS: &[&str] = &["VirtualPort", "Port"];
/// Subtrees whose domains are not served with the certificate: uncovered domains, the
/// certificate's own names, and TKE ingress hosts (the TLS ones are `TlsDomains`).
const NOT_SERVED_KEYS: &[&str] = &["NoMatchDomains", "Certificate", "DnsNames", "Domains"];

/// Whether `object` (a listener, rule, secret, gateway certificate…) names a certificate other
/// than `cert_id`: then nothing under it serves `cert_id`.
fn names_other_certificate(object: &Map<String, Value>, cert_id: &str) -> bool {
    let other = |value: Option<&Value>| matches!(value, Some(Value::String(id)) if !id.trim().is_empty() && id.trim() != cert_id);
    other(object.get("CertId"))
        || other(object.get("CertificateId"))
        || other(object.get("Certificate").and_then(|c| c.get("CertId")))
}

fn port_of(object: &Map<String, Value>) -> Option<u16> {
    PORT_KEYS
        .iter()
        .find_map(|key| match object.get(*key)? {
            Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Value::String(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        })
        .filter(|p| *p != 0)
}

/// The instance the domains are found under; what the domains under it inherit.
#[derive(Debug, Clone, Copy)]
struct Within<'a> {
    /// Lower-case resource type of the entry.
    resource_type: &'a str,
    port: Option<u16>,
    inactive: Option<&'static str>,
}

/// Collects the domains under `object` that serve `cert_id` (see [`Collect::domains_of`]); a
/// port named by an object applies to everything under it.
fn collect_domains(
    object: &Map<String, Value>,
    cert_id: &str,
    within: Within<'_>,
    out: &mut Vec<BoundDomain>,
) {
    if names_other_certificate(object, cert_id) {
        return;
    }
    let within = Within {
        port: port_of(object).or(within.port),
        inactive: within
            .inactive
            .or_else(|| inactive_state(within.resource_type, object)),
        ..within
    };
    let (port, inactive) = (within.port, within.inactive);
    for (key, value) in object {
        let key = key.as_str();
        if NOT_SERVED_KEYS.contains(&key) {
            continue;
        }
        match value {
            Value::String(text) if DOMAIN_KEYS.contains(&key) => {
                out.extend(BoundDomain::written(text, port, inactive))
            }
            Value::Array(items) if DOMAIN_LIST_KEYS.contains(&key) => {
                for text in items.iter().filter_map(Value::as_str) {
                    out.extend(BoundDomain::written(text, port, inactive));
                }
            }
            Value::Object(inner) => collect_domains(inner, cert_id, within, out),
            Value::Array(items) => {
                for inner in items.iter().filter_map(Value::as_object) {
                    collect_domains(inner, cert_id, within, out);
                }
            }
            _ => {}
        }
    }
}

/// Collects every string of every `NoMatchDomains` list anywhere under `value` (listeners, rules,
/// TKE secrets, TDMQ instances, and whatever nests them next).
fn collect_no_match_domains(entry: &Map<String, Value>, out: &mut BTreeSet<String>) {
    for (key, value) in entry {
        if key == "NoMatchDomains" {
            if let Value::Array(domains) = value {
                out.extend(
                    domains
                        .iter()
                        .filter_map(Value::as_str)
                        .flat_map(domains_in),
                );
            }
            continue;
        }
        match value {
            Value::Object(map) => collect_no_match_domains(map, out),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(map) = item {
                        collect_no_match_domains(map, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What every page of one task's detail adds up to, per (resource type, region).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionTotals {
    /// The region's `TotalCount` from the latest page that had one; `None` for TCB-style entries.
    pub total_count: Option<u64>,
    /// Instances listed over all pages.
    pub instances_seen: u64,
    /// The latest `Error` any page reported for this region.
    pub error: Option<String>,
    /// Uncovered domains (`NoMatchDomains`) over all pages.
    pub no_match_domains: BTreeSet<String>,
    /// Identifiers of the listed instances over all pages, when they were collected.
    pub instance_ids: BTreeSet<String>,
    /// Served domains over all pages, when they were collected.
    pub domains: BTreeSet<BoundDomain>,
}

impl RegionTotals {
    /// Instances bound: the region's `TotalCount`, or what was listed when there is none (TCB).
    pub fn bound(&self) -> u64 {
        self.total_count.unwrap_or(self.instances_seen)
    }
}

/// Folds detail pages together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailTotals {
    /// Region entries of every page that could not be decoded.
    pub skipped: Vec<SkippedItem>,
    /// `CacheTime` of the first page that had one, `YYYY-MM-DD HH:MM:SS` GMT+8.
    pub cache_time: String,
    /// Totals per (lower-case resource type, region); region is `""` for types without regions.
    pub regions: BTreeMap<(String, String), RegionTotals>,
}

impl DetailTotals {
    /// Adds one detail page: keeps the first `CacheTime`, the latest `TotalCount` and `Error` of
    /// each region, and sums instances, uncovered domains and instance IDs.
    pub fn add_page(&mut self, page: DetailPage) {
        if self.cache_time.is_empty() {
            self.cache_time = page.cache_time;
        }
        self.skipped.extend(page.skipped);
        for (resource_type, regions) in page.types {
            for region in regions {
                let totals = self
                    .regions
                    .entry((resource_type.clone(), region.region))
                    .or_default();
                if region.total_count.is_some() {
                    totals.total_count = region.total_count;
                }
                totals.instances_seen += region.instances;
                if region.error.is_some() {
                    totals.error = region.error;
                }
                totals.no_match_domains.extend(region.no_match_domains);
                totals.instance_ids.extend(region.instance_ids);
                totals.domains.extend(region.domains);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thinned_result_still_says_whether_anything_is_bound_and_which_regions_failed() {
        let mut result: TaskResult = serde_json::from_value(serde_json::json!({
            "TaskId": "t", "Status": 1, "CacheTime": "2025-01-01 00:00:00",
            "BindResourceResult": [
                {"ResourceType": "clb", "BindResourceRegionResult": [
                    {"Region": "ap-a", "TotalCount": 0},
                    {"Region": "ap-b", "TotalCount": 3},
                    {"Region": "ap-c", "TotalCount": 2},
                    {"Region": "ap-d", "TotalCount": 0, "Error": {"Code": "X", "Message": "m"}}]},
                {"ResourceType": "cdn", "BindResourceRegionResult": [{"Region": "", "TotalCount": 0}]}]
        }))
        .expect("json");
        result.thin();
        assert!(result.has_bound_resources());
        let kept: Vec<(&str, &str)> = result
            .bind_resource_result
            .iter()
            .flat_map(|t| {
                t.bind_resource_region_result
                    .iter()
                    .map(|r| (t.resource_type.as_str(), r.region.as_str()))
            })
            .collect();
        assert_eq!(kept, [("clb", "ap-b"), ("clb", "ap-d")]);
        let mut empty: TaskResult = serde_json::from_value(serde_json::json!({
            "TaskId": "t", "Status": 1,
            "BindResourceResult": [{"ResourceType": "clb", "BindResourceRegionResult": [{"Region": "ap-a", "TotalCount": 0}]}]
        }))
        .expect("json");
        empty.thin();
        assert!(!empty.has_bound_resources());
        assert!(empty.bind_resource_result.is_empty());
    }

    fn page(json: &str) -> DetailPage {
        let value: Value = serde_json::from_str(json).expect("json");
        parse_detail_page(value.as_object().expect("object")).expect("parse")
    }

    /// The seed page's example answer, abridged only where nesting repeats.
    const SEED_EXAMPLE: &str = r#"{
        "CLB": [{"Region": "ap-guangzhou", "InstanceList": [{"LoadBalancerId": "lb-1",
            "Listeners": [{"ListenerId": "lbl-1", "Certificate": {"CertId": "c"},
                "Rules": [{"LocationId": "/test", "Domain": "www.test.com", "IsMatch": true,
                    "NoMatchDomains": ["www.test2.com"]}],
                "NoMatchDomains": ["www.test2.com"]}]}], "TotalCount": 1, "Error": ""}],
        "CDN": [{"TotalCount": 1, "InstanceList": [{"Domain": "www.test.com"}], "Error": ""}],
        "TKE": [{"Region": "ap-guangzhou", "InstanceList": [{"ClusterId": "cls-1",
            "NamespaceList": [{"Name": "zrh", "SecretList": [{"Name": "s", "CertId": "c",
                "IngressList": [], "NoMatchDomains": ["a.test.com", "www.test2.com"]}]}]}],
            "TotalCount": 1, "Error": ""}],
        "TCB": [{"Region": "ap-guangzhou", "Error": "", "Environments": [{
            "Environment": {"ID": "TCB-1"},
            "AccessService": {"InstanceList": [{"Domain": "www.test.com"}], "TotalCount": 0},
            "HostService": {"InstanceList": [{"Domain": "www.test.com"}], "TotalCount": 0}}]}],
        "VOD": null,
        "Status": 1,
        "CacheTime": "2023-10-12 12:00:00",
        "RequestId": "14727a68"
    }"#;

    #[test]
    fn parses_seed_example_generically() {
        let page = page(SEED_EXAMPLE);
        assert_eq!(page.status, Some(1));
        assert_eq!(page.cache_time, "2023-10-12 12:00:00");
        assert_eq!(
            page.types.keys().collect::<Vec<_>>(),
            ["cdn", "clb", "tcb", "tke"],
            "null types carry no data, every list is a type"
        );
        let clb = &page.types["clb"][0];
        assert_eq!(clb.region, "ap-guangzhou");
        assert_eq!(clb.total_count, Some(1));
        assert_eq!(
            clb.no_match_domains.len(),
            1,
            "listener and rule share one domain"
        );
        assert_eq!(page.types["cdn"][0].region, "");
        assert_eq!(page.types["tke"][0].no_match_domains.len(), 2);
        let tcb = &page.types["tcb"][0];
        assert_eq!(tcb.total_count, None);
        assert_eq!(tcb.instances, 2, "access + host instances");
    }

    #[test]
    fn instance_ids_only_when_asked() {
        let value: Value = serde_json::from_str(SEED_EXAMPLE).expect("json");
        let object = value.as_object().expect("object");
        assert!(parse_detail_page(object).expect("ok").types["clb"][0]
            .instance_ids
            .is_empty());
        let page = parse_detail_page_with(
            object,
            Collect {
                instance_ids: true,
                ..Collect::default()
            },
        )
        .expect("ok");
        assert_eq!(page.types["clb"][0].instance_ids, ["lb-1"]);
        assert_eq!(page.types["cdn"][0].instance_ids, ["www.test.com"]);
        assert_eq!(page.types["tke"][0].instance_ids, ["cls-1"]);
        assert_eq!(
            page.types["tcb"][0].instance_ids,
            ["www.test.com", "www.test.com"]
        );
    }

    /// Only live bindings are endpoints: the documented states that mean the domain does not
    /// serve the certificate now mark it inactive, with why.
    #[test]
    fn bindings_that_serve_nothing_are_marked_with_why() {
        let value = serde_json::json!({
            "LIVE": [{"Region": "", "TotalCount": 3, "InstanceList": [
                {"Domain": "off.live.example.com", "Status": 0},
                {"Domain": "none.live.example.com", "Status": -1},
                {"Domain": "on.live.example.com", "Status": 1}]}],
            "CDN": [{"Region": "", "TotalCount": 4, "InstanceList": [
                {"Domain": "offline.cdn.example.com", "Status": "offline", "HttpsBillingSwitch": "on"},
                {"Domain": "rejected.cdn.example.com", "Status": "rejected"},
                {"Domain": "nobilling.cdn.example.com", "Status": "online", "HttpsBillingSwitch": "off"},
                {"Domain": "on.cdn.example.com", "Status": "online", "HttpsBillingSwitch": "on"}]}],
            "COS": [{"Region": "ap-guangzhou", "TotalCount": 2, "InstanceList": [
                {"Domain": "off.cos.example.com", "Status": "DISABLED"},
                {"Domain": "on.cos.example.com", "Status": "ENABLED"}]}],
            "TEO": [{"Region": "", "TotalCount": 4, "InstanceList": [
                {"Host": "failed.teo.example.com", "Status": "failed"},
                {"Host": "issued.teo.example.com", "Status": "issued"},
                {"Host": "applying.teo.example.com", "Status": "applying"},
                {"Host": "on.teo.example.com", "Status": "deployed"}]}],
            "CLB": [{"Region": "ap-guangzhou", "TotalCount": 1, "InstanceList": [
                {"LoadBalancerId": "lb-1", "Listeners": [{"Rules": [{"Domain": "clb.example.com"}]}]}]}]
        });
        let page = parse_detail_page_with(
            value.as_object().expect("object"),
            Collect {
                instance_ids: false,
                domains_of: Some("c"),
            },
        )
        .expect("ok");
        let mut got: Vec<(String, Option<&str>)> = page
            .types
            .values()
            .flatten()
            .flat_map(|r| &r.domains)
            .map(|d| (d.domain.clone(), d.inactive))
            .collect();
        got.sort();
        let want = [
            ("applying.teo.example.com", Some("not_deployed")),
            ("clb.example.com", None),
            ("failed.teo.example.com", Some("not_deployed")),
            ("issued.teo.example.com", Some("not_deployed")),
            ("nobilling.cdn.example.com", Some("https_billing_off")),
            ("none.live.example.com", Some("https_off")),
            ("off.cos.example.com", Some("domain_disabled")),
            ("off.live.example.com", Some("https_off")),
            ("offline.cdn.example.com", Some("domain_offline")),
            ("on.cdn.example.com", None),
            ("on.cos.example.com", None),
            ("on.live.example.com", None),
            ("on.teo.example.com", None),
            ("rejected.cdn.example.com", Some("domain_offline")),
        ];
        let want: Vec<(String, Option<&str>)> =
            want.iter().map(|(d, r)| (d.to_string(), *r)).collect();
        assert_eq!(got, want);
    }

    /// A region entry that cannot be decoded is skipped; the next one keeps its own instances
    /// and domains (before, they moved onto the skipped one's place, the wrong region).
    #[test]
    fn an_undecodable_region_does_not_shift_the_next_onto_it() {
        let value = serde_json::json!({
            "CLB": [
                {"Region": "ap-guangzhou", "TotalCount": "many", "InstanceList": [
                    {"LoadBalancerId": "lb-bad", "Listeners": [{"Rules": [{"Domain": "bad.example.com"}]}]}]},
                {"Region": "ap-shanghai", "TotalCount": 1, "InstanceList": [
                    {"LoadBalancerId": "lb-sh", "Listeners": [{"Rules": [{"Domain": "sh.example.com"}]}]}]}
            ]
        });
        let page = parse_detail_page_with(
            value.as_object().expect("object"),
            Collect {
                instance_ids: true,
                domains_of: Some("c"),
            },
        )
        .expect("ok");
        assert_eq!(page.skipped.len(), 1, "{:?}", page.skipped);
        let regions = &page.types["clb"];
        assert_eq!(regions.len(), 1);
        assert_eq!(regions[0].region, "ap-shanghai");
        assert_eq!(regions[0].instance_ids, ["lb-sh"]);
        let domains: Vec<&str> = regions[0]
            .domains
            .iter()
            .map(|d| d.domain.as_str())
            .collect();
        assert_eq!(domains, ["sh.example.com"]);
    }

    #[test]
    fn served_domains_of_every_documented_type() {
        let value: Value = serde_json::from_str(SEED_EXAMPLE).expect("json");
        let object = value.as_object().expect("object");
        let collect = Collect {
            domains_of: Some("c"),
            ..Collect::default()
        };
        let page = parse_detail_page_with(object, collect).expect("ok");
        let names = |t: &str| -> Vec<(String, Option<u16>)> {
            page.types[t]
                .iter()
                .flat_map(|r| &r.domains)
                .map(|d| (d.domain.clone(), d.port))
                .collect()
        };
        assert_eq!(
            names("clb"),
            [("www.test.com".to_string(), None)],
            "rules, not NoMatchDomains or DnsNames"
        );
        assert_eq!(names("cdn"), [("www.test.com".to_string(), None)]);
        assert!(
            names("tke").is_empty(),
            "an ingress list without TlsDomains serves nothing"
        );
        assert_eq!(names("tcb").len(), 2, "access and host services");
        assert!(
            parse_detail_page(object).expect("ok").types["clb"][0]
                .domains
                .is_empty(),
            "only when asked"
        );

        let others: Value = serde_json::from_str(
            r#"{"DDOS":[{"InstanceList":[{"Domain":"Ddos.Example.com.","VirtualPort":"8443","CertId":"c"},
                                           {"Domain":"other.example.com","VirtualPort":"443","CertId":"other"}],"TotalCount":2}],
                "TKE":[{"Region":"r","InstanceList":[{"ClusterId":"k","NamespaceList":[{"SecretList":[{"CertId":"c",
                    "IngressList":[{"TlsDomains":["a.example.com","*.b.example.com"],"Domains":["plain.example.com"]}]}]}]}],"TotalCount":1}],
                "TEO":[{"InstanceList":[{"Host":"edge.example.com","CertId":"c"}],"TotalCount":1}],
                "TSE":[{"InstanceList":[{"GatewayId":"g","CertificateList":[{"CertId":"c","BindDomains":["gw.example.com"]},
                                                                           {"CertId":"x","BindDomains":["x.example.com"]}]}],"TotalCount":1}],
                "CLB":[{"Region":"r","InstanceList":[{"LoadBalancerId":"lb","Listeners":[{"Certificate":{"CertId":"c"},"Rules":[
                    {"Domain":"own.example.com","Certificate":{"CertId":"sni-cert"}},{"Domain":"inherits.example.com","Certificate":null}]}]}],"TotalCount":1}],
                "NEWTYPE":[{"InstanceList":[{"Domain":"new.example.com","Port":9443}],"TotalCount":1}]}"#,
        )
        .expect("json");
        let page = parse_detail_page_with(others.as_object().expect("obj"), collect).expect("ok");
        let all: Vec<(String, Option<u16>)> = page
            .types
            .values()
            .flatten()
            .flat_map(|r| &r.domains)
            .map(|d| (d.domain.clone(), d.port))
            .collect();
        assert_eq!(
            all,
            [
                ("inherits.example.com".to_string(), None),
                ("ddos.example.com".to_string(), Some(8443)),
                ("new.example.com".to_string(), Some(9443)),
                ("edge.example.com".to_string(), None),
                ("a.example.com".to_string(), None),
                ("*.b.example.com".to_string(), None),
                ("gw.example.com".to_string(), None),
            ]
        );
    }

    #[test]
    fn unknown_types_appear_without_code_change() {
        let page = page(
            r#"{"TDMQ":[{"Region":"ap-shanghai","InstanceList":[{"InstanceId":"t","NoMatchDomains":["x.com"]}],"TotalCount":"7","Error":""}],
                "GAAP":[{"InstanceList":[],"TotalCount":3}],
                "Warnings":["not a type"],"Status":1}"#,
        );
        assert_eq!(page.types["tdmq"][0].total_count, Some(7));
        assert_eq!(page.types["gaap"][0].total_count, Some(3));
        assert!(!page.types.contains_key("warnings"));
        assert_eq!(page.extent(), 7);
    }

    #[test]
    fn region_errors_are_kept() {
        let page = page(
            r#"{"CLB":[{"Region":"ap-beijing","InstanceList":null,"TotalCount":0,"Error":"FailedOperation: timeout"},
                       {"Region":"ap-seoul","InstanceList":[],"TotalCount":0,"Error":{"Code":"InternalError","Message":"x"}}]}"#,
        );
        assert_eq!(
            page.types["clb"][0].error.as_deref(),
            Some("FailedOperation: timeout")
        );
        assert_eq!(
            page.types["clb"][1].error.as_deref(),
            Some("InternalError: x")
        );
    }

    #[test]
    fn a_hostile_region_entry_costs_only_itself() {
        for json in [
            r#"{"CLB":[{"Region":"bad","TotalCount":-3},{"Region":"ok","TotalCount":1,"InstanceList":[{}]}]}"#,
            r#"{"CLB":[{"Region":"bad","TotalCount":1.5},{"Region":"ok","TotalCount":1,"InstanceList":[{}]}]}"#,
            r#"{"CLB":[{"Region":"bad","InstanceList":"many"},{"Region":"ok","TotalCount":1,"InstanceList":[{}]}]}"#,
            r#"{"CLB":[{"Region":"ok","TotalCount":1,"InstanceList":[{}]}],"TCB":[{"Environments":{"x":1}}]}"#,
        ] {
            let value: Value = serde_json::from_str(json).expect("json");
            let page = parse_detail_page(value.as_object().expect("obj")).expect(json);
            assert_eq!(page.skipped.len(), 1, "{json}");
            assert_eq!(page.types["clb"].len(), 1, "{json}");
            assert_eq!(page.types["clb"][0].region, "ok", "{json}");
        }
        let numeric: Value =
            serde_json::from_str(r#"{"CLB":[{"Region":7,"TotalCount":1}],"Status":[]}"#)
                .expect("json");
        let page = parse_detail_page(numeric.as_object().expect("obj")).expect("tolerated");
        assert_eq!(
            page.types["clb"][0].region, "7",
            "a number is taken as its text"
        );
        assert_eq!(
            page.status, None,
            "a status that is no number reads as unknown"
        );
    }

    #[test]
    fn totals_fold_pages() {
        let mut totals = DetailTotals::default();
        totals.add_page(page(
            r#"{"TCB":[{"Region":"r","Environments":[{"AccessService":{"InstanceList":[{},{}],"TotalCount":3}}]}],
                "CLB":[{"Region":"r","InstanceList":[{"NoMatchDomains":["a"]}],"TotalCount":2}],"CacheTime":"2025-01-01 00:00:00"}"#,
        ));
        totals.add_page(page(
            r#"{"TCB":[{"Region":"r","Environments":[{"AccessService":{"InstanceList":[{}],"TotalCount":3}}]}],
                "CLB":[{"Region":"r","InstanceList":[{"NoMatchDomains":["b","a"]}],"TotalCount":2}]}"#,
        ));
        let tcb = &totals.regions[&("tcb".to_string(), "r".to_string())];
        assert_eq!(tcb.bound(), 3);
        let clb = &totals.regions[&("clb".to_string(), "r".to_string())];
        assert_eq!(clb.bound(), 2);
        assert_eq!(clb.no_match_domains.len(), 2);
        assert_eq!(totals.cache_time, "2025-01-01 00:00:00");
    }

    #[test]
    fn task_result_decodes_with_nulls() {
        let body = br#"{"Response":{"SyncTaskBindResourceResult":[
            {"TaskId":"t1","Status":1,"Error":null,"CacheTime":"2025-01-01 00:00:00",
             "BindResourceResult":[{"ResourceType":"clb","BindResourceRegionResult":[{"Region":"ap-guangzhou","TotalCount":2}]}]},
            {"TaskId":2,"Status":2,"Error":{"Code":"FailedOperation","Message":"x"},"CacheTime":null,"BindResourceResult":null}
        ]}}"#;
        let results: TaskResultResponse = crate::client::parse_response("A", body).expect("ok");
        let [first, second] = &results.sync_task_bind_resource_result.items[..] else {
            panic!("two results expected")
        };
        assert!(first.has_bound_resources());
        assert_eq!(TaskStatus::from_code(first.status), TaskStatus::Succeeded);
        assert_eq!(second.task_id, "2");
        assert_eq!(TaskStatus::from_code(second.status), TaskStatus::Failed);
        assert_eq!(
            error_text(second.error.as_ref()).as_deref(),
            Some("FailedOperation: x")
        );
        assert!(!second.has_bound_resources());
    }
}
