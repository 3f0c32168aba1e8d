//! `[[session_checks]]`: sessions held by another service, against the Kratos-shaped and
//! Mia-shaped services of the test kit. What a valid, an invalid and a missing session get, what
//! reaches the check, and how a rule's `credentials:` chooses and orders the credentials.

use serde_json::json;

use crate::common::kratos::{self, Kratos, KratosUser};
use crate::common::mia::{Mia, MiaUser};
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, ask, client, file_issuer_config, header};

/// Rules over a `kratos` check (and a `mia` one, where configured).
pub const RULES: &str = r#"
- id: public
  paths: ["/public/**"]
  policy: allow
- id: kratos-only
  paths: ["/kratos/**"]
  policy: authenticated
  credentials: [kratos]
- id: kratos-then-bearer
  paths: ["/kratos-first/**"]
  policy: authenticated
  credentials: [kratos, bearer]
- id: admin
  paths: ["/admin/**"]
  policy: authenticated
  require:
    groups_any: [admins]
    issuers: [kratos]
    claims: { "identity.state": "active" }
  headers:
    X-Auth-Request-Tenant: "{claims.identity.traits.name.first}"
- id: app
  paths: ["/**"]
  policy: authenticated
"#;

/// Portcullis with the `main` issuer and a `kratos` check on `kratos`, with `RULES`.
pub async fn with_kratos(kratos: &Kratos, timeout: &str) -> Portcullis {
    let config = format!(
        "{}{}",
        file_issuer_config("rsa1"),
        kratos.check_config("kratos", timeout)
    );
    Portcullis::start(Setup::new(&config, RULES)).await
}

/// [`with_kratos`] (timeout 2 s) with the check's `cache_ttl`.
async fn with_kratos_caching(kratos: &Kratos, cache_ttl: &str) -> Portcullis {
    let check = kratos.check_config("kratos", "2s");
    let config = format!("{}{check}cache_ttl = \"{cache_ttl}\"\n", file_issuer_config("rsa1"));
    Portcullis::start(Setup::new(&config, RULES)).await
}

fn kratos_cookie(token: &str) -> String {
    format!("theme=dark; {}={token}; _ga=GA1.1", kratos::COOKIE)
}

#[tokio::test]
async fn a_kratos_session_is_an_identity_with_the_whole_answer_as_claims() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let alice = KratosUser::named("alice", &["admins", "ops"]);
    let token = kratos.sign_in(&alice);
    let response = ask(&portcullis, "/admin/users", &[("Cookie", &kratos_cookie(&token))]).await;
    assert_eq!(response.status(), 200, "{}", portcullis.log_text());
    assert_eq!(header(&response, "X-Auth-Request-User"), Some(alice.id.as_str()));
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some("alice@example.com"));
    assert_eq!(header(&response, "X-Auth-Request-Groups"), Some("admins,ops"));
    assert_eq!(header(&response, "X-Auth-Request-Preferred-Username"), Some("alice"));
    // A header template and `require.claims` read the answer's nested members.
    assert_eq!(header(&response, "X-Auth-Request-Tenant"), Some("alice"));
    let valid = r#"portcullis_session_check_total{check="kratos",result="valid"}"#;
    assert_eq!(portcullis.metric(valid).await, 1.0);
}

#[tokio::test]
async fn requirements_apply_to_a_checked_session_and_userinfo_reads_it() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let bob = kratos.sign_in(&KratosUser::named("bob", &["dev"]));
    let response = ask(&portcullis, "/admin/users", &[("Cookie", &kratos_cookie(&bob))]).await;
    assert_eq!(response.status(), 403, "not in admins");
    let response = ask(&portcullis, "/app", &[("Cookie", &kratos_cookie(&bob))]).await;
    assert_eq!(response.status(), 200);
    let info = client()
        .get(portcullis.url("/oauth2/userinfo"))
        .header("Cookie", kratos_cookie(&bob))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), 200);
    let body: serde_json::Value = info.json().await.expect("json");
    assert_eq!(body["email"], "bob@example.com");
    assert_eq!(body["groups"], json!(["dev"]));
}

#[tokio::test]
async fn an_unknown_or_ended_session_is_401_never_500() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let response = ask(&portcullis, "/app", &[("Cookie", &kratos_cookie("ory_st_forged"))]).await;
    assert_eq!(response.status(), 401);
    let token = kratos.sign_in(&KratosUser::named("carol", &[]));
    kratos.sign_out(&token);
    let response = ask(&portcullis, "/app", &[("X-Session-Token", &token)]).await;
    assert_eq!(response.status(), 401);
    let invalid = r#"portcullis_session_check_total{check="kratos",result="invalid"}"#;
    assert_eq!(portcullis.metric(invalid).await, 2.0);
    // No cookie and no header: the check is not asked at all.
    let response = ask(&portcullis, "/app", &[("Cookie", "theme=dark")]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(kratos.calls(), 2);
}

#[tokio::test]
async fn forwarded_headers_and_the_original_request_reach_the_check() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let token = kratos.sign_in(&KratosUser::named("dave", &[]));
    let response = client()
        .get(portcullis.url("/auth"))
        .header("X-Original-URL", "https://app.example.com:8443/orders/7?page=2")
        .header("X-Original-Method", "POST")
        .header("Cookie", kratos_cookie(&token))
        .header("X-Session-Token", "ory_st_header")
        .header("Authorization", "Basic ZGF2ZTpzZWNyZXQ=")
        .send()
        .await
        .expect("auth");
    // The header names an unknown session; it is forwarded with the cookie (Kratos prefers it).
    assert_eq!(response.status(), 401);
    let seen = kratos.requests();
    assert_eq!(seen.len(), 1);
    let call = &seen[0];
    let value = |name: &str| call.get(name).map(|v| v.to_str().expect("ascii").to_owned());
    // Only the check's own cookie leaves Portcullis, not the site's other cookies.
    assert_eq!(value("cookie"), Some(format!("{}={token}", kratos::COOKIE)));
    assert_eq!(value("x-session-token").as_deref(), Some("ory_st_header"));
    assert_eq!(value("authorization"), None, "not in forward_headers");
    assert_eq!(value("x-forwarded-method").as_deref(), Some("POST"));
    assert_eq!(value("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(value("x-forwarded-host").as_deref(), Some("app.example.com:8443"));
    assert_eq!(value("x-forwarded-uri").as_deref(), Some("/orders/7?page=2"));
    assert_eq!(value("accept").as_deref(), Some("application/json"));
}

#[tokio::test]
async fn a_rule_that_names_a_check_ignores_a_bearer_token() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let bearer = format!("Bearer {}", rsa1(json!({})));
    let response = ask(&portcullis, "/kratos/x", &[("Authorization", &bearer)]).await;
    assert_eq!(response.status(), 401, "bearer is not in credentials: [kratos]");
    // Without `credentials:` the same token passes.
    let response = ask(&portcullis, "/app", &[("Authorization", &bearer)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(kratos.calls(), 0);
}

#[tokio::test]
async fn the_first_present_credential_decides_and_never_falls_back() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let good_bearer = format!("Bearer {}", rsa1(json!({})));
    let good_cookie = kratos_cookie(&kratos.sign_in(&KratosUser::named("erin", &[])));
    let bad_cookie = kratos_cookie("ory_st_forged");
    // Default order: bearer first. A bad bearer with a good cookie is refused ...
    let response = ask(
        &portcullis,
        "/app",
        &[("Authorization", "Bearer not.a.jwt"), ("Cookie", &good_cookie)],
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        kratos.calls(),
        0,
        "the cookie is never tried after a present bearer token"
    );
    // ... and a good bearer passes whatever the cookie.
    let response = ask(
        &portcullis,
        "/app",
        &[("Authorization", &good_bearer), ("Cookie", &bad_cookie)],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(kratos.calls(), 0);
    // `credentials: [kratos, bearer]`: the cookie decides, a bad one is not saved by the token.
    let response = ask(
        &portcullis,
        "/kratos-first/x",
        &[("Authorization", &good_bearer), ("Cookie", &bad_cookie)],
    )
    .await;
    assert_eq!(response.status(), 401);
    let response = ask(&portcullis, "/kratos-first/x", &[("Authorization", &good_bearer)]).await;
    assert_eq!(response.status(), 200, "no cookie: the token is next");
    let response = ask(&portcullis, "/kratos-first/x", &[("Cookie", &good_cookie)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some("erin@example.com"));
}

#[tokio::test]
async fn a_mia_platform_manager_reads_a_forwarded_authorization_header_or_cookie() {
    let mia = Mia::start().await;
    let config = format!("{}{}", file_issuer_config("rsa1"), mia.check_config("mia"));
    let rules = r#"
- id: orders
  paths: ["/orders/**"]
  policy: authenticated
  credentials: [mia]
  require:
    groups_any: [sales]
  headers:
    X-User-Permissions: "{claims.permissions}"
- id: app
  paths: ["/**"]
  policy: authenticated
  credentials: [mia]
"#;
    let portcullis = Portcullis::start(Setup::new(&config, rules)).await;
    let user = MiaUser {
        user_id: "u-42".into(),
        groups: vec!["sales".into(), "emea".into()],
        permissions: vec!["orders.read".into()],
        properties: json!({ "email": "sam@example.com", "name": "Sam" }),
    };
    let token = mia.sign_in(&user);
    let bearer = format!("Bearer {token}");
    let response = ask(&portcullis, "/orders/1", &[("Authorization", &bearer)]).await;
    assert_eq!(response.status(), 200, "{}", portcullis.log_text());
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("u-42"));
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some("sam@example.com"));
    assert_eq!(header(&response, "X-Auth-Request-Groups"), Some("sales,emea"));
    assert_eq!(header(&response, "X-Auth-Request-Preferred-Username"), Some("Sam"));
    assert!(header(&response, "X-User-Permissions").is_some_and(|p| p.contains("orders.read")));
    assert_eq!(
        mia.requests()[0]
            .get("authorization")
            .map(|v| v.to_str().expect("ascii")),
        Some(bearer.as_str())
    );
    let cookie = format!("{}={token}", crate::common::mia::COOKIE);
    let response = ask(&portcullis, "/orders/2", &[("Cookie", &cookie)]).await;
    assert_eq!(response.status(), 200);
    let outsider = mia.sign_in(&MiaUser {
        groups: vec!["support".into()],
        ..user
    });
    let response = ask(
        &portcullis,
        "/orders/1",
        &[("Authorization", &format!("Bearer {outsider}"))],
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = ask(&portcullis, "/orders/1", &[("Authorization", "Bearer nobody")]).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_signed_out_session_is_refused_on_every_worker_once_its_answer_lapses() {
    let kratos = Kratos::start().await;
    let portcullis = std::sync::Arc::new(with_kratos_caching(&kratos, "4s").await);
    let token = kratos.sign_in(&KratosUser::named("ivy", &[]));
    // A wave of concurrent requests reaches every worker thread, and each keeps the answer.
    let wave = |expected: u16, when: &'static str| {
        let (portcullis, header) = (portcullis.clone(), kratos_cookie(&token));
        async move {
            let asks: Vec<_> = (0..24)
                .map(|_| {
                    let (portcullis, header) = (portcullis.clone(), header.clone());
                    tokio::spawn(
                        async move { ask(&portcullis, "/app", &[("Cookie", &header)]).await.status().as_u16() },
                    )
                })
                .collect();
            for asked in asks {
                assert_eq!(asked.await.expect("task"), expected, "{when}");
            }
        }
    };
    wave(200, "signed in").await;
    let calls = kratos.calls();
    kratos.sign_out(&token);
    let cached = ask(&portcullis, "/app", &[("Cookie", &kratos_cookie(&token))]).await;
    assert_eq!(cached.status(), 200, "the answer is cached for cache_ttl");
    assert_eq!(kratos.calls(), calls);
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    wave(401, "signed out, the answer lapsed").await;
    wave(401, "signed out, again").await;
}

#[tokio::test]
async fn with_cache_ttl_0s_every_request_is_checked() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos_caching(&kratos, "0s").await;
    let token = kratos.sign_in(&KratosUser::named("jon", &[]));
    for _ in 0..3 {
        let response = ask(&portcullis, "/app", &[("Cookie", &kratos_cookie(&token))]).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(kratos.calls(), 3);
    kratos.sign_out(&token);
    let response = ask(&portcullis, "/app", &[("Cookie", &kratos_cookie(&token))]).await;
    assert_eq!(response.status(), 401, "signed out: seen at once");
}
