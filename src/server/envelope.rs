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
use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
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

/// Request ids for requests that come without one: a random prefix per process and a number
/// unique in the process, as 32 hex digits. Unique across restarts and replicas, and cheap: a
/// UUID v4 per request costs a `getrandom` system call, a visible share of a cached decision's
/// CPU time. Each thread takes its numbers in blocks, so requests on different cores do not
/// take turns at one shared counter.
#[derive(Clone)]
struct RequestIds {
    prefix_hex: [u8; 16],
}

/// Numbers a thread takes from [`NEXT_BLOCK`] at a time.
const ID_BLOCK: u64 = 1024;
/// The first number of the next block any thread takes.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's next number and the end of its block.
    static ID_NUMBERS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

impl RequestIds {
    fn new() -> RequestIds {
        let mut prefix_hex = [0u8; 16];
        hex(rand::random(), &mut prefix_hex);
        RequestIds { prefix_hex }
    }

    fn next(&self) -> HeaderValue {
        let n = ID_NUMBERS.with(|numbers| {
            let (mut next, mut end) = numbers.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
                end = next + ID_BLOCK;
            }
            numbers.set((next + 1, end));
            next
        });
        let mut id = [0u8; 32];
        id[..16].copy_from_slice(&self.prefix_hex);
        hex(n, &mut id[16..]);
        HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

/// `word` as 16 lower-case hex digits into `out`.
fn hex(word: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, digit) in out.iter_mut().take(16).enumerate() {
        *digit = HEX[((word >> (60 - 4 * i)) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests;
