//! A Mia-Platform-shaped authentication manager: no real Mia-Platform runs here, so this
//! answers as the authentication manager behind Mia-Platform's authorization service does: the
//! gateway forwards a subset of the request's headers (an `Authorization` header or the `sid`
//! session cookie) to `GET /userinfo`, which answers 200 with the user as JSON
//! (`{"userId", "groups": [...], "permissions": [...], "properties": {...}}`), else 401.
//!
//! Tests sign users in ([`Mia::sign_in`], giving the bearer token and the cookie value), count
//! and inspect the calls, and take it down ([`Mia::stop`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::kratos::random_hex;

/// The session cookie of the Mia-shaped manager.
pub const COOKIE: &str = "sid";

/// A user of the Mia-shaped manager.
#[derive(Debug, Clone)]
pub struct MiaUser {
    /// `userId`.
    pub user_id: String,
    /// `groups`.
    pub groups: Vec<String>,
    /// `permissions`.
    pub permissions: Vec<String>,
    /// `properties` (`email`, `name`, ...).
    pub properties: Value,
}

#[derive(Default)]
struct Control {
    tokens: Mutex<HashMap<String, MiaUser>>,
    calls: AtomicUsize,
    requests: Mutex<Vec<HeaderMap>>,
    down: AtomicBool,
}

/// A running Mia-shaped authentication manager on 127.0.0.1.
pub struct Mia {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Mia {
    /// Starts it on a free port.
    pub async fn start() -> Mia {
        let control = Arc::new(Control::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind mia");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/userinfo", get(userinfo))
            .with_state(control.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Mia { base, control, task }
    }

    /// `<base>/userinfo`.
    pub fn userinfo_url(&self) -> String {
        format!("{}/userinfo", self.base)
    }

    /// A `[[session_checks]]` block named `name` reading this manager's answer: present with the
    /// `sid` cookie or an `Authorization` header, both forwarded.
    pub fn check_config(&self, name: &str) -> String {
        format!(
            r#"
[[session_checks]]
name = "{name}"
url = "{}"
cookies = ["{COOKIE}"]
headers = ["Authorization"]
user_field = "userId"
email_field = "properties.email"
groups_field = "groups"
preferred_username_field = "properties.name"
"#,
            self.userinfo_url()
        )
    }

    /// Signs `user` in: the credential (usable as `Authorization: Bearer <it>` or `sid=<it>`).
    pub fn sign_in(&self, user: &MiaUser) -> String {
        let token = random_hex();
        self.control
            .tokens
            .lock()
            .expect("lock")
            .insert(token.clone(), user.clone());
        token
    }

    /// How many `/userinfo` calls arrived.
    pub fn calls(&self) -> usize {
        self.control.calls.load(Ordering::SeqCst)
    }

    /// The headers of every call so far, in order.
    pub fn requests(&self) -> Vec<HeaderMap> {
        self.control.requests.lock().expect("lock").clone()
    }

    /// Takes it down: new connections are refused, and a call on a connection kept alive from
    /// before gets the 503 a Kubernetes Service without ready endpoints gets from its proxy.
    pub fn stop(&self) {
        self.control.down.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

impl Drop for Mia {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn userinfo(State(control): State<Arc<Control>>, headers: HeaderMap) -> Response {
    control.calls.fetch_add(1, Ordering::SeqCst);
    control.requests.lock().expect("lock").push(headers.clone());
    if control.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream").into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value);
    let user = bearer
        .or(cookie)
        .and_then(|token| control.tokens.lock().expect("lock").get(token).cloned());
    match user {
        Some(user) => axum::Json(json!({
            "userId": user.user_id,
            "groups": user.groups,
            "permissions": user.permissions,
            "properties": user.properties,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "statusCode": 401, "error": "Unauthorized", "message": "user not authenticated" })),
        )
            .into_response(),
    }
}
