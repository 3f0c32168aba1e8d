use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use super::*;

fn config(cookies: &[&str], headers: &[&str]) -> SessionCheckConfig {
    let headers: Vec<HeaderName> = headers
        .iter()
        .map(|h| HeaderName::try_from(*h).expect("name"))
        .collect();
    let mut forward_headers = vec![header::COOKIE];
    forward_headers.extend(headers.iter().cloned());
    SessionCheckConfig {
        name: "kratos".into(),
        url: "http://127.0.0.1:9/sessions/whoami".parse().expect("url"),
        cookies: cookies.iter().map(ToString::to_string).collect(),
        headers,
        forward_headers,
        user_field: "identity.id".into(),
        email_field: "identity.traits.email".into(),
        groups_field: "identity.metadata_public.groups".into(),
        preferred_username_field: "identity.traits.username".into(),
        cache_ttl: Duration::from_secs(30),
        timeout: Duration::from_secs(2),
    }
}

fn check(cookies: &[&str], headers: &[&str]) -> SessionCheck {
    SessionCheck::new(
        0,
        &config(cookies, headers),
        reqwest::Client::new(),
        Metrics::new(),
        1 << 20,
    )
}

fn request(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::try_from(*name).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    headers
}

#[test]
fn a_cookie_is_present_only_by_its_exact_name_in_a_parsed_cookie_header() {
    let check = check(&["ory_kratos_session"], &[]);
    assert!(check.is_present(&request(&[("cookie", "a=1; ory_kratos_session=abc")])));
    assert!(check.is_present(&request(&[("cookie", "a=1"), ("cookie", "ory_kratos_session=abc")])));
    for absent in [
        "xory_kratos_session=abc",
        "ory_kratos_session_0=abc",
        "a=ory_kratos_session=abc",
        "a=\"ory_kratos_session=abc\"",
    ] {
        assert!(!check.is_present(&request(&[("cookie", absent)])), "{absent}");
    }
    assert!(!check.is_present(&request(&[("x-session-token", "t")])));
}

#[test]
fn a_header_makes_a_check_present() {
    let check = check(&["ory_kratos_session"], &["X-Session-Token"]);
    assert!(check.is_present(&request(&[("x-session-token", "t")])));
    assert!(!check.is_present(&request(&[("authorization", "Bearer t")])));
}

#[test]
fn only_the_checks_cookies_are_forwarded_in_its_order_first_of_each_name() {
    let check = check(&["sid", "ory_kratos_session"], &["X-Session-Token"]);
    let headers = request(&[
        (
            "cookie",
            "theme=dark; ory_kratos_session=k1; sid=s1; ory_kratos_session=k2",
        ),
        ("x-session-token", "t"),
        ("authorization", "Bearer secret"),
    ]);
    let forwarded = check.forwarded(&headers);
    let as_text: Vec<(String, String)> = forwarded
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().expect("ascii").to_owned()))
        .collect();
    assert_eq!(
        as_text,
        [
            ("cookie".to_owned(), "sid=s1; ory_kratos_session=k1".to_owned()),
            ("x-session-token".to_owned(), "t".to_owned())
        ]
    );
}

#[test]
fn the_cache_key_depends_on_the_forwarded_values_only_and_is_not_the_value() {
    let check = check(&["ory_kratos_session"], &[]);
    let key = |cookie: &str| check.cache_key(&request(&[("cookie", cookie)]));
    assert_eq!(key("ory_kratos_session=a; x=1"), key("x=2; ory_kratos_session=a"));
    assert_ne!(key("ory_kratos_session=a"), key("ory_kratos_session=b"));
    // Keyed per check: another check (another random key) hashes the same value differently.
    let other = super::tests::check(&["ory_kratos_session"], &[]);
    let headers = request(&[("cookie", "ory_kratos_session=a")]);
    assert_ne!(check.cache_key(&headers), other.cache_key(&headers));
}

/// The key is read from the headers without building what the call forwards: two requests
/// share it exactly when the call would forward the same to them.
#[test]
fn two_requests_share_a_cache_key_exactly_when_they_forward_the_same() {
    let check = check(&["sid", "ory_kratos_session"], &["X-Session-Token"]);
    let requests = [
        vec![("cookie", "sid=s1")],
        vec![("cookie", "sid=s1; theme=dark")],
        vec![("cookie", "sid=s1"), ("cookie", "sid=s2")],
        vec![("cookie", "sid=s2")],
        vec![("cookie", "sid=s1; ory_kratos_session=k")],
        vec![("cookie", "ory_kratos_session=k; sid=s1")],
        vec![("cookie", "ory_kratos_session=k")],
        vec![("cookie", "ory_kratos_session=sid=s1")],
        vec![("cookie", "sid=")],
        vec![("cookie", "theme=dark")],
        vec![],
        vec![("x-session-token", "t")],
        vec![("x-session-token", "t"), ("x-session-token", "u")],
        vec![("x-session-token", "tu")],
        vec![("x-session-token", "t"), ("cookie", "sid=s1")],
    ];
    for a in &requests {
        for b in &requests {
            let (a_headers, b_headers) = (request(a), request(b));
            let same_call = check.forwarded(&a_headers) == check.forwarded(&b_headers);
            let same_key = check.cache_key(&a_headers) == check.cache_key(&b_headers);
            assert_eq!(same_key, same_call, "{a:?} and {b:?}");
        }
    }
}

#[test]
fn a_session_expiry_is_read_from_rfc3339_or_seconds() {
    let object = |value: serde_json::Value| {
        serde_json::json!({ "expires_at": value })
            .as_object()
            .cloned()
            .expect("object")
    };
    assert_eq!(
        session_expiry(&object(serde_json::json!("2026-11-29T03:00:00.123456Z"))),
        Some(1_795_921_200)
    );
    assert_eq!(
        session_expiry(&object(serde_json::json!(1_795_921_200u64))),
        Some(1_795_921_200)
    );
    assert_eq!(session_expiry(&object(serde_json::json!("tomorrow"))), None);
}

#[test]
fn check_ids_name_themselves_and_compare_by_place_and_name() {
    let id = SessionCheckId::new(2, "kratos");
    assert_eq!(id.name(), "kratos");
    assert_eq!(CredentialKind::SessionCheck(id).name(), "kratos");
    assert_eq!(id, SessionCheckId::new(2, &String::from("kratos")));
    assert_ne!(id, SessionCheckId::new(1, "kratos"));
}
