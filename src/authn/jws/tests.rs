//! The signed-token core: header checks per use, and the signer against the verifier.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{JwsVerifier, Signer, TokenError, TokenUse, parse};
use crate::authn::jwks::KeyStore;
use crate::config::{Algorithm, IssuerConfig};
use crate::metrics::Metrics;

const ISSUER: &str = "https://auth.test/";

fn fixture_pem(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).expect("fixture key")
}

fn token_with_header(header: Value) -> String {
    format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(header.to_string()))
}

fn refusal(result: Result<super::UnverifiedToken, TokenError>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(error) => error.to_string(),
    }
}

#[test]
fn each_use_accepts_its_own_typ_values_only() {
    let uses = [TokenUse::Bearer, TokenUse::IdToken, TokenUse::LogoutToken];
    let table: [(Option<&str>, [bool; 3]); 7] = [
        (None, [true, true, true]),
        (Some("JWT"), [true, true, true]),
        (Some("at+jwt"), [true, false, false]),
        (Some("application/at+JWT"), [true, false, false]),
        (Some("logout+jwt"), [false, false, true]),
        (Some("application/logout+jwt"), [false, false, true]),
        (Some("secevent+jwt"), [false, false, false]),
    ];
    for (typ, accepted) in table {
        let mut header = json!({ "alg": "RS256", "kid": "k" });
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        for (usage, accepted) in uses.iter().zip(accepted) {
            let answer = refusal(parse(&token_with_header(header.clone()), *usage));
            assert_eq!(answer == "accepted", accepted, "{typ:?} as {usage:?}: {answer}");
        }
    }
}

#[test]
fn crit_none_hmac_and_a_missing_kid_are_refused_for_every_use() {
    for usage in [TokenUse::Bearer, TokenUse::IdToken, TokenUse::LogoutToken] {
        let cases = [
            (
                json!({ "alg": "RS256", "kid": "k", "crit": ["exp"] }),
                "crit header is not supported",
            ),
            (json!({ "alg": "none", "kid": "k" }), "alg none is not accepted"),
            (
                json!({ "alg": "HS256", "kid": "k" }),
                "HMAC algorithms are not accepted",
            ),
            (json!({ "alg": "RS256" }), "header names no kid"),
        ];
        for (header, reason) in cases {
            assert_eq!(refusal(parse(&token_with_header(header), usage)), reason, "{usage:?}");
        }
    }
}

#[test]
fn a_claim_named_twice_is_refused_for_every_use() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"alice","sub":"admin"}"#);
    for usage in [TokenUse::Bearer, TokenUse::IdToken, TokenUse::LogoutToken] {
        let answer = refusal(parse(&format!("{header}.{payload}.sig"), usage));
        assert!(answer.contains("`sub` appears twice"), "{usage:?}: {answer}");
    }
}

/// A verifier of bearer tokens of [`ISSUER`] whose keys are the JWKS `keys`.
async fn verifier_of(keys: Value, dir: &tempfile::TempDir) -> JwsVerifier {
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({ "keys": keys }).to_string()).expect("write JWKS");
    let issuer: IssuerConfig = serde_json::from_value(json!({
        "name": "self", "issuer": ISSUER, "jwks_file": file, "algorithms": ["RS256", "ES256"]
    }))
    .expect("issuer config");
    let store = Arc::new(KeyStore::new(
        &issuer,
        crate::authn::jwks::http_client(),
        Metrics::new(),
    ));
    store.load().await.expect("the published JWK is a usable key");
    JwsVerifier::new(TokenUse::Bearer, &issuer, &["orders-api".to_string()], store)
}

fn identity_claims() -> Map<String, Value> {
    let now = crate::session::unix_now();
    let claims = json!({
        "iss": ISSUER, "sub": "alice", "aud": "orders-api", "iat": now, "nbf": now, "exp": now + 300,
        "jti": "j1", "groups": ["admins"]
    });
    claims.as_object().cloned().expect("object")
}

#[tokio::test]
async fn a_signed_token_verifies_with_the_published_jwk() {
    for (name, algorithm) in [("rsa1", Algorithm::RS256), ("ec1", Algorithm::ES256)] {
        let signer = Signer::from_pem(&fixture_pem(name)).expect("signer");
        assert_eq!(signer.algorithm(), algorithm, "{name}");
        let dir = tempfile::tempdir().expect("tempdir");
        let verifier = verifier_of(json!([signer.public_jwk()]), &dir).await;
        let token = signer.sign(&identity_claims()).expect("signs");
        let verified = verifier.verify(&token).await.expect("verifies");
        assert_eq!(verified.claims["sub"], "alice", "{name}");
        let header = parse(&token, TokenUse::Bearer).expect("parses");
        assert_eq!((header.alg, header.kid.as_str()), (algorithm, signer.kid()), "{name}");
    }
}

#[tokio::test]
async fn a_token_of_another_key_does_not_verify_with_the_published_jwk() {
    let published = Signer::from_pem(&fixture_pem("rsa1")).expect("signer");
    let other = Signer::from_pem(&fixture_pem("rsa2"))
        .expect("signer")
        .with_kid(published.kid());
    let dir = tempfile::tempdir().expect("tempdir");
    let verifier = verifier_of(json!([published.public_jwk()]), &dir).await;
    let forged = other.sign(&identity_claims()).expect("signs");
    let refused = verifier.verify(&forged).await.expect_err("another key's signature");
    assert_eq!(refused.to_string(), "signature does not verify");
}

#[test]
fn the_kid_is_the_rfc_7638_thumbprint_of_the_public_key() {
    for name in ["rsa1", "ec1"] {
        let signer = Signer::from_pem(&fixture_pem(name)).expect("signer");
        let jwk = signer.public_jwk();
        let canonical = match jwk["kty"].as_str() {
            Some("RSA") => json!({ "e": jwk["e"], "kty": "RSA", "n": jwk["n"] }),
            _ => json!({ "crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"] }),
        };
        // serde_json writes object members sorted by name and without spaces, as RFC 7638 wants.
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string()));
        assert_eq!(signer.kid(), thumbprint, "{name}");
        assert_eq!(jwk["kid"], thumbprint, "{name}");
        assert_eq!(jwk["use"], "sig", "{name}");
        assert!(jwk.get("d").is_none(), "{name}: no private member is published");
    }
}

#[test]
fn with_kid_names_the_key_in_tokens_and_in_the_jwk() {
    let signer = Signer::from_pem(&fixture_pem("ec1"))
        .expect("signer")
        .with_kid("demo-key");
    assert_eq!(signer.kid(), "demo-key");
    assert_eq!(signer.public_jwk()["kid"], "demo-key");
    let token = signer.sign(&identity_claims()).expect("signs");
    assert_eq!(parse(&token, TokenUse::Bearer).expect("parses").kid, "demo-key");
}

#[test]
fn only_rsa_and_p256_private_keys_make_a_signer() {
    let public = std::fs::read(format!(
        "{}/tests/fixtures/keys/rsa1.pub.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let others = [
        fixture_pem("ed1"),
        fixture_pem("p384.sec1"),
        fixture_pem("rsa1024.pkcs1"),
    ];
    for pem in [public, b"not a key".to_vec()].into_iter().chain(others) {
        let error = Signer::from_pem(&pem).expect_err("no signer");
        assert_eq!(
            error,
            "not an RSA (2048 bits or more) or EC P-256 private key in PEM (PKCS#8, PKCS#1 or SEC1)"
        );
    }
}

#[test]
fn the_pkcs1_and_sec1_forms_openssl_writes_are_the_same_keys_as_their_pkcs8_forms() {
    for (pkcs8, other, algorithm) in [
        ("rsa1", "rsa1.pkcs1", Algorithm::RS256),
        ("ec1", "ec1.sec1", Algorithm::ES256),
    ] {
        let expected = Signer::from_pem(&fixture_pem(pkcs8)).expect("PKCS#8");
        let signer = Signer::from_pem(&fixture_pem(other)).unwrap_or_else(|e| panic!("{other}: {e}"));
        assert_eq!(signer.algorithm(), algorithm, "{other}");
        assert_eq!(
            signer.kid(),
            expected.kid(),
            "{other}: the same key, so the same thumbprint"
        );
        assert_eq!(signer.public_jwk(), expected.public_jwk(), "{other}");
        let token = signer.sign(&identity_claims()).expect("signs");
        assert_eq!(
            parse(&token, TokenUse::Bearer).expect("parses").alg,
            algorithm,
            "{other}"
        );
    }
}
