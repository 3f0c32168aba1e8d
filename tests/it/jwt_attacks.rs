//! Every JWT rejection case of the contract, through the real binary: each must be a 401 with
//! `error="invalid_token"`, never a 200 and never a 500.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::common::rules::DECISIONS as RULES;
use crate::common::tokens::{b64, claims, now, raw, rsa1, rsa1_with_payload_text, sign};
use crate::common::{Portcullis, Setup, client, file_issuer_config, fixture};

async fn start() -> Portcullis {
    Portcullis::start(Setup::new(&file_issuer_config("rsa1"), RULES)).await
}

async fn status_of(p: &Portcullis, token: &str) -> (u16, String) {
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/admin/")
        .header("X-Original-Method", "GET")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default();
    (status, challenge)
}

async fn assert_refused(p: &Portcullis, case: &str, token: &str) {
    let (status, challenge) = status_of(p, token).await;
    assert_eq!(status, 401, "{case} was not refused");
    assert_eq!(challenge, r#"Bearer error="invalid_token""#, "{case}");
}

fn header_of(token: &str) -> Value {
    let part = token.split('.').next().expect("header part");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part).expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

/// Replaces the header of a validly signed token, keeping payload and signature.
fn with_header(token: &str, header: &Value) -> String {
    let mut parts = token.splitn(3, '.');
    let (_, payload, signature) = (parts.next(), parts.next().expect("p"), parts.next().expect("s"));
    format!("{}.{payload}.{signature}", b64(header.to_string().as_bytes()))
}

#[tokio::test]
async fn a_valid_token_is_accepted_so_the_refusals_below_mean_something() {
    let p = start().await;
    assert_eq!(status_of(&p, &rsa1(json!({}))).await.0, 200);
}

#[tokio::test]
async fn time_and_claim_violations_are_refused() {
    let p = start().await;
    let now = crate::common::tokens::now();
    assert_refused(&p, "expired", &rsa1(json!({ "exp": now - 3600 }))).await;
    assert_refused(&p, "nbf in the future", &rsa1(json!({ "nbf": now + 3600 }))).await;
    assert_refused(&p, "missing exp", &rsa1(json!({ "exp": null }))).await;
    assert_refused(&p, "wrong iss", &rsa1(json!({ "iss": "https://evil.test/" }))).await;
    assert_refused(&p, "missing iss", &rsa1(json!({ "iss": null }))).await;
    assert_refused(&p, "wrong aud", &rsa1(json!({ "aud": "other-api" }))).await;
    assert_refused(&p, "missing aud", &rsa1(json!({ "aud": null }))).await;
    assert_refused(
        &p,
        "iss without its trailing slash",
        &rsa1(json!({ "iss": "https://issuer.test" })),
    )
    .await;
    assert_refused(&p, "missing sub (the user claim)", &rsa1(json!({ "sub": null }))).await;
    assert_eq!(
        status_of(&p, &rsa1(json!({ "aud": ["other-api", "api"] }))).await.0,
        200,
        "an audience list holding ours is accepted"
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let p = start().await;
    let token = raw(
        &json!({ "alg": "none", "kid": "rsa1", "typ": "JWT" }),
        &claims(json!({})),
        b"",
    );
    assert_refused(&p, "alg none", &token).await;
    let token = raw(&json!({ "alg": "None", "kid": "rsa1" }), &claims(json!({})), b"");
    assert_refused(&p, "alg None", &token).await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let p = start().await;
    let public_pem = std::fs::read(fixture("keys/rsa1.pub.pem")).expect("public key");
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some("rsa1".into());
    let key = jsonwebtoken::EncodingKey::from_secret(&public_pem);
    let token = jsonwebtoken::encode(&header, &claims(json!({})), &key).expect("sign");
    assert_refused(&p, "HS256 with the public key as secret", &token).await;
}

#[tokio::test]
async fn unknown_kid_and_foreign_key_with_known_kid_are_refused() {
    let p = start().await;
    assert_refused(
        &p,
        "unknown kid",
        &sign("rsa1", Algorithm::RS256, "nobody", &claims(json!({}))),
    )
    .await;
    assert_refused(
        &p,
        "foreign key, known kid",
        &sign("rsa2", Algorithm::RS256, "rsa1", &claims(json!({}))),
    )
    .await;
    let mut no_kid = jsonwebtoken::Header::new(Algorithm::RS256);
    no_kid.kid = None;
    let token = jsonwebtoken::encode(&no_kid, &claims(json!({})), &crate::common::tokens::key("rsa1")).expect("sign");
    assert_refused(&p, "no kid", &token).await;
    assert_refused(
        &p,
        "ES256 header on an RSA kid",
        &sign("ec1", Algorithm::ES256, "rsa1", &claims(json!({}))),
    )
    .await;
}

#[tokio::test]
async fn keys_embedded_or_linked_in_the_token_are_never_used() {
    let p = start().await;
    let attacker_jwk = crate::common::jwks_server::fixture_jwks(&["rsa2"])["keys"][0].clone();
    let mut header = json!({ "alg": "RS256", "kid": "rsa2", "jwk": attacker_jwk });
    let signed = sign("rsa2", Algorithm::RS256, "rsa2", &claims(json!({})));
    assert_refused(&p, "embedded jwk", &with_header(&signed, &header)).await;
    // A server that would hand out the attacker's key: it must never be asked.
    let attacker =
        crate::common::jwks_server::JwksServer::start(crate::common::jwks_server::fixture_jwks(&["rsa2"])).await;
    header = json!({ "alg": "RS256", "kid": "rsa2", "jku": attacker.jwks_uri() });
    assert_refused(&p, "jku", &with_header(&signed, &header)).await;
    header = json!({ "alg": "RS256", "kid": "rsa2", "x5u": attacker.jwks_uri() });
    assert_refused(&p, "x5u", &with_header(&signed, &header)).await;
    assert_eq!(attacker.fetches(), 0, "a key URL in the token was fetched");
}

#[tokio::test]
async fn crit_header_is_refused_even_when_the_signature_is_good() {
    let p = start().await;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("rsa1".into());
    let good = jsonwebtoken::encode(&header, &claims(json!({})), &crate::common::tokens::key("rsa1")).expect("sign");
    let mut crit = header_of(&good);
    crit["crit"] = json!(["exp"]);
    // Re-sign with the crit header so only `crit` is wrong.
    let signing_input = format!(
        "{}.{}",
        b64(crit.to_string().as_bytes()),
        good.split('.').nth(1).expect("payload")
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &crate::common::tokens::key("rsa1"),
        Algorithm::RS256,
    )
    .expect("sign");
    assert_refused(&p, "crit", &format!("{signing_input}.{signature}")).await;
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let p = start().await;
    let token = rsa1(json!({ "groups": ["dev"] }));
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[1] = b64(claims(json!({ "groups": ["admins"] })).to_string().as_bytes());
    assert_refused(&p, "tampered payload", &parts.join(".")).await;
}

#[tokio::test]
async fn garbage_tokens_are_refused_without_a_500() {
    let p = start().await;
    for token in [
        "x",
        "a.b",
        "a.b.c",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.%%%.sig",
        "\u{1F600}.b.c",
        // Headers that are JSON but not an object, and not JSON at all.
        "IlJTMjU2Ig.e30.AAAA",
        "WzFd.e30.AAAA",
        "bm90IGpzb24.e30.AAAA",
    ] {
        let (status, _) = status_of(&p, token).await;
        assert_eq!(status, 401, "{token}");
    }
}

#[tokio::test]
async fn other_algorithms_and_typ_values() {
    let p = Portcullis::start(Setup::new(&file_issuer_config("ec1"), RULES)).await;
    assert_eq!(
        status_of(&p, &sign("ec1", Algorithm::ES256, "ec1", &claims(json!({}))))
            .await
            .0,
        200
    );
    let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
    header.kid = Some("ec1".into());
    header.typ = Some("at+jwt".into());
    let at_jwt = jsonwebtoken::encode(&header, &claims(json!({})), &crate::common::tokens::key("ec1")).expect("sign");
    assert_eq!(status_of(&p, &at_jwt).await.0, 200, "RFC 9068 at+jwt must be accepted");
    header.typ = Some("logout+jwt".into());
    let logout = jsonwebtoken::encode(&header, &claims(json!({})), &crate::common::tokens::key("ec1")).expect("sign");
    assert_refused(&p, "typ logout+jwt", &logout).await;
}

#[tokio::test]
async fn algorithm_outside_the_allow_list_is_refused() {
    // The set also holds ec1 (ES256, allowed): a set with no usable key is refused at start-up.
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = |name: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(fixture(&format!("keys/{name}.jwks.json"))).expect("fixture");
        let set: Value = serde_json::from_str(&text).expect("jwks");
        set["keys"].as_array().expect("keys").clone()
    };
    let all: Vec<Value> = [keys("rsa1"), keys("ec1")].concat();
    let both = json!({ "keys": all });
    std::fs::write(dir.path().join("keys.json"), both.to_string()).expect("write");
    let config = file_issuer_config("rsa1")
        .replace(r#"["RS256", "ES256", "PS256", "EdDSA"]"#, r#"["PS256", "ES256"]"#)
        .replace(
            &fixture("keys/rsa1.jwks.json").display().to_string(),
            &dir.path().join("keys.json").display().to_string(),
        );
    let p = Portcullis::start(Setup::new(&config, RULES)).await;
    assert_refused(&p, "RS256 not allowed", &rsa1(json!({}))).await;
    // The JWK itself says `alg: RS256`: PS256 with that key is refused although the issuer allows it.
    let ps256 = sign("rsa1", Algorithm::PS256, "rsa1", &claims(json!({})));
    assert_refused(&p, "PS256 on an RS256 JWK", &ps256).await;
}

#[tokio::test]
async fn a_far_future_exp_is_accepted_without_breaking_the_cache() {
    let p = start().await;
    let token = rsa1(json!({ "exp": u64::MAX }));
    assert_eq!(status_of(&p, &token).await.0, 200);
    assert_eq!(status_of(&p, &token).await.0, 200, "served from the cache");
    assert_eq!(p.metric("portcullis_token_cache_hits_total").await, 1.0);
}

#[tokio::test]
async fn a_payload_that_repeats_a_claim_name_is_refused() {
    let p = start().await;
    let (exp, iat) = (now() + 600, now());
    let base = format!(r#""iss":"https://issuer.test/","aud":"api","sub":"alice","exp":{exp},"iat":{iat}"#);
    // The same payload without the repetition is accepted: the refusal is for the repetition.
    let single = rsa1_with_payload_text(&format!(r#"{{{base},"groups":["admins"],"tenant":"acme"}}"#));
    assert_eq!(status_of(&p, &single).await.0, 200);
    for payload in [
        format!(r#"{{{base},"groups":["admins"],"tenant":"acme","tenant":"evil"}}"#),
        format!(r#"{{{base},"groups":["dev"],"groups":["admins"]}}"#),
        format!(r#"{{{base},"groups":["admins"],"sub":"mallory"}}"#),
        format!(r#"{{{base},"groups":["admins"],"n":{{"a":1,"a":2}}}}"#),
    ] {
        assert_refused(&p, &payload, &rsa1_with_payload_text(&payload)).await;
    }
}
