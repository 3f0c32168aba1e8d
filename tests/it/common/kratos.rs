//! A Kratos-shaped session service: no real Ory Kratos runs here, so this answers
//! `GET /sessions/whoami` exactly as Ory Kratos documents it (v1 public API,
//! https://www.ory.sh/docs/reference/api#tag/frontend/operation/toSession):
//!
//! - with a valid `ory_kratos_session` cookie or `X-Session-Token` header: 200 and the session
//!   `{"id", "active": true, "expires_at", "authenticated_at", "authenticator_assurance_level",
//!   "authentication_methods", "issued_at", "identity": {"id", "schema_id", "schema_url",
//!   "state", "traits": {"email", "username", ...}, "metadata_public": {"groups": [...]}, ...}}`;
//! - otherwise: 401 with Kratos's error JSON (`{"error": {"code": 401, "status":
//!   "Unauthorized", "reason": ..., "message": ...}}`).
//!
//! Tests sign users in ([`Kratos::sign_in`]), count and inspect the calls, and switch it to a
//! failure [`Mode`] (slow, 500, garbage) or hold calls at a gate ([`Kratos::hold`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// The cookie Kratos sets for browser sessions.
pub const COOKIE: &str = "ory_kratos_session";

/// How the service answers, whatever the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As Kratos does.
    Normal,
    /// Waits this long before answering normally (beyond the check's `timeout`).
    Slow(Duration),
    /// 500 with Kratos's error JSON.
    Error500,
    /// 200 with a body that is not JSON.
    Garbage,
}

/// A user signed in to the Kratos-shaped service.
#[derive(Debug, Clone)]
pub struct KratosUser {
    /// `identity.id` (what Oathkeeper's `cookie_session` takes as the subject).
    pub id: String,
    /// `identity.traits.email`.
    pub email: String,
    /// `identity.traits.username`.
    pub username: String,
    /// `identity.metadata_public.groups`.
    pub groups: Vec<String>,
}

impl KratosUser {
    /// A user whose id, email and username derive from `name`.
    pub fn named(name: &str, groups: &[&str]) -> KratosUser {
        KratosUser {
            id: uuid_like(),
            email: format!("{name}@example.com"),
            username: name.to_string(),
            groups: groups.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Default)]
struct Control {
    sessions: Mutex<HashMap<String, KratosUser>>,
    mode: Mutex<Option<Mode>>,
    gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    calls: AtomicUsize,
    requests: Mutex<Vec<HeaderMap>>,
}

/// A running Kratos-shaped service on 127.0.0.1.
pub struct Kratos {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Kratos {
    /// Starts it on a free port.
    pub async fn start() -> Kratos {
        let control = Arc::new(Control::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind kratos");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/sessions/whoami", get(whoami))
            .with_state(control.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Kratos { base, control, task }
    }

    /// `<base>/sessions/whoami`.
    pub fn whoami_url(&self) -> String {
        format!("{}/sessions/whoami", self.base)
    }

    /// A `[[session_checks]]` block named `name` for this service (Kratos's cookie and header).
    pub fn check_config(&self, name: &str, timeout: &str) -> String {
        format!(
            "\n[[session_checks]]\nname = \"{name}\"\nurl = \"{}\"\ncookies = [\"{COOKIE}\"]\nheaders = [\"X-Session-Token\"]\ntimeout = \"{timeout}\"\n",
            self.whoami_url()
        )
    }

    /// Signs `user` in: the new session token (the `ory_kratos_session` value).
    pub fn sign_in(&self, user: &KratosUser) -> String {
        let token = format!("ory_st_{}", random_hex());
        self.control
            .sessions
            .lock()
            .expect("lock")
            .insert(token.clone(), user.clone());
        token
    }

    /// Ends the session of `token`.
    pub fn sign_out(&self, token: &str) {
        self.control.sessions.lock().expect("lock").remove(token);
    }

    /// Answers in `mode` from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.control.mode.lock().expect("lock") = Some(mode);
    }

    /// Holds every call until [`Self::release`] (calls are counted as they arrive).
    pub fn hold(&self) {
        *self.control.gate.lock().expect("lock") = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Lets the held calls (and all later ones) through.
    pub fn release(&self) {
        if let Some(gate) = self.control.gate.lock().expect("lock").take() {
            gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
        }
    }

    /// How many `/sessions/whoami` calls arrived.
    pub fn calls(&self) -> usize {
        self.control.calls.load(Ordering::SeqCst)
    }

    /// The headers of every call so far, in order.
    pub fn requests(&self) -> Vec<HeaderMap> {
        self.control.requests.lock().expect("lock").clone()
    }

    /// Waits (up to 10 s) until `count` calls arrived.
    pub async fn wait_for_calls(&self, count: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.calls() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "kratos got {} calls, not {count}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Kratos {
    fn drop(&mut self) {
        self.release();
        self.task.abort();
    }
}

async fn whoami(State(control): State<Arc<Control>>, headers: HeaderMap) -> Response {
    control.calls.fetch_add(1, Ordering::SeqCst);
    control.requests.lock().expect("lock").push(headers.clone());
    let gate = control.gate.lock().expect("lock").clone();
    if let Some(gate) = gate {
        let _ = gate.acquire().await;
    }
    let mode = control.mode.lock().expect("lock").unwrap_or(Mode::Normal);
    match mode {
        Mode::Normal => {}
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Error500 => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "database unavailable",
            );
        }
        Mode::Garbage => return (StatusCode::OK, "<html>upstream connect error</html>").into_response(),
    }
    let token = session_token(&headers);
    let user = token.and_then(|token| control.sessions.lock().expect("lock").get(&token).cloned());
    match user {
        Some(user) => axum::Json(session(&user)).into_response(),
        None => error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "No valid session credentials found in the request.",
        ),
    }
}

/// The session token: the `X-Session-Token` header, else the `ory_kratos_session` cookie.
fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = headers.get("x-session-token").and_then(|v| v.to_str().ok()) {
        return Some(token.to_string());
    }
    let cookies = headers
        .get_all(header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok());
    cookies
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The session JSON as Kratos answers it.
fn session(user: &KratosUser) -> Value {
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    let later = std::time::SystemTime::now() + Duration::from_secs(24 * 3600);
    let expires = humantime::format_rfc3339_micros(later).to_string();
    json!({
        "id": uuid_like(),
        "active": true,
        "expires_at": expires,
        "authenticated_at": now,
        "authenticator_assurance_level": "aal1",
        "authentication_methods": [{ "method": "password", "aal": "aal1", "completed_at": now }],
        "issued_at": now,
        "identity": {
            "id": user.id,
            "schema_id": "default",
            "schema_url": "http://127.0.0.1:4433/schemas/ZGVmYXVsdA",
            "state": "active",
            "state_changed_at": now,
            "traits": { "email": user.email, "username": user.username, "name": { "first": user.username } },
            "verifiable_addresses": [{ "value": user.email, "verified": true, "via": "email", "status": "completed" }],
            "recovery_addresses": [{ "value": user.email, "via": "email" }],
            "metadata_public": { "groups": user.groups },
            "created_at": now,
            "updated_at": now,
            "organization_id": null
        },
        "devices": [{ "ip_address": "127.0.0.1", "user_agent": "test" }]
    })
}

fn error(status: StatusCode, name: &str, reason: &str) -> Response {
    let body = json!({
        "error": { "code": status.as_u16(), "status": name, "reason": reason, "message": "The request could not be authorized" }
    });
    (status, axum::Json(body)).into_response()
}

/// 32 random hex digits.
pub fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut text = String::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        text.push_str(&format!("{:016x}", hasher.finish()));
    }
    text
}

/// A random id spelled like a UUID, as Kratos's ids are.
pub fn uuid_like() -> String {
    let hex = random_hex();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
