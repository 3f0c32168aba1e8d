//! The signed identity token, proven by an independent verifier: a Python upstream using PyJWT
//! (tests/peers/identity_upstream.py) behind real nginx, which copies the token upstream with
//! `auth_request_set`. The upstream verifies signature, `iss`, `aud`, `exp` against
//! Portcullis's `GET /.well-known/jwks.json` and answers what it verified.

mod cli;
mod keys;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::tokens::{now, rsa1};
use crate::common::{Portcullis, Setup, client, file_issuer_config, free_port};
use crate::peers::{PeerProcess, peers_venv, print_log_on_failure, run_nginx};

/// The `iss` of every identity token in these tests.
const ISSUER: &str = "https://auth.example.com/";

const RULES: &str = r#"
- id: orders
  paths: ["/orders/**"]
  policy: authenticated
  identity_token: {audience: orders-api}
- id: billing
  paths: ["/billing/**"]
  policy: authenticated
  identity_token: {audience: billing-api}
- id: plain
  paths: ["/plain/**"]
  policy: authenticated
  identity_token:
"#;

/// Runs `openssl` with `args` in `dir` (the key forms it writes by default are the point).
pub fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// The config: the `rsa1` issuer of the kit and `[identity_token]` with `key` and `previous`.
pub fn config(key: &Path, previous: &[&Path]) -> String {
    let previous: Vec<String> = previous
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    format!(
        "{}\n[identity_token]\nkey_file = {:?}\nprevious_key_files = [{}]\nissuer = \"{ISSUER}\"\n",
        file_issuer_config("rsa1"),
        key.display().to_string(),
        previous.join(", ")
    )
}

/// Portcullis, the Python upstream and nginx in front of both.
struct Stack {
    portcullis: Portcullis,
    upstream_port: u16,
    nginx_port: u16,
    _upstream: PeerProcess,
    _nginx: PeerProcess,
}

impl Drop for Stack {
    fn drop(&mut self) {
        print_log_on_failure(&self.portcullis);
    }
}

impl Stack {
    async fn start(config: &str) -> Stack {
        let portcullis = Portcullis::start(Setup::new(config, RULES)).await;
        let upstream_port = free_port();
        let audiences = json!({"/orders/": "orders-api", "/billing/": "billing-api", "/plain/": null});
        let mut command = Command::new(peers_venv().join("bin/python3"));
        command
            .arg(crate::common::root().join("tests/peers/identity_upstream.py"))
            .arg(upstream_port.to_string())
            .arg(portcullis.url("/.well-known/jwks.json"))
            .args([ISSUER, "Authorization"])
            .arg(audiences.to_string());
        let mut upstream = PeerProcess::spawn("identity-upstream", command, tempfile::tempdir().expect("tempdir"));
        upstream.wait_for_port(upstream_port).await;
        let nginx_port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = format!("{}/", dir.path().display());
        let conf = format!(
            r#"
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{nginx_port};
        location = /_portcullis {{
            internal;
            proxy_pass http://127.0.0.1:{portcullis}/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
        location / {{
            auth_request /_portcullis;
            # The identity token replaces the client's Authorization on the way upstream.
            auth_request_set $identity_token $upstream_http_authorization;
            proxy_set_header Authorization $identity_token;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
    }}
}}
"#,
            portcullis = portcullis.port
        );
        let nginx = run_nginx(dir, &conf, &prefix, &[nginx_port]).await;
        Stack {
            portcullis,
            upstream_port,
            nginx_port,
            _upstream: upstream,
            _nginx: nginx,
        }
    }

    /// `GET path` through nginx with the client's `Authorization: Bearer <bearer>`: the status
    /// and what the upstream answered.
    async fn through_nginx(&self, path: &str, bearer: &str) -> (u16, Value) {
        let response = client()
            .get(format!("http://127.0.0.1:{}{path}", self.nginx_port))
            .header("Host", "app.example.com")
            .header("Authorization", format!("Bearer {bearer}"))
            .send()
            .await
            .expect("nginx answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// `GET path` straight to the upstream with `Authorization: Bearer <identity_token>`.
    async fn at_upstream(&self, path: &str, identity_token: &str) -> Value {
        client()
            .get(format!("http://127.0.0.1:{}{path}", self.upstream_port))
            .header("Authorization", format!("Bearer {identity_token}"))
            .send()
            .await
            .expect("upstream answers")
            .json()
            .await
            .expect("json")
    }
}

/// A fresh key in `dir` as `openssl ecparam -genkey` writes it (SEC1, after EC PARAMETERS).
fn sec1_key(dir: &Path, name: &str) -> PathBuf {
    openssl(dir, &["ecparam", "-genkey", "-name", "prime256v1", "-out", name]);
    dir.join(name)
}

/// A verified answer's claims, or a failure with the upstream's reason.
fn verified(answer: &(u16, Value)) -> &Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["verified"], true, "{}", answer.1);
    &answer.1["claims"]
}

#[tokio::test]
async fn pyjwt_behind_nginx_verifies_the_identity_token_with_each_rule_s_audience() {
    let keys = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start(&config(&sec1_key(keys.path(), "identity.pem"), &[])).await;
    let bearer = rsa1(json!({"preferred_username": "ali"}));
    let orders = stack.through_nginx("/orders/1", &bearer).await;
    let claims = verified(&orders);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["groups"], json!(["admins", "dev"]));
    assert_eq!(orders.1["alg"], "ES256");
    let jwks: Value = client()
        .get(stack.portcullis.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(orders.1["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(
        verified(&stack.through_nginx("/billing/1", &bearer).await)["aud"],
        "billing-api"
    );
    assert!(
        verified(&stack.through_nginx("/plain/1", &bearer).await)
            .get("aud")
            .is_none()
    );
    // The audience is checked: the orders token is refused where billing-api is expected.
    let token = orders.1["token"].as_str().expect("token");
    let elsewhere = stack.at_upstream("/billing/1", token).await;
    assert_eq!(elsewhere["verified"], false);
    assert!(
        elsewhere["error"].as_str().is_some_and(|e| e.contains("Audience")),
        "{elsewhere}"
    );
    // Without a credential nginx never reaches the upstream; a forged identity token fails.
    let (status, _) = stack.through_nginx("/orders/1", "not-a-token").await;
    assert_eq!(status, 401);
    let forged = crate::common::tokens::sign(
        "ec1",
        jsonwebtoken::Algorithm::ES256,
        orders.1["kid"].as_str().expect("kid"),
        &json!({"iss": ISSUER, "sub": "mallory", "aud": "orders-api", "exp": now() + 60, "iat": now(), "nbf": now(), "jti": "x"}),
    );
    assert_eq!(stack.at_upstream("/orders/1", &forged).await["verified"], false);
}

#[tokio::test]
async fn exp_is_capped_by_a_short_lived_bearer_and_tokens_are_reused_per_audience() {
    let keys = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start(&config(&sec1_key(keys.path(), "identity.pem"), &[])).await;
    let expires = now() + 90;
    let short = rsa1(json!({"exp": expires}));
    let first = stack.through_nginx("/orders/1", &short).await;
    assert_eq!(
        verified(&first)["exp"],
        expires,
        "not the 5 minute ttl: the bearer's exp"
    );
    let second = stack.through_nginx("/orders/2", &short).await;
    assert_eq!(
        second.1["token"], first.1["token"],
        "the same token while half its life remains"
    );
    let billing = stack.through_nginx("/billing/1", &short).await;
    assert_ne!(billing.1["token"], first.1["token"], "another audience, another token");
    let long = rsa1(json!({}));
    let other = stack.through_nginx("/orders/1", &long).await;
    assert!(
        verified(&other)["exp"].as_u64().expect("exp") <= now() + 300,
        "at most ttl"
    );
    assert_ne!(
        other.1["token"], first.1["token"],
        "another credential expiry, another token"
    );
}

#[tokio::test]
async fn a_token_of_the_previous_key_verifies_after_a_rotation_while_that_key_is_published() {
    let keys = tempfile::tempdir().expect("tempdir");
    let old = sec1_key(keys.path(), "old.pem");
    openssl(keys.path(), &["genrsa", "-traditional", "-out", "new.pem", "2048"]);
    let new = keys.path().join("new.pem");
    let bearer = rsa1(json!({}));
    let before = Stack::start(&config(&old, &[])).await;
    let old_answer = before.through_nginx("/orders/1", &bearer).await;
    verified(&old_answer);
    let old_token = old_answer.1["token"].as_str().expect("token").to_owned();
    drop(before);

    let rotated = Stack::start(&config(&new, &[&old])).await;
    let still = rotated.at_upstream("/orders/1", &old_token).await;
    assert_eq!(still["verified"], true, "{still}");
    assert_eq!(still["kid"], old_answer.1["kid"]);
    let fresh = rotated.through_nginx("/orders/1", &bearer).await;
    verified(&fresh);
    assert_eq!(fresh.1["alg"], "RS256", "the new key signs");
    assert_ne!(fresh.1["kid"], old_answer.1["kid"]);
    drop(rotated);

    let retired = Stack::start(&config(&new, &[])).await;
    let refused = retired.at_upstream("/orders/1", &old_token).await;
    assert_eq!(refused["verified"], false, "once the old key is gone: {refused}");
}
