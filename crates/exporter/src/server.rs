//! The HTTP server: `/metrics` from prepared bytes, health, readiness and a landing page.
//!
//! Connections are capped (a slow or idle client holds one slot, never more) and every request
//! must send its headers within a timeout. Shutdown stops accepting at once and lets in-flight
//! requests finish, for a few seconds at most.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics::Exposition;
use crate::readiness::Readiness;
use crate::web_config::WebConfig;

/// The Prometheus text format content type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub telemetry_path: String,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// A client must send a request's headers within this time.
    pub header_read_timeout: Duration,
    /// In-flight requests get this long to finish on shutdown.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            telemetry_path: "/metrics".to_string(),
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// What the handlers read.
#[derive(Debug)]
pub struct ServerState {
    pub config: ServerConfig,
    /// TLS, basic auth and extra headers (`--web.config.file`).
    pub web: WebConfig,
    pub exposition: Arc<Exposition>,
    pub readiness: Arc<Readiness>,
}

/// A response body made of shared chunks, with an exact length.
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Chunks {
            chunks: chunks.into(),
            remaining,
        }
    }

    fn text(text: &'static str) -> Self {
        Chunks::new(vec![Bytes::from_static(text.as_bytes())])
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.pop_front();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Whether an `Accept-Encoding` value accepts gzip (and does not refuse it with `q=0`).
pub fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|part| {
        let mut params = part.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let refused = params.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        coding.eq_ignore_ascii_case("gzip") && !refused
    })
}

fn response(status: StatusCode, content_type: &'static str, body: Chunks) -> Response<Chunks> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

const LANDING_PAGE: &str = concat!(
    "<!DOCTYPE html>\n<html><head><title>Tencent Cloud SSL Exporter</title></head><body>\n",
    "<h1>Tencent Cloud SSL Exporter</h1>\n<p>Version ",
    env!("CARGO_PKG_VERSION"),
    "</p>\n<ul><li><a href=\"metrics\">Metrics</a></li>\n",
    "<li><a href=\"-/healthy\">Health</a></li>\n<li><a href=\"-/ready\">Readiness</a></li></ul>\n",
    "</body></html>\n"
);

/// Checks authentication (bcrypt off the async threads when the cache cannot answer), routes,
/// and adds the configured headers. Never fails: every outcome is a response.
pub async fn respond(state: Arc<ServerState>, request: Request<Incoming>) -> Response<Chunks> {
    let allowed = match state.web.quick_verdict(request.headers()) {
        Some(verdict) => verdict,
        None => {
            let headers = request.headers().clone();
            let checker = Arc::clone(&state);
            tokio::task::spawn_blocking(move || checker.web.authorized(&headers))
                .await
                .unwrap_or(false)
        }
    };
    let mut response = if allowed {
        handle(&state, &request)
    } else {
        let mut r = response(
            StatusCode::UNAUTHORIZED,
            "text/plain; charset=utf-8",
            Chunks::text("Unauthorized\n"),
        );
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tencentcloud-ssl-exporter\""),
        );
        r
    };
    state.web.apply_headers(response.headers_mut());
    response
}

/// Routes one authorized request.
pub fn handle(state: &ServerState, request: &Request<Incoming>) -> Response<Chunks> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut r = response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Chunks::text("Method not allowed.\n"),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = request.uri().path();
    if path == state.config.telemetry_path {
        let gzip = accepts_gzip(request.headers().get(ACCEPT_ENCODING));
        let prepared = state.exposition.prepared(gzip);
        let mut r = response(
            StatusCode::OK,
            METRICS_CONTENT_TYPE,
            Chunks::new(prepared.chunks),
        );
        r.headers_mut()
            .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzip {
            r.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        return r;
    }
    let text = "text/plain; charset=utf-8";
    match path {
        "/-/healthy" => response(StatusCode::OK, text, Chunks::text("Healthy.\n")),
        "/-/ready" if state.readiness.is_ready() => {
            response(StatusCode::OK, text, Chunks::text("Ready.\n"))
        }
        "/-/ready" => response(
            StatusCode::SERVICE_UNAVAILABLE,
            text,
            Chunks::text("Not ready: collectors have not finished their first run.\n"),
        ),
        "/" => response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Chunks::text(LANDING_PAGE),
        ),
        _ => response(StatusCode::NOT_FOUND, text, Chunks::text("Not found.\n")),
    }
}

/// Serves until `shutdown` resolves, then drains in-flight requests for up to the grace period.
pub async fn run(
    listener: TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let header_read_timeout = state.config.header_read_timeout;
        let tls = state.web.tls_acceptor();
        let watcher = graceful.watcher();
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(respond(state, request).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let result = match tls {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                Some(acceptor) => {
                    // The handshake gets the same deadline as a request's headers.
                    match tokio::time::timeout(header_read_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => {
                            watcher
                                .watch(builder.serve_connection(TokioIo::new(tls_stream), service))
                                .await
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(error = %error, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(error) = result {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let grace = tokio::time::sleep(state.config.shutdown_grace);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = grace => tracing::warn!("connections still open after the grace period; closing"),
    }
}

#[cfg(test)]
#[path = "server_abuse_tests.rs"]
mod abuse_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        let check = |v: &str| accepts_gzip(Some(&HeaderValue::from_str(v).expect("header")));
        assert!(check("gzip"));
        assert!(check("deflate, GZIP;q=0.5"));
        assert!(check("gzip, deflate, br"));
        assert!(!check("gzip;q=0"));
        assert!(!check("identity"));
        assert!(!check("x-gzip2"));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn chunks_report_exact_size() {
        let body = Chunks::new(vec![Bytes::from_static(b"abc"), Bytes::from_static(b"de")]);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
    }
}
