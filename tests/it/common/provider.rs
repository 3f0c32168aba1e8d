//! A small OpenID provider the tests control, for races the real one cannot stage: its token
//! endpoint can be held (a refresh waits until the test releases it), and it counts refreshes.
//!
//! Discovery, JWKS (the fixture key `rsa1`) and a token endpoint; no authorization endpoint is
//! served: the test takes `state` and `nonce` from Portcullis's redirect to `/authorize` and
//! calls the callback itself with `code=<nonce>`, which the token endpoint turns into an ID token
//! for `alice` (sid `sid-alice`) with that nonce.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::jwks_server::fixture_jwks;
use super::tokens::{now, sign};

/// The `sid` of every login at this provider.
pub const SID: &str = "sid-alice";

struct Control {
    issuer: String,
    /// `true` while refreshes are held.
    held: tokio::sync::watch::Sender<bool>,
    /// Refresh grants received (counted when they arrive, before any hold).
    refreshes: tokio::sync::watch::Sender<usize>,
    issued: AtomicUsize,
}

/// A running provider on 127.0.0.1.
pub struct Provider {
    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash).
    pub issuer: String,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Provider {
    /// Starts it on a free port.
    pub async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let control = Arc::new(Control {
            issuer: issuer.clone(),
            held: tokio::sync::watch::channel(false).0,
            refreshes: tokio::sync::watch::channel(0).0,
            issued: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(|| async { Json(fixture_jwks(&["rsa1"])) }))
            .route("/token", post(token))
            .with_state(control.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Provider { issuer, control, task }
    }

    /// From now on, refresh grants wait until [`Provider::release_refreshes`].
    pub fn hold_refreshes(&self) {
        self.control.held.send_replace(true);
    }

    /// Lets held and later refresh grants answer.
    pub fn release_refreshes(&self) {
        self.control.held.send_replace(false);
    }

    /// Refresh grants received so far.
    pub fn refreshes(&self) -> usize {
        *self.control.refreshes.borrow()
    }

    /// Waits (at most 10 s, a hang guard) until `count` refresh grants have arrived.
    pub async fn wait_for_refreshes(&self, count: usize) {
        let mut refreshes = self.control.refreshes.subscribe();
        tokio::time::timeout(Duration::from_secs(10), refreshes.wait_for(|seen| *seen >= count))
            .await
            .expect("the refresh never reached the provider")
            .expect("provider running");
    }

    /// A signed back-channel logout token for `sid` with `jti` (`None`: no `jti` claim).
    pub fn logout_token(&self, sid: &str, jti: Option<&str>) -> String {
        let mut claims = json!({
            "iss": self.issuer, "aud": "portcullis", "iat": now(), "exp": now() + 120, "sid": sid,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        if let Some(jti) = jti {
            claims["jti"] = json!(jti);
        }
        sign("rsa1", jsonwebtoken::Algorithm::RS256, "rsa1", &claims)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(control): State<Arc<Control>>) -> Json<Value> {
    let base = &control.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn token(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let field = |name: &str| {
        url::form_urlencoded::parse(&body)
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    let nonce = match field("grant_type").as_deref() {
        Some("authorization_code") => field("code"),
        Some("refresh_token") => {
            control.refreshes.send_modify(|count| *count += 1);
            let mut held = control.held.subscribe();
            let _ = held.wait_for(|held| !*held).await;
            None
        }
        _ => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                Json(json!({ "error": "unsupported_grant_type" })),
            )
                .into_response();
        }
    };
    let n = control.issued.fetch_add(1, Ordering::SeqCst);
    let mut claims = json!({
        "iss": control.issuer, "aud": "portcullis", "sub": "alice", "sid": SID, "iat": now(), "exp": now() + 600,
        "email": "alice@example.com", "groups": ["admins", "devs"], "preferred_username": "alice",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    let id_token = sign("rsa1", jsonwebtoken::Algorithm::RS256, "rsa1", &claims);
    Json(json!({
        "access_token": format!("access-{n}"),
        "token_type": "Bearer",
        "expires_in": 60,
        "refresh_token": format!("refresh-{n}"),
        "id_token": id_token,
    }))
    .into_response()
}

/// What `/oauth2/start` gave a browser: its cookies (the login state) and the `state` and
/// `nonce` it sent to the provider.
pub struct Started {
    /// The browser's cookies for Portcullis.
    pub jar: super::browser::Jar,
    /// `state` of the authorization request.
    pub state: String,
    /// `nonce` of the authorization request.
    pub nonce: String,
}

/// `/oauth2/start` on `p` for the usual application URL.
pub async fn start_login(p: &super::Portcullis) -> Started {
    let start = super::client()
        .get(super::browser::with_rd(&p.url("/oauth2/start"), super::login_kit::APP))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), 302, "{}", p.log_text());
    let mut jar = super::browser::Jar::default();
    jar.update(&start);
    let location = super::browser::location_of(&start).expect("Location");
    let url = url::Url::parse(&location).expect("authorize URL");
    let param = |name: &str| {
        url.query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {location}"))
    };
    Started {
        state: param("state"),
        nonce: param("nonce"),
        jar,
    }
}

/// A whole login at `p` (whose provider is a [`Provider`]): the browser with its session.
pub async fn login(p: &super::Portcullis) -> super::browser::Browser {
    let mut started = start_login(p).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &started.state)
        .append_pair("code", &started.nonce)
        .finish();
    let callback = super::client()
        .get(p.url(&format!("/oauth2/callback?{query}")))
        .header("cookie", started.jar.header())
        .send()
        .await
        .expect("callback");
    assert_eq!(callback.status(), 302, "{}", p.log_text());
    started.jar.update(&callback);
    super::browser::Browser {
        portcullis: started.jar,
        idp: super::browser::Jar::default(),
    }
}
