//! The identity token: its claims, the reuse rule, the key set and which answers carry it.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, header};
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

use super::{IdentityTokens, TokenContext};
use crate::authn::jws::Signer;
use crate::authn::{Claims, Identity};
use crate::config::IdentityTokenConfig;
use crate::rules::IdentityTokenRule;
use crate::session::unix_now;

fn signer(name: &str) -> Arc<Signer> {
    let path = format!("{}/tests/fixtures/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    Arc::new(Signer::from_pem(&std::fs::read(path).expect("fixture key")).expect("signer"))
}

fn config(key: &str, header: &str) -> IdentityTokenConfig {
    IdentityTokenConfig {
        signer: signer(key),
        previous: vec![signer("rsa2"), signer(key)],
        issuer: "https://auth.test/".into(),
        ttl: Duration::from_secs(300),
        header: HeaderName::try_from(header).expect("header name"),
    }
}

fn alice(expires_at: u64) -> Identity {
    Identity {
        issuer: "main".into(),
        user: "alice".into(),
        email: Some("alice@example.com".into()),
        groups: vec!["admins".into(), "a,b".into()],
        preferred_username: Some("ali".into()),
        scopes: Vec::new(),
        claims: Claims::from_json(r#"{"sub":"alice"}"#),
        expires_at,
        digest: Default::default(),
    }
}

/// The claims of `token`, verified with the published key set as an upstream would.
fn verified(tokens: &IdentityTokens, token: &str, audience: &str) -> Value {
    let set: JwkSet = serde_json::from_str(tokens.jwks()).expect("a JWK set");
    let kid = jsonwebtoken::decode_header(token).expect("header").kid.expect("kid");
    let jwk = set.find(&kid).expect("the kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("a usable key");
    let algorithm = jsonwebtoken::decode_header(token).expect("header").alg;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&["https://auth.test/"]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("verifies")
        .claims
}

#[test]
fn a_token_carries_the_identity_and_verifies_with_the_published_keys() {
    for key in ["rsa1", "ec1"] {
        let tokens = IdentityTokens::new(&config(key, "X-Identity-Token"));
        let value = tokens.value(&alice(u64::MAX), Some("orders-api")).expect("signs");
        let claims = verified(&tokens, value.to_str().expect("ascii"), "orders-api");
        let now = unix_now();
        assert_eq!(claims["iss"], "https://auth.test/", "{key}");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "orders-api");
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["preferred_username"], "ali");
        assert_eq!(
            claims["groups"],
            json!(["admins", "a,b"]),
            "every group, commas included"
        );
        let iat = claims["iat"].as_u64().expect("iat");
        assert!(iat.abs_diff(now) <= 2, "{iat} vs {now}");
        assert_eq!(claims["nbf"], claims["iat"]);
        assert_eq!(claims["exp"].as_u64(), Some(iat + 300), "ttl");
        assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
        let kid = jsonwebtoken::decode_header(value.to_str().expect("ascii"))
            .expect("header")
            .kid;
        assert_eq!(kid.as_deref(), Some(signer(key).kid()), "kid is the thumbprint");
    }
}

#[test]
fn exp_never_passes_the_credential_s_own_expiry() {
    let tokens = IdentityTokens::new(&config("ec1", "X-Identity-Token"));
    let soon = unix_now() + 40;
    let value = tokens.value(&alice(soon), None).expect("signs");
    let claims = tokens.claims(&alice(soon), None, unix_now());
    assert_eq!(claims["exp"].as_u64(), Some(soon));
    assert!(claims.get("aud").is_none(), "no audience, no aud");
    let set: JwkSet = serde_json::from_str(tokens.jwks()).expect("a JWK set");
    let key = DecodingKey::from_jwk(&set.keys[0]).expect("key");
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_aud = false;
    let decoded = jsonwebtoken::decode::<Value>(value.to_str().expect("ascii"), &key, &validation).expect("verifies");
    assert_eq!(decoded.claims["exp"].as_u64(), Some(soon));
}

#[test]
fn a_token_is_reused_per_identity_and_audience() {
    let tokens = IdentityTokens::new(&config("ec1", "X-Identity-Token"));
    let expiry = unix_now() + 3600;
    let first = tokens.value(&alice(expiry), Some("orders-api")).expect("signs");
    assert_eq!(tokens.value(&alice(expiry), Some("orders-api")).expect("signs"), first);
    let other_audience = tokens.value(&alice(expiry), Some("billing")).expect("signs");
    assert_ne!(other_audience, first);
    assert_ne!(tokens.value(&alice(expiry), None).expect("signs"), first);
    let mut bob = alice(expiry);
    bob.user = "bob".into();
    assert_ne!(tokens.value(&bob, Some("orders-api")).expect("signs"), first);
    let mut fewer_groups = alice(expiry);
    fewer_groups.groups.pop();
    assert_ne!(tokens.value(&fewer_groups, Some("orders-api")).expect("signs"), first);
    assert_eq!(tokens.kept(), 5);
}

/// One identity asking for two audiences in turn (one slot of the thread's kept tokens): each
/// answer carries its own audience and is reused for it; another signer never answers with
/// this one's token.
#[test]
fn a_kept_token_is_answered_only_for_its_audience_and_signer() {
    let tokens = IdentityTokens::new(&config("ec1", "X-Identity-Token"));
    let identity = alice(unix_now() + 3600);
    let orders = tokens.value(&identity, Some("orders-api")).expect("signs");
    let billing = tokens.value(&identity, Some("billing")).expect("signs");
    for _ in 0..3 {
        assert_eq!(tokens.value(&identity, Some("orders-api")).expect("signs"), orders);
        assert_eq!(tokens.value(&identity, Some("billing")).expect("signs"), billing);
    }
    assert_eq!(
        verified(&tokens, orders.to_str().expect("ascii"), "orders-api")["aud"],
        "orders-api"
    );
    assert_eq!(
        verified(&tokens, billing.to_str().expect("ascii"), "billing")["aud"],
        "billing"
    );
    let reloaded = IdentityTokens::new(&config("ec1", "X-Identity-Token"));
    assert_ne!(reloaded.value(&identity, Some("billing")).expect("signs"), billing);
}

#[test]
fn a_token_too_short_to_halve_is_not_kept() {
    let tokens = IdentityTokens::new(&config("ec1", "X-Identity-Token"));
    let identity = alice(unix_now() + 1);
    let first = tokens.value(&identity, None).expect("signs");
    assert_ne!(
        tokens.value(&identity, None).expect("signs"),
        first,
        "a fresh jti each time"
    );
    assert_eq!(tokens.kept(), 0);
}

#[test]
fn the_key_set_publishes_the_signing_key_then_each_previous_key_once() {
    let tokens = IdentityTokens::new(&config("rsa1", "Authorization"));
    let set: Value = serde_json::from_str(tokens.jwks()).expect("json");
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid"))
        .collect();
    assert_eq!(kids, [signer("rsa1").kid(), signer("rsa2").kid()]);
    for key in set["keys"].as_array().expect("keys") {
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert!(key.get("d").is_none() && key.get("p").is_none(), "public parts only");
    }
}

#[test]
fn which_answers_carry_the_header() {
    let identity = alice(u64::MAX);
    let rule = IdentityTokenRule {
        audience: Some("orders-api".into()),
    };
    let authorization = IdentityTokens::new(&config("ec1", "Authorization"));
    let custom = IdentityTokens::new(&config("ec1", "X-Identity-Token"));
    let header_of = |tokens: Option<&IdentityTokens>, rule: Option<&IdentityTokenRule>, identity: Option<&Identity>| {
        TokenContext { tokens, rule }
            .header(identity)
            .expect("signs")
            .map(|(name, value)| (name.to_string(), value.to_str().expect("ascii").to_string()))
    };
    let bearer = header_of(Some(&authorization), Some(&rule), Some(&identity)).expect("a header");
    assert_eq!(bearer.0, header::AUTHORIZATION.as_str());
    assert!(bearer.1.starts_with("Bearer ey"), "{}", bearer.1);
    let bare = header_of(Some(&custom), Some(&rule), Some(&identity)).expect("a header");
    assert_eq!(bare.0, "x-identity-token");
    assert!(bare.1.starts_with("ey"), "the bare JWT: {}", bare.1);
    let empty = |name: &str| Some((name.to_string(), String::new()));
    // An allow rule with `identity_token:` and no credential: the header empty.
    assert_eq!(
        header_of(Some(&authorization), Some(&rule), None),
        empty("authorization")
    );
    assert_eq!(header_of(Some(&custom), Some(&rule), None), empty("x-identity-token"));
    // Other rules: the custom header empty (a client's copy overwritten); the client's own
    // Authorization left alone (bearer pass-through).
    assert_eq!(
        header_of(Some(&custom), None, Some(&identity)),
        empty("x-identity-token")
    );
    assert_eq!(header_of(Some(&custom), None, None), empty("x-identity-token"));
    assert_eq!(header_of(Some(&authorization), None, Some(&identity)), None);
    assert_eq!(header_of(None, Some(&rule), Some(&identity)), None);
}
