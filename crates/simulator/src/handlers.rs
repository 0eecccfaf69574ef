//! One function per action, answering from the dataset at a given time.
//!
//! Handlers return the `Response` object without `RequestId` (the HTTP layer adds it) or an
//! error code and message. Time is passed in, so answers are a function of (dataset, tasks, time,
//! request).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::clock::{beijing as format_gmt8, iso_utc as format_rfc3339_utc};
use crate::dataset::{Binding, Certificate, Dataset, Entry, Record};
use crate::model::{certificate_state, deploy_list_code, ItemState, RecordKind};
use crate::pki::{Pki, PRIVATE_KEY_PLACEHOLDER};

/// An API error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> SimError {
    SimError {
        code: "InvalidParameter",
        message: message.into(),
    }
}

/// A bind task as the simulated service remembers it.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub cert_id: String,
    pub created_ms: i64,
    pub done_ms: i64,
    pub fails: bool,
}

/// Bind tasks created so far.
#[derive(Debug, Default)]
pub struct Tasks {
    by_id: HashMap<String, Task>,
    latest_of_cert: HashMap<String, String>,
    next: u64,
}

/// How long a finished task is reused with `IsCache=1`.
pub const TASK_CACHE_MS: i64 = 30 * 60 * 1000;

impl Tasks {
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.by_id.get(id)
    }

    /// The newest task of a certificate.
    pub fn latest(&self, cert_id: &str) -> Option<&Task> {
        self.latest_of_cert
            .get(cert_id)
            .and_then(|id| self.by_id.get(id))
    }

    fn task_for(&mut self, cert: &Certificate, use_cache: bool, now_ms: i64) -> String {
        if use_cache {
            if let Some(task) = self.latest(&cert.id) {
                if task.done_ms > now_ms || now_ms - task.done_ms <= TASK_CACHE_MS {
                    return task.id.clone();
                }
            }
        }
        self.next += 1;
        let id = format!("{}", 758_000 + self.next);
        self.by_id.insert(
            id.clone(),
            Task {
                id: id.clone(),
                cert_id: cert.id.clone(),
                created_ms: now_ms,
                done_ms: now_ms + cert.task_seconds * 1000,
                fails: cert.task_fails,
            },
        );
        self.latest_of_cert.insert(cert.id.clone(), id.clone());
        id
    }
}

/// Reads a non-negative integer parameter sent as a number or a numeric string.
pub fn param_u64(body: &Map<String, Value>, key: &str, default: u64) -> Result<u64, SimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| invalid(format!("{key} must be a non-negative integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{key} must be a non-negative integer"))),
        Some(_) => Err(invalid(format!("{key} has the wrong type"))),
    }
}

fn param_strings(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, SimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(invalid(format!("{key} must be a list of strings"))),
            })
            .collect(),
        Some(_) => Err(invalid(format!("{key} must be a list"))),
    }
}

fn param_id(body: &Map<String, Value>, key: &str) -> Result<String, SimError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(SimError {
            code: "MissingParameter",
            message: format!("{key} is required"),
        }),
    }
}

/// Page bounds: `Limit` defaulted and capped, `Offset` defaulted.
fn page(body: &Map<String, Value>, default: u64, max: u64) -> Result<(usize, usize), SimError> {
    let limit = param_u64(body, "Limit", default)?.min(max);
    let offset = param_u64(body, "Offset", 0)?;
    Ok((offset.min(usize::MAX as u64) as usize, limit as usize))
}

fn null_if_empty(list: Vec<Value>) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    }
}

/// Everything a handler reads.
pub struct Ctx<'a> {
    pub dataset: &'a Dataset,
    pub tasks: &'a mut Tasks,
    pub now_ms: i64,
    /// Caps `Limit` of list actions below what the docs promise, to exercise pagers.
    pub list_limit_cap: Option<u64>,
    /// The demo CA and the certificates' leaves (`DescribeCertificateDetail`).
    pub pki: &'a Pki,
}

impl Ctx<'_> {
    fn now(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }

    fn cap(&self, max: u64) -> u64 {
        self.list_limit_cap.map_or(max, |cap| cap.min(max))
    }
}

/// Dispatches one action.
pub fn handle(
    ctx: &mut Ctx<'_>,
    action_name: &str,
    body: &Map<String, Value>,
) -> Result<Value, SimError> {
    match action_name {
        "DescribeCertificates" => describe_certificates(ctx, body),
        "DescribeCertificateDetail" => describe_certificate_detail(ctx, body),
        "CreateCertificateBindResourceSyncTask" => create_tasks(ctx, body),
        "DescribeCertificateBindResourceTaskResult" => task_results(ctx, body),
        "DescribeCertificateBindResourceTaskDetail" => task_detail(ctx, body),
        "DescribeHostUploadUpdateRecord" => list_records(ctx, body, RecordKind::UploadUpdate),
        "DescribeHostUpdateRecord" => list_records(ctx, body, RecordKind::Update),
        "DescribeHostUploadUpdateRecordDetail" => {
            record_detail(ctx, body, RecordKind::UploadUpdate)
        }
        "DescribeHostUpdateRecordDetail" => record_detail(ctx, body, RecordKind::Update),
        "DescribeHostDeployRecord" => list_records(ctx, body, RecordKind::Deploy),
        "DescribeHostDeployRecordDetail" => record_detail(ctx, body, RecordKind::Deploy),
        other => Err(SimError {
            code: "InvalidAction",
            message: format!("action {other:?} does not exist"),
        }),
    }
}

/// The whole answer to one call, `{"Response": …}` (an error envelope when the call fails), as
/// the HTTP front would send it but without a `RequestId`: for benches, corpora and decoders'
/// tests that want real answers without a server. Certificate material comes from the
/// process's shared [`Pki`].
pub fn respond(
    dataset: &Dataset,
    tasks: &mut Tasks,
    now_ms: i64,
    action_name: &str,
    body: &Value,
) -> Vec<u8> {
    let mut ctx = Ctx {
        dataset,
        tasks,
        now_ms,
        list_limit_cap: None,
        pki: Pki::shared(),
    };
    let request = body.as_object().cloned().unwrap_or_default();
    let response = match handle(&mut ctx, action_name, &request) {
        Ok(response) => response,
        Err(e) => json!({"Error": {"Code": e.code, "Message": e.message}, "RequestId": "r"}),
    };
    json!({ "Response": response }).to_string().into_bytes()
}

fn certificate_json(cert: &Certificate, now: i64) -> Value {
    json!({
        "CertificateId": cert.id,
        "Domain": cert.domain,
        "Alias": if cert.alias.is_empty() { Value::Null } else { Value::from(cert.alias.clone()) },
        "CertificateType": if cert.lower_case_type {
            cert.certificate_type.to_lowercase()
        } else {
            cert.certificate_type.to_string()
        },
        "Status": cert.status,
        "StatusName": certificate_state(cert.status),
        "CertBeginTime": format_gmt8(cert.not_before),
        "CertEndTime": format_gmt8(cert.not_after),
        "SubjectAltName": [cert.domain],
        "From": "",
        "ProjectId": "0",
        "EncryptAlgorithm": "RSA",
        "IsExpiring": cert.not_after > now && cert.not_after - now < 30 * 86_400,
        "Deployable": cert.deployable,
        "HostingStatus": cert.hosting_status,
        "AutoRenewFlag": i64::from(cert.auto_renew),
        "RenewAble": cert.renewable,
        "HasRenewOrder": cert.renew_order,
        "HostingRenewCertId": cert.successor,
        "Tags": cert.tags.iter().map(|(key, value)| json!({"TagKey": key, "TagValue": value})).collect::<Vec<_>>(),
        "ServiceId": cert.service.as_ref().map_or("", |s| s.id.as_str()),
        "ServiceStatus": cert.service.as_ref().map_or("", |s| s.status),
        "CertServiceEndTime": cert.service.as_ref().map_or(String::new(), |s| format_gmt8(s.ends)),
        // As the official examples write it: the renewal chain's fields, `null` where unknown.
        "CertificateExtra": {
            "DomainNumber": "1",
            "OriginCertificateId": null,
            "ReplacedBy": null,
            "ReplacedFor": null,
            "RenewOrder": null,
            "SMCert": 0,
            "CompanyType": 1,
            "ServiceRenewCertificateId": cert.service.as_ref().map_or("", |s| s.renew_certificate_id.as_str()),
            "ServiceOriginCertificateId": cert.service.as_ref().map_or("", |s| s.origin_certificate_id.as_str()),
        },
        "HostingConfig": cert.hosting_replace_days.map_or(Value::Null, |days| json!({
            "MessageTypes": [0],
            "ReplaceStartTime": cert.hosting_window.0,
            "ReplaceEndTime": cert.hosting_window.1,
            "ReplaceTime": days,
        })),
        "CertRevokedTime": cert.revoked_at.map_or(String::new(), format_gmt8),
    })
}

fn describe_certificates(ctx: &mut Ctx<'_>, body: &Map<String, Value>) -> Result<Value, SimError> {
    let (offset, limit) = page(body, 20, ctx.cap(1000))?;
    let wanted = param_strings(body, "CertIds")?;
    let matching: Vec<&Certificate> = ctx
        .dataset
        .certificates
        .iter()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.id))
        .collect();
    let now = ctx.now();
    let rows: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| certificate_json(c, now))
        .collect();
    Ok(json!({"TotalCount": matching.len(), "Certificates": null_if_empty(rows)}))
}

/// `CertificateId` of a detail request: absent is `MissingParameter`, empty or not a string
/// `InvalidParameter`.
fn certificate_id_param(body: &Map<String, Value>) -> Result<&str, SimError> {
    match body.get("CertificateId") {
        None | Some(Value::Null) => Err(SimError {
            code: "MissingParameter",
            message: "CertificateId is required".into(),
        }),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(invalid("CertificateId must be a non-empty string")),
    }
}

fn describe_certificate_detail(
    ctx: &mut Ctx<'_>,
    body: &Map<String, Value>,
) -> Result<Value, SimError> {
    let id = certificate_id_param(body)?;
    let cert = ctx.dataset.certificate(id).ok_or_else(|| SimError {
        code: "ResourceNotFound.CertificateNotExist",
        message: format!("certificate {id} does not exist"),
    })?;
    let internal = |e: rcgen::Error| SimError {
        code: "InternalError",
        message: format!("certificate material: {e}"),
    };
    let leaf = ctx.pki.leaf(cert).map_err(internal)?;
    let issuers = ctx.pki.issuers(cert).map_err(internal)?;
    let pem: String = std::iter::once(&leaf)
        .chain(&issuers)
        .map(|c| c.pem.as_str())
        .collect();
    let chain: Vec<Value> = std::iter::once(&leaf)
        .chain(&issuers)
        .map(|c| c.chain_info())
        .collect();
    let mut answer = certificate_json(cert, ctx.now());
    let fields = [
        (
            "SubjectAltName",
            json!([cert.domain, format!("*.{}", cert.domain)]),
        ),
        ("EncryptAlgorithm", "ECC".into()),
        ("CertificatePublicKey", pem.into()),
        ("CertificatePrivateKey", PRIVATE_KEY_PLACEHOLDER.into()),
        (
            "CertFingerprint",
            leaf.fingerprint_sha1.to_uppercase().into(),
        ),
        ("CertChainInfo", Value::Array(chain)),
        ("OwnerUin", "100000000001".into()),
    ];
    // Fields the docs allow to be null, answered null as a real account often does.
    let nulls = [
        "VerifyType",
        "StatusMsg",
        "OrderId",
        "CertificateExtra",
        "DvAuthDetail",
        "VulnerabilityReport",
        "SubmittedData",
        "RootCert",
        "EncryptCert",
        "EncryptPrivateKey",
        "EncryptCertFingerprint",
        "DvRevokeAuthDetail",
    ];
    if let Value::Object(map) = &mut answer {
        // A list-only field.
        map.remove("IsExpiring");
        for (key, value) in fields {
            map.insert(key.into(), value);
        }
        for key in nulls {
            map.insert(key.into(), Value::Null);
        }
    }
    Ok(answer)
}

fn create_tasks(ctx: &mut Ctx<'_>, body: &Map<String, Value>) -> Result<Value, SimError> {
    let ids = param_strings(body, "CertificateIds")?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid("CertificateIds must hold 1 to 100 IDs"));
    }
    let use_cache = param_u64(body, "IsCache", 1)? == 1;
    let mut certs = Vec::with_capacity(ids.len());
    for id in &ids {
        certs.push(ctx.dataset.certificate(id).ok_or_else(|| SimError {
            code: "FailedOperation.CertificateNotFound",
            message: format!("certificate {id} does not exist"),
        })?);
    }
    let now_ms = ctx.now_ms;
    let pairs: Vec<Value> = certs
        .into_iter()
        .map(|cert| json!({"CertId": cert.id, "TaskId": ctx.tasks.task_for(cert, use_cache, now_ms)}))
        .collect();
    Ok(json!({"CertTaskIds": pairs}))
}

/// Bindings grouped by type, in the order they were generated.
fn by_type(bindings: &[Binding]) -> Vec<(&'static str, Vec<&Binding>)> {
    let mut groups: Vec<(&'static str, Vec<&Binding>)> = Vec::new();
    for binding in bindings {
        match groups.iter_mut().find(|(t, _)| *t == binding.resource_type) {
            Some((_, list)) => list.push(binding),
            None => groups.push((binding.resource_type, vec![binding])),
        }
    }
    groups
}

fn task_results(ctx: &mut Ctx<'_>, body: &Map<String, Value>) -> Result<Value, SimError> {
    let ids = param_strings(body, "TaskIds")?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(invalid("TaskIds must hold 1 to 100 IDs"));
    }
    let mut results = Vec::new();
    for id in ids {
        let Some(task) = ctx.tasks.get(&id) else {
            continue;
        };
        let Some(cert) = ctx.dataset.certificate(&task.cert_id) else {
            continue;
        };
        let done = ctx.now_ms >= task.done_ms;
        let status = match (done, task.fails) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        };
        let summary = (status == 1).then(|| {
            by_type(&cert.bindings)
                .into_iter()
                .map(|(resource_type, bindings)| {
                    let regions: Vec<Value> = bindings
                        .iter()
                        .map(|b| {
                            let mut region = Map::new();
                            if let Some(r) = b.region {
                                region.insert("Region".into(), r.into());
                            }
                            region.insert("TotalCount".into(), b.instances.into());
                            region
                                .insert("Error".into(), b.error.clone().unwrap_or_default().into());
                            Value::Object(region)
                        })
                        .collect();
                    json!({"ResourceType": resource_type, "BindResourceRegionResult": regions})
                })
                .collect::<Vec<_>>()
        });
        results.push(json!({
            "TaskId": task.id,
            "Status": status,
            "Error": if status == 2 {
                json!({"Code": "FailedOperation.QueryFailed", "Message": "query of bound resources failed"})
            } else {
                Value::Null
            },
            "CacheTime": if done { Value::from(format_gmt8(task.done_ms / 1000)) } else { Value::Null },
            "BindResourceResult": summary.map_or(Value::Null, null_if_empty),
        }));
    }
    Ok(json!({"SyncTaskBindResourceResult": results}))
}

/// One instance of `binding`, in the shape its type has in the reference.
fn instance_json(cert: &Certificate, binding: &Binding, index: u64) -> Value {
    let mut instance = live_instance_json(cert, binding, index);
    if let (Some(state), Value::Object(fields)) = (binding.inactive_state(index), &mut instance) {
        for (key, value) in state.fields() {
            fields.insert(key.to_string(), value);
        }
    }
    instance
}

/// One instance of `binding` in a state that serves the certificate.
fn live_instance_json(cert: &Certificate, binding: &Binding, index: u64) -> Value {
    let unmatched: Vec<&str> = binding.unmatched_of(index).into_iter().collect();
    let domain = binding.instance_domain(&cert.domain, index);
    let region = binding.region.unwrap_or_default();
    match binding.resource_type {
        "clb" => json!({
            "LoadBalancerId": format!("lb-{index:08x}"),
            "LoadBalancerName": format!("lb-{index}"),
            "Forward": 1,
            "Listeners": [{
                "ListenerId": format!("lbl-{index:08x}"),
                "ListenerName": "https",
                "SniSwitch": 1,
                "Protocol": "HTTPS",
                "Certificate": {"CertId": cert.id, "DnsNames": [cert.domain], "CertCaId": null, "SSLMode": "UNIDIRECTIONAL"},
                "Rules": [{"LocationId": format!("loc-{index}"), "Domain": domain, "IsMatch": unmatched.is_empty(),
                           "Certificate": null, "NoMatchDomains": unmatched, "Url": "/"}],
                // The listener names the rules' unmatched domains as an operator typed them.
                "NoMatchDomains": unmatched.iter().map(|d| format!("{}.", d.to_uppercase())).collect::<Vec<_>>(),
            }],
        }),
        "tke" => json!({
            "ClusterId": format!("cls-{index:08x}"),
            "ClusterName": format!("cluster-{index}"),
            "ClusterType": "tke",
            "ClusterVersion": "1.30",
            "NamespaceList": [{"Name": "default", "SecretList": [{
                "Name": format!("tls-{index}"), "CertId": cert.id,
                "IngressList": [{"IngressName": format!("ing-{index}"), "TlsDomains": [domain], "Domains": [domain]}],
                "NoMatchDomains": if unmatched.is_empty() { Value::Null } else { json!(unmatched) },
            }]}],
        }),
        "tdmq" => {
            json!({"InstanceId": format!("pulsar-{index:08x}"), "InstanceName": format!("mq-{index}"),
                         "InstanceStatus": 1, "CertId": cert.id, "CaCertId": null, "NoMatchDomains": unmatched})
        }
        "cdn" => {
            json!({"Domain": domain, "CertId": cert.id, "Status": "online", "HttpsBillingSwitch": "on"})
        }
        "waf" => json!({"Domain": domain, "CertId": cert.id, "Keepalive": 1}),
        "ddos" => {
            json!({"Domain": domain, "InstanceId": format!("bgpip-{index:08x}"), "Protocol": "https", "CertId": cert.id, "VirtualPort": "443"})
        }
        "live" => json!({"Domain": domain, "CertId": cert.id, "Status": 1}),
        "vod" => json!({"Domain": domain, "CertId": cert.id}),
        "apigateway" => {
            json!({"ServiceId": format!("service-{index:08x}"), "ServiceName": format!("svc-{index}"), "Domain": domain, "CertId": cert.id, "Protocol": "https"})
        }
        "teo" => {
            json!({"Host": domain, "CertId": cert.id, "ZoneId": format!("zone-{index:08x}"), "Status": "online", "Algorithm": "RSA 2048"})
        }
        "cos" => {
            json!({"Domain": domain, "CertId": cert.id, "Status": "ENABLED", "Bucket": format!("bucket-{index}-125000000"), "Region": region})
        }
        "tse" => {
            json!({"GatewayId": format!("gateway-{index:08x}"), "GatewayName": format!("gw-{index}"), "CertificateList": []})
        }
        _ => {
            json!({"InstanceId": format!("{}-{index:08x}", binding.resource_type), "CertId": cert.id, "Domain": domain})
        }
    }
}

fn region_entry(cert: &Certificate, binding: &Binding, offset: u64, limit: u64) -> Value {
    let mut entry = Map::new();
    if let Some(region) = binding.region {
        entry.insert("Region".into(), region.into());
    }
    entry.insert(
        "Error".into(),
        binding.error.clone().unwrap_or_default().into(),
    );
    let end = binding.instances.min(offset.saturating_add(limit));
    let page: Vec<Value> = (offset.min(end)..end)
        .map(|i| instance_json(cert, binding, i))
        .collect();
    if binding.resource_type == "tcb" {
        // Access and host services split the instances; each pages on its own.
        let access_total = binding.instances.div_ceil(2);
        let host_total = binding.instances / 2;
        let list = |total: u64, kind: &str| -> Value {
            let end = total.min(offset.saturating_add(limit));
            let items: Vec<Value> = (offset.min(end)..end)
                .map(
                    |i| json!({"Domain": format!("{kind}{i}.{}", cert.domain), "Status": "online"}),
                )
                .collect();
            json!({"InstanceList": items, "TotalCount": total})
        };
        entry.insert(
            "Environments".into(),
            json!([{
                "Environment": {"ID": format!("env-{}", cert.id.to_lowercase()), "Source": "miniapp", "Name": "prod", "Status": "NORMAL"},
                "AccessService": list(access_total, "access"),
                "HostService": list(host_total, "host"),
            }]),
        );
    } else {
        entry.insert("InstanceList".into(), Value::Array(page));
        entry.insert("TotalCount".into(), binding.instances.into());
    }
    Value::Object(entry)
}

/// Every type key the detail answers with (the documented ones and the newer ones).
const DETAIL_TYPES: &[&str] = &[
    "clb",
    "cdn",
    "waf",
    "ddos",
    "live",
    "vod",
    "tke",
    "apigateway",
    "tcb",
    "teo",
    "tse",
    "cos",
    "tdmq",
    "mqtt",
    "gaap",
    "scf",
];

fn task_detail(ctx: &mut Ctx<'_>, body: &Map<String, Value>) -> Result<Value, SimError> {
    let task_id = param_id(body, "TaskId")?;
    let task = ctx.tasks.get(&task_id).ok_or_else(|| SimError {
        code: "FailedOperation.CertificateSyncTaskIdInvalid",
        message: format!("task {task_id} is invalid"),
    })?;
    let cert = ctx
        .dataset
        .certificate(&task.cert_id)
        .ok_or_else(|| SimError {
            code: "FailedOperation.CertificateNotFound",
            message: "certificate no longer exists".into(),
        })?;
    let limit = param_u64(body, "Limit", 10)?.min(100);
    let offset = param_u64(body, "Offset", 0)?;
    let types_wanted: Vec<String> = param_strings(body, "ResourceTypes")?
        .into_iter()
        .map(|t| t.to_lowercase())
        .collect();
    let regions_wanted = param_strings(body, "Regions")?;
    let done = ctx.now_ms >= task.done_ms;
    let status = match (done, task.fails) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let mut response = Map::new();
    for resource_type in DETAIL_TYPES {
        let entries: Vec<Value> = if status != 1
            || (!types_wanted.is_empty() && !types_wanted.iter().any(|t| t == resource_type))
        {
            Vec::new()
        } else {
            cert.bindings
                .iter()
                .filter(|b| b.resource_type == *resource_type)
                .filter(|b| {
                    regions_wanted.is_empty()
                        || b.region
                            .is_none_or(|r| regions_wanted.iter().any(|w| w == r))
                })
                .map(|b| region_entry(cert, b, offset, limit))
                .collect()
        };
        response.insert(resource_type.to_uppercase(), null_if_empty(entries));
    }
    response.insert("Status".into(), status.into());
    response.insert(
        "CacheTime".into(),
        if done {
            format_gmt8(task.done_ms / 1000).into()
        } else {
            Value::Null
        },
    );
    Ok(Value::Object(response))
}

fn record_row(record: &Record, now: i64) -> Value {
    if record.kind == RecordKind::Deploy {
        let first = record.entries.first().and_then(|e| e.items.first());
        return json!({
            "Id": record.id,
            "CertId": record.cert_id,
            "ResourceType": first.map_or("", |i| i.resource_type),
            "Region": first.map_or("", |i| i.region),
            "Status": deploy_list_code(record.status_at(now)),
            "CreateTime": format_gmt8(record.created),
            "UpdateTime": format_gmt8(record.updated_at(now)),
        });
    }
    let mut types: Vec<&str> = record
        .entries
        .iter()
        .flat_map(|e| e.items.iter().map(|i| i.resource_type))
        .collect();
    types.sort_unstable();
    types.dedup();
    let mut row = json!({
        "Id": record.id,
        "OldCertId": record.old_cert_id,
        "ResourceTypes": types,
        "Status": record.status_at(now).code(),
        "CreateTime": format_gmt8(record.created),
        "UpdateTime": format_gmt8(record.updated_at(now)),
    });
    if record.kind == RecordKind::Update {
        let mut regions: Vec<&str> = record
            .entries
            .iter()
            .flat_map(|e| e.items.iter().map(|i| i.region))
            .filter(|r| !r.is_empty())
            .collect();
        regions.sort_unstable();
        regions.dedup();
        row["CertId"] = record.cert_id.clone().into();
        row["Regions"] = json!(regions);
    }
    row
}

fn list_records(
    ctx: &mut Ctx<'_>,
    body: &Map<String, Value>,
    kind: RecordKind,
) -> Result<Value, SimError> {
    let (offset, limit) = page(body, 10, ctx.cap(1000))?;
    let old_filter = body.get("OldCertificateId").and_then(Value::as_str);
    let new_filter = body.get("CertificateId").and_then(Value::as_str);
    if kind == RecordKind::Deploy && new_filter.is_none_or(str::is_empty) {
        return Err(SimError {
            code: "MissingParameter",
            message: "CertificateId is required".into(),
        });
    }
    let now = ctx.now();
    let matching: Vec<&Record> = ctx
        .dataset
        .records_of(kind)
        .filter(|r| old_filter.is_none_or(|id| r.old_cert_id == id))
        .filter(|r| new_filter.is_none_or(|id| r.cert_id == id))
        .collect();
    let rows: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| record_row(r, now))
        .collect();
    Ok(json!({"TotalCount": matching.len(), "DeployRecordList": null_if_empty(rows)}))
}

/// Status counts of an entry at `now`: total, success, failed, running, pending.
fn counts(entry: &Entry, now: i64) -> [usize; 5] {
    let mut c = [entry.items.len(), 0, 0, 0, 0];
    for item in &entry.items {
        match item.status_at(now) {
            ItemState::Success | ItemState::RolledBack => c[1] += 1,
            ItemState::Failed | ItemState::RollbackFailed => c[2] += 1,
            ItemState::Running => c[3] += 1,
            ItemState::Pending => c[4] += 1,
            ItemState::NoResource | ItemState::Undocumented => {}
        }
    }
    c
}

fn detail_lists(
    record: &Record,
    entry: &Entry,
    now: i64,
    offset: usize,
    limit: usize,
) -> Vec<Value> {
    let mut types: Vec<&str> = entry.items.iter().map(|i| i.resource_type).collect();
    types.sort_unstable();
    types.dedup();
    types
        .into_iter()
        .map(|resource_type| {
            let items: Vec<_> = entry.items.iter().filter(|i| i.resource_type == resource_type).collect();
            let list: Vec<Value> = items
                .iter()
                .skip(offset)
                .take(limit)
                .map(|item| {
                    let status = item.status_at(now);
                    let (created, updated) = (entry.created, item.updated_at(now, entry.created));
                    let times = match record.kind {
                        RecordKind::UploadUpdate | RecordKind::Deploy => (format_rfc3339_utc(created), format_rfc3339_utc(updated)),
                        RecordKind::Update => (format_gmt8(created), format_gmt8(updated)),
                    };
                    json!({
                        "Id": item.id,
                        "CertId": record.cert_id,
                        "OldCertId": record.old_cert_id,
                        "InstanceId": format!("ins-{:08x}", item.id),
                        "InstanceName": format!("{}-{}", item.resource_type, item.id),
                        "Domains": [record.item_domains(item.id)],
                        "Protocol": "HTTPS",
                        "Status": if item.garbled { Value::from("in progress") } else { Value::from(status.code()) },
                        "ErrorMsg": if status == ItemState::Failed { Value::from("certificate deploy failed: listener busy") } else { Value::Null },
                        "CreateTime": times.0,
                        "UpdateTime": times.1,
                        "ResourceType": item.resource_type,
                        "Region": item.region,
                        "Port": 0,
                    })
                })
                .collect();
            json!({"ResourceType": resource_type, "TotalCount": items.len(), "List": list})
        })
        .collect()
}

fn record_detail(
    ctx: &mut Ctx<'_>,
    body: &Map<String, Value>,
    kind: RecordKind,
) -> Result<Value, SimError> {
    let id = param_id(body, "DeployRecordId")?;
    let (offset, limit) = page(body, 10, 200)?;
    let now = ctx.now();
    let record = ctx
        .dataset
        .records_of(kind)
        .find(|r| r.id.to_string() == id)
        .ok_or_else(|| SimError {
            code: "FailedOperation.InvalidParam",
            message: format!("deploy record {id} does not exist"),
        })?;
    match kind {
        RecordKind::UploadUpdate => {
            let entries: Vec<Value> = record
                .entries
                .iter()
                .map(|entry| {
                    let c = counts(entry, now);
                    json!({
                        "Type": entry.operation.type_code(),
                        "Status": entry.status_at(now).code(),
                        "CreateTime": format_gmt8(entry.created),
                        "TotalCount": c[0], "SuccessTotalCount": c[1], "FailedTotalCount": c[2],
                        "RunningTotalCount": c[3], "PendingTotalCount": c[4],
                        "RecordDetailList": detail_lists(record, entry, now, offset, limit),
                    })
                })
                .collect();
            Ok(json!({"DeployRecordDetail": entries}))
        }
        RecordKind::Update => {
            let entry = record
                .entries
                .first()
                .ok_or_else(|| invalid("empty record"))?;
            let c = counts(entry, now);
            Ok(json!({
                "TotalCount": c[0], "SuccessTotalCount": c[1], "FailedTotalCount": c[2],
                "RunningTotalCount": c[3], "PendingTotalCount": c[4],
                "RecordDetailList": null_if_empty(detail_lists(record, entry, now, offset, limit)),
            }))
        }
        RecordKind::Deploy => {
            let entry = record
                .entries
                .first()
                .ok_or_else(|| invalid("empty record"))?;
            let c = counts(entry, now);
            let items: Vec<Value> = entry
                .items
                .iter()
                .skip(offset)
                .take(limit)
                .map(|item| deploy_item(record, entry, item, now))
                .collect();
            Ok(json!({
                "TotalCount": c[0], "SuccessTotalCount": c[1], "FailedTotalCount": c[2],
                "RunningTotalCount": c[3], "PendingTotalCount": c[4],
                "DeployRecordDetailList": items,
            }))
        }
    }
}

/// An item of `DescribeHostDeployRecordDetail`, with every field api.json lists.
fn deploy_item(record: &Record, entry: &Entry, item: &crate::dataset::Item, now: i64) -> Value {
    let status = item.status_at(now);
    json!({
        "Id": item.id,
        "CertId": record.cert_id,
        "OldCertId": record.old_cert_id,
        "InstanceId": format!("ins-{:08x}", item.id),
        "InstanceName": format!("{}-{}", item.resource_type, item.id),
        "ListenerId": if item.resource_type == "clb" { format!("lbl-{:08x}", item.id) } else { String::new() },
        "ListenerName": "",
        "Domains": [record.item_domains(item.id)],
        "Protocol": "HTTPS",
        "Status": if item.garbled { Value::from("in progress") } else { Value::from(status.code()) },
        "ErrorMsg": if status == ItemState::Failed { "certificate deploy failed: listener busy" } else { "" },
        "CreateTime": format_rfc3339_utc(entry.created),
        "UpdateTime": format_rfc3339_utc(item.updated_at(now, entry.created)),
        "SniSwitch": 0,
        "Bucket": "",
        "Namespace": "",
        "SecretName": "",
        "Port": 0,
        "EnvId": "",
        "TCBType": "",
        "Region": item.region,
        "Url": [],
        "Algorithm": "RSA 2048",
        "OldAlgorithm": "RSA 2048",
        "InstanceStatus": "",
        "ListenerStatus": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetSpec;

    fn ctx_parts() -> (Dataset, Tasks) {
        (
            Dataset::generate(DatasetSpec::new(1, 30, 1_750_000_000)),
            Tasks::default(),
        )
    }

    fn call(
        dataset: &Dataset,
        tasks: &mut Tasks,
        now_ms: i64,
        action: &str,
        body: Value,
    ) -> Result<Value, SimError> {
        let mut ctx = Ctx {
            dataset,
            tasks,
            now_ms,
            list_limit_cap: None,
            pki: Pki::shared(),
        };
        handle(&mut ctx, action, body.as_object().expect("object"))
    }

    #[test]
    fn certificates_page_and_cap_limit() {
        let (d, mut t) = ctx_parts();
        let now = 1_750_000_000_000;
        let page = call(
            &d,
            &mut t,
            now,
            "DescribeCertificates",
            json!({"Offset": 0, "Limit": "7"}),
        )
        .expect("ok");
        assert_eq!(page["TotalCount"], 30);
        assert_eq!(page["Certificates"].as_array().map(Vec::len), Some(7));
        let beyond = call(
            &d,
            &mut t,
            now,
            "DescribeCertificates",
            json!({"Offset": 30, "Limit": 5}),
        )
        .expect("ok");
        assert!(
            beyond["Certificates"].is_null(),
            "empty lists come back null"
        );
        let bad = call(
            &d,
            &mut t,
            now,
            "DescribeCertificates",
            json!({"Limit": -1}),
        )
        .unwrap_err();
        assert_eq!(bad.code, "InvalidParameter");
    }

    #[test]
    fn bind_task_runs_from_querying_to_done_and_is_cached() {
        let (d, mut t) = ctx_parts();
        let cert = d
            .certificates
            .iter()
            .find(|c| !c.task_fails && !c.bindings.is_empty())
            .expect("bound cert");
        let now = 1_750_000_000_000;
        let created = call(
            &d,
            &mut t,
            now,
            "CreateCertificateBindResourceSyncTask",
            json!({"CertificateIds": [cert.id], "IsCache": 1}),
        )
        .expect("ok");
        let task_id = created["CertTaskIds"][0]["TaskId"]
            .as_str()
            .expect("id")
            .to_string();
        let querying = call(
            &d,
            &mut t,
            now,
            "DescribeCertificateBindResourceTaskResult",
            json!({"TaskIds": [task_id]}),
        )
        .expect("ok");
        assert_eq!(querying["SyncTaskBindResourceResult"][0]["Status"], 0);
        let later = now + cert.task_seconds * 1000;
        let done = call(
            &d,
            &mut t,
            later,
            "DescribeCertificateBindResourceTaskResult",
            json!({"TaskIds": [task_id]}),
        )
        .expect("ok");
        assert_eq!(done["SyncTaskBindResourceResult"][0]["Status"], 1);
        let again = call(
            &d,
            &mut t,
            later + 1000,
            "CreateCertificateBindResourceSyncTask",
            json!({"CertificateIds": [cert.id], "IsCache": 1}),
        )
        .expect("ok");
        assert_eq!(
            again["CertTaskIds"][0]["TaskId"],
            task_id.as_str(),
            "IsCache reuses"
        );
        let fresh = call(
            &d,
            &mut t,
            later + 1000,
            "CreateCertificateBindResourceSyncTask",
            json!({"CertificateIds": [cert.id], "IsCache": 0}),
        )
        .expect("ok");
        assert_ne!(
            fresh["CertTaskIds"][0]["TaskId"],
            task_id.as_str(),
            "IsCache=0 queries afresh"
        );
        let detail = call(
            &d,
            &mut t,
            later,
            "DescribeCertificateBindResourceTaskDetail",
            json!({"TaskId": task_id, "Limit": "100", "Offset": "0"}),
        )
        .expect("ok");
        assert_eq!(detail["Status"], 1);
        let bound_types = cert
            .bindings
            .iter()
            .map(|b| b.resource_type.to_uppercase())
            .filter(|t| detail[t.as_str()].is_array())
            .count();
        assert_eq!(bound_types, cert.bindings.len(), "every binding is listed");
        let missing = call(
            &d,
            &mut t,
            later,
            "DescribeCertificateBindResourceTaskDetail",
            json!({"TaskId": "nope"}),
        )
        .unwrap_err();
        assert_eq!(missing.code, "FailedOperation.CertificateSyncTaskIdInvalid");
    }

    #[test]
    fn an_intermediate_expiring_before_its_leaf_is_in_the_chain_and_the_pem() {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;

        let d = Dataset::generate(DatasetSpec::new(1, 48, 1_750_000_000));
        let mut t = Tasks::default();
        let cert = d
            .certificates
            .iter()
            .find(|c| c.intermediate_not_after.is_some())
            .expect("the demo's short-lived intermediate");
        let answer = call(
            &d,
            &mut t,
            d.spec.now * 1000,
            "DescribeCertificateDetail",
            json!({"CertificateId": cert.id}),
        )
        .expect("ok");
        let pem = answer["CertificatePublicKey"].as_str().expect("pem");
        let chain = CertificateDer::pem_slice_iter(pem.as_bytes()).count();
        let links = answer["CertChainInfo"].as_array().expect("chain info");
        assert_eq!((chain, links.len()), (3, 3), "leaf, intermediate, demo CA");
        assert_eq!(
            links[0]["Issuer"],
            "CN=Tencent Cloud SSL Simulator Demo Intermediate CA"
        );
        assert_eq!(links[1]["Issuer"], "CN=Tencent Cloud SSL Simulator Demo CA");
        let intermediate_ends = cert.intermediate_not_after.expect("set");
        assert_eq!(links[1]["ValidTo"], format_gmt8(intermediate_ends));
        assert!(
            intermediate_ends < cert.not_after,
            "expires before its leaf"
        );
    }

    #[test]
    fn the_list_answers_tags_service_hosting_and_revocation_as_api_json_writes_them() {
        let d = Dataset::generate(DatasetSpec::new(1, 48, 1_750_000_000));
        let mut t = Tasks::default();
        let page = call(
            &d,
            &mut t,
            d.spec.now * 1000,
            "DescribeCertificates",
            json!({"Limit": 1000}),
        )
        .expect("ok");
        let rows = page["Certificates"].as_array().expect("rows");
        for (row, cert) in rows.iter().zip(&d.certificates) {
            let tags: Vec<(String, String)> = row["Tags"]
                .as_array()
                .expect("a list, empty when none")
                .iter()
                .map(|t| {
                    (
                        t["TagKey"].as_str().unwrap_or_default().into(),
                        t["TagValue"].as_str().unwrap_or_default().into(),
                    )
                })
                .collect();
            assert_eq!(tags, cert.tags);
            match &cert.service {
                Some(service) => {
                    assert_eq!(row["ServiceId"], service.id.as_str());
                    assert_eq!(row["ServiceStatus"], service.status);
                    assert_eq!(row["CertServiceEndTime"], format_gmt8(service.ends));
                    assert_eq!(
                        row["CertificateExtra"]["ServiceRenewCertificateId"],
                        service.renew_certificate_id.as_str()
                    );
                }
                None => assert_eq!(row["ServiceId"], ""),
            }
            match cert.hosting_replace_days {
                Some(days) => {
                    assert_eq!(row["HostingConfig"]["ReplaceTime"], days);
                    assert_eq!(
                        row["HostingConfig"]["ReplaceStartTime"],
                        cert.hosting_window.0
                    );
                }
                None => assert!(row["HostingConfig"].is_null()),
            }
            let revoked = row["CertRevokedTime"].as_str().expect("text");
            assert_eq!(revoked.is_empty(), cert.status != 10, "{}", cert.id);
        }
        assert!(rows
            .iter()
            .any(|r| r["Tags"].as_array().is_some_and(|t| !t.is_empty())));
    }

    #[test]
    fn certificate_detail_answers_a_chain_whose_leaf_has_the_fingerprint() {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        use sha1::{Digest, Sha1};

        let (d, mut t) = ctx_parts();
        let now = d.spec.now * 1000;
        let cert = &d.certificates[2];
        let answer = call(
            &d,
            &mut t,
            now,
            "DescribeCertificateDetail",
            json!({"CertificateId": cert.id}),
        )
        .expect("ok");
        let pem = answer["CertificatePublicKey"].as_str().expect("pem");
        let chain: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("a PEM chain");
        assert_eq!(chain.len(), 2, "leaf, then the demo CA");
        let upper = |der: &[u8]| {
            Sha1::digest(der)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        };
        let fingerprint = answer["CertFingerprint"].as_str().expect("fingerprint");
        assert_eq!(fingerprint, upper(&chain[0]));
        assert_eq!(fingerprint.len(), 40);
        let links = answer["CertChainInfo"].as_array().expect("chain info");
        assert_eq!(links.len(), 2);
        for (link, der) in links.iter().zip(&chain) {
            assert_eq!(link["Fingerprint"], upper(der).to_lowercase());
        }
        assert_eq!(links[0]["Subject"], format!("CN={}", cert.domain));
        assert_eq!(links[0]["Issuer"], "CN=Tencent Cloud SSL Simulator Demo CA");
        assert_eq!(links[0]["ValidTo"], format_gmt8(cert.not_after));
        assert_eq!(answer["CertEndTime"], format_gmt8(cert.not_after));
        assert_eq!(answer["CertBeginTime"], format_gmt8(cert.not_before));
        assert_eq!(answer["CertificateId"], cert.id.as_str());
        assert_eq!(answer["Domain"], cert.domain.as_str());
        assert_eq!(
            answer["SubjectAltName"],
            json!([cert.domain, format!("*.{}", cert.domain)])
        );
        assert!(answer["CertificatePrivateKey"]
            .as_str()
            .is_some_and(|k| k.contains("SIMULATOR-NEVER-EXPORT")));
        assert!(answer["DvAuthDetail"].is_null());
        let again = call(
            &d,
            &mut t,
            now + 60_000,
            "DescribeCertificateDetail",
            json!({"CertificateId": cert.id}),
        )
        .expect("ok");
        assert_eq!(again["CertFingerprint"], fingerprint, "stable");
        let whole: Value = serde_json::from_slice(&respond(
            &d,
            &mut t,
            now,
            "DescribeCertificateDetail",
            &json!({"CertificateId": cert.id}),
        ))
        .expect("json");
        assert_eq!(whole["Response"]["CertFingerprint"], fingerprint);
    }

    #[test]
    fn certificate_detail_refuses_unknown_and_missing_ids() {
        let (d, mut t) = ctx_parts();
        let mut code = |body: Value| {
            call(&d, &mut t, 0, "DescribeCertificateDetail", body)
                .map(|_| ())
                .unwrap_err()
                .code
        };
        assert_eq!(
            code(json!({"CertificateId": "nope"})),
            "ResourceNotFound.CertificateNotExist"
        );
        assert_eq!(code(json!({})), "MissingParameter");
        assert_eq!(code(json!({"CertificateId": null})), "MissingParameter");
        assert_eq!(code(json!({"CertificateId": ""})), "InvalidParameter");
        assert_eq!(code(json!({"CertificateId": 7})), "InvalidParameter");
    }

    /// Every `InstanceList` element under `value`.
    fn instances(value: &Value, out: &mut Vec<Value>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("InstanceList", Value::Array(items)) => out.extend(items.iter().cloned()),
                        _ => instances(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| instances(v, out)),
            _ => {}
        }
    }

    /// Every string under `value`.
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            _ => {}
        }
    }

    #[test]
    fn demo_domains_are_listed_once_in_the_whole_world() {
        use crate::dataset::{DemoRole, Served};

        for seed in [1, 2, 3, 5, 8] {
            let d = Dataset::generate(DatasetSpec::new(seed, 48, 1_750_000_000));
            let mut t = Tasks::default();
            let now = d.spec.now * 1000;
            let done = now + 10_000;
            // (certificate ID, strings of one instance) of every instance of every detail page.
            let mut listed: Vec<(String, Vec<String>)> = Vec::new();
            for cert in &d.certificates {
                let created = call(
                    &d,
                    &mut t,
                    now,
                    "CreateCertificateBindResourceSyncTask",
                    json!({"CertificateIds": [cert.id]}),
                )
                .expect("ok");
                let task = created["CertTaskIds"][0]["TaskId"].clone();
                for offset in [0, 100, 200] {
                    let detail = call(
                        &d,
                        &mut t,
                        done,
                        "DescribeCertificateBindResourceTaskDetail",
                        json!({"TaskId": task, "Limit": 100, "Offset": offset}),
                    )
                    .expect("ok");
                    let mut found = Vec::new();
                    instances(&detail, &mut found);
                    for instance in found {
                        let mut names = Vec::new();
                        strings(&instance, &mut names);
                        listed.push((cert.id.clone(), names));
                    }
                }
            }
            let mut record_strings = Vec::new();
            for record in &d.records {
                let action = match record.kind {
                    RecordKind::UploadUpdate => "DescribeHostUploadUpdateRecordDetail",
                    RecordKind::Update => "DescribeHostUpdateRecordDetail",
                    RecordKind::Deploy => "DescribeHostDeployRecordDetail",
                };
                for offset in [0, 200] {
                    let detail = call(
                        &d,
                        &mut t,
                        done,
                        action,
                        json!({"DeployRecordId": record.id, "Limit": 200, "Offset": offset}),
                    )
                    .expect("ok");
                    strings(&detail, &mut record_strings);
                }
            }
            let roles: Vec<DemoRole> = d.demo_targets.iter().map(|t| t.role).collect();
            let current = DemoRole::Serves(Served::Current);
            assert_eq!(
                roles.iter().filter(|r| **r == current).count(),
                2,
                "seed {seed}"
            );
            assert!(roles.contains(&DemoRole::Serves(Served::Previous)));
            assert!(roles.contains(&DemoRole::Wildcard), "seed {seed}");
            assert_eq!(
                roles.last(),
                Some(&DemoRole::Serves(Served::Unreachable)),
                "seed {seed}: picked last"
            );
            for target in &d.demo_targets {
                let holders: Vec<&String> = listed
                    .iter()
                    .filter(|(_, names)| names.contains(&target.domain))
                    .map(|(id, _)| id)
                    .collect();
                assert_eq!(
                    holders,
                    [&target.certificate_id],
                    "seed {seed}: {} is listed by exactly one instance, of its certificate",
                    target.domain
                );
                assert!(!record_strings.contains(&target.domain));
                let cert = d.certificate(&target.certificate_id).expect("cert");
                let name = target.domain.strip_prefix("*.").unwrap_or(&target.domain);
                let first_label = name.split('.').next().unwrap_or_default();
                assert_eq!(
                    name,
                    format!("{first_label}.{}", cert.domain),
                    "one label under the certificate's domain"
                );
                assert_eq!(
                    target.role == DemoRole::Wildcard,
                    target.domain.starts_with("*.wild-")
                );
                assert_ne!(target.resource_type, "ddos");
            }
        }
    }

    #[test]
    fn unknown_certificate_fails_the_batch() {
        let (d, mut t) = ctx_parts();
        let err = call(
            &d,
            &mut t,
            0,
            "CreateCertificateBindResourceSyncTask",
            json!({"CertificateIds": ["nope"]}),
        )
        .unwrap_err();
        assert_eq!(err.code, "FailedOperation.CertificateNotFound");
    }

    #[test]
    fn record_details_have_the_documented_shape() {
        let (d, mut t) = ctx_parts();
        let now = d.spec.now * 1000;
        let upload = d
            .records_of(RecordKind::UploadUpdate)
            .next()
            .expect("a record");
        let answer = call(
            &d,
            &mut t,
            now,
            "DescribeHostUploadUpdateRecordDetail",
            json!({"DeployRecordId": upload.id, "Limit": 200, "Offset": 0}),
        )
        .expect("ok");
        let entries = answer["DeployRecordDetail"].as_array().expect("entries");
        assert_eq!(entries.len(), upload.entries.len());
        assert!(entries[0]["RecordDetailList"][0]["List"].is_array());
        let update = d.records_of(RecordKind::Update).next().expect("a record");
        let answer = call(
            &d,
            &mut t,
            now,
            "DescribeHostUpdateRecordDetail",
            json!({"DeployRecordId": update.id.to_string(), "Limit": "200", "Offset": "0"}),
        )
        .expect("ok");
        let items: usize = update.entries[0].items.len();
        assert_eq!(answer["TotalCount"], items);
        assert!(answer["RecordDetailList"][0]["List"].is_array());
    }
}
