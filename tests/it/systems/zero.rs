//! Zero (Ory Oathkeeper + Kratos): the browser holds Kratos's `ory_kratos_session` cookie;
//! Portcullis, in Oathkeeper's place, asks Kratos who it is and hands the backend a signed
//! identity token, which the backend verifies against Portcullis's `/.well-known/jwks.json`.
//! Runs `examples/zero/` (portcullis.toml, rules, demo key, nginx.conf) through real nginx,
//! against the Kratos-shaped session service of `common::kratos` (no real Kratos runs here)
//! and a backend in Python verifying the token with PyJWT (tests/peers/identity_upstream.py).

use std::process::Command;

use serde_json::{Value, json};

use crate::common::kratos::{self, Kratos, KratosUser};
use crate::common::{Portcullis, client, free_port, root};
use crate::peers::{PeerProcess, example_with, peers_venv, print_log_on_failure};

/// Everything of the flow, stopped on drop.
struct Zero {
    kratos: Kratos,
    portcullis: Portcullis,
    _backend: PeerProcess,
    _nginx: PeerProcess,
    port: u16,
}

impl Zero {
    async fn start() -> Zero {
        let kratos = Kratos::start().await;
        let key = root().join("examples/zero/demo-identity-key.pem");
        let config = example_with(
            "zero/portcullis.toml",
            &[
                // The kit writes its own [server] section (port 0, trusting 127.0.0.1).
                (
                    "[server]\nlisten = \"0.0.0.0:4180\"\n# The ingress controller's pods call Portcullis: their pod network must be trusted.\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
                    String::new(),
                ),
                (
                    "http://kratos-public.user-auth.svc.cluster.local/sessions/whoami",
                    kratos.whoami_url(),
                ),
                ("\"demo-identity-key.pem\"", format!("{:?}", key.display().to_string())),
            ],
        );
        let portcullis = super::portcullis_on_example("zero", &config, "10-zero.yaml").await;

        // The backend: public paths and webhooks need no token; everything else must carry an
        // identity token for audience `zero-backend`, verified against the published JWKS.
        let backend_port = free_port();
        let audiences = json!({"/public/": false, "/status/": false, "/webhook/": false, "/": "zero-backend"});
        let mut command = Command::new(peers_venv().join("bin/python3"));
        command
            .arg(root().join("tests/peers/identity_upstream.py"))
            .arg(backend_port.to_string())
            .arg(portcullis.url("/.well-known/jwks.json"))
            .args(["https://auth.zero.example.com/", "Authorization"])
            .arg(audiences.to_string());
        let mut backend = PeerProcess::spawn("zero-backend", command, tempfile::tempdir().expect("tempdir"));
        backend.wait_for_port(backend_port).await;

        let (nginx, port) = super::example_nginx("zero", &portcullis, backend_port).await;
        Zero {
            kratos,
            portcullis,
            _backend: backend,
            _nginx: nginx,
            port,
        }
    }

    /// `<method> http://app.zero.example.com<uri>` through nginx with `cookie` (if any): the
    /// status and the body (the backend's JSON, or nginx's page as a string).
    async fn call(&self, method: &str, uri: &str, cookie: Option<&str>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client()
            .request(method, format!("http://127.0.0.1:{}{uri}", self.port))
            .header("Host", "app.zero.example.com")
            // A client's own Authorization never reaches the backend: the identity token replaces it.
            .header("Authorization", "Bearer not-for-the-backend");
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

impl Drop for Zero {
    fn drop(&mut self) {
        print_log_on_failure(&self.portcullis);
    }
}

/// The backend's answer: it verified a token (or the path is public for it).
fn backend_answered(answer: &(u16, Value)) -> bool {
    answer.0 == 200 && answer.1.get("verified").is_some()
}

#[tokio::test]
async fn zero_kratos_session_becomes_an_identity_token_the_backend_verifies_through_nginx() {
    let zero = Zero::start().await;
    let jane = KratosUser::named("jane", &["admins", "ops"]);
    let session = zero.kratos.sign_in(&jane);
    let browser = format!("csrf_token_82b2=abc; {}={session}", kratos::COOKIE);

    // Signed in: Kratos is asked with the browser's cookie, and the backend verifies (PyJWT,
    // against /.well-known/jwks.json) a token naming the Kratos identity.
    let answer = zero.call("GET", "/api/projects/7?tab=settings", Some(&browser)).await;
    assert!(backend_answered(&answer), "{answer:?}");
    assert_eq!(answer.1["verified"], true, "{}", answer.1);
    let claims = &answer.1["claims"];
    assert_eq!(claims["sub"], jane.id.as_str());
    assert_eq!(claims["email"], "jane@example.com");
    assert_eq!(claims["groups"], json!(["admins", "ops"]));
    assert_eq!(claims["preferred_username"], "jane");
    assert_eq!(claims["aud"], "zero-backend");
    assert_eq!(claims["iss"], "https://auth.zero.example.com/");
    assert_eq!(answer.1["alg"], "ES256");
    let asked = zero.kratos.requests();
    assert_eq!(asked.len(), 1);
    let value = |name: &str| asked[0].get(name).map(|v| v.to_str().expect("ascii").to_owned());
    assert_eq!(value("cookie"), Some(format!("{}={session}", kratos::COOKIE)));
    assert_eq!(value("x-forwarded-method").as_deref(), Some("GET"));
    assert_eq!(
        value("x-forwarded-uri").as_deref(),
        Some("/api/projects/7?tab=settings")
    );

    // Rule 1: public paths pass with no cookie, and Kratos is not asked.
    for path in ["/public/app.js", "/status/ready"] {
        let answer = zero.call("GET", path, None).await;
        assert_eq!(answer.1["public"], true, "{path}: {answer:?}");
        assert!(backend_answered(&answer), "{path}: {answer:?}");
    }
    // Rule 3: a POST webhook passes with no cookie; a GET on the same path is rule 4's.
    let answer = zero.call("POST", "/webhook/stripe", None).await;
    assert!(backend_answered(&answer), "{answer:?}");
    assert_eq!(zero.call("GET", "/webhook/stripe", None).await.0, 401);
    // Rule 2: Kratos's own flows are open (nginx reaches the backend, which wants a token there:
    // the 401 is the backend's JSON, not nginx's refusal).
    let answer = zero
        .call("GET", "/.ory/kratos/public/self-service/login/browser", None)
        .await;
    assert_eq!(answer.0, 401);
    assert_eq!(answer.1["verified"], false, "the backend answered: {answer:?}");
    assert_eq!(zero.kratos.calls(), 1, "no session check on open paths");

    // Rule 4: no cookie, a forged cookie, a signed-out session: 401 from nginx, the backend
    // never asked.
    let (status, body) = zero.call("GET", "/api/projects", None).await;
    assert_eq!(status, 401);
    assert!(body.is_string(), "nginx's own page, not the backend: {body}");
    let forged = format!("{}=ory_st_forged", kratos::COOKIE);
    let (status, body) = zero.call("GET", "/api/projects", Some(&forged)).await;
    assert_eq!(status, 401);
    assert!(body.is_string(), "{body}");
    assert_eq!(zero.kratos.calls(), 2, "the forged cookie was asked about");

    // Kratos down for a session not yet cached: 503, never a pass.
    let sam = zero.kratos.sign_in(&KratosUser::named("sam", &[]));
    zero.kratos.set_mode(kratos::Mode::Error500);
    let (status, _) = zero
        .call("GET", "/api/projects", Some(&format!("{}={sam}", kratos::COOKIE)))
        .await;
    assert_eq!(status, 503);
    // ... while jane's cached session still passes.
    assert!(backend_answered(
        &zero.call("GET", "/api/projects/7?tab=settings", Some(&browser)).await
    ));
}
