//! A JWKS server the tests control: which keys it serves, whether it fails, how often it was
//! asked. Also serves an OIDC discovery document.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::fixture;

#[derive(Default)]
struct Control {
    keys: std::sync::Mutex<Value>,
    failing: AtomicBool,
    fetches: AtomicUsize,
    issuer: std::sync::Mutex<String>,
}

/// A running JWKS server on 127.0.0.1.
pub struct JwksServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

/// The JWKS of the fixture keys `names` merged into one set.
pub fn fixture_jwks(names: &[&str]) -> Value {
    let keys: Vec<Value> = names
        .iter()
        .flat_map(|name| {
            let text = std::fs::read_to_string(fixture(&format!("keys/{name}.jwks.json"))).expect("fixture jwks");
            let set: Value = serde_json::from_str(&text).expect("jwks json");
            set["keys"].as_array().cloned().unwrap_or_default()
        })
        .collect();
    json!({ "keys": keys })
}

impl JwksServer {
    /// Starts serving `keys` at `/jwks.json` and discovery for issuer `<base>/`.
    pub async fn start(keys: Value) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        JwksServer::serve(listener, keys)
    }

    /// Starts serving `keys` on `port` (from [`super::free_port`]): for an endpoint that comes up
    /// after Portcullis was started against it.
    pub async fn start_on(port: u16, keys: Value) -> JwksServer {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        JwksServer::serve(listener, keys)
    }

    fn serve(listener: tokio::net::TcpListener, keys: Value) -> JwksServer {
        let control = Arc::new(Control {
            keys: std::sync::Mutex::new(keys),
            ..Control::default()
        });
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        *control.issuer.lock().expect("lock") = format!("{base}/");
        let app = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(control.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        JwksServer { base, control, task }
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.base)
    }

    /// The issuer URL its discovery document names.
    pub fn issuer(&self) -> String {
        format!("{}/", self.base)
    }

    /// Serves `keys` from now on.
    pub fn set_keys(&self, keys: Value) {
        *self.control.keys.lock().expect("lock") = keys;
    }

    /// Makes every JWKS fetch fail with 500 (or work again).
    pub fn set_failing(&self, failing: bool) {
        self.control.failing.store(failing, Ordering::SeqCst);
    }

    /// How many times `/jwks.json` was fetched.
    pub fn fetches(&self) -> usize {
        self.control.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks(State(control): State<Arc<Control>>) -> Response {
    control.fetches.fetch_add(1, Ordering::SeqCst);
    if control.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    let keys = control.keys.lock().expect("lock").clone();
    ([("cache-control", "max-age=3600")], axum::Json(keys)).into_response()
}

async fn discovery(State(control): State<Arc<Control>>) -> Response {
    let issuer = control.issuer.lock().expect("lock").clone();
    let jwks_uri = format!("{}jwks.json", issuer);
    axum::Json(json!({ "issuer": issuer, "jwks_uri": jwks_uri })).into_response()
}
