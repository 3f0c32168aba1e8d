//! Browser or API client, by the original request's headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::{ClientKind, client_kind};

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    map
}

#[test]
fn html_accept_is_a_browser() {
    let map = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
    assert_eq!(client_kind(&map), ClientKind::Browser);
    assert_eq!(client_kind(&headers(&[("accept", "TEXT/HTML")])), ClientKind::Browser);
}

#[test]
fn no_accept_is_an_api_client() {
    assert_eq!(client_kind(&HeaderMap::new()), ClientKind::Api);
    assert_eq!(
        client_kind(&headers(&[("accept", "application/json")])),
        ClientKind::Api
    );
}

#[test]
fn bearer_token_is_an_api_client() {
    for auth in ["Bearer abc", "bearer abc", "BEARER"] {
        let map = headers(&[("accept", "text/html"), ("authorization", auth)]);
        assert_eq!(client_kind(&map), ClientKind::Api, "{auth:?}");
    }
}

#[test]
fn basic_authorization_does_not_make_an_api_client() {
    let map = headers(&[("accept", "text/html"), ("authorization", "Basic dXNlcjpwYXNz")]);
    assert_eq!(client_kind(&map), ClientKind::Browser);
    let bearerish = headers(&[("accept", "text/html"), ("authorization", "Bearerx abc")]);
    assert_eq!(client_kind(&bearerish), ClientKind::Browser);
}

#[test]
fn xml_http_request_is_an_api_client() {
    let map = headers(&[("accept", "text/html"), ("x-requested-with", "xmlhttprequest")]);
    assert_eq!(client_kind(&map), ClientKind::Api);
    let other = headers(&[("accept", "text/html"), ("x-requested-with", "com.example.app")]);
    assert_eq!(client_kind(&other), ClientKind::Browser);
}
