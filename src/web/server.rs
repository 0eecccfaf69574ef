//! The HTTP server's accept loop ([`run`]); what each request gets is in [`super::routes`].
//!
//! One accept loop holds the front door for plain HTTP and TLS alike:
//!
//! - connections are capped (`--web.max-connections`: a slow or idle client holds one slot,
//!   never more; further clients wait in the listen backlog);
//! - every request must send its headers, and every TLS handshake must finish, within a timeout;
//! - a response whose socket accepts no bytes for `--web.write-timeout` is dropped
//!   ([`WriteDeadline`] under hyper and under TLS), so clients that never read free their slot
//!   and the snapshot bytes they pinned; the kernel queues a bounded amount of unsent bytes per
//!   connection (`TCP_NOTSENT_LOWAT` on Linux), so such a client stalls at once;
//! - a response not all sent within `--web.response-timeout` of its start is dropped too
//!   ([`ResponseClock`]), so a client that reads a trickle (a few bytes now and then, each
//!   resetting the write timeout) cannot hold its slot forever;
//! - the [`FrontDoor`] (the live `--web.config.file`) hands out the TLS acceptor of each
//!   handshake, and decides each request (rate limit, then basic auth); refusals are counted in
//!   `tencentcloud_ssl_web_requests_rejected_total{reason}`.
//!
//! Shutdown stops accepting at once and lets in-flight requests finish, for a few seconds at most.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::front_door::FrontDoor;
use super::routes::respond;
use crate::metrics::Exposition;
use crate::readiness::Readiness;
use crate::telemetry::{Cut, Telemetry};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub telemetry_path: String,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// A client must send a request's headers (and finish a TLS handshake) within this time.
    pub header_read_timeout: Duration,
    /// A connection whose socket accepts no bytes of a response for this long is dropped.
    pub write_timeout: Duration,
    /// A connection whose response is not all sent this long after it started is dropped;
    /// zero means no limit.
    pub response_timeout: Duration,
    /// In-flight requests get this long to finish on shutdown.
    pub shutdown_grace: Duration,
}

/// Default of `--web.write-timeout`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default of `--web.response-timeout`: generous, a whole `/metrics` of a large fleet to a
/// slow but honest scraper fits many times over.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);

/// Unsent bytes the kernel queues for one connection at most (Linux `TCP_NOTSENT_LOWAT`).
///
/// Without it the send buffer grows to megabytes, a client that never reads swallows a whole
/// response (or keeps pipelining requests for small ones) before any write blocks, and only the
/// header timeout would free its slot. Bytes in flight are not counted, so a reading client's
/// throughput is unchanged; the exporter is only woken a little more often to refill.
const UNSENT_LOW_WATER: u32 = 128 * 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            telemetry_path: "/metrics".to_string(),
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// What the handlers read.
#[derive(Debug)]
pub struct ServerState {
    pub config: ServerConfig,
    /// TLS, basic auth, rate limit and extra headers (`--web.config.file`, followed).
    pub web: Arc<FrontDoor>,
    pub exposition: Arc<Exposition>,
    pub readiness: Arc<Readiness>,
    /// Where refusals and cut connections are counted.
    pub telemetry: Telemetry,
}

/// The absolute deadline of the response a connection is sending: set when the handler hands
/// the response over, cleared when the connection's next request comes (hyper reads the next
/// request of a connection only once the response before it is all written). Shared by the
/// connection's service and its [`WriteDeadline`], which cuts a write still waiting past it.
#[derive(Debug)]
pub struct ResponseClock {
    timeout: Duration,
    deadline: parking_lot::Mutex<Option<tokio::time::Instant>>,
}

impl ResponseClock {
    /// A clock giving each response `timeout`; zero means no limit.
    pub fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(ResponseClock {
            timeout,
            deadline: parking_lot::Mutex::new(None),
        })
    }

    /// A response starts being sent now.
    pub fn response_started(&self) {
        if !self.timeout.is_zero() {
            *self.deadline.lock() = Some(tokio::time::Instant::now() + self.timeout);
        }
    }

    /// A new request came: the response before it, if any, was all sent.
    pub fn request_started(&self) {
        *self.deadline.lock() = None;
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        *self.deadline.lock()
    }
}

/// An IO stream whose writes fail with [`io::ErrorKind::TimedOut`] once the peer has accepted no
/// bytes for `timeout` (writes, flushes and shutdown alike; reads pass through), or once a write
/// still waits past the deadline of the response being sent ([`ResponseClock`], when given).
///
/// The stall clock starts when a write cannot proceed and stops at the first byte that goes out,
/// so a slow but moving client is served, and a client that never reads is cut `timeout` after
/// its socket buffers fill. The response deadline does not move with progress: a client reading
/// a trickle is cut when it passes.
pub struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// Allocated at the first stall, re-armed at every later one.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
    expired: bool,
    /// Counts the connections this cut (`tencentcloud_ssl_web_connections_dropped_total`).
    cut: IntCounter,
    /// The response deadline, and what counts the connections it cuts.
    response: Option<(Arc<ResponseClock>, IntCounter)>,
    /// Allocated at the first stall under a response deadline, moved to each new deadline.
    response_sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    /// `inner`, cut after `timeout` without progress; `cut` counts it.
    pub fn new(inner: S, timeout: Duration, cut: IntCounter) -> Self {
        WriteDeadline {
            inner,
            timeout,
            sleep: None,
            armed: false,
            expired: false,
            cut,
            response: None,
            response_sleep: None,
        }
    }

    /// Also cut a write still waiting past `clock`'s response deadline; `cut` counts it.
    pub fn with_response_deadline(mut self, clock: Arc<ResponseClock>, cut: IntCounter) -> Self {
        self.response = Some((clock, cut));
        self
    }

    fn timed_out() -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the client accepted no bytes for the write timeout, or took longer than the response timeout",
        )
    }

    /// Whether the response deadline has passed (and, if not, a wake-up at it is registered).
    fn response_overdue(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self
            .response
            .as_ref()
            .and_then(|(clock, _)| clock.deadline())
        else {
            return false;
        };
        let sleep = self
            .response_sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx).is_ready()
    }

    /// Passes a ready result through (progress disarms the clock); on `Pending`, arms the clock
    /// and fails once it has run out.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
        progressed: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(Ok(value)) => {
                if progressed(&value) {
                    self.armed = false;
                }
                Poll::Ready(Ok(value))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.response_overdue(cx) {
                    self.expired = true;
                    if let Some((_, cut)) = &self.response {
                        cut.inc();
                    }
                    return Poll::Ready(Err(Self::timed_out()));
                }
                let deadline = tokio::time::Instant::now() + self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !self.armed {
                    sleep.as_mut().reset(deadline);
                    self.armed = true;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.expired = true;
                        self.cut.inc();
                        Poll::Ready(Err(Self::timed_out()))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, result, |n| *n > 0)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.expired {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, result, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.expired {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, result, |_| true)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.expired {
            return Poll::Ready(Err(Self::timed_out()));
        }
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, result, |_| true)
    }
}

/// The next connection of any of `listeners` (each `accept` is cancel-safe, so the ones that
/// lose the race lose nothing). With none, waits forever.
async fn accept_any(
    listeners: &[TcpListener],
) -> io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    if listeners.is_empty() {
        return std::future::pending().await;
    }
    let accepts = listeners.iter().map(|l| Box::pin(l.accept()));
    futures::future::select_all(accepts).await.0
}

/// Serves until `shutdown` resolves, then drains in-flight requests for up to the grace period.
pub async fn run(
    listeners: Vec<TcpListener>,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(
        state
            .config
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS),
    ));
    let write_timeouts = state
        .telemetry
        .web_connections_dropped
        .with_label_values(&[Cut::WriteTimeout.label()]);
    let response_timeouts = state
        .telemetry
        .web_connections_dropped
        .with_label_values(&[Cut::ResponseTimeout.label()]);
    let handshake_timeouts = state
        .telemetry
        .web_connections_dropped
        .with_label_values(&[Cut::TlsHandshakeTimeout.label()]);
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
            accepted = accept_any(&listeners) => match accepted {
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
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(UNSENT_LOW_WATER);
        let header_read_timeout = state.config.header_read_timeout;
        // Under TLS too: the deadline sits below the TLS stream, on the socket itself.
        let clock = ResponseClock::new(state.config.response_timeout);
        let stream = WriteDeadline::new(stream, state.config.write_timeout, write_timeouts.clone())
            .with_response_deadline(Arc::clone(&clock), response_timeouts.clone());
        // The acceptor of this handshake: the certificate and client CAs in force now.
        let tls = state.web.tls_acceptor();
        let watcher = graceful.watcher();
        let state = Arc::clone(&state);
        let handshake_timeouts = handshake_timeouts.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (state, clock) = (Arc::clone(&state), Arc::clone(&clock));
                clock.request_started();
                async move {
                    let response = respond(state, request).await;
                    clock.response_started();
                    Ok::<_, Infallible>(response)
                }
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
                            handshake_timeouts.inc();
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
    drop(listeners);
    let grace = tokio::time::sleep(state.config.shutdown_grace);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = grace => tracing::warn!("connections still open after the grace period; closing"),
    }
}

#[cfg(test)]
mod abuse_tests;
