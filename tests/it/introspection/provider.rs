//! Opaque access tokens of the real oidc-provider 9 (`tests/node/provider.mjs --introspection`:
//! its default token format without a resource indicator), introspected at its
//! `/token/introspection` endpoint as the confidential client `introspector`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;

use super::{RULES, ask_bearer, assert_no_token_logged, config_with_login, introspection_block, introspections};
use crate::common::login_kit::{Browser, PUBLIC};
use crate::common::oidc::{INTROSPECTOR, OPAQUE_SERVICE, OidcProvider, Options};
use crate::common::{Portcullis, Setup, client, free_port, header, run};

/// The provider with introspection and the `portcullis` login client, and Portcullis in front.
struct Stack {
    idp: OidcProvider,
    p: Portcullis,
    _secret: tempfile::TempDir,
}

impl Stack {
    /// Active answers cached `cache_ttl`; introspection at `url` (else discovered).
    async fn start(cache_ttl: &str, url: Option<&str>) -> Stack {
        Stack::start_on(free_port(), cache_ttl, url).await
    }

    async fn start_on(port: u16, cache_ttl: &str, url: Option<&str>) -> Stack {
        let secret = tempfile::tempdir().expect("tempdir");
        let file = secret.path().join("introspection-secret");
        std::fs::write(&file, format!("{}\n", INTROSPECTOR.1)).expect("write secret");
        let mut block = introspection_block(&file, cache_ttl);
        if let Some(url) = url {
            block.push_str(&format!("url = \"{url}\"\n"));
        }
        let issuer = format!("http://127.0.0.1:{port}");
        let p = Portcullis::start(Setup::new(&config_with_login(&issuer, &block), RULES)).await;
        let options = Options {
            redirect_uris: vec![format!("{PUBLIC}/oauth2/callback")],
            introspection: true,
            ..Options::default()
        };
        let idp = OidcProvider::start(port, &options).await;
        p.wait_for("/readyz", 200).await;
        Stack {
            idp,
            p,
            _secret: secret,
        }
    }

    async fn service_token(&self) -> String {
        let token = self.idp.client_credentials_token(OPAQUE_SERVICE, "api:read").await;
        assert_eq!(token.matches('.').count(), 0, "not an opaque token: {token}");
        token
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        crate::peers::print_log_on_failure(&self.p);
    }
}

#[tokio::test]
async fn introspected_client_credentials_and_code_flow_tokens_pass_with_their_identity() {
    let stack = Stack::start("60s", None).await;
    let service = stack.service_token().await;
    let response = ask_bearer(&stack.p, "/read/items", &service).await;
    assert_eq!(response.status(), 200);
    // No resource owner: the client is the subject. Its scope meets `scopes_all`.
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("opaque-svc"));
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some(""));
    assert_eq!(
        ask_bearer(&stack.p, "/admin/x", &service).await.status(),
        403,
        "no groups"
    );

    // A code-flow access token: sign in through Portcullis's login, which passes the
    // provider's access token upstream, then present that token as a bearer.
    let mut browser = Browser::default();
    let callback = browser
        .login(&stack.p, &stack.idp, "alice", "https://app.example.com/")
        .await;
    assert_eq!(callback.status(), 302, "login");
    let signed_in = browser.auth(&stack.p, "/anything").await;
    assert_eq!(signed_in.status(), 200);
    let user_token = header(&signed_in, "X-Auth-Request-Access-Token")
        .expect("access token")
        .to_owned();
    assert_eq!(user_token.matches('.').count(), 0, "not an opaque token: {user_token}");
    let response = ask_bearer(&stack.p, "/admin/users", &user_token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("alice"));
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some("alice@example.com"));
    assert_eq!(header(&response, "X-Auth-Request-Groups"), Some("admins,devs"));
    assert_eq!(introspections(&stack.p, "active").await, 2.0);

    // `explain` checks the token with the same authenticator.
    let config = stack.p.dir.path().join("portcullis.toml");
    let args = ["explain", "--config", config.to_str().expect("utf-8"), "--url"];
    let (code, out, err) = run(
        &[&args[..], &["https://app.example.com/read/x", "--token", &service]].concat(),
        stack.p.dir.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("user=opaque-svc") && out.contains("issuer=main"), "{out}");
    assert!(out.contains("decision: allow"), "{out}");
    let (_, out, _) = run(
        &[
            &args[..],
            &["https://app.example.com/read/x", "--token", "no-such-token"],
        ]
        .concat(),
        stack.p.dir.path(),
    );
    assert!(out.contains("identity: none") && out.contains("active"), "{out}");
    assert_no_token_logged(&stack.p, &[&service, &user_token]);
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_its_cache_entry_is_gone() {
    let stack = Stack::start("1s", None).await;
    let token = stack.service_token().await;
    assert_eq!(ask_bearer(&stack.p, "/x", &token).await.status(), 200);
    stack.idp.revoke(OPAQUE_SERVICE, &token).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = ask_bearer(&stack.p, "/x", &token).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "only the cached answer may still pass");
        assert!(Instant::now() < deadline, "the revoked token is still accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(introspections(&stack.p, "inactive").await >= 1.0);
    assert_no_token_logged(&stack.p, &[&token]);
}

#[tokio::test]
async fn an_unknown_token_is_401_with_invalid_token() {
    let stack = Stack::start("60s", None).await;
    let token = "Zm9vYmFyLW5vdC1hLXJlYWwtdG9rZW4tYXQtYWxs";
    let response = ask_bearer(&stack.p, "/x", token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(introspections(&stack.p, "inactive").await, 1.0);
    assert_no_token_logged(&stack.p, &[token]);
}

#[tokio::test]
async fn with_the_provider_stopped_a_new_token_is_503_and_a_cached_one_still_passes() {
    let mut stack = Stack::start("60s", None).await;
    let cached = stack.service_token().await;
    let new = stack.service_token().await;
    assert_eq!(ask_bearer(&stack.p, "/x", &cached).await.status(), 200);
    stack.idp.stop();
    let response = ask_bearer(&stack.p, "/x", &new).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "X-Auth-Request-User"), None);
    assert_eq!(ask_bearer(&stack.p, "/x", &cached).await.status(), 200);
    assert!(introspections(&stack.p, "error").await >= 1.0);
    let log = stack.p.log_text();
    assert!(
        log.contains("token introspection failed") && log.contains("/token/introspection"),
        "{log}"
    );
    assert_no_token_logged(&stack.p, &[&cached, &new]);
}

/// A pass-through in front of the provider's introspection endpoint that counts the calls and
/// holds them while the test says so.
struct PassThrough {
    url: String,
    calls: Arc<AtomicUsize>,
    held: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Forward {
    target: String,
    calls: Arc<AtomicUsize>,
    held: tokio::sync::watch::Receiver<bool>,
}

impl PassThrough {
    async fn start(target: String) -> PassThrough {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
        let calls = Arc::new(AtomicUsize::new(0));
        let held = tokio::sync::watch::channel(false).0;
        let state = Arc::new(Forward {
            target,
            calls: calls.clone(),
            held: held.subscribe(),
        });
        let app = axum::Router::new()
            .route("/introspect", axum::routing::post(forward))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PassThrough { url, calls, held, task }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for PassThrough {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<Arc<Forward>>, headers: HeaderMap, body: String) -> impl IntoResponse {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let _ = state.held.clone().wait_for(|held| !held).await;
    let mut request = client().post(&state.target).body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.expect("provider");
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    (
        axum::http::StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        text,
    )
}

#[tokio::test]
async fn concurrent_requests_with_one_new_token_make_one_introspection_call() {
    let port = free_port();
    let pass = PassThrough::start(format!("http://127.0.0.1:{port}/token/introspection")).await;
    let stack = Stack::start_on(port, "60s", Some(&pass.url)).await;
    let token = stack.service_token().await;
    pass.held.send_replace(true);
    let requests: Vec<_> = (0..20).map(|_| spawn_ask(&stack.p, &token)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pass.calls() == 0 {
        assert!(Instant::now() < deadline, "no introspection call arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every request has time to reach Portcullis while the one call is held; none may start
    // another call.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pass.calls(), 1, "concurrent misses made more than one call");
    pass.held.send_replace(false);
    for request in requests {
        assert_eq!(request.await.expect("task"), 200);
    }
    assert_eq!(pass.calls(), 1);
    assert_eq!(introspections(&stack.p, "active").await, 1.0);

    // A flood of one bad token: its inactive answer is cached (5 s), so there is at most one
    // call per 5 s of flood, however many requests, instead of one per request.
    let before = pass.calls();
    let started = Instant::now();
    for _ in 0..5 {
        let batch: Vec<_> = (0..10).map(|_| spawn_ask(&stack.p, "flood-of-one-bad-token")).collect();
        for request in batch {
            assert_eq!(request.await.expect("task"), 401);
        }
    }
    let flood_calls = pass.calls() - before;
    let windows = started.elapsed().as_secs() as usize / 5 + 1;
    assert!(
        (1..=windows).contains(&flood_calls) && flood_calls < 50,
        "50 requests with one bad token in {windows} windows of 5 s made {flood_calls} introspection calls"
    );
    assert_no_token_logged(&stack.p, &[&token, "flood-of-one-bad-token"]);
}

/// `/auth` with `token`, from a task of its own (requests that run at the same time).
fn spawn_ask(p: &Portcullis, token: &str) -> tokio::task::JoinHandle<u16> {
    let (base, token) = (p.base.clone(), token.to_owned());
    tokio::spawn(async move {
        client()
            .get(format!("{base}/auth"))
            .header("X-Original-URL", "https://app.example.com/x")
            .header("X-Original-Method", "GET")
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("ask")
            .status()
            .as_u16()
    })
}
