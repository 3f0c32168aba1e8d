//! Decisions end to end through the real binary: allow, 401, 403, identity headers, redirects.

use serde_json::{Value, json};

use crate::common::rules::{self, DECISIONS as RULES, start_decisions as start};
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, ask, client, file_issuer_config, header};

#[tokio::test]
async fn allow_rule_without_credential_sends_every_identity_header_empty() {
    let p = start().await;
    let response = ask(&p, "/public/logo.png", &[("X-Auth-Request-User", "mallory")]).await;
    assert_eq!(response.status(), 200);
    for name in [
        "X-Auth-Request-User",
        "X-Auth-Request-Email",
        "X-Auth-Request-Groups",
        "X-Auth-Request-Preferred-Username",
    ] {
        assert_eq!(header(&response, name), Some(""), "{name} must be present and empty");
    }
}

#[tokio::test]
async fn allow_rule_with_valid_token_fills_identity_headers() {
    let p = start().await;
    let token = rsa1(json!({}));
    let response = ask(&p, "/public/x", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("alice"));
}

#[tokio::test]
async fn authenticated_rule_without_token_is_401_with_bearer_realm() {
    let p = start().await;
    let response = ask(&p, "/admin/", &[]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        Some(r#"Bearer realm="portcullis""#)
    );
    assert!(
        header(&response, "Location").is_none(),
        "no login configured: no Location"
    );
}

#[tokio::test]
async fn invalid_token_is_401_with_invalid_token_error() {
    let p = start().await;
    let response = ask(&p, "/admin/", &[("Authorization", "Bearer not.a.jwt")]).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    let body: Value = response.json().await.expect("json body for API clients");
    assert_eq!(body["error"], "unauthenticated");
}

#[tokio::test]
async fn valid_token_in_required_group_is_allowed_with_identity_and_rule_headers() {
    let p = start().await;
    let token = rsa1(json!({ "tenant": "acme", "preferred_username": "ally" }));
    let response = ask(
        &p,
        "/admin/users?page=2",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("alice"));
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some("alice@example.com"));
    assert_eq!(header(&response, "X-Auth-Request-Groups"), Some("admins,dev"));
    assert_eq!(header(&response, "X-Auth-Request-Preferred-Username"), Some("ally"));
    assert_eq!(header(&response, "X-Auth-Request-Tenant"), Some("acme"));
    // No body: nginx keeps its connection to Portcullis only for `auth_request` answers without
    // one (it never reads it), so a body would cost a new connection per request.
    assert_eq!(header(&response, "content-length"), Some("0"));
    assert_eq!(response.bytes().await.expect("body").len(), 0);
}

#[tokio::test]
async fn valid_token_outside_required_group_is_403_and_says_why() {
    let p = start().await;
    let token = rsa1(json!({}));
    let response = ask(&p, "/ops/", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("json");
    assert!(body["reason"].as_str().unwrap_or_default().contains("ops"), "{body}");
}

#[tokio::test]
async fn deny_rule_is_403_even_with_a_valid_token() {
    let p = start().await;
    let token = rsa1(json!({}));
    let response = ask(&p, "/closed/x", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn request_matching_no_rule_is_denied_by_default() {
    let p = start().await;
    let token = rsa1(json!({}));
    let response = ask(&p, "/elsewhere", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn identity_value_with_control_character_is_sent_empty() {
    let p = start().await;
    let token = rsa1(json!({ "email": "alice@example.com\r\nX-Injected: yes" }));
    let response = ask(&p, "/admin/", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some(""));
    assert!(header(&response, "X-Injected").is_none());
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("alice"));
}

#[tokio::test]
async fn pass_access_token_sends_the_token_upstream() {
    let config = format!("{}\n[headers]\npass_access_token = true\n", file_issuer_config("rsa1"));
    let p = Portcullis::start(Setup::new(&config, RULES)).await;
    let token = rsa1(json!({}));
    let response = ask(&p, "/admin/", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(header(&response, "X-Auth-Request-Access-Token"), Some(token.as_str()));
    let anonymous = ask(&p, "/public/x", &[]).await;
    assert_eq!(header(&anonymous, "X-Auth-Request-Access-Token"), Some(""));
}

#[tokio::test]
async fn decisions_are_counted_per_endpoint_outcome_and_rule() {
    let p = start().await;
    ask(&p, "/public/x", &[]).await;
    ask(&p, "/admin/", &[]).await;
    assert_eq!(
        p.metric(r#"portcullis_decisions_total{endpoint="auth",outcome="allow",rule="public"}"#)
            .await,
        1.0
    );
    assert_eq!(
        p.metric(r#"portcullis_decisions_total{endpoint="auth",outcome="unauthenticated",rule="admin"}"#)
            .await,
        1.0
    );
    assert!(p.metric("portcullis_decision_duration_seconds_count").await >= 2.0);
    assert_eq!(p.metric("portcullis_rules_loaded").await, rules::count(RULES) as f64);
}

#[tokio::test]
async fn request_id_is_kept_or_made() {
    let p = start().await;
    let response = ask(&p, "/public/x", &[("X-Request-ID", "trace-123")]).await;
    assert_eq!(header(&response, "x-request-id"), Some("trace-123"));
    let response = ask(&p, "/public/x", &[]).await;
    assert!(header(&response, "x-request-id").is_some_and(|id| id.len() >= 16));
}

#[tokio::test]
async fn readiness_follows_the_issuer_keys() {
    let p = start().await;
    let response = client().get(p.url("/readyz")).send().await.expect("readyz");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn oversized_headers_get_a_clear_4xx_and_the_service_lives_on() {
    let p = start().await;
    let huge = "a".repeat(1024 * 1024);
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/public/x")
        .header("X-Original-Method", "GET")
        .header("X-Big", &huge)
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(response.status(), 431, "Request Header Fields Too Large");
    let token = format!("Bearer {}", "a".repeat(100 * 1024));
    let response = ask(&p, "/admin/", &[("Authorization", &token)]).await;
    assert_eq!(response.status(), 401);
    let health = client().get(p.url("/healthz")).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let mut p = start().await;
    let status = p.terminate();
    assert!(status.success(), "exit status {status:?}; log:\n{}", p.log_text());
    assert!(p.log_text().contains("drain"));
}

#[tokio::test]
async fn tokens_never_appear_in_the_log() {
    let p = start().await;
    let token = rsa1(json!({ "exp": 1 }));
    ask(&p, "/admin/", &[("Authorization", &format!("Bearer {token}"))]).await;
    let good = rsa1(json!({}));
    ask(&p, "/admin/", &[("Authorization", &format!("Bearer {good}"))]).await;
    let log = p.log_text();
    let signature = |t: &str| t.rsplit('.').next().expect("sig").to_string();
    assert!(
        !log.contains(&signature(&token)) && !log.contains(&signature(&good)),
        "a token leaked into the log"
    );
    assert!(
        log.contains("bearer token refused"),
        "the refusal is logged (without the token)"
    );
}

#[tokio::test]
async fn userinfo_answers_for_a_bearer_token_without_login() {
    let p = start().await;
    let token = rsa1(json!({ "preferred_username": "ally" }));
    let response = client()
        .get(p.url("/oauth2/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({ "user": "alice", "email": "alice@example.com", "groups": ["admins", "dev"], "preferred_username": "ally" })
    );
    let anonymous = client().get(p.url("/oauth2/userinfo")).send().await.expect("send");
    assert_eq!(anonymous.status(), 401);
    let bad = client()
        .get(p.url("/oauth2/userinfo"))
        .bearer_auth("x.y.z")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn logs_are_json_lines_when_asked() {
    let mut setup = Setup::new(&file_issuer_config("rsa1"), RULES);
    setup.env = vec![("PORTCULLIS_LOG_FORMAT".into(), "json".into())];
    let p = Portcullis::start(setup).await;
    ask(&p, "/admin/", &[("Authorization", "Bearer not.a.token")]).await;
    let log = p.log_text();
    let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string() && entry["fields"].is_object(), "{line}");
    }
}

#[tokio::test]
async fn a_group_with_a_comma_is_left_out_of_the_groups_header_but_counts_for_require() {
    let p = start().await;
    // `admins` is needed by the admin rule; `admins,ops` would read as two groups upstream.
    let token = rsa1(json!({"groups": ["dev", "admins,ops"]}));
    let refused = ask(&p, "/ops/x", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(refused.status(), 403, "a comma group is not split into `ops`");
    let token = rsa1(json!({"groups": ["admins,ops", "admins", "dev"]}));
    let response = ask(&p, "/admin/x", &[("Authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "X-Auth-Request-Groups"), Some("admins,dev"));
    let only_comma = rsa1(json!({"groups": ["ops,admins"]}));
    let ops = ask(&p, "/ops/x", &[("Authorization", &format!("Bearer {only_comma}"))]).await;
    assert_eq!(ops.status(), 403);
}
