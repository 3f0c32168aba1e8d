//! The identity token on the command line: `explain` shows the claims it would carry, and
//! `portcullis token --identity-token` mints one that verifies with the published key set.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

use super::{ISSUER, RULES, config, openssl};
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, client, run};

#[tokio::test]
async fn explain_shows_the_identity_token_claims_and_token_mints_one_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    openssl(
        dir.path(),
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "identity.pem"],
    );
    let body =
        config(&dir.path().join("identity.pem"), &[]).replace("paths = [\"rules/\"]", "paths = [\"rules.yaml\"]");
    std::fs::write(dir.path().join("portcullis.toml"), &body).expect("config");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("rules");
    let bearer = rsa1(json!({}));
    let args = [
        "explain",
        "--config",
        "portcullis.toml",
        "--url",
        "https://app.example.com/orders/1",
        "--token",
    ];
    let (code, out, err) = run(&[&args[..], &[bearer.as_str()]].concat(), dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("authorization: Bearer <identity token, ES256, kid "),
        "{out}"
    );
    let line = out
        .lines()
        .find_map(|line| line.strip_prefix("identity token claims: "))
        .unwrap_or_else(|| panic!("no claims in {out}"));
    let claims: Value = serde_json::from_str(line).expect("json claims");
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["iss"], ISSUER);

    let (code, token, err) = run(
        &[
            "token",
            "--identity-token",
            "--config",
            "portcullis.toml",
            "--sub",
            "bob",
            "--aud",
            "billing-api",
            "--ttl",
            "2m",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let portcullis = Portcullis::start(Setup::new(
        &body.replace("paths = [\"rules.yaml\"]", "paths = [\"rules/\"]"),
        RULES,
    ))
    .await;
    let set: JwkSet = client()
        .get(portcullis.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["billing-api"]);
    let key = DecodingKey::from_jwk(&set.keys[0]).expect("key");
    let minted = jsonwebtoken::decode::<Value>(token.trim(), &key, &validation).expect("verifies");
    assert_eq!(minted.claims["sub"], "bob");
    let lifetime = minted.claims["exp"].as_u64().expect("exp") - minted.claims["iat"].as_u64().expect("iat");
    assert_eq!(lifetime, 120, "--ttl, the credential's lifetime, caps the 5 minute ttl");
}
