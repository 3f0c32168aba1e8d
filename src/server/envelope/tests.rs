//! The envelope around services that answer at once, wait, wait forever or panic.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use tower::{Layer, Service, ServiceExt, service_fn};

use super::{EnvelopeLayer, RequestIds, X_REQUEST_ID};

const TIMEOUT: Duration = Duration::from_secs(15);

/// Answers with the request id it was given in its body.
async fn echo_id(request: Request<Body>) -> Result<Response, Infallible> {
    let id = request.headers().get(X_REQUEST_ID).cloned();
    let body = id.map(|id| id.to_str().expect("ascii").to_owned()).unwrap_or_default();
    Ok(Response::new(Body::from(body)))
}

async fn ask<S>(service: S, request: Request<Body>) -> (StatusCode, Option<String>, String)
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    let response = service.oneshot(request).await.expect("infallible");
    let status = response.status();
    let id = response
        .headers()
        .get(X_REQUEST_ID)
        .map(|id| id.to_str().expect("ascii").to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
    (status, id, String::from_utf8(body.to_vec()).expect("utf-8"))
}

#[tokio::test]
async fn a_callers_request_id_is_kept_and_a_missing_one_made_unique() {
    let layer = EnvelopeLayer::new(TIMEOUT);
    let given = Request::builder()
        .header("x-request-id", "trace-123")
        .body(Body::empty())
        .expect("request");
    let (status, id, seen) = ask(layer.layer(service_fn(echo_id)), given).await;
    assert_eq!(
        (status, id.as_deref(), seen.as_str()),
        (StatusCode::OK, Some("trace-123"), "trace-123")
    );

    let (_, first, seen) = ask(layer.layer(service_fn(echo_id)), Request::new(Body::empty())).await;
    let first = first.expect("made");
    assert_eq!(first, seen, "the request and the answer carry the same id");
    assert_eq!(first.len(), 32);
    let (_, second, _) = ask(layer.layer(service_fn(echo_id)), Request::new(Body::empty())).await;
    assert_ne!(Some(first), second);
}

#[tokio::test]
async fn an_answer_with_its_own_request_id_keeps_it() {
    let service = service_fn(|_: Request<Body>| async {
        let mut response = Response::new(Body::empty());
        response
            .headers_mut()
            .insert(X_REQUEST_ID, "own".parse().expect("value"));
        Ok::<_, Infallible>(response)
    });
    let (_, id, _) = ask(EnvelopeLayer::new(TIMEOUT).layer(service), Request::new(Body::empty())).await;
    assert_eq!(id.as_deref(), Some("own"));
}

#[tokio::test]
async fn a_request_that_waits_is_answered_unless_it_passes_the_deadline() {
    let slow = |wait: Duration| {
        service_fn(move |request: Request<Body>| async move {
            tokio::time::sleep(wait).await;
            echo_id(request).await
        })
    };
    let layer = EnvelopeLayer::new(Duration::from_secs(5));
    let (status, id, _) = ask(
        layer.layer(slow(Duration::from_millis(20))),
        Request::new(Body::empty()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(id.is_some());
    let layer = EnvelopeLayer::new(Duration::from_millis(50));
    let (status, id, body) = ask(
        layer.layer(slow(Duration::from_secs(3600))),
        Request::new(Body::empty()),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, ""));
    assert!(id.is_some(), "a timed-out answer carries the id too");
}

#[tokio::test]
async fn a_panic_when_called_or_when_polled_is_a_500() {
    #[derive(Clone)]
    struct PanicsWhenCalled;
    impl Service<Request<Body>> for PanicsWhenCalled {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;
        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            panic!("in call")
        }
    }
    let layer = EnvelopeLayer::new(TIMEOUT);
    let (status, id, body) = ask(layer.layer(PanicsWhenCalled), Request::new(Body::empty())).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
    );
    assert!(id.is_some());

    let panics_when_polled = service_fn(|_: Request<Body>| async {
        tokio::task::yield_now().await;
        if true {
            panic!("in poll");
        }
        Ok::<Response, Infallible>(Response::new(Body::empty()))
    });
    let (status, _, _) = ask(layer.layer(panics_when_polled), Request::new(Body::empty())).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn request_ids_are_the_prefix_and_a_counter_in_hex() {
    let ids = RequestIds::new();
    let text = |id: axum::http::HeaderValue| id.to_str().expect("ascii").to_owned();
    let (first, second) = (text(ids.next()), text(ids.next()));
    assert_eq!(first.len(), 32);
    assert_eq!(&first.as_bytes()[..16], ids.prefix_hex);
    assert!(
        first
            .bytes()
            .all(|digit| digit.is_ascii_hexdigit() && !digit.is_ascii_uppercase())
    );
    assert_eq!(&second[..16], &first[..16]);
    let number = |id: &str| u64::from_str_radix(&id[16..], 16).expect("hex");
    // A fresh thread starts a block: the two are consecutive.
    assert_eq!(number(&second), number(&first) + 1);
}

#[test]
fn request_ids_made_on_many_threads_are_all_different() {
    let ids = RequestIds::new();
    let made: Vec<Vec<axum::http::HeaderValue>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| (0..3000).map(|_| ids.next()).collect::<Vec<_>>()))
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("thread"))
            .collect()
    });
    let all: std::collections::HashSet<_> = made.iter().flatten().collect();
    assert_eq!(all.len(), 4 * 3000);
}
