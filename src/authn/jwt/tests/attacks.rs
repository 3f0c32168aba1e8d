//! The internals of refusals that the binary cannot show: the leeway, which issuer's keys a
//! token is checked with, and which refusals are classed as malformed. The attack matrix itself
//! (alg none, HS256 with the public key, foreign keys, jwk/jku/x5u, crit, typ, claims) runs once,
//! against the real binary, in `tests/it/jwt_attacks.rs`.

use serde_json::json;

use super::*;

async fn refused(token: &str, reason: &str) {
    let setup = standard().await;
    assert_refused(setup.verifier.verify(token).await, reason, token);
}

#[tokio::test]
async fn token_expired_within_the_leeway_is_still_accepted() {
    let setup = standard().await;
    let token = mint("RS256", "rsa1", &claims_with(json!({ "exp": unix_now() - 2 })));
    assert_accepted(setup.verifier.verify(&token).await, "main");
}

#[tokio::test]
async fn token_naming_another_configured_issuer_is_not_checked_with_this_issuers_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&a, jwks(&["rsa1"]).to_string()).unwrap();
    std::fs::write(&b, jwks(&["ec1"]).to_string()).unwrap();
    let mut first = issuer_config("a", ISSUER);
    first.jwks_file = Some(a);
    let mut second = issuer_config("b", "https://other.test/");
    second.jwks_file = Some(b);
    let verifier = Verifier::new(&[first, second], crate::authn::jwks::http_client(), Metrics::new());
    verifier.load_keys().await;
    let token = mint("RS256", "rsa1", &claims_with(json!({ "iss": "https://other.test/" })));
    assert_refused(verifier.verify(&token).await, "unknown kid", &token);
}

#[tokio::test]
async fn garbage_two_part_and_huge_tokens_are_refused_as_malformed() {
    let setup = standard().await;
    let good = mint("RS256", "rsa1", &good_claims());
    let two_parts = good.rsplit_once('.').unwrap().0.to_string();
    let huge = format!("{good}{}", "A".repeat(MAX_TOKEN_BYTES));
    let four_parts = format!("{good}.AAAA");
    for token in ["", "garbage", "a.b.c", "...", "ü.ü.ü", &two_parts, &four_parts, &huge] {
        let error = setup.verifier.verify(token).await.expect_err("refused");
        assert!(matches!(error, TokenError::Malformed(_)), "{error:?}");
    }
}

#[tokio::test]
async fn header_that_is_not_a_json_object_is_refused() {
    let payload = encode(&good_claims());
    for header in [encode(&json!("RS256")), encode(&json!([1])), "bm90IGpzb24".into()] {
        refused(&format!("{header}.{payload}.AAAA"), "header").await;
    }
}
