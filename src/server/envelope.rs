//! What wraps every HTTP request, in one layer: a panic answered 500 instead of a reset
//! connection, a request id (the caller's `X-Request-Id`, else one made) on the request, its
//! trace span and its answer, and a deadline that answers 503.
//!
//! One layer instead of tower-http's five (catch-panic, set and propagate request id, trace,
//! timeout): each moved the request and the response future through its own service and future,
//! and the timeout put a timer in the wheel and took it out again for every request, even one
//! answered at its first poll, as a cached decision is. Together they were over a quarter of the
//! instructions of a `/healthz` answer. Here the timer is armed only when the request first
//! waits (a key fetch, a remote check), and the trace span and its timing exist only when DEBUG
//! is enabled.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use tokio::time::Sleep;
use tower::{Layer, Service};
use tracing::Span;

/// The request id header, read from the caller and set on the request and the answer.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The [`Envelope`] around a service, answering 503 after `timeout`.
#[derive(Clone)]
pub struct EnvelopeLayer {
    ids: RequestIds,
    timeout: Duration,
}

impl EnvelopeLayer {
    /// Request ids made with a fresh random prefix; a request may take `timeout`.
    pub fn new(timeout: Duration) -> EnvelopeLayer {
        EnvelopeLayer {
            ids: RequestIds::new(),
            timeout,
        }
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, inner: S) -> Envelope<S> {
        Envelope {
            inner,
            ids: self.ids.clone(),
            timeout: self.timeout,
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Envelope<S> {
    inner: S,
    ids: RequestIds,
    timeout: Duration,
}

impl<S, B> Service<Request<B>> for Envelope<S>
where
    S: Service<Request<B>, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.next();
                request.headers_mut().insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        // The fields are only evaluated when the span is enabled.
        let span = tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %String::from_utf8_lossy(id.as_bytes()),
        );
        let started = (!span.is_disabled()).then(|| {
            span.in_scope(|| tracing::debug!("started processing request"));
            Instant::now()
        });
        let inner = span.in_scope(|| catch_unwind(AssertUnwindSafe(|| self.inner.call(request))));
        EnvelopeFuture {
            inner: inner.map_err(|panic| panicked(&*panic)).ok(),
            id: Some(id),
            span,
            started,
            timeout: self.timeout,
            deadline: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of an [`Envelope`]d request.
    pub struct EnvelopeFuture<F> {
        // `None` once the inner service panicked while being called.
        #[pin]
        inner: Option<F>,
        id: Option<HeaderValue>,
        span: Span,
        started: Option<Instant>,
        timeout: Duration,
        // Armed at the first `Pending`: most requests never wait.
        deadline: Option<Pin<Box<Sleep>>>,
    }
}

impl<F> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response, std::convert::Infallible>>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let polled = match this.inner.as_pin_mut() {
            None => Poll::Ready(server_error()),
            Some(inner) => match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(Poll::Ready(Ok(response))) => Poll::Ready(response),
                Ok(Poll::Pending) => Poll::Pending,
                Err(panic) => Poll::Ready(panicked(&*panic)),
            },
        };
        let mut response = match polled {
            Poll::Ready(response) => response,
            Poll::Pending => {
                let timeout = *this.timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(deadline.as_mut().poll(cx));
                tracing::warn!(key = "server.listen", timeout = ?timeout, "request timed out");
                let mut response = Response::new(axum::body::Body::empty());
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                response
            }
        };
        if let Some(id) = this.id.take() {
            response.headers_mut().entry(X_REQUEST_ID).or_insert(id);
        }
        if let Some(started) = this.started {
            tracing::debug!(
                status = response.status().as_u16(),
                latency = ?started.elapsed(),
                "finished processing request"
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// The answer to a request whose handler panicked (the panic hook has printed where).
fn panicked(panic: &(dyn Any + Send)) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    tracing::error!(message, "request handler panicked");
    server_error()
}

fn server_error() -> Response {
    let mut response = Response::new(axum::body::Body::from("internal error\n"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Request ids for requests that come without one: a random prefix per process and a counter,
/// as 32 hex digits. Unique across restarts and replicas, and cheap: a UUID v4 per request
/// costs a `getrandom` system call, a visible share of a cached decision's CPU time.
#[derive(Clone)]
struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> RequestIds {
        RequestIds {
            prefix: rand::random(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    fn next(&self) -> HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 32];
        for (i, byte) in id.iter_mut().enumerate() {
            let word = if i < 16 { self.prefix } else { n };
            *byte = HEX[((word >> (60 - 4 * (i % 16))) & 0xf) as usize];
        }
        HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

#[cfg(test)]
mod tests;
