//! Every refusal of the contract, and the classic JWT attacks.

use serde_json::json;

use super::*;

async fn refused(token: &str, reason: &str) {
    let setup = standard().await;
    assert_refused(setup.verifier.verify(token).await, reason, token);
}

#[tokio::test]
async fn expired_token_is_refused() {
    refused(
        &mint("RS256", "rsa1", &claims_with(json!({ "exp": unix_now() - 120 }))),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn token_expired_within_the_leeway_is_still_accepted() {
    let setup = standard().await;
    let token = mint("RS256", "rsa1", &claims_with(json!({ "exp": unix_now() - 2 })));
    assert_accepted(setup.verifier.verify(&token).await, "main");
}

#[tokio::test]
async fn token_with_nbf_in_the_future_is_refused() {
    refused(
        &mint("RS256", "rsa1", &claims_with(json!({ "nbf": unix_now() + 120 }))),
        "nbf",
    )
    .await;
}

#[tokio::test]
async fn token_without_exp_is_refused() {
    refused(&mint("RS256", "rsa1", &claims_with(json!({ "exp": null }))), "exp").await;
}

#[tokio::test]
async fn token_without_iss_is_refused() {
    refused(&mint("RS256", "rsa1", &claims_with(json!({ "iss": null }))), "iss").await;
}

#[tokio::test]
async fn token_of_an_unknown_issuer_is_refused() {
    refused(
        &mint("RS256", "rsa1", &claims_with(json!({ "iss": "https://evil.test/" }))),
        "unknown issuer",
    )
    .await;
}

#[tokio::test]
async fn issuer_must_match_exactly_including_the_trailing_slash() {
    refused(
        &mint("RS256", "rsa1", &claims_with(json!({ "iss": "https://idp.test" }))),
        "unknown issuer",
    )
    .await;
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
async fn token_for_another_audience_is_refused() {
    refused(
        &mint("RS256", "rsa1", &claims_with(json!({ "aud": "other-api" }))),
        "audience",
    )
    .await;
}

#[tokio::test]
async fn token_without_aud_is_refused_when_audiences_are_configured() {
    refused(&mint("RS256", "rsa1", &claims_with(json!({ "aud": null }))), "aud").await;
}

#[tokio::test]
async fn audience_list_containing_ours_is_accepted() {
    let setup = standard().await;
    let token = mint("RS256", "rsa1", &claims_with(json!({ "aud": ["x", AUDIENCE] })));
    assert_accepted(setup.verifier.verify(&token).await, "main");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let header = encode(&json!({ "alg": "none", "kid": "rsa1" }));
    refused(&format!("{header}.{}.", encode(&good_claims())), "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let public_pem = std::fs::read(fixture("rsa1.pub.pem")).unwrap();
    let key = EncodingKey::from_secret(&public_pem);
    refused(
        &sign(&json!({ "alg": "HS256", "kid": "rsa1" }), &good_claims(), &key),
        "HMAC",
    )
    .await;
}

#[tokio::test]
async fn alg_outside_the_allow_list_is_refused() {
    refused(&mint("RS512", "rsa1", &good_claims()), "alg not allowed").await;
}

#[tokio::test]
async fn alg_other_than_the_keys_own_alg_is_refused() {
    // rsa1's JWK says RS256; PS256 is allowed for the issuer but not for that key.
    let setup = file_setup(jwks(&["rsa1"]), |c| c.algorithms.push(Algorithm::PS256)).await;
    let token = mint("PS256", "rsa1", &good_claims());
    assert_refused(setup.verifier.verify(&token).await, "does not match the key", &token);
}

#[tokio::test]
async fn es256_header_with_an_rsa_kid_is_refused() {
    let token = sign(
        &json!({ "alg": "ES256", "kid": "rsa1" }),
        &good_claims(),
        &signing_key("ec1"),
    );
    refused(&token, "does not match the key").await;
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    refused(&mint("RS256", "rsa2", &good_claims()), "unknown kid").await;
}

#[tokio::test]
async fn token_without_kid_is_refused() {
    refused(
        &sign(&json!({ "alg": "RS256" }), &good_claims(), &signing_key("rsa1")),
        "kid",
    )
    .await;
}

#[tokio::test]
async fn foreign_key_signing_under_a_known_kid_is_refused() {
    refused(
        &sign(
            &json!({ "alg": "RS256", "kid": "rsa1" }),
            &good_claims(),
            &signing_key("rsa2"),
        ),
        "signature",
    )
    .await;
}

#[tokio::test]
async fn embedded_jwk_header_is_never_used() {
    let mut attacker = jwk("rsa2");
    attacker["kid"] = json!("attacker");
    let header = json!({ "alg": "RS256", "kid": "attacker", "jwk": attacker });
    refused(&sign(&header, &good_claims(), &signing_key("rsa2")), "unknown kid").await;
    let header = json!({ "alg": "RS256", "kid": "rsa1", "jwk": jwk("rsa2") });
    refused(&sign(&header, &good_claims(), &signing_key("rsa2")), "signature").await;
}

#[tokio::test]
async fn jku_header_is_never_fetched() {
    let attacker = Idp::start(jwks(&["rsa2"])).await;
    let header = json!({ "alg": "RS256", "kid": "rsa2", "jku": attacker.jwks_uri(), "x5u": attacker.jwks_uri() });
    refused(&sign(&header, &good_claims(), &signing_key("rsa2")), "unknown kid").await;
    assert_eq!(attacker.fetches(), 0);
}

#[tokio::test]
async fn crit_header_is_refused() {
    let header = json!({ "alg": "RS256", "kid": "rsa1", "crit": ["exp"] });
    refused(&sign(&header, &good_claims(), &signing_key("rsa1")), "crit").await;
}

#[tokio::test]
async fn token_type_other_than_jwt_or_access_token_is_refused() {
    for typ in ["logout+jwt", "JOSE", "id_token+jwt"] {
        let header = json!({ "alg": "RS256", "kid": "rsa1", "typ": typ });
        refused(&sign(&header, &good_claims(), &signing_key("rsa1")), "token type").await;
    }
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let token = mint("RS256", "rsa1", &good_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = encode(&claims_with(json!({ "sub": "admin" })));
    refused(&format!("{}.{forged}.{}", parts[0], parts[2]), "signature").await;
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

#[tokio::test]
async fn missing_user_claim_is_refused() {
    refused(&mint("RS256", "rsa1", &claims_with(json!({ "sub": null }))), "user").await;
}
