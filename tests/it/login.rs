//! Browser login against a real OpenID provider (oidc-provider 9, `tests/node/provider.mjs`):
//! the test plays the browser (cookies carried by hand), from `/oauth2/start` through the dev login
//! and consent forms to the callback, then asks `/auth` with the session cookie.

use crate::common::browser::location;
use crate::common::login_kit::*;
use crate::common::rules::PRIVATE as RULES;
use crate::common::{Portcullis, Setup, client, free_port, header};

#[tokio::test]
async fn browser_login_opens_a_session_that_auth_accepts() {
    let (idp, p) = setup(&cookie_session()).await;
    let mut browser = Browser::default();
    assert_eq!(browser.auth(&p, "/private/page").await.status(), 401);
    let callback = browser.login(&p, &idp, "alice", APP).await;
    assert_eq!(callback.status(), 302, "{}", p.log_text());
    assert_eq!(location(&callback), APP, "back to the exact original URL");
    let set: Vec<&str> = callback
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("_portcullis="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    let allowed = browser.auth(&p, "/private/page").await;
    assert_eq!(allowed.status(), 200, "{}", p.log_text());
    assert_eq!(header(&allowed, "x-auth-request-user"), Some("alice"));
    assert_eq!(header(&allowed, "x-auth-request-email"), Some("alice@example.com"));
    assert_eq!(
        header(&allowed, "x-auth-request-groups"),
        Some("admins,devs"),
        "groups from userinfo"
    );
    assert_eq!(header(&allowed, "x-auth-request-preferred-username"), Some("alice"));
    assert!(header(&allowed, "x-auth-request-access-token").is_some_and(|t| !t.is_empty()));
    assert!(allowed.headers().get("set-cookie").is_none(), "no refresh due");
    let info = client()
        .get(p.url("/oauth2/userinfo"))
        .header("cookie", browser.portcullis.header())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), 200);
    let body: serde_json::Value = info.json().await.expect("json");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["groups"], serde_json::json!(["admins", "devs"]));
    let anonymous = client().get(p.url("/oauth2/userinfo")).send().await.expect("userinfo");
    assert_eq!(anonymous.status(), 401);
    let log = p.log_text();
    let value = browser.portcullis.0["_portcullis"].clone();
    assert!(!log.contains(&value[..40]), "the cookie was logged");
}

#[tokio::test]
async fn every_redirect_trick_is_refused_before_anything_else() {
    let (_idp, p) = setup(&cookie_session()).await;
    for rd in [
        "//evil.com",
        "/\\evil.com",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
        "https://app.example.com@evil.com/",
        "https://evil.com\\@app.example.com",
        "https://app.example.com%2F@evil.com",
        "https://example.com.evil.com/",
        "https://evilexample.com/",
        "http://app.example.com/",
        "javascript:alert(1)",
        "https://app.example.com/\r\nX: y",
        " https://app.example.com/",
        "https://app.example.com/%0d%0a",
    ] {
        for path in ["/oauth2/start", "/oauth2/sign_out"] {
            let response = client().get(with_rd(&p.url(path), rd)).send().await.expect("send");
            assert_eq!(response.status(), 400, "{path} {rd:?}");
            assert!(response.headers().get("set-cookie").is_none(), "{rd:?}");
        }
    }
    for rd in ["/relative?x=1", "https://app.example.com/a", "https://example.com/"] {
        let response = client()
            .get(with_rd(&p.url("/oauth2/start"), rd))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 302, "{rd}");
    }
}

#[tokio::test]
async fn forged_missing_and_replayed_state_get_no_session() {
    let (idp, p) = setup(&cookie_session()).await;
    let mut browser = Browser::default();
    let callback = browser.login_until_callback(&p, &idp, "alice", APP).await;
    let forged = callback.replace("state=", "state=x");
    for (url, cookies) in [(&forged, browser.portcullis.header()), (&callback, String::new())] {
        let response = client().get(url).header("cookie", cookies).send().await.expect("send");
        assert_eq!(response.status(), 400);
        let mut jar = Jar::default();
        jar.update(&response);
        assert!(!jar.0.contains_key("_portcullis"));
    }
    let original = browser.portcullis.header();
    let first = client()
        .get(&callback)
        .header("cookie", &original)
        .send()
        .await
        .expect("send");
    assert_eq!(first.status(), 302);
    let replay = client()
        .get(&callback)
        .header("cookie", &original)
        .send()
        .await
        .expect("send");
    assert_eq!(replay.status(), 400, "a replayed callback opens no second session");
    let denied = client()
        .get(p.url("/oauth2/callback?error=access_denied&error_description=%3Cscript%3E"))
        .send()
        .await
        .expect("send");
    assert_eq!(denied.status(), 400, "no state: the provider's text is not shown");
    let body = denied.text().await.expect("body");
    assert!(!body.contains("access_denied") && !body.contains("script"), "{body}");
}

#[tokio::test]
async fn logins_started_in_two_tabs_both_complete() {
    let (idp, p) = setup(&cookie_session()).await;
    let mut browser = Browser::default();
    let first_tab = browser.login_until_callback(&p, &idp, "alice", APP).await;
    let second_tab = browser.login_until_callback(&p, &idp, "alice", APP).await;
    for callback in [first_tab, second_tab] {
        let response = client()
            .get(&callback)
            .header("cookie", browser.portcullis.header())
            .send()
            .await
            .expect("callback");
        assert_eq!(response.status(), 302, "{}", p.log_text());
        assert_eq!(location_of(&response).as_deref(), Some(APP));
    }
}

#[tokio::test]
async fn tampered_truncated_and_rotated_cookies() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let p = Portcullis::start(Setup::new(&config(&issuer, &cookie_session()), RULES)).await;
    let idp = start_idp(port, None).await;
    let mut browser = Browser::default();
    browser.login(&p, &idp, "alice", APP).await;
    assert_eq!(browser.auth(&p, "/private/x").await.status(), 200);
    let good = browser.portcullis.0["_portcullis"].clone();
    let mut tampered = browser.clone();
    let flipped = if good.as_bytes()[30] == b'A' { "B" } else { "A" };
    tampered
        .portcullis
        .0
        .insert("_portcullis".into(), format!("{}{flipped}{}", &good[..30], &good[31..]));
    let mut truncated = browser.clone();
    truncated
        .portcullis
        .0
        .insert("_portcullis".into(), good[..good.len() / 2].to_string());
    for bad in [tampered, truncated] {
        let response = bad.auth(&p, "/private/x").await;
        assert_eq!(response.status(), 401, "never a 500");
        assert!(location_of(&response).is_some_and(|l| l.contains("/oauth2/start?rd=")));
    }
    let rotated = format!("secrets = [\"{SECRET_TWO}\", \"{SECRET_ONE}\"]\nrefresh = \"1h\"");
    let p2 = Portcullis::start(Setup::new(&config(&issuer, &rotated), RULES)).await;
    assert_eq!(
        browser.auth(&p2, "/private/x").await.status(),
        200,
        "old secret second still decrypts"
    );
    let removed = format!("secrets = [\"{SECRET_TWO}\"]\nrefresh = \"1h\"");
    let p3 = Portcullis::start(Setup::new(&config(&issuer, &removed), RULES)).await;
    assert_eq!(
        browser.auth(&p3, "/private/x").await.status(),
        401,
        "removed secret: no session"
    );
}

#[tokio::test]
async fn large_groups_claim_round_trips_through_chunked_cookies() {
    let (idp, p) = setup(&cookie_session()).await;
    let mut browser = Browser::default();
    let callback = browser.login(&p, &idp, "bigbob", APP).await;
    assert_eq!(callback.status(), 302, "{}", p.log_text());
    assert!(!browser.portcullis.0.contains_key("_portcullis"));
    assert!(
        browser.portcullis.0.contains_key("_portcullis_1"),
        "{:?}",
        browser.portcullis.0.keys()
    );
    assert!(browser.portcullis.0.values().all(|v| v.len() < 4000));
    let allowed = browser.auth(&p, "/private/x").await;
    assert_eq!(allowed.status(), 200, "{}", p.log_text());
    assert_eq!(
        header(&allowed, "x-auth-request-groups").map(|g| g.split(',').count()),
        Some(150)
    );
}

#[tokio::test]
async fn session_is_refreshed_at_the_provider_once_due() {
    let (idp, p) = setup(&format!("secrets = [\"{SECRET_ONE}\"]\nrefresh = \"2s\"")).await;
    let mut browser = Browser::default();
    browser.login(&p, &idp, "alice", APP).await;
    let before = browser.auth(&p, "/private/x").await;
    assert_eq!(before.status(), 200);
    assert!(before.headers().get("set-cookie").is_none(), "not due yet");
    let old_token = header(&before, "x-auth-request-access-token").map(str::to_owned);
    assert!(old_token.is_some());
    // Ask until the session is due and a refresh answers with a new cookie (the refresh time
    // passing is the event waited for; the deadline is a hang guard).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let refreshed = loop {
        let answer = browser.auth(&p, "/private/x").await;
        assert_eq!(answer.status(), 200, "{}", p.log_text());
        if answer.headers().get("set-cookie").is_some() {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never refreshed: {}",
            p.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let new_token = header(&refreshed, "x-auth-request-access-token").map(str::to_owned);
    assert!(new_token.is_some());
    assert_ne!(new_token, old_token, "a new access token from the provider");
    browser.portcullis.update(&refreshed);
    let again = browser.auth(&p, "/private/x").await;
    assert_eq!(again.status(), 200);
    assert!(again.headers().get("set-cookie").is_none(), "not due again yet");
    assert_eq!(
        header(&again, "x-auth-request-access-token").map(str::to_owned),
        new_token
    );
}

#[tokio::test]
async fn session_serves_through_a_provider_outage() {
    // `refresh = "0s"`: every answer is due for a refresh, so the outage needs no waiting.
    let (mut idp, p) = setup(&format!("secrets = [\"{SECRET_ONE}\"]\nrefresh = \"0s\"")).await;
    let mut browser = Browser::default();
    browser.login(&p, &idp, "alice", APP).await;
    idp.stop();
    let during_outage = browser.auth(&p, "/private/x").await;
    assert_eq!(
        during_outage.status(),
        200,
        "the session serves until its own expiry: {}",
        p.log_text()
    );
    assert!(
        during_outage.headers().get("set-cookie").is_none(),
        "nothing was refreshed"
    );
    assert!(
        p.log_text().contains("session refresh failed"),
        "the refresh was tried and failed: {}",
        p.log_text()
    );
}

#[tokio::test]
async fn sign_out_clears_the_session_and_goes_to_the_provider() {
    let (idp, p) = setup(&cookie_session()).await;
    let mut browser = Browser::default();
    browser.login(&p, &idp, "alice", APP).await;
    assert_eq!(browser.auth(&p, "/private/x").await.status(), 200);
    let out = client()
        .get(with_rd(&p.url("/oauth2/sign_out"), "/"))
        .header("cookie", browser.portcullis.header())
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 302);
    let target = location(&out);
    assert!(target.starts_with(&format!("{}/session/end", idp.issuer)), "{target}");
    assert!(
        target.contains("id_token_hint=") && target.contains("post_logout_redirect_uri="),
        "{target}"
    );
    browser.portcullis.update(&out);
    assert!(browser.portcullis.0.is_empty(), "{:?}", browser.portcullis.0);
    assert_eq!(browser.auth(&p, "/private/x").await.status(), 401);
}
