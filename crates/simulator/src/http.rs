//! The simulator's HTTP front: authentication, rate limits, faults, stats and admin routes.
//!
//! API calls are `POST /` as in production. Admin routes for tests and benchmarks:
//! `GET /-/sim/truth[?account=A&max_age_seconds=N]` (expected series), `GET /-/sim/stats`
//! (answers by action and code), `GET /-/sim/minimal-calls` (fewest calls a first collection
//! needs, per action), `PUT /-/sim/faults` (a JSON [`FaultConfig`]), `GET /-/healthy`.
//! A request may force a fault with the header `X-Sim-Fault: <kind>`.

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
use crate::{truth, Rng, DEMO_SECRET_ID, DEMO_SECRET_KEY};

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
}

impl SimConfig {
    /// Demo defaults: loopback on a free port, demo credentials, documented limits enforced.
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
        }
    }
}

struct State {
    config: SimConfig,
    dataset: Dataset,
    tasks: Mutex<Tasks>,
    faults: Mutex<(FaultConfig, Rng)>,
    windows: Mutex<HashMap<String, (u64, u32)>>,
    stats: Mutex<BTreeMap<String, u64>>,
    started: Instant,
    request_seq: AtomicU64,
}

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
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
    /// Generates the dataset, binds and starts serving.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            dataset: Dataset::generate(config.dataset.clone()),
            tasks: Mutex::new(Tasks::default()),
            faults: Mutex::new((config.faults.clone(), Rng::new(config.fault_seed))),
            windows: Mutex::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            request_seq: AtomicU64::new(0),
            config,
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stop.clone()));
        Ok(Simulator {
            addr,
            state,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `--tencentcloud.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn dataset(&self) -> &Dataset {
        &self.state.dataset
    }

    /// Expected series now, as exposition lines.
    pub fn truth(&self, account: &str, max_age_seconds: i64) -> String {
        let tasks = self.state.tasks.lock();
        truth::truth(
            &self.state.dataset,
            &tasks,
            account,
            now_unix_millis(),
            max_age_seconds,
        )
    }

    pub fn set_faults(&self, faults: FaultConfig) {
        self.state.faults.lock().0 = faults;
    }

    /// Answers so far, keyed `"<Action> <code>"` (`OK`, an error code, or `fault:<kind>`).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.state.stats.lock().clone()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { route(&state, request).await }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

async fn route(state: &State, request: Request<Incoming>) -> Result<Answer, ResetConnection> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::POST, "/") => api(state, request).await,
        (Method::GET, "/-/healthy") => Ok(answer(StatusCode::OK, "text/plain", "Healthy.\n")),
        (Method::GET, "/-/sim/truth") => {
            let account = query_param(&query, "account").unwrap_or("default");
            let max_age = max_age_param(&query);
            let tasks = state.tasks.lock();
            let text = truth::truth(&state.dataset, &tasks, account, now_unix_millis(), max_age);
            Ok(answer(StatusCode::OK, "text/plain; charset=utf-8", text))
        }
        (Method::GET, "/-/sim/minimal-calls") => {
            let calls = state
                .dataset
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
        _ => Ok(answer(StatusCode::NOT_FOUND, "text/plain", "not found\n")),
    }
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
        .and_then(|()| {
            let parsed: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
                error(
                    "InvalidParameter",
                    format!("the body is not a JSON object: {e}"),
                )
            })?;
            let mut tasks = state.tasks.lock();
            let mut ctx = Ctx {
                dataset: &state.dataset,
                tasks: &mut tasks,
                now_ms,
                list_limit_cap: state.config.list_limit_cap,
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
