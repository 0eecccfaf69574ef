//! The simulator's HTTP front: authentication, rate limits, faults, stats and admin routes.
//!
//! API calls are `POST /` as in production. Admin routes for tests and benchmarks:
//! `GET /-/sim/truth[?account=A&max_age_seconds=N]` (expected series), `GET /-/sim/alerts` (same
//! parameters: the alerts the world raises, as JSON `[[alertname, {label: value}], …]`),
//! `GET /-/sim/stats`
//! (answers by action and code), `GET /-/sim/minimal-calls` (fewest calls a first collection
//! needs, per action), `PUT /-/sim/faults` (a JSON [`FaultConfig`]),
//! `POST /-/sim/deploy-records[?certificate_id=ID]` (a deploy record created now on that
//! certificate, or on a deployable one drawn at random: [`events::add_deploy_record`]; answers
//! its IDs as JSON), `GET /-/healthy`.
//! A request may force a fault with the header `X-Sim-Fault: <kind>`.
//!
//! With [`SimConfig::tls_endpoints`] it also starts the demo's TLS endpoints ([`crate::tls`]),
//! and the truth gains their series ([`truth::endpoint_truth`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use parking_lot::Mutex;

use crate::auth::authenticate;
use crate::clock::now_millis as now_unix_millis;
use crate::dataset::{Dataset, DatasetSpec};
use crate::faults::{FaultConfig, FaultKind};
use crate::handlers::{self, Ctx, SimError, Tasks};
use crate::model::rate_limit;
use crate::pki::Pki;
use crate::scenario::{self, Scenario, ScenarioEndpoint};
use crate::tls::{self, TlsEndpoint};
use crate::{events, mix, truth, Rng, DEMO_SECRET_ID, DEMO_SECRET_KEY};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub secret_id: String,
    pub secret_key: String,
    /// When set, every request must carry it as `X-TC-Token`.
    pub token: Option<String>,
    pub dataset: DatasetSpec,
    /// Answer `RequestLimitExceeded` above the documented per-action limits.
    pub enforce_rate_limits: bool,
    /// Caps `Limit` of list actions below the documented maximum.
    pub list_limit_cap: Option<u64>,
    pub faults: FaultConfig,
    /// Seed of the fault draws.
    pub fault_seed: u64,
    /// Allowed clock skew of `X-TC-Timestamp`.
    pub max_skew_seconds: i64,
    /// Multiplies every documented rate limit (benchmarks of large accounts in less time).
    pub rate_limit_scale: f64,
    /// Start the demo's TLS endpoints (on `127.0.0.1`, free ports) and add their series to the
    /// truth.
    pub tls_endpoints: bool,
    /// When set, the data set churns at this period: every step regenerates it around the
    /// current time, alternately under the same seed (the same certificate IDs with new dates:
    /// renewals) and under the next seed (new IDs: the old certificates, records and their
    /// domains deleted, new ones created), with a certificate count that varies by a few. The
    /// TLS endpoints stay those of the first data set. For soak tests of a client's memory.
    pub churn_every: Option<Duration>,
    /// Cases of a real account added to the world ([`crate::scenario`]); none by default. Not
    /// meant with `churn_every`: a churn step's world does not carry them.
    pub scenario: Scenario,
}

impl SimConfig {
    /// Demo defaults: loopback on a free port, demo credentials, documented limits enforced,
    /// TLS endpoints on.
    pub fn demo(seed: u64, certificates: usize) -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            secret_id: DEMO_SECRET_ID.to_string(),
            secret_key: DEMO_SECRET_KEY.to_string(),
            token: None,
            dataset: DatasetSpec::new(seed, certificates, now_unix_millis() / 1000),
            enforce_rate_limits: true,
            list_limit_cap: None,
            faults: FaultConfig::default(),
            fault_seed: seed,
            max_skew_seconds: 300,
            rate_limit_scale: 1.0,
            tls_endpoints: true,
            churn_every: None,
            scenario: Scenario::default(),
        }
    }

    /// [`SimConfig::demo`] with every case the demo shows ([`Scenario::demo`]): what `--demo`
    /// runs, the upload-update `upload_update_after` after start.
    pub fn demo_world(seed: u64, certificates: usize, upload_update_after: Duration) -> SimConfig {
        SimConfig {
            scenario: Scenario::demo(upload_update_after),
            ..SimConfig::demo(seed, certificates)
        }
    }
}

/// Where a deletion between pages stands.
#[derive(Debug, Default)]
struct Deletion {
    /// A first page of `DescribeCertificates` was answered.
    first_page: bool,
    done: bool,
}

struct State {
    config: SimConfig,
    /// Replaced whole on every churn step; readers clone the `Arc` and answer from one version.
    dataset: Mutex<Arc<Dataset>>,
    tasks: Mutex<Tasks>,
    faults: Mutex<(FaultConfig, Rng)>,
    windows: Mutex<HashMap<String, (u64, u32)>>,
    stats: Mutex<BTreeMap<String, u64>>,
    started: Instant,
    request_seq: AtomicU64,
    pki: Pki,
    ca_pem: String,
    /// Empty unless `config.tls_endpoints`.
    endpoints: Vec<TlsEndpoint>,
    /// What the scenario added.
    plan: scenario::Plan,
    /// The world after the upload-update and from when (unix milliseconds), until it is due.
    pending: Mutex<Option<(i64, Arc<Dataset>)>>,
    /// The scenario's TLS endpoints (empty unless `config.tls_endpoints`).
    scenario_endpoints: Vec<ScenarioEndpoint>,
    deletion: Mutex<Deletion>,
}

impl State {
    /// The truth now: the contract's series, and the endpoints' when they run.
    fn truth(&self, account: &str, max_age_seconds: i64) -> String {
        let now_ms = now_unix_millis();
        let dataset = self.dataset();
        let tasks = self.tasks.lock();
        let mut text = truth::truth(&dataset, &tasks, account, now_ms, max_age_seconds);
        if self.config.tls_endpoints {
            text.push_str(&truth::endpoint_truth(
                &dataset,
                &tasks,
                &self.endpoints,
                account,
                now_ms,
            ));
            text.push_str(&scenario::endpoint_truth(
                &dataset,
                &tasks,
                &self.pki,
                &self.scenario_endpoints,
                account,
                now_ms,
            ));
        }
        text
    }

    /// The alerts the world raises now ([`crate::alerts`]).
    fn expected_alerts(
        &self,
        account: &str,
        max_age_seconds: i64,
    ) -> std::collections::BTreeSet<crate::alerts::Alert> {
        let now = now_unix_millis().div_euclid(1000);
        let truth = self.truth(account, max_age_seconds);
        let dataset = self.dataset();
        crate::alerts::expected_alerts(&truth, &dataset, account, now, max_age_seconds)
    }

    /// The world now: the upload-update's once it is due.
    fn dataset(&self) -> Arc<Dataset> {
        let mut current = self.dataset.lock();
        let mut pending = self.pending.lock();
        if pending
            .as_ref()
            .is_some_and(|(at_ms, _)| now_unix_millis() >= *at_ms)
        {
            if let Some((_, after)) = pending.take() {
                *current = after;
            }
        }
        Arc::clone(&current)
    }

    /// Deletes a certificate when a page after the first of one `DescribeCertificates` listing
    /// is asked for, once, if the scenario says so.
    fn delete_between_pages(&self, body: &[u8]) {
        if !self.config.scenario.delete_between_pages {
            return;
        }
        let offset = serde_json::from_slice::<Map<String, Value>>(body)
            .ok()
            .and_then(|b| handlers::param_u64(&b, "Offset", 0).ok())
            .unwrap_or(0);
        let mut deletion = self.deletion.lock();
        if deletion.done {
            return;
        }
        if offset == 0 {
            deletion.first_page = true;
            return;
        }
        if !deletion.first_page {
            return;
        }
        let dataset = self.dataset();
        let Some(id) = scenario::deletable(&dataset, &self.plan) else {
            return;
        };
        *self.dataset.lock() = Arc::new(scenario::without(&dataset, &id));
        let mut pending = self.pending.lock();
        if let Some((_, after)) = pending.as_mut() {
            *after = Arc::new(scenario::without(after, &id));
        }
        deletion.done = true;
    }
}

/// The data set of churn step `step` (1, 2, ...) from the first one's spec, built around `now`.
fn churned_spec(first: &DatasetSpec, step: u64, now: i64) -> DatasetSpec {
    let mut spec = first.clone();
    // Odd steps replace (the next seed: new IDs), even steps renew (the seed of the step
    // before, so the same IDs, with dates a day later).
    spec.seed = first.seed.wrapping_add(step.div_ceil(2) * 1_000_003);
    let wobble = (step % 5) as usize;
    spec.certificates = (first.certificates + wobble).saturating_sub(2).max(1);
    spec.records = (first.records + wobble).saturating_sub(2);
    spec.now = now;
    spec
}

async fn churn_loop(state: Arc<State>, every: Duration, stop: CancellationToken) {
    let first = state.config.dataset.clone();
    let mut step = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        step += 1;
        // Renewals move the dates: each step's world is built a day further on.
        let now = now_unix_millis() / 1000 + step as i64 * 86_400;
        let dataset = Dataset::generate(churned_spec(&first, step, now));
        *state.dataset.lock() = Arc::new(dataset);
    }
}

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    endpoint_tasks: Vec<tokio::task::JoinHandle<()>>,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// Marker error: close the connection without answering.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault injector")
    }
}

impl std::error::Error for ResetConnection {}

impl Simulator {
    /// Generates the dataset and the demo CA, binds, starts serving and, with
    /// `tls_endpoints`, starts the TLS endpoints.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let mut dataset = Dataset::generate(config.dataset.clone());
        let plan = scenario::prepare(&mut dataset, &config.scenario);
        let pki = Pki::new();
        let ca_pem = pki.ca_pem().map_err(std::io::Error::other)?;
        let stop = CancellationToken::new();
        // A failure stops what already started.
        let stopping = |error| {
            stop.cancel();
            error
        };
        let (endpoints, endpoint_tasks) = if config.tls_endpoints {
            tls::start(&dataset, &pki, &stop).await.map_err(stopping)?
        } else {
            (Vec::new(), Vec::new())
        };
        let (scenario_endpoints, scenario_tasks) = if config.tls_endpoints {
            scenario::start_endpoints(&plan, &dataset, &pki, &stop)
                .await
                .map_err(stopping)?
        } else {
            (Vec::new(), Vec::new())
        };
        let mut endpoint_tasks = endpoint_tasks;
        endpoint_tasks.extend(scenario_tasks);
        let pending = plan
            .rollover
            .as_ref()
            .map(|r| (r.at.saturating_mul(1000), Arc::clone(&r.after)));
        let state = Arc::new(State {
            dataset: Mutex::new(Arc::new(dataset)),
            tasks: Mutex::new(Tasks::default()),
            faults: Mutex::new((config.faults.clone(), Rng::new(config.fault_seed))),
            windows: Mutex::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            request_seq: AtomicU64::new(0),
            pki,
            ca_pem,
            endpoints,
            plan,
            pending: Mutex::new(pending),
            scenario_endpoints,
            deletion: Mutex::new(Deletion::default()),
            config,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stop.clone()));
        if let Some(every) = state.config.churn_every.filter(|d| !d.is_zero()) {
            endpoint_tasks.push(tokio::spawn(churn_loop(
                Arc::clone(&state),
                every,
                stop.clone(),
            )));
        }
        Ok(Simulator {
            addr,
            state,
            stop,
            task,
            endpoint_tasks,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `--tencentcloud.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data set now (the first one unless `churn_every` is set).
    pub fn dataset(&self) -> Arc<Dataset> {
        self.state.dataset()
    }

    /// Expected series now, as exposition lines (with the endpoints' series when
    /// `tls_endpoints` is on).
    pub fn truth(&self, account: &str, max_age_seconds: i64) -> String {
        self.state.truth(account, max_age_seconds)
    }

    /// The alerts of the shipped rules the world raises now ([`crate::alerts`]), from the truth
    /// of `account` with records no older than `max_age_seconds`.
    pub fn expected_alerts(
        &self,
        account: &str,
        max_age_seconds: i64,
    ) -> std::collections::BTreeSet<crate::alerts::Alert> {
        self.state.expected_alerts(account, max_age_seconds)
    }

    /// The demo's TLS endpoints (empty unless `tls_endpoints`).
    pub fn tls_endpoints(&self) -> &[TlsEndpoint] {
        &self.state.endpoints
    }

    /// `DOMAIN:PORT:ADDR` overrides (`ADDR` = `127.0.0.1:<listener port>`, the syntax of curl's
    /// `--connect-to`; curl's `--resolve` takes no port in `ADDR`) that make a client dial the
    /// TLS endpoints, e.g. `abc123.shop.example.com:443:127.0.0.1:40123`.
    pub fn resolve_overrides(&self) -> Vec<String> {
        self.state
            .endpoints
            .iter()
            .map(TlsEndpoint::resolve_override)
            .chain(
                self.state
                    .scenario_endpoints
                    .iter()
                    .map(ScenarioEndpoint::resolve_override),
            )
            .collect()
    }

    /// What the scenario added to the world ([`crate::scenario`]).
    pub fn scenario_plan(&self) -> &scenario::Plan {
        &self.state.plan
    }

    /// The scenario's TLS endpoints (empty unless `tls_endpoints`).
    pub fn scenario_endpoints(&self) -> &[ScenarioEndpoint] {
        &self.state.scenario_endpoints
    }

    /// PEM of the demo CA every simulated leaf is signed by.
    pub fn ca_pem(&self) -> String {
        self.state.ca_pem.clone()
    }

    /// (certificate ID, domain) of the wildcard domains the bind details list, which an endpoint
    /// probe must skip (empty unless `tls_endpoints`).
    pub fn wildcard_domains(&self) -> Vec<(String, String)> {
        if !self.state.config.tls_endpoints {
            return Vec::new();
        }
        self.state
            .dataset()
            .wildcard_targets()
            .map(|t| (t.certificate_id.clone(), t.domain.clone()))
            .collect()
    }

    pub fn set_faults(&self, faults: FaultConfig) {
        self.state.faults.lock().0 = faults;
    }

    /// Answers so far, keyed `"<Action> <code>"` (`OK`, an error code, or `fault:<kind>`).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.state.stats.lock().clone()
    }

    /// Stops the API and the TLS endpoints.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
        for task in self.endpoint_tasks {
            let _ = task.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    crate::accept_each(listener, stop, |stream| {
        let state = Arc::clone(&state);
        async move {
            let service = hyper::service::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { route(&state, request).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await;
}

async fn route(state: &State, request: Request<Incoming>) -> Result<Answer, ResetConnection> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::POST, "/") => api(state, request).await,
        (Method::GET, "/-/healthy") => Ok(answer(StatusCode::OK, "text/plain", "Healthy.\n")),
        (Method::GET, "/-/sim/truth") => {
            let account = query_param(&query, "account").unwrap_or("default");
            let text = state.truth(account, max_age_param(&query));
            Ok(answer(StatusCode::OK, "text/plain; charset=utf-8", text))
        }
        (Method::GET, "/-/sim/alerts") => {
            let account = query_param(&query, "account").unwrap_or("default");
            let alerts = state.expected_alerts(account, max_age_param(&query));
            Ok(answer(
                StatusCode::OK,
                "application/json",
                json!(alerts).to_string(),
            ))
        }
        (Method::GET, "/-/sim/minimal-calls") => {
            let calls = state
                .dataset()
                .minimal_calls(now_unix_millis() / 1000, max_age_param(&query));
            Ok(answer(
                StatusCode::OK,
                "application/json",
                json!(calls).to_string(),
            ))
        }
        (Method::GET, "/-/sim/stats") => {
            let stats = state.stats.lock().clone();
            Ok(answer(
                StatusCode::OK,
                "application/json",
                json!(stats).to_string(),
            ))
        }
        (Method::PUT | Method::POST, "/-/sim/faults") => {
            let body = read_body(request).await;
            match body
                .and_then(|b| serde_json::from_slice::<FaultConfig>(&b).map_err(|e| e.to_string()))
            {
                Ok(faults) => {
                    state.faults.lock().0 = faults;
                    Ok(answer(StatusCode::OK, "text/plain", "ok\n"))
                }
                Err(e) => Ok(answer(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("{e}\n"),
                )),
            }
        }
        (Method::POST, "/-/sim/deploy-records") => Ok(create_deploy_record(
            state,
            query_param(&query, "certificate_id"),
        )),
        _ => Ok(answer(StatusCode::NOT_FOUND, "text/plain", "not found\n")),
    }
}

/// Creates a deploy record now on `certificate_id`, or on a deployable certificate drawn at
/// random.
fn create_deploy_record(state: &State, certificate_id: Option<&str>) -> Answer {
    let now = now_unix_millis() / 1000;
    let mut dataset = state.dataset.lock();
    let chosen = match certificate_id {
        Some(id) => id.to_string(),
        None => {
            let deployable: Vec<&str> = dataset
                .certificates
                .iter()
                .filter(|c| c.deployable)
                .map(|c| c.id.as_str())
                .collect();
            let draw = mix(&[
                state.request_seq.fetch_add(1, Ordering::Relaxed),
                now as u64,
            ]);
            match deployable.get((draw % deployable.len().max(1) as u64) as usize) {
                Some(id) => id.to_string(),
                None => {
                    return answer(
                        StatusCode::CONFLICT,
                        "text/plain",
                        "no certificate is deployable\n",
                    )
                }
            }
        }
    };
    let (changed, new) = match events::add_deploy_record(&dataset, &chosen, now) {
        Ok(added) => added,
        Err(refused) => {
            let status = match refused {
                events::Refused::NoSuchCertificate => StatusCode::NOT_FOUND,
                events::Refused::NotDeployable => StatusCode::CONFLICT,
            };
            return answer(status, "text/plain", format!("{refused}\n"));
        }
    };
    *dataset = Arc::new(changed);
    answer(
        StatusCode::OK,
        "application/json",
        json!({
            "record_id": new.record_id,
            "certificate_id": new.certificate_id,
            "created": new.created,
        })
        .to_string(),
    )
}

/// The value of `key` in a query string (no percent-decoding: the admin routes take plain values).
fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// `max_age_seconds` of a query string; 30 days (the exporter's default) when absent.
fn max_age_param(query: &str) -> i64 {
    query_param(query, "max_age_seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30 * 86_400)
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, String> {
    Limited::new(request.into_body(), 1024 * 1024)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| e.to_string())
}

fn error(code: &'static str, message: impl Into<String>) -> SimError {
    SimError {
        code,
        message: message.into(),
    }
}

/// Fixed one-second windows per action, as the service counts.
fn over_limit(state: &State, action: &str) -> bool {
    if !state.config.enforce_rate_limits {
        return false;
    }
    let limit = rate_limit(action);
    let limit = (limit * state.config.rate_limit_scale).floor().max(1.0) as u32;
    let second = state.started.elapsed().as_secs();
    let mut windows = state.windows.lock();
    let window = windows.entry(action.to_string()).or_insert((second, 0));
    if window.0 != second {
        *window = (second, 0);
    }
    window.1 += 1;
    window.1 > limit
}

fn envelope(state: &State, result: Result<Value, SimError>) -> (String, Value) {
    let seq = state.request_seq.fetch_add(1, Ordering::Relaxed);
    let request_id = format!(
        "{:08x}-sim0-4000-8000-{:012x}",
        state.config.fault_seed as u32, seq
    );
    match result {
        Ok(mut response) => {
            if let Value::Object(map) = &mut response {
                map.insert("RequestId".into(), request_id.into());
            }
            ("OK".to_string(), json!({"Response": response}))
        }
        Err(e) => (
            e.code.to_string(),
            json!({"Response": {"Error": {"Code": e.code, "Message": e.message}, "RequestId": request_id}}),
        ),
    }
}

async fn api(state: &State, request: Request<Incoming>) -> Result<Answer, ResetConnection> {
    let headers = request.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let action = header("x-tc-action");
    let forced = FaultKind::from_name(&header("x-sim-fault"));
    let body = read_body(request).await.unwrap_or_default();
    let (fault, latency, slow) = {
        let mut faults = state.faults.lock();
        let (config, rng) = &mut *faults;
        (
            forced.or_else(|| config.draw(rng, &action)),
            Duration::from_millis(config.latency_ms),
            Duration::from_millis(config.slow_ms),
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let count = |code: String| {
        *state
            .stats
            .lock()
            .entry(format!("{action} {code}"))
            .or_default() += 1;
    };
    if let Some(kind) = fault {
        count(format!("fault:{}", kind.name()));
        if let Some(code) = kind.api_code() {
            let (_, value) = envelope(state, Err(error(code, "injected fault")));
            return Ok(answer(
                StatusCode::OK,
                "application/json",
                value.to_string(),
            ));
        }
        match kind {
            FaultKind::Http502 => {
                return Ok(answer(
                    StatusCode::BAD_GATEWAY,
                    "text/html",
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                ))
            }
            FaultKind::Http503 => {
                return Ok(answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/html",
                    "<html><body><h1>503 Service Unavailable</h1></body></html>",
                ))
            }
            FaultKind::EmptyBody => {
                return Ok(answer(StatusCode::OK, "application/json", Bytes::new()))
            }
            FaultKind::Reset => return Err(ResetConnection),
            FaultKind::Slow => tokio::time::sleep(slow).await,
            _ => {}
        }
    }
    let refusal = state
        .config
        .scenario
        .refused_actions
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, refusal)| *refusal);
    let now_ms = now_unix_millis();
    let result = authenticate(&state.config, &headers, &body, now_ms / 1000)
        .and_then(|()| {
            if over_limit(state, &action) {
                Err(error(
                    "RequestLimitExceeded",
                    format!("{action} is called too often"),
                ))
            } else {
                Ok(())
            }
        })
        .and_then(|()| match refusal {
            Some(refusal) => Err(error(refusal.code(), refusal.message(&action))),
            None => Ok(()),
        })
        .inspect(|()| {
            if action == "DescribeCertificates" {
                state.delete_between_pages(&body);
            }
        })
        .and_then(|()| {
            let parsed: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
                error(
                    "InvalidParameter",
                    format!("the body is not a JSON object: {e}"),
                )
            })?;
            let dataset = state.dataset();
            let mut tasks = state.tasks.lock();
            let mut ctx = Ctx {
                dataset: &dataset,
                tasks: &mut tasks,
                now_ms,
                list_limit_cap: state.config.list_limit_cap,
                pki: &state.pki,
            };
            handlers::handle(&mut ctx, &action, &parsed)
        });
    let (code, value) = envelope(state, result);
    let mut text = value.to_string().into_bytes();
    if fault == Some(FaultKind::TruncatedJson) {
        text.truncate(text.len() / 2);
    } else {
        count(code);
    }
    Ok(answer(StatusCode::OK, "application/json", text))
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::WebPkiServerVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use sha1::{Digest, Sha1};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::dataset::Served;

    /// A served leaf and whether its chain verified.
    type Seen = (Vec<u8>, Result<(), rustls::Error>);

    /// Trusts the demo CA, records the served leaf and whether its chain verifies, and lets the
    /// handshake go on either way.
    #[derive(Debug)]
    struct Recording {
        inner: Arc<WebPkiServerVerifier>,
        seen: Mutex<Option<Seen>>,
    }

    impl ServerCertVerifier for Recording {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let verdict = self
                .inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ());
            *self.seen.lock() = Some((end_entity.to_vec(), verdict));
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn verifier(ca_pem: &str) -> Arc<WebPkiServerVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("root");
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("verifier")
    }

    /// Handshakes with `endpoint` as `domain` (SNI), sends a request, and gives the served leaf,
    /// its verdict against the demo CA and the answer's first line.
    async fn probe(
        endpoint: &TlsEndpoint,
        ca_pem: &str,
    ) -> (Vec<u8>, Result<(), rustls::Error>, String) {
        let recording = Arc::new(Recording {
            inner: verifier(ca_pem),
            seen: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&recording) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(endpoint.domain.clone()).expect("a DNS name");
        let tcp = tokio::net::TcpStream::connect(endpoint.addr)
            .await
            .expect("connect");
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            endpoint.domain
        );
        tls.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        let status = String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let (leaf, verdict) = recording
            .seen
            .lock()
            .take()
            .expect("a certificate was served");
        (leaf, verdict, status)
    }

    /// `action` with `body`, answered by `sim`'s handlers as of now (the lock on the tasks is
    /// let go before it returns).
    fn answer(sim: &Simulator, action: &str, body: &Value) -> Value {
        let dataset = sim.state.dataset();
        let mut tasks = sim.state.tasks.lock();
        let mut ctx = Ctx {
            dataset: &dataset,
            tasks: &mut tasks,
            now_ms: now_unix_millis(),
            list_limit_cap: None,
            pki: &sim.state.pki,
        };
        handlers::handle(&mut ctx, action, body.as_object().expect("map"))
            .unwrap_or_else(|e| panic!("{action}: {e:?}"))
    }

    fn detail(sim: &Simulator, id: &str) -> Value {
        answer(
            sim,
            "DescribeCertificateDetail",
            &json!({ "CertificateId": id }),
        )
    }

    /// `POST path` over plain HTTP/1.1: the status code and the body.
    async fn admin_post(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: sim\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.expect("read");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    #[tokio::test]
    async fn a_deploy_record_created_at_runtime_is_listed_and_in_the_truth() {
        let mut config = SimConfig::demo(5, 12);
        config.tls_endpoints = false;
        let sim = Simulator::start(config).await.expect("start");
        let id = sim
            .dataset()
            .certificates
            .iter()
            .find(|c| c.deployable)
            .expect("a deployable certificate")
            .id
            .clone();
        let (status, body) = admin_post(
            sim.addr(),
            &format!("/-/sim/deploy-records?certificate_id={id}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let created: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(created["certificate_id"], json!(id));
        let record_id = created["record_id"].as_u64().expect("an ID");
        let listed = answer(
            &sim,
            "DescribeHostDeployRecord",
            &json!({ "CertificateId": id }),
        );
        assert_eq!(
            listed["DeployRecordList"][0]["Id"],
            json!(record_id),
            "{listed}"
        );
        assert!(sim
            .truth("default", 30 * 86_400)
            .contains(&format!("record_id=\"{record_id}\"")));
        // No certificate named: one drawn at random; an unknown one is refused.
        let (status, body) = admin_post(sim.addr(), "/-/sim/deploy-records").await;
        assert_eq!(status, 200, "{body}");
        let random: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(random["record_id"], json!(record_id + 1));
        let drawn = random["certificate_id"].as_str().expect("an ID");
        assert!(sim
            .dataset()
            .certificate(drawn)
            .is_some_and(|c| c.deployable));
        let (status, _) = admin_post(sim.addr(), "/-/sim/deploy-records?certificate_id=nope").await;
        assert_eq!(status, 404);
        sim.stop().await;
    }

    #[test]
    fn churn_alternates_replacing_and_renewing() {
        let first = DatasetSpec::new(7, 20, 1_700_000_000);
        let ids = |spec: DatasetSpec| -> Vec<(String, i64)> {
            Dataset::generate(spec)
                .certificates
                .iter()
                .map(|c| (c.id.clone(), c.not_after))
                .collect()
        };
        let (a, b) = (
            ids(churned_spec(&first, 1, 1_700_086_400)),
            ids(churned_spec(&first, 2, 1_700_172_800)),
        );
        let original = ids(first.clone());
        assert!(a
            .iter()
            .all(|(id, _)| original.iter().all(|(o, _)| o != id)));
        let common: Vec<_> = a
            .iter()
            .filter(|(id, _)| b.iter().any(|(i, _)| i == id))
            .collect();
        assert!(common.len() >= 18, "a renewal keeps the IDs");
        assert!(common
            .iter()
            .all(|(id, t)| b.iter().any(|(i, u)| i == id && u > t)));
    }

    #[tokio::test]
    async fn endpoints_serve_what_they_say_over_tls() {
        let sim = Simulator::start(SimConfig::demo(1, 48))
            .await
            .expect("start");
        let endpoints = sim.tls_endpoints().to_vec();
        let served: Vec<Served> = endpoints.iter().map(|e| e.serves).collect();
        let planned: Vec<Served> = sim.dataset().endpoint_targets().map(|(_, s)| s).collect();
        assert_eq!(
            served, planned,
            "one endpoint per planned target (dataset tests pin them)"
        );
        let ca_pem = sim.ca_pem();
        let overrides = sim.resolve_overrides();
        let dataset = sim.dataset();
        let now = dataset.spec.now;
        assert_eq!(overrides.len(), endpoints.len());
        for (endpoint, line) in endpoints.iter().zip(&overrides) {
            assert_eq!(
                *line,
                format!("{}:443:127.0.0.1:{}", endpoint.domain, endpoint.addr.port())
            );
            let api = detail(&sim, &endpoint.certificate_id);
            let api_fingerprint = api["CertFingerprint"].as_str().expect("fingerprint");
            assert_eq!(
                api_fingerprint.to_lowercase(),
                endpoint.expected_fingerprint_sha1
            );
            if endpoint.serves == Served::Unreachable {
                // Nothing answers: the connect is refused, and nothing was served.
                let refused = tokio::net::TcpStream::connect(endpoint.addr)
                    .await
                    .map(|_| ());
                assert!(
                    matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
                    "{refused:?}"
                );
                assert!(endpoint.addr.ip().is_loopback());
                assert!(endpoint.served_fingerprint_sha1.is_empty());
                assert_eq!(endpoint.served_not_after, 0);
                assert!(!endpoint.matches());
                continue;
            }
            let (leaf, verdict, status) = probe(endpoint, &ca_pem).await;
            assert_eq!(status, "HTTP/1.1 200 OK");
            let fingerprint = hex::encode(Sha1::digest(&leaf));
            assert_eq!(fingerprint, endpoint.served_fingerprint_sha1);
            match endpoint.serves {
                Served::Current => {
                    assert_eq!(fingerprint, api_fingerprint.to_lowercase());
                    assert!(verdict.is_ok(), "{verdict:?}");
                }
                Served::Previous => {
                    assert_ne!(fingerprint, api_fingerprint.to_lowercase());
                    assert!(verdict.is_ok(), "{verdict:?}");
                    assert_eq!(endpoint.served_not_after, now + 5 * 86_400);
                    let cert = dataset.certificate(&endpoint.certificate_id).expect("cert");
                    assert!(cert.not_after > now + 30 * 86_400);
                }
                Served::Unreachable => unreachable!("not probed"),
                Served::Expired => {
                    assert_eq!(fingerprint, api_fingerprint.to_lowercase());
                    assert!(
                        matches!(
                            verdict,
                            Err(rustls::Error::InvalidCertificate(
                                rustls::CertificateError::Expired
                                    | rustls::CertificateError::ExpiredContext { .. }
                            ))
                        ),
                        "{verdict:?}"
                    );
                }
            }
            // The served notAfter is the one reported, to the second.
            let inner = verifier(&ca_pem);
            let name = ServerName::try_from(endpoint.domain.clone()).expect("name");
            let at = |unix: i64| {
                UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(unix).unwrap_or(0)))
            };
            let der = CertificateDer::from(leaf.clone());
            assert!(inner
                .verify_server_cert(&der, &[], &name, &[], at(endpoint.served_not_after))
                .is_ok());
            assert!(inner
                .verify_server_cert(&der, &[], &name, &[], at(endpoint.served_not_after + 1))
                .is_err());
        }
        let wildcards = sim.wildcard_domains();
        assert_eq!(wildcards.len(), 1);
        assert!(wildcards[0].1.starts_with("*.wild-"));

        // Once the bind tasks are done, the truth names every endpoint.
        assert!(!sim.truth("default", 30 * 86_400).contains("endpoint_info"));
        {
            let dataset = sim.state.dataset();
            let mut tasks = sim.state.tasks.lock();
            let mut ctx = Ctx {
                dataset: &dataset,
                tasks: &mut tasks,
                now_ms: now_unix_millis() - 60_000,
                list_limit_cap: None,
                pki: &sim.state.pki,
            };
            let ids: Vec<&str> = dataset
                .demo_targets
                .iter()
                .map(|t| t.certificate_id.as_str())
                .collect();
            let body = json!({ "CertificateIds": ids });
            handlers::handle(
                &mut ctx,
                "CreateCertificateBindResourceSyncTask",
                body.as_object().expect("map"),
            )
            .expect("tasks");
        }
        let truth = sim.truth("default", 30 * 86_400);
        for endpoint in &endpoints {
            let up = u8::from(endpoint.serves != Served::Unreachable);
            let line = format!(
                "tencentcloud_ssl_endpoint_probe_success{{account=\"default\",certificate_id=\"{}\",domain=\"{}\",port=\"443\"}} {up}",
                endpoint.certificate_id, endpoint.domain
            );
            assert!(truth.lines().any(|l| l == line), "{line}");
        }
        assert!(truth.contains("reason=\"wildcard\""));
        assert!(truth.contains("reason=\"connect\""));
        let addrs: Vec<SocketAddr> = endpoints.iter().map(|e| e.addr).collect();
        sim.stop().await;
        for addr in addrs {
            assert!(
                tokio::net::TcpStream::connect(addr).await.is_err(),
                "{addr} stopped"
            );
        }
    }

    #[tokio::test]
    async fn no_endpoints_unless_asked() {
        let mut config = SimConfig::demo(1, 48);
        config.tls_endpoints = false;
        let sim = Simulator::start(config).await.expect("start");
        assert!(sim.tls_endpoints().is_empty());
        assert!(sim.resolve_overrides().is_empty());
        assert!(sim.wildcard_domains().is_empty());
        assert!(sim.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!sim.truth("default", 30 * 86_400).contains("endpoint"));
        // The alerts of its world, as JSON, as the library gives them.
        let mut stream = tokio::net::TcpStream::connect(sim.addr())
            .await
            .expect("connect");
        stream
            .write_all(b"GET /-/sim/alerts HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let alerts: Vec<crate::alerts::Alert> = serde_json::from_str(body).expect("JSON");
        let expected: Vec<crate::alerts::Alert> = sim
            .expected_alerts("default", 30 * 86_400)
            .into_iter()
            .collect();
        assert!(!alerts.is_empty());
        assert_eq!(alerts, expected);
        sim.stop().await;
    }
}
