//! Key sets from an in-process IdP, the internals the binary cannot show: one shared refetch per
//! cooldown under a flood (counted per round), a discovery document naming another issuer, the
//! background retry of a failed first load, and a file never being refetched. Rotation, outages,
//! discovery and readiness run against the real binary in `tests/it/jwks.rs`.

use serde_json::json;
use tokio::task::JoinSet;

use super::*;

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
    // Wait for events, not for time: the first (failed) fetch, then readiness once it may succeed.
    wait_until(|| idp.fetches() >= 1).await;
    assert!(!verifier.is_ready(), "no keys after a failed load");
    idp.fail(false);
    wait_until(|| verifier.is_ready()).await;
    assert!(idp.fetches() >= 2, "ready only through a retry");
}

/// Waits (a 20 s hang guard) until `done`.
async fn wait_until(done: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("never happened");
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
