//! The accept loop: TCP connections served with HTTP/1 or HTTP/2 (hyper-util's auto builder)
//! within the limits a service facing every client of a proxy needs, which `axum::serve` lacks.
//!
//! - A connection must send its first complete request head within `header_read_timeout`, or it
//!   is closed. hyper's HTTP/1 timer bounds each head once the protocol is known (and so also an
//!   idle keep-alive connection between requests); it does not bound the protocol detection
//!   before it, which reads with no timeout, nor HTTP/2. A deadline per connection covers both:
//!   it is disarmed by the first request that reaches the router.
//! - HTTP/2 connections are pinged while open; one that does not answer a ping is closed.
//! - At most `max_connections` are open. Further ones are accepted and closed at once, so the
//!   listen backlog never fills with connections no one will serve; the refusals are logged at
//!   most once per [`LOG_INTERVAL`].
//! - Accept errors (EMFILE and the like) are logged and retried after [`ACCEPT_BACKOFF`]; they
//!   never end the loop.
//! - On shutdown no connection is accepted any more; each open one is shut down gracefully
//!   (idle ones close, requests in flight are answered) and [`serve`] returns when all are gone.
//!
//! Each connection gets its own service, made for its peer by the function [`serve`] is given
//! (decisions read the peer from it, with no per-request copy); [`WithPeer`] gives a router the
//! peer's address as `ConnectInfo<SocketAddr>`, as `axum::serve` does. A connection calls its
//! service by reference: requests clone nothing of it.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::Service;

use crate::config::ServerConfig;

/// How long the loop pauses after an accept error that is not about one connection (EMFILE).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Refused connections and accept errors are logged at most this often.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How often an open HTTP/2 connection is pinged.
pub const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(20);

/// What bounds the connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed for a complete request head (the first one, and each next one on HTTP/1);
    /// also how long an HTTP/2 ping may go unanswered.
    pub header_read_timeout: Duration,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `[server]`.
    pub fn of(server: &ServerConfig) -> Limits {
        Limits {
            header_read_timeout: server.header_read_timeout,
            max_connections: usize::try_from(server.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Serves on `listener`, each connection with the service `service_for` makes for its peer,
/// until `shutdown` completes, then drains: returns once every open connection has finished its
/// requests in flight and closed.
pub async fn serve<M, S>(listener: TcpListener, service_for: M, limits: Limits, shutdown: impl Future<Output = ()>)
where
    M: Fn(SocketAddr) -> S,
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let builder = Arc::new(http_builder(&limits));
    let permits = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    // Every connection holds a receiver: a send asks them to stop, and `closed()` on the sender
    // resolves when the last one is gone.
    let (stop, stopped) = watch::channel(());
    let mut refused = Throttle::default();
    let mut failed = Throttle::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_about_one_connection(&error) => continue,
            Err(error) => {
                if let Some(more) = failed.ready() {
                    tracing::warn!(key = "server.listen", %error, more, "cannot accept connections; retrying");
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            if let Some(more) = refused.ready() {
                tracing::warn!(
                    key = "server.max_connections",
                    %peer,
                    more,
                    max_connections = limits.max_connections,
                    "connection refused: server.max_connections are open"
                );
            }
            continue;
        };
        let connection = Connection {
            builder: builder.clone(),
            service: service_for(peer),
            peer,
            first_head_timeout: limits.header_read_timeout,
            stop: stopped.clone(),
            _permit: permit,
        };
        tokio::spawn(connection.serve(stream));
    }
    drop(listener);
    drop(stopped);
    stop.send_replace(());
    stop.closed().await;
}

/// HTTP/1 with a header read timeout, HTTP/2 with pings, both on tokio's timer.
fn http_builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// Accept errors about the connection being accepted, not the listener: try the next one.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// A connection's service as hyper calls it, by reference (hyper's `Service::call` takes
/// `&self`, tower's `&mut self`): the usual adapter clones the service for every request, each
/// clone a count shared by every connection. Each `call` borrows the service only while it
/// makes the request's future, so no borrow is ever held twice.
struct ByReference<S> {
    service: RefCell<S>,
    /// Set by the first request: the first head arrived in time.
    requested: Arc<AtomicBool>,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for ByReference<S>
where
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = S::Future;

    fn call(&self, request: hyper::Request<Incoming>) -> S::Future {
        self.requested.store(true, Ordering::Relaxed);
        self.service.borrow_mut().call(request)
    }
}

/// A service that finds the connection's peer as `ConnectInfo<SocketAddr>` on every request,
/// as handlers served by `axum::serve` do.
#[derive(Clone)]
pub struct WithPeer<S> {
    /// The service.
    pub inner: S,
    /// The connection's peer.
    pub peer: SocketAddr,
}

impl<S, B> Service<hyper::Request<B>> for WithPeer<S>
where
    S: Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: hyper::Request<B>) -> S::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.inner.call(request)
    }
}

/// One accepted connection and what it needs to be served.
struct Connection<S> {
    builder: Arc<Builder<TokioExecutor>>,
    service: S,
    peer: SocketAddr,
    first_head_timeout: Duration,
    stop: watch::Receiver<()>,
    /// Held while the connection is open: one of `max_connections`.
    _permit: OwnedSemaphorePermit,
}

impl<S> Connection<S>
where
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    async fn serve(mut self, stream: TcpStream) {
        // Answers are small: send them without waiting for more to coalesce.
        let _ = stream.set_nodelay(true);
        let peer = self.peer;
        let requested = Arc::new(AtomicBool::new(false));
        let service = ByReference {
            service: RefCell::new(self.service),
            requested: requested.clone(),
        };
        let connection = self.builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let first_head = tokio::time::sleep(self.first_head_timeout);
        tokio::pin!(first_head);
        let mut awaiting_first_head = true;
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                () = &mut first_head, if awaiting_first_head => {
                    if !requested.load(Ordering::Relaxed) {
                        tracing::debug!(%peer, "closing a connection without a request head in time");
                        return;
                    }
                    awaiting_first_head = false;
                }
                _ = self.stop.changed(), if !stopping => {
                    connection.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

/// Lets an event be logged at most once per [`LOG_INTERVAL`], counting the ones left out.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    skipped: u64,
}

impl Throttle {
    /// `Some(skipped since the last log)` when this event may be logged.
    fn ready(&mut self) -> Option<u64> {
        self.ready_at(Instant::now())
    }

    fn ready_at(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now.duration_since(last) < LOG_INTERVAL) {
            self.skipped += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_logged_once_with_the_rest_counted() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.ready_at(start), Some(0));
        assert_eq!(throttle.ready_at(start), None);
        assert_eq!(throttle.ready_at(start + LOG_INTERVAL / 2), None);
        assert_eq!(throttle.ready_at(start + LOG_INTERVAL), Some(2));
        assert_eq!(throttle.ready_at(start + LOG_INTERVAL), None);
    }

    #[test]
    fn per_connection_accept_errors_are_skipped_and_others_back_off() {
        assert!(is_about_one_connection(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        let emfile = io::Error::from_raw_os_error(24);
        assert!(!is_about_one_connection(&emfile));
    }
}
