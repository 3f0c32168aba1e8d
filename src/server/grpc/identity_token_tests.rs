//! The identity token over gRPC: the same planned answer, so an `OkHttpResponse` sets it
//! upstream, overwriting the client's copy (in the style of `tests.rs`: `CheckRequest`s built
//! by hand through [`super::check`] on a real [`App`]).

use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::{HeaderAppendAction, HttpResponse};
use serde_json::{Value, json};

use super::tests::{check, check_request, http};
use crate::authn::jws::Signer;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::server::App;

const RULES: &str = "
- id: orders
  paths: ['/orders/**']
  policy: authenticated
  identity_token: {audience: orders-api}
- id: public
  paths: ['/public/**']
  policy: allow
";

fn key(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"))
}

/// An [`App`] whose issuer's static keys are `rsa1`'s and whose identity token is signed with
/// the SEC1 form of `ec1`, sent in `header`.
async fn app(header: &str) -> (Arc<App>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa1.jwks.json");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("write rules");
    let config = format!(
        "[[issuers]]\nname = \"main\"\nissuer = \"https://issuer.test/\"\njwks_file = \"{jwks}\"\n\
         [rules]\npaths = [\"rules.yaml\"]\ndefault = \"deny\"\n\
         [identity_token]\nkey_file = \"{}\"\nissuer = \"https://auth.test/\"\nheader = \"{header}\"\n",
        key("ec1.sec1")
    );
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, config).expect("write config");
    let config = Config::load(&file).expect("config");
    let rules = RuleSet::load(&config.rules.paths, &crate::rules::Known::of(&config)).expect("rules");
    let app = App::new(config, rules, Metrics::new()).expect("app");
    app.verifier.load_keys().await;
    (Arc::new(app), dir)
}

fn bearer() -> String {
    let signer = Signer::from_pem(&std::fs::read(key("rsa1")).expect("key"))
        .expect("signer")
        .with_kid("rsa1");
    let now = crate::session::unix_now();
    let claims = json!({"iss": "https://issuer.test/", "sub": "alice", "exp": now + 600, "groups": ["dev"]});
    let claims = claims.as_object().cloned().expect("object");
    format!("Bearer {}", signer.sign(&claims).expect("signs"))
}

/// The upstream headers of an allowed `GET path` with `headers`, as (name, value, overwrite).
async fn upstream_headers(app: &Arc<App>, path: &str, headers: &[(&str, &str)]) -> Vec<(String, String, bool)> {
    let request = check_request(Some(http("GET", "app.test", path, headers)));
    let response = check(app, request).await;
    let Some(HttpResponse::OkResponse(ok)) = response.http_response else {
        panic!("not allowed: {response:?}");
    };
    ok.headers
        .iter()
        .filter_map(|option| {
            let header = option.header.as_ref()?;
            let overwrite = option.append_action == HeaderAppendAction::OverwriteIfExistsOrAdd as i32;
            Some((
                header.key.clone(),
                header.value.clone(),
                overwrite && option.keep_empty_value,
            ))
        })
        .collect()
}

fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn an_allowed_check_sets_the_identity_token_upstream_over_the_client_s_authorization() {
    let (app, _dir) = app("Authorization").await;
    let credential = bearer();
    let headers = upstream_headers(&app, "/orders/1", &[("authorization", credential.as_str())]).await;
    let (_, value, overwrite) = headers
        .iter()
        .find(|(name, ..)| name == "authorization")
        .expect("authorization set upstream");
    assert!(overwrite, "the client's own Authorization is replaced");
    let jwt = value.strip_prefix("Bearer ").expect("a bearer token");
    assert_ne!(value, &credential);
    let claims = claims_of(jwt);
    assert_eq!(claims["iss"], "https://auth.test/");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "orders-api");
    // A rule without `identity_token:` leaves Authorization alone (bearer pass-through).
    let public = upstream_headers(&app, "/public/x", &[("authorization", credential.as_str())]).await;
    assert!(public.iter().all(|(name, ..)| name != "authorization"), "{public:?}");
}

#[tokio::test]
async fn another_header_carries_the_bare_jwt_and_is_sent_empty_on_other_rules() {
    let (app, _dir) = app("X-Identity-Token").await;
    let credential = bearer();
    let orders = upstream_headers(&app, "/orders/1", &[("authorization", credential.as_str())]).await;
    let (_, value, _) = orders
        .iter()
        .find(|(name, ..)| name == "x-identity-token")
        .expect("the identity token");
    assert_eq!(claims_of(value)["aud"], "orders-api");
    let spoofed = [("x-identity-token", "forged")];
    let public = upstream_headers(&app, "/public/x", &spoofed).await;
    assert!(
        public.contains(&("x-identity-token".into(), String::new(), true)),
        "the client's copy overwritten with an empty value: {public:?}"
    );
}
