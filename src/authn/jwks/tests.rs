//! Key-set parsing, `Cache-Control` reading, the refresh schedule and one load over HTTP.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::authn::jwt::tests::{Idp, issuer_config, jwk, jwks};
use crate::config::Algorithm::*;

const ALL: [Algorithm; 9] = [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA];

fn parse(keys: Value, allowed: &[Algorithm]) -> Result<KeySet, String> {
    KeySet::parse(keys.to_string().as_bytes(), allowed)
}

fn without(mut key: Value, member: &str) -> Value {
    key.as_object_mut().expect("object").remove(member);
    key
}

#[test]
fn each_key_gets_the_algorithms_of_its_family_and_alg() {
    let set = parse(jwks(&["rsa1", "ec1", "ed1"]), &ALL).unwrap();
    assert_eq!(set.get("rsa1").unwrap().algorithms, [RS256]);
    assert_eq!(set.get("ec1").unwrap().algorithms, [ES256]);
    assert_eq!(set.get("ed1").unwrap().algorithms, [EdDSA]);
}

#[test]
fn rsa_key_without_alg_allows_every_allowed_rsa_algorithm() {
    let set = parse(json!({ "keys": [without(jwk("rsa1"), "alg")] }), &[RS256, PS256, ES256]).unwrap();
    assert_eq!(set.get("rsa1").unwrap().algorithms, [RS256, PS256]);
}

#[test]
fn ec_key_algorithm_follows_its_curve() {
    let set = parse(json!({ "keys": [without(jwk("ec1"), "alg")] }), &ALL).unwrap();
    assert_eq!(set.get("ec1").unwrap().algorithms, [ES256]);
}

#[test]
fn keys_outside_the_allow_list_are_dropped() {
    let set = parse(jwks(&["rsa1", "ec1"]), &[ES256]).unwrap();
    assert!(set.get("rsa1").is_none());
    assert_eq!(set.len(), 1);
}

#[test]
fn encryption_keys_and_keys_without_kid_are_ignored() {
    let mut encryption = jwk("rsa2");
    encryption["use"] = json!("enc");
    let set = parse(
        json!({ "keys": [encryption, without(jwk("ec1"), "kid"), jwk("ed1")] }),
        &ALL,
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.get("ed1").is_some());
}

#[test]
fn odd_keys_are_skipped_without_losing_the_set() {
    let hmac = json!({ "kty": "oct", "kid": "h", "k": "c2VjcmV0" });
    let unknown_curve = json!({ "kty": "EC", "kid": "k", "crv": "secp256k1", "x": "AA", "y": "AA" });
    let unknown_alg = {
        let mut k = jwk("rsa2");
        k["alg"] = json!("RSA-OAEP");
        k
    };
    let keys = json!({ "keys": [hmac, unknown_curve, unknown_alg, 42, { "kid": "no kty" }, jwk("rsa1")] });
    let set = parse(keys, &ALL).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn a_document_without_usable_keys_is_an_error() {
    assert!(parse(json!({ "keys": [] }), &ALL).is_err());
    assert!(parse(json!({ "nokeys": true }), &ALL).is_err());
    assert!(KeySet::parse(b"not json", &ALL).is_err());
}

#[test]
fn max_age_is_read_from_cache_control() {
    assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
    assert_eq!(max_age("Max-Age=120, must-revalidate"), Some(Duration::from_secs(120)));
    assert_eq!(max_age("public"), None);
    assert_eq!(max_age("max-age=600, no-store"), None);
    assert_eq!(max_age("max-age=soon"), None);
}

#[test]
fn refresh_follows_max_age_within_a_minute_and_a_day() {
    assert_eq!(next_load_in(Ok(None)), Duration::from_secs(300));
    assert_eq!(next_load_in(Ok(Some(Duration::from_secs(5)))), Duration::from_secs(60));
    assert_eq!(
        next_load_in(Ok(Some(Duration::from_secs(900)))),
        Duration::from_secs(900)
    );
    assert_eq!(
        next_load_in(Ok(Some(Duration::from_secs(10_000_000)))),
        Duration::from_secs(86_400)
    );
}

#[test]
fn failed_loads_are_retried_from_one_second_doubling_to_thirty() {
    let delays: Vec<u64> = (1..=8).map(|n| next_load_in(Err(n)).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    assert_eq!(next_load_in(Err(u32::MAX)), Duration::from_secs(30));
}

#[tokio::test]
async fn load_reports_the_servers_max_age() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    idp.set_max_age(Some(900));
    let mut config = issuer_config("idp", &idp.issuer());
    config.jwks_uri = Some(idp.jwks_uri());
    let store = KeyStore::new(&config, http_client(), crate::metrics::Metrics::new());
    assert_eq!(store.load().await, Ok(Some(Duration::from_secs(900))));
    assert!(store.is_ready());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirector = format!("http://{}", listener.local_addr().unwrap());
    let target = idp.jwks_uri();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || async move { axum::response::Redirect::temporary(&target) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = issuer_config("idp", &idp.issuer());
    config.jwks_uri = Some(format!("{redirector}/jwks.json"));
    let store = KeyStore::new(&config, http_client(), crate::metrics::Metrics::new());
    assert!(store.load().await.is_err());
    assert_eq!(idp.fetches(), 0);
}
