//! What each request gets once the front door let it in: `/metrics` from prepared bytes (gzip when
//! asked for), `/-/healthy`, `/-/ready` and a landing page; and the refusals (401, 429) with their
//! counters. Every outcome is a response: nothing here fails.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use hyper::{Method, Request, Response, StatusCode};

use super::front_door::Admission;
use super::negotiate::negotiate;
use super::server::ServerState;
use super::status_page::{self, PageInput};
use crate::telemetry::Rejection;

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

    pub(super) fn text(text: &'static str) -> Self {
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

/// The landing page as the state is now.
fn landing_page(state: &ServerState) -> String {
    let collectors = state.exposition.status();
    let api_calls = state.telemetry.api_calls_by_account();
    let first_runs = state.readiness.waiting();
    status_page::render(&PageInput {
        collectors: &collectors,
        api_calls: &api_calls,
        first_runs: &first_runs,
        telemetry_path: &state.config.telemetry_path,
        now: tencentcloud_ssl_api::time::now_unix_millis() as f64 / 1000.0,
    })
}

/// Asks the front door (rate limit, then basic auth: cached outcomes at once, bcrypt one at a
/// time off the async threads), routes, and adds the configured headers. Never fails: every
/// outcome is a response.
pub async fn respond(state: Arc<ServerState>, request: Request<Incoming>) -> Response<Chunks> {
    let mut response = match state.web.admit(request.headers()).await {
        Admission::Allowed => handle(&state, &request),
        Admission::Unauthorized => {
            state.telemetry.rejected(Rejection::Unauthorized);
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
        }
        admission @ (Admission::RateLimited | Admission::HashingBusy) => {
            // As exporter-toolkit (Go's http.Error with StatusTooManyRequests).
            state
                .telemetry
                .rejected(if admission == Admission::RateLimited {
                    Rejection::RateLimited
                } else {
                    Rejection::HashingBusy
                });
            response(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain; charset=utf-8",
                Chunks::text("Too Many Requests\n"),
            )
        }
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
        let negotiated = negotiate(request.headers().get(ACCEPT));
        let prepared = state.exposition.prepared(negotiated.format, gzip);
        let mut r = Response::new(Chunks::new(prepared.chunks));
        r.headers_mut()
            .insert(CONTENT_TYPE, negotiated.content_type);
        r.headers_mut()
            .insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
        if gzip {
            r.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        return r;
    }
    let text = "text/plain; charset=utf-8";
    match path {
        "/-/healthy" => response(StatusCode::OK, text, Chunks::text("Healthy.\n")),
        "/-/ready" => {
            // Ready once the certificate list has run once; the body names every collector
            // still on its first run, waited for or not.
            let (ready, body) = state.readiness.answer();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            response(status, text, Chunks::new(vec![Bytes::from(body)]))
        }
        "/" => response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Chunks::new(vec![Bytes::from(landing_page(state))]),
        ),
        _ => response(StatusCode::NOT_FOUND, text, Chunks::text("Not found.\n")),
    }
}

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
