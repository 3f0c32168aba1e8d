//! Tokens that must be accepted, the identity they give, and the verified-token cache.

use serde_json::json;

use super::*;

#[tokio::test]
async fn valid_rs256_token_gives_the_identity() {
    let setup = standard().await;
    let claims = good_claims();
    let identity = setup
        .verifier
        .verify(&mint("RS256", "rsa1", &claims))
        .await
        .expect("accepted");
    assert_eq!(&*identity.issuer, "main");
    assert_eq!(identity.user, "alice");
    assert_eq!(identity.email.as_deref(), Some("alice@example.com"));
    assert_eq!(identity.preferred_username.as_deref(), Some("ali"));
    assert_eq!(identity.groups, ["admins", "ops"]);
    assert_eq!(identity.scopes, ["read", "write"]);
    assert_eq!(identity.expires_at, claims["exp"].as_u64().unwrap());
    assert_eq!(identity.claims.get("aud"), Some(json!(AUDIENCE)));
}

#[tokio::test]
async fn valid_es256_token_is_accepted() {
    let setup = standard().await;
    assert_accepted(
        setup.verifier.verify(&mint("ES256", "ec1", &good_claims())).await,
        "main",
    );
}

#[tokio::test]
async fn valid_eddsa_token_is_accepted() {
    let setup = standard().await;
    assert_accepted(
        setup.verifier.verify(&mint("EdDSA", "ed1", &good_claims())).await,
        "main",
    );
}

#[tokio::test]
async fn valid_ps256_token_is_accepted_when_the_key_names_no_alg() {
    let mut key = jwk("rsa1");
    key.as_object_mut().unwrap().remove("alg");
    let setup = file_setup(json!({ "keys": [key] }), |c| c.algorithms = vec![Algorithm::PS256]).await;
    assert_accepted(
        setup.verifier.verify(&mint("PS256", "rsa1", &good_claims())).await,
        "main",
    );
}

#[tokio::test]
async fn access_token_typ_is_accepted_in_any_case() {
    let setup = standard().await;
    for typ in ["at+jwt", "application/at+JWT", "jwt"] {
        let token = sign(
            &json!({ "alg": "RS256", "kid": "rsa1", "typ": typ }),
            &good_claims(),
            &signing_key("rsa1"),
        );
        assert_accepted(setup.verifier.verify(&token).await, "main");
    }
    let no_typ = sign(
        &json!({ "alg": "RS256", "kid": "rsa1" }),
        &good_claims(),
        &signing_key("rsa1"),
    );
    assert_accepted(setup.verifier.verify(&no_typ).await, "main");
}

#[tokio::test]
async fn token_without_aud_is_accepted_when_no_audience_is_configured() {
    let setup = standard_without_audiences().await;
    let token = mint("RS256", "rsa1", &claims_with(json!({ "aud": null })));
    assert_accepted(setup.verifier.verify(&token).await, "main");
}

async fn standard_without_audiences() -> FileSetup {
    file_setup(jwks(&["rsa1"]), |c| c.audiences.clear()).await
}

#[tokio::test]
async fn numeric_user_claim_is_turned_into_text() {
    let setup = standard().await;
    let token = mint("RS256", "rsa1", &claims_with(json!({ "sub": 4217 })));
    assert_eq!(setup.verifier.verify(&token).await.unwrap().user, "4217");
}

#[tokio::test]
async fn second_verification_is_a_counted_cache_hit() {
    let setup = standard().await;
    let token = mint("RS256", "rsa1", &good_claims());
    let first = setup.verifier.verify(&token).await.unwrap();
    let second = setup.verifier.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the second answer comes from the cache");
    assert_eq!(setup.metrics.token_cache_hits_total.get(), 1);
    assert_eq!(setup.metrics.token_cache_misses_total.get(), 1);
}

#[tokio::test]
async fn refused_tokens_are_not_cached() {
    let setup = standard().await;
    let token = mint("RS256", "rsa2", &good_claims());
    assert_refused(setup.verifier.verify(&token).await, "unknown kid", &token);
    assert_refused(setup.verifier.verify(&token).await, "unknown kid", &token);
    assert_eq!(setup.metrics.token_cache_hits_total.get(), 0);
    assert_eq!(setup.metrics.token_cache_misses_total.get(), 2);
}
