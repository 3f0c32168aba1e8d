//! The original request: each endpoint's own header family, the ext_authz form, trusted peers,
//! path normalisation attacks, and the "401, 302 or 303?" table of each caller protocol.

use serde_json::json;

use crate::common::rules::{DECISIONS as RULES, start_decisions as start};
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, assert_400_naming, client, file_issuer_config, login_config};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn start_with_login() -> Portcullis {
    Portcullis::start(Setup::new(&login_config(), RULES)).await
}

fn forwarded(request: reqwest::RequestBuilder, method: &str, uri: &str) -> reqwest::RequestBuilder {
    request
        .header("X-Forwarded-Method", method)
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", uri)
}

#[tokio::test]
async fn traefik_caddy_family_is_read() {
    let p = start().await;
    let allowed = forwarded(client().get(p.url("/forward-auth")), "GET", "/public/a")
        .send()
        .await
        .expect("send");
    assert_eq!(allowed.status(), 200);
    let refused = forwarded(client().get(p.url("/forward-auth")), "GET", "/admin/")
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn ingress_nginx_family_is_read() {
    let p = start().await;
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/public/a?x=1")
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn auth_reads_no_other_family_than_x_original_url() {
    let p = start().await;
    let token = rsa1(json!({}));
    // The old plain-nginx family (X-Original-URI with a host header) is not read any more.
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URI", "/app/page")
        .header("X-Original-Method", "GET")
        .header("X-Forwarded-Host", "app.example.com")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("send");
    assert_400_naming(response, &["X-Original-URL"], "").await;
}

#[tokio::test]
async fn each_endpoint_judges_only_its_own_family_when_a_client_adds_the_other() {
    let p = start().await;
    // What nginx's auth subrequest carries when a client adds forwarded headers to /admin/users.
    let auth = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/admin/users")
        .header("X-Original-Method", "GET")
        .header("X-Forwarded-Uri", "/public/x")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Original-URI", "/public/x")
        .send()
        .await
        .expect("send");
    assert_eq!(auth.status(), 401);
    let denied = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/closed/x")
        .header("X-Original-Method", "GET")
        .header("X-Forwarded-Uri", "/public/x")
        .header("X-Forwarded-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_eq!(denied.status(), 403);
    // And the other way round on /forward-auth (Caddy and Traefik pass client X-Original-*).
    let forward = forwarded(client().get(p.url("/forward-auth")), "GET", "/admin/users")
        .header("X-Original-URL", "https://app.example.com/public/x")
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_eq!(forward.status(), 401);
}

#[tokio::test]
async fn a_repeated_original_url_or_authorization_is_400_naming_it() {
    let p = start().await;
    let token = rsa1(json!({"groups": ["admins"]}));
    let twice_url = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/admin/users")
        .header("X-Original-URL", "https://app.example.com/public/x")
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_400_naming(twice_url, &["X-Original-URL"], "a second X-Original-URL").await;
    for endpoint in ["/auth", "/forward-auth", "/ext-authz/admin/x"] {
        let request = client()
            .get(p.url(endpoint))
            .header("X-Original-URL", "https://app.example.com/admin/x")
            .header("X-Original-Method", "GET")
            .header("Host", "app.example.com");
        let response = forwarded(request, "GET", "/admin/x")
            .header("Authorization", format!("Bearer {token}"))
            .header("Authorization", "Bearer other")
            .send()
            .await
            .expect("send");
        assert_400_naming(response, &["Authorization"], endpoint).await;
    }
}

#[tokio::test]
async fn ext_authz_form_reads_method_host_and_path_from_the_request_itself() {
    let p = start().await;
    let public = client()
        .get(p.url("/ext-authz/public/a?q=1"))
        .header("Host", "app.example.com")
        .send()
        .await;
    assert_eq!(public.expect("send").status(), 200);
    let admin = client()
        .post(p.url("/ext-authz/admin/x"))
        .header("Host", "app.example.com")
        .send()
        .await;
    assert_eq!(admin.expect("send").status(), 401);
}

#[tokio::test]
async fn missing_headers_are_400_naming_what_is_missing() {
    let p = start().await;
    let response = client().get(p.url("/auth")).send().await.expect("send");
    assert_400_naming(response, &["X-Original-URL"], "").await;
}

#[tokio::test]
async fn unparsable_header_is_400_naming_the_header() {
    let p = start().await;
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "not a url")
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_400_naming(response, &["X-Original-URL"], "not a url").await;
}

#[tokio::test]
async fn dot_segments_cannot_climb_out_of_a_public_path() {
    let p = start().await;
    for uri in [
        "/public/../admin/",
        "/public/%2e%2e/admin/",
        "/public/%2E%2e/admin/",
        "//public/..//admin/",
    ] {
        let response = forwarded(client().get(p.url("/forward-auth")), "GET", uri)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401, "{uri} must be judged as /admin/");
    }
}

#[tokio::test]
async fn ambiguous_paths_are_refused_with_400() {
    let p = start().await;
    for uri in [
        "/public/a%2Fb",
        "/public/a%5Cb",
        "/public/a\\b",
        "/public/%00",
        "/public/%zz",
        "/../x",
    ] {
        let response = forwarded(client().get(p.url("/forward-auth")), "GET", uri)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 400, "{uri}");
    }
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let mut setup = Setup::new(&file_issuer_config("rsa1"), RULES);
    setup.trusted_proxies = vec!["10.0.0.0/8".into()];
    let p = Portcullis::start(setup).await;
    let response = forwarded(client().get(p.url("/forward-auth")), "GET", "/public/a")
        .send()
        .await
        .expect("send");
    assert_400_naming(response, &["trusted"], "untrusted peer").await;
}

#[tokio::test]
async fn browser_on_forward_auth_is_redirected_to_login_with_the_original_url() {
    let p = start_with_login().await;
    let response = forwarded(
        client().get(p.url("/forward-auth?rd=https://evil.com/")),
        "GET",
        "/admin/x?a=1&b=2",
    )
    .header("Accept", BROWSER_ACCEPT)
    .send()
    .await
    .expect("send");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("location");
    assert_eq!(
        location,
        "https://auth.example.com/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fadmin%2Fx%3Fa%3D1%26b%3D2"
    );
}

#[tokio::test]
async fn browser_post_is_redirected_with_303() {
    let p = start_with_login().await;
    let response = forwarded(client().get(p.url("/forward-auth")), "POST", "/admin/form")
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn api_clients_get_401_not_a_redirect() {
    let p = start_with_login().await;
    let cases: [(&str, &str); 3] = [
        ("Accept", "application/json"),
        ("X-Requested-With", "XMLHttpRequest"),
        ("Authorization", "Bearer expired.or.garbage"),
    ];
    for (name, value) in cases {
        let response = forwarded(client().get(p.url("/forward-auth")), "GET", "/admin/")
            .header("Accept", if name == "Accept" { value } else { BROWSER_ACCEPT })
            .header(name, value)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401, "{name}: {value}");
        assert!(response.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn auth_endpoint_never_redirects_but_gives_the_login_url_in_location() {
    let p = start_with_login().await;
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/admin/?x=1")
        .header("X-Original-Method", "GET")
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    let location = response.headers()["location"].to_str().expect("location");
    assert_eq!(
        location,
        "https://auth.example.com/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fadmin%2F%3Fx%3D1"
    );
}

#[tokio::test]
async fn unauthorized_rules_answer_401_even_to_browsers() {
    let p = start_with_login().await;
    let response = forwarded(client().get(p.url("/forward-auth")), "GET", "/api/things")
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn ext_authz_redirects_browsers_like_forward_auth() {
    let p = start_with_login().await;
    let response = client()
        .get(p.url("/ext-authz/admin/"))
        .header("Host", "app.example.com")
        .header("X-Forwarded-Proto", "https")
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 302);
    assert!(
        response.headers()["location"]
            .to_str()
            .expect("loc")
            .ends_with("rd=https%3A%2F%2Fapp.example.com%2Fadmin%2F")
    );
}

#[tokio::test]
async fn ext_authz_over_http2_reads_the_host_from_the_authority() {
    let p = start().await;
    let url = format!("http://app.example.com:{}/ext-authz/public/a", p.port);
    // The URL's host becomes `:authority`; the connection goes to 127.0.0.1.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("app.example.com", ([127, 0, 0, 1], p.port).into())
        .build()
        .expect("client");
    let response = h2.get(&url).send().await.expect("send");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let admin = h2.get(url.replace("/public/a", "/admin/")).send().await.expect("send");
    assert_eq!(admin.status(), 401);
}

#[tokio::test]
async fn an_empty_bearer_is_a_refused_token_from_an_api_client() {
    // One parser decides both: `Authorization: Bearer` with no token is a presented, invalid
    // bearer credential (401 invalid_token), and its sender is an API client (no redirect).
    let p = start_with_login().await;
    for value in ["Bearer", "Bearer ", "bearer   "] {
        let response = forwarded(client().get(p.url("/forward-auth")), "GET", "/admin/")
            .header("Accept", BROWSER_ACCEPT)
            .header("Authorization", value)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401, "{value:?}");
        assert!(response.headers().get("location").is_none(), "{value:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#,
            "{value:?}"
        );
    }
}
