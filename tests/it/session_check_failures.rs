//! A session check that cannot answer is no verdict on the user: 503, never 200, on every
//! endpoint and even on an `allow` rule; its answers are cached (valid for `cache_ttl`, invalid
//! briefly, errors never) and concurrent misses make one call. Cookie values are never logged.

use std::time::{Duration, Instant};

use crate::common::kratos::{self, Kratos, KratosUser, Mode};
use crate::common::{Portcullis, Setup, ask, client, file_issuer_config};
use crate::session_checks::with_kratos;

fn cookie(token: &str) -> String {
    format!("{}={token}", kratos::COOKIE)
}

/// A URL on 127.0.0.1 where nothing listens.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/sessions/whoami")
}

#[tokio::test]
async fn every_failure_of_the_check_is_503_and_never_200() {
    let slow = Kratos::start().await;
    slow.set_mode(Mode::Slow(Duration::from_secs(30)));
    let broken = Kratos::start().await;
    broken.set_mode(Mode::Error500);
    let garbage = Kratos::start().await;
    garbage.set_mode(Mode::Garbage);
    let mut config = file_issuer_config("rsa1");
    config.push_str(&slow.check_config("slow", "300ms"));
    config.push_str(&broken.check_config("broken", "2s"));
    config.push_str(&garbage.check_config("garbage", "2s"));
    config.push_str(&format!(
        "\n[[session_checks]]\nname = \"refused\"\nurl = \"{}\"\ncookies = [\"{}\"]\n",
        refused_url(),
        kratos::COOKIE
    ));
    let mut rules = String::new();
    for name in ["slow", "broken", "garbage", "refused"] {
        rules.push_str(&format!(
            "- id: {name}\n  paths: [\"/{name}/**\"]\n  policy: authenticated\n  credentials: [{name}]\n- id: {name}-public\n  paths: [\"/open-{name}/**\"]\n  policy: allow\n  credentials: [{name}]\n"
        ));
    }
    let mut setup = Setup::new(&config, &rules);
    setup.env.push(("PORTCULLIS_LOG_FORMAT".into(), "json".into()));
    let portcullis = Portcullis::start(setup).await;
    let secret = "ory_st_do_not_log_me_3f9a";
    for name in ["slow", "broken", "garbage", "refused"] {
        for path in [format!("/{name}/x"), format!("/open-{name}/x")] {
            let response = ask(&portcullis, &path, &[("Cookie", &cookie(secret))]).await;
            assert_eq!(response.status(), 503, "{path}: {}", portcullis.log_text());
        }
        let forward = client()
            .get(portcullis.url("/forward-auth"))
            .header("X-Forwarded-Host", "app.example.com")
            .header("X-Forwarded-Uri", format!("/{name}/y"))
            .header("X-Forwarded-Method", "GET")
            .header("Accept", "text/html")
            .header("Cookie", cookie(secret))
            .send()
            .await
            .expect("forward-auth");
        assert_eq!(forward.status(), 503, "{name} on /forward-auth");
        // Errors are never cached: each request asked again.
        let errors = format!(r#"portcullis_session_check_total{{check="{name}",result="error"}}"#);
        assert_eq!(portcullis.metric(&errors).await, 3.0, "{name}");
        let decisions = format!(r#"portcullis_decisions_total{{endpoint="auth",outcome="error",rule="{name}"}}"#);
        assert_eq!(portcullis.metric(&decisions).await, 1.0, "{name}");
    }
    let log = portcullis.log_text();
    assert!(!log.contains(secret), "a cookie value reached the log:\n{log}");
    let events: Vec<serde_json::Value> = log.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    for (name, reason) in [
        ("slow", "timed out"),
        ("broken", "500"),
        ("garbage", "not JSON"),
        ("refused", "cannot connect"),
    ] {
        let fields = events
            .iter()
            .map(|event| &event["fields"])
            .find(|fields| fields["check"] == name && fields["message"] == "session check cannot answer")
            .unwrap_or_else(|| panic!("no log event for {name}:\n{log}"));
        assert!(
            fields["url"]
                .as_str()
                .is_some_and(|url| url.contains("/sessions/whoami")),
            "{fields}"
        );
        assert!(
            fields["reason"].as_str().is_some_and(|text| text.contains(reason)),
            "{fields}"
        );
    }
}

#[tokio::test]
async fn valid_answers_are_cached_and_keep_serving_while_the_service_fails() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let token = kratos.sign_in(&KratosUser::named("fay", &[]));
    for other in ["a=1", "a=2", "theme=light"] {
        let header = format!("{other}; {}", cookie(&token));
        assert_eq!(ask(&portcullis, "/app", &[("Cookie", &header)]).await.status(), 200);
    }
    assert_eq!(
        kratos.calls(),
        1,
        "the site's other cookies are not part of the cache key"
    );
    kratos.set_mode(Mode::Error500);
    assert_eq!(
        ask(&portcullis, "/app", &[("Cookie", &cookie(&token))]).await.status(),
        200
    );
    let fresh = kratos.sign_in(&KratosUser::named("gil", &[]));
    assert_eq!(
        ask(&portcullis, "/app", &[("Cookie", &cookie(&fresh))]).await.status(),
        503
    );
    kratos.set_mode(Mode::Normal);
    assert_eq!(
        ask(&portcullis, "/app", &[("Cookie", &cookie(&fresh))]).await.status(),
        200
    );
    assert_eq!(kratos.calls(), 3, "the failed call was not cached");
}

#[tokio::test]
async fn concurrent_requests_with_one_new_cookie_make_one_call() {
    let kratos = Kratos::start().await;
    let portcullis = std::sync::Arc::new(with_kratos(&kratos, "10s").await);
    let token = kratos.sign_in(&KratosUser::named("hal", &[]));
    kratos.hold();
    let mut asks = Vec::new();
    for _ in 0..20 {
        let portcullis = portcullis.clone();
        let header = cookie(&token);
        asks.push(tokio::spawn(async move {
            ask(&portcullis, "/app", &[("Cookie", &header)]).await.status().as_u16()
        }));
    }
    kratos.wait_for_calls(1).await;
    // Give the other requests time to arrive and join the call in flight; any that arrive
    // later find the answer cached, so the count below holds either way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kratos.release();
    for ask in asks {
        assert_eq!(ask.await.expect("task"), 200);
    }
    assert_eq!(kratos.calls(), 1);
}

#[tokio::test]
async fn a_flood_of_one_bad_cookie_makes_few_calls() {
    let kratos = Kratos::start().await;
    let portcullis = with_kratos(&kratos, "2s").await;
    let started = Instant::now();
    for _ in 0..40 {
        let response = ask(&portcullis, "/app", &[("Cookie", &cookie("ory_st_flood"))]).await;
        assert_eq!(response.status(), 401);
    }
    // Invalid answers are reused for 5 s: at most one call per 5 s of flood.
    let bound = 1 + (started.elapsed().as_secs() / 5) as usize;
    assert!(kratos.calls() <= bound, "{} calls for one bad cookie", kratos.calls());
    assert!(!portcullis.log_text().contains("ory_st_flood"));
}
