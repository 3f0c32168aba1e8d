//! Key sets from an in-process IdP: rotation, the unknown-kid refetch limit, outages, discovery
//! and the background refresh.

use serde_json::json;
use tokio::task::JoinSet;

use super::*;

#[tokio::test]
async fn rotated_key_is_found_through_one_refetch() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    let (verifier, _) = idp_verifier(&idp, false).await;
    assert_eq!(idp.fetches(), 1);
    idp.serve(jwks(&["rsa1", "rsa2"]));
    assert_accepted(verifier.verify(&mint("RS256", "rsa2", &idp_claims(&idp))).await, "idp");
    assert_eq!(idp.fetches(), 2);
    assert_accepted(verifier.verify(&mint("RS256", "rsa1", &idp_claims(&idp))).await, "idp");
    assert_eq!(idp.fetches(), 2, "known kids need no fetch");
}

async fn flood(verifier: &Arc<Verifier>, idp: &Idp, round: u32) {
    let mut tasks = JoinSet::new();
    for n in 0..50 {
        let token = mint(
            "RS256",
            "rsa2",
            &claims_with(json!({ "iss": idp.issuer(), "sub": format!("{round}-{n}") })),
        );
        let verifier = verifier.clone();
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.expect("task ran").is_err(), "an unknown kid is refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_unknown_kids_causes_one_fetch_per_cooldown() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    let (verifier, metrics) = idp_verifier(&idp, false).await;
    flood(&verifier, &idp, 1).await;
    assert_eq!(idp.fetches(), 2, "one initial load and one shared refetch");
    flood(&verifier, &idp, 2).await;
    assert_eq!(idp.fetches(), 2, "no refetch within 10 s of the last one");
    assert_eq!(fetch_count(&metrics, "idp", "ok"), 2);
}

#[tokio::test]
async fn keys_keep_working_when_the_jwks_endpoint_goes_down() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    let (verifier, metrics) = idp_verifier(&idp, false).await;
    idp.fail(true);
    verifier.load_keys().await;
    assert_eq!(fetch_count(&metrics, "idp", "error"), 1);
    assert!(verifier.is_ready());
    assert_accepted(verifier.verify(&mint("RS256", "rsa1", &idp_claims(&idp))).await, "idp");
    let unknown = mint("RS256", "rsa2", &idp_claims(&idp));
    assert_refused(verifier.verify(&unknown).await, "unknown kid", &unknown);
    assert_eq!(
        fetch_count(&metrics, "idp", "error"),
        2,
        "the kid-miss refetch failed and was counted"
    );
}

#[tokio::test]
async fn keys_are_found_through_discovery() {
    let idp = Idp::start(jwks(&["rsa1", "ec1"])).await;
    let (verifier, metrics) = idp_verifier(&idp, true).await;
    assert!(verifier.is_ready());
    assert_eq!(fetch_count(&metrics, "idp", "ok"), 1);
    assert_accepted(verifier.verify(&mint("ES256", "ec1", &idp_claims(&idp))).await, "idp");
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    // The document says `<url>/`; an issuer configured without the slash must not accept it.
    let config = issuer_config("idp", &idp.url);
    let metrics = Metrics::new();
    let verifier = Verifier::new(&[config], crate::authn::jwks::http_client(), metrics.clone());
    verifier.load_keys().await;
    assert!(!verifier.is_ready());
    assert_eq!(fetch_count(&metrics, "idp", "error"), 1);
    assert_eq!(idp.fetches(), 0);
}

#[tokio::test]
async fn verifier_without_keys_is_not_ready() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    idp.fail(true);
    let (verifier, metrics) = idp_verifier(&idp, false).await;
    assert!(!verifier.is_ready());
    assert_eq!(fetch_count(&metrics, "idp", "error"), 1);
}

#[tokio::test]
async fn background_refresh_retries_until_the_first_load_succeeds() {
    let idp = Idp::start(jwks(&["rsa1"])).await;
    idp.fail(true);
    let mut config = issuer_config("idp", &idp.issuer());
    config.jwks_uri = Some(idp.jwks_uri());
    let verifier = Arc::new(Verifier::new(
        &[config],
        crate::authn::jwks::http_client(),
        Metrics::new(),
    ));
    verifier.spawn_refresh();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!verifier.is_ready());
    idp.fail(false);
    for _ in 0..50 {
        if verifier.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(verifier.is_ready(), "ready after the retry 1 s later");
    assert_eq!(idp.fetches(), 2);
}

#[tokio::test]
async fn keys_from_a_file_are_never_refetched() {
    let setup = standard().await;
    assert!(setup.verifier.is_ready());
    assert_eq!(fetch_count(&setup.metrics, "main", "ok"), 1);
    let unknown = mint("RS256", "rsa2", &good_claims());
    assert_refused(setup.verifier.verify(&unknown).await, "unknown kid", &unknown);
    assert_eq!(
        fetch_count(&setup.metrics, "main", "ok"),
        1,
        "a file is never refetched"
    );
}
