//! Tests of each endpoint's header family, trusted peers, the ext_authz form and client kinds.
//! Path normalisation is tested in `path.rs`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    map
}

/// What `/forward-auth` reads from a trusted peer.
fn read(pairs: &[(&'static str, &'static str)]) -> Result<OriginalRequest, OriginError> {
    from_forward_auth_headers(&headers(pairs), true)
}

/// What `/auth` reads from a trusted peer.
fn read_auth(pairs: &[(&'static str, &'static str)]) -> Result<OriginalRequest, OriginError> {
    from_auth_headers(&headers(pairs), true)
}

fn invalid_header(result: Result<OriginalRequest, OriginError>) -> (&'static str, String) {
    match result {
        Err(OriginError::Invalid { header, reason }) => (header, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn request(
    method: Method,
    scheme: &'static str,
    host: &str,
    authority: &str,
    path: &str,
    uri: &str,
) -> OriginalRequest {
    OriginalRequest {
        method,
        scheme,
        host: host.to_owned(),
        authority: authority.to_owned(),
        path: path.to_owned(),
        uri: uri.to_owned(),
    }
}

const TRAEFIK: &[(&str, &str)] = &[
    ("x-forwarded-method", "post"),
    ("x-forwarded-proto", "HTTPS"),
    ("x-forwarded-host", "App.Example.com:8443"),
    ("x-forwarded-uri", "/api/%2e%2e/admin//x?q=%2F"),
    ("host", "portcullis.internal"),
];

const INGRESS_NGINX: &[(&str, &str)] = &[
    ("x-original-url", "HTTPS://App.Example.com:8443/a/./b?x=1"),
    ("x-original-method", "GET"),
    ("host", "portcullis.internal"),
];

fn without(family: &[(&'static str, &'static str)], name: &str) -> Vec<(&'static str, &'static str)> {
    family.iter().copied().filter(|&(n, _)| n != name).collect()
}

fn with(
    family: &[(&'static str, &'static str)],
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut pairs = without(family, name);
    pairs.push((name, value));
    pairs
}

// ---- trusted peers

#[test]
fn trusted_proxies_match_by_cidr() {
    let trusted = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
    assert!(trusted.contains("10.1.2.3".parse().unwrap()));
    assert!(trusted.contains("fd12::1".parse().unwrap()));
    assert!(!trusted.contains("11.0.0.1".parse().unwrap()));
    assert!(!trusted.contains("::1".parse().unwrap()));
    assert!(!TrustedProxies::default().contains("127.0.0.1".parse().unwrap()));
}

#[test]
fn ipv4_mapped_ipv6_peer_counts_as_its_ipv4_address() {
    let trusted = TrustedProxies(vec!["127.0.0.1/32".parse().unwrap()]);
    assert!(trusted.contains("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!trusted.contains("::ffff:127.0.0.2".parse().unwrap()));
}

#[test]
fn untrusted_peer_is_refused_before_reading_headers() {
    for pairs in [TRAEFIK, INGRESS_NGINX, &[]] {
        let forward = from_forward_auth_headers(&headers(pairs), false);
        assert!(matches!(forward, Err(OriginError::UntrustedPeer { .. })), "{forward:?}");
        let auth = from_auth_headers(&headers(pairs), false);
        assert!(matches!(auth, Err(OriginError::UntrustedPeer { .. })), "{auth:?}");
    }
}

#[test]
fn an_untrusted_peer_is_told_which_headers_were_ignored() {
    let auth = from_auth_headers(&headers(INGRESS_NGINX), false)
        .unwrap_err()
        .to_string();
    assert!(
        auth.contains("X-Original-URL") && auth.contains("trusted_proxies"),
        "{auth}"
    );
    let forward = from_forward_auth_headers(&headers(TRAEFIK), false)
        .unwrap_err()
        .to_string();
    assert!(
        forward.contains("X-Forwarded-") && forward.contains("trusted_proxies"),
        "{forward}"
    );
}

#[test]
fn without_its_headers_each_endpoint_names_the_first_missing_one() {
    assert_eq!(invalid_header(read(&[("host", "a.example")])).0, "X-Forwarded-Method");
    assert_eq!(invalid_header(read_auth(&[("host", "a.example")])).0, "X-Original-URL");
}

// ---- one family per endpoint (CVE-2026-40575: nginx copies every client header)

#[test]
fn auth_ignores_the_forwarded_family_a_client_can_add() {
    let spoofed = [
        ("x-original-url", "https://app.example.com/admin/users"),
        ("x-original-method", "POST"),
        ("x-forwarded-uri", "/static/x"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "public.example.com"),
        ("x-forwarded-proto", "http"),
        ("x-original-uri", "/static/y"),
    ];
    let req = read_auth(&spoofed).unwrap();
    assert_eq!(
        (req.method, req.host.as_str(), req.path.as_str(), req.scheme),
        (Method::POST, "app.example.com", "/admin/users", "https")
    );
}

#[test]
fn auth_never_falls_back_to_another_family() {
    let others = [
        ("x-forwarded-uri", "/static/x"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "app.example.com"),
        ("x-original-uri", "/static/x"),
        ("x-original-method", "GET"),
        ("host", "app.example.com"),
    ];
    assert_eq!(invalid_header(read_auth(&others)).0, "X-Original-URL");
}

#[test]
fn forward_auth_ignores_the_original_family() {
    let mut pairs = TRAEFIK.to_vec();
    pairs.push(("x-original-url", "https://app.example.com/static/x"));
    pairs.push(("x-original-method", "GET"));
    pairs.push(("x-original-uri", "/static/x"));
    let req = read(&pairs).unwrap();
    assert_eq!((req.method, req.path.as_str()), (Method::POST, "/admin/x"));
    assert_eq!(
        invalid_header(read(INGRESS_NGINX)),
        ("X-Forwarded-Method", "missing".to_owned())
    );
}

#[test]
fn a_second_original_url_is_refused() {
    let mut pairs = INGRESS_NGINX.to_vec();
    pairs.push(("x-original-url", "https://app.example.com/static/x"));
    assert_eq!(
        invalid_header(read_auth(&pairs)),
        ("X-Original-URL", "sent more than once".to_owned())
    );
}

// ---- family 1: Traefik, Caddy

#[test]
fn traefik_family_is_read_in_full() {
    let expected = request(
        Method::POST,
        "https",
        "app.example.com",
        "app.example.com:8443",
        "/admin/x",
        "/api/%2e%2e/admin//x?q=%2F",
    );
    assert_eq!(read(TRAEFIK), Ok(expected));
}

#[test]
fn traefik_family_without_proto_means_http() {
    let pairs = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/"),
        ("x-forwarded-host", "a.example"),
    ];
    assert_eq!(
        read(&pairs),
        Ok(request(Method::GET, "http", "a.example", "a.example", "/", "/"))
    );
}

#[test]
fn traefik_family_without_method_is_invalid() {
    let (header, _) = invalid_header(read(&without(TRAEFIK, "x-forwarded-method")));
    assert_eq!(header, "X-Forwarded-Method");
}

#[test]
fn traefik_family_with_bad_method_is_invalid() {
    for bad in ["", "GE T", "GET,POST", "G(ET"] {
        let (header, _) = invalid_header(read(&with(TRAEFIK, "x-forwarded-method", bad)));
        assert_eq!(header, "X-Forwarded-Method", "{bad:?}");
    }
}

#[test]
fn traefik_family_with_bad_proto_is_invalid() {
    let (header, _) = invalid_header(read(&with(TRAEFIK, "x-forwarded-proto", "ftp")));
    assert_eq!(header, "X-Forwarded-Proto");
}

#[test]
fn forwarded_proto_list_takes_its_first_entry() {
    let req = read(&with(TRAEFIK, "x-forwarded-proto", "https, http")).unwrap();
    assert_eq!(req.scheme, "https");
}

#[test]
fn traefik_family_with_bad_host_is_invalid() {
    for bad in ["a b", "a/b", "a..b", "a:", "a:99999", "a:8x", "[::1", "[zz]", "a@b", ""] {
        let (header, _) = invalid_header(read(&with(TRAEFIK, "x-forwarded-host", bad)));
        assert_eq!(header, "X-Forwarded-Host", "{bad:?}");
    }
}

/// Found by the `origin` fuzzer: a name whose last label is a number is an IPv4 address to a
/// browser, so `0863` or `app.2222` would be read one way here and another way there.
#[test]
fn a_host_that_ends_in_a_number_must_be_an_ipv4_address() {
    for bad in ["0863", "app.2222", "a.0x1f", "1.2.3", "256.1.1.1", "10.0.0.1.5"] {
        let (header, reason) = invalid_header(read(&with(TRAEFIK, "x-forwarded-host", bad)));
        assert_eq!(header, "X-Forwarded-Host", "{bad:?}");
        assert!(reason.contains("ends in a number"), "{bad:?}: {reason}");
    }
    for good in ["10.0.0.1", "app.example.com", "app-2", "2fa.example.com", "app.v2"] {
        let request = read(&with(TRAEFIK, "x-forwarded-host", good)).expect(good);
        assert!(url::Url::parse(&request.url()).is_ok(), "{good:?}");
    }
}

#[test]
fn traefik_family_without_forwarded_host_is_invalid_even_with_host() {
    let (header, _) = invalid_header(read(&without(TRAEFIK, "x-forwarded-host")));
    assert_eq!(header, "X-Forwarded-Host");
}

#[test]
fn traefik_family_without_uri_is_invalid() {
    let (header, _) = invalid_header(read(&without(TRAEFIK, "x-forwarded-uri")));
    assert_eq!(header, "X-Forwarded-Uri");
}

#[test]
fn traefik_family_with_relative_uri_is_invalid() {
    let (header, _) = invalid_header(read(&with(TRAEFIK, "x-forwarded-uri", "admin")));
    assert_eq!(header, "X-Forwarded-Uri");
}

#[test]
fn traefik_family_with_unsafe_path_names_the_uri_header() {
    let (header, _) = invalid_header(read(&with(TRAEFIK, "x-forwarded-uri", "/a%2Fb")));
    assert_eq!(header, "X-Forwarded-Uri");
}

#[test]
fn forwarded_host_list_takes_its_first_entry() {
    let req = read(&with(TRAEFIK, "x-forwarded-host", " One.example , two.example")).unwrap();
    assert_eq!(
        (req.host.as_str(), req.authority.as_str()),
        ("one.example", "one.example")
    );
}

#[test]
fn ipv6_host_keeps_brackets_and_port_stays_in_authority() {
    let req = read(&with(TRAEFIK, "x-forwarded-host", "[::1]:8080")).unwrap();
    assert_eq!((req.host.as_str(), req.authority.as_str()), ("[::1]", "[::1]:8080"));
}

#[test]
fn ipv4_host_is_accepted() {
    let req = read(&with(TRAEFIK, "x-forwarded-host", "192.0.2.7:80")).unwrap();
    assert_eq!(
        (req.host.as_str(), req.authority.as_str()),
        ("192.0.2.7", "192.0.2.7:80")
    );
}

#[test]
fn trailing_dot_is_dropped_from_host_only() {
    let req = read(&with(TRAEFIK, "x-forwarded-host", "Admin.Example.com.")).unwrap();
    assert_eq!(
        (req.host.as_str(), req.authority.as_str()),
        ("admin.example.com", "admin.example.com.")
    );
}

#[test]
fn non_utf8_header_is_invalid() {
    let mut map = headers(TRAEFIK);
    map.insert("x-forwarded-uri", HeaderValue::from_bytes(b"/caf\xe9").unwrap());
    let (header, _) = invalid_header(from_forward_auth_headers(&map, true));
    assert_eq!(header, "X-Forwarded-Uri");
}

#[test]
fn repeated_header_is_invalid() {
    let mut pairs = TRAEFIK.to_vec();
    pairs.push(("x-forwarded-method", "GET"));
    let (header, _) = invalid_header(read(&pairs));
    assert_eq!(header, "X-Forwarded-Method");
}

#[test]
fn the_query_is_kept_apart_from_the_path() {
    let req = read(&with(TRAEFIK, "x-forwarded-uri", "/a/../b?c=/../d&e")).unwrap();
    assert_eq!((req.path.as_str(), req.uri.as_str()), ("/b", "/a/../b?c=/../d&e"));
    assert_eq!(req.url(), "https://app.example.com:8443/a/../b?c=/../d&e");
}

#[test]
fn a_hash_anywhere_in_the_target_is_invalid() {
    for bad in ["/admin#/x", "/a?b#c", "/#"] {
        let (header, _) = invalid_header(read(&with(TRAEFIK, "x-forwarded-uri", bad)));
        assert_eq!(header, "X-Forwarded-Uri", "{bad:?}");
    }
    let (header, _) = invalid_header(read_auth(&with(
        INGRESS_NGINX,
        "x-original-url",
        "https://a.example/a#top",
    )));
    assert_eq!(header, "X-Original-URL");
}

// ---- family 2: ingress-nginx

#[test]
fn ingress_nginx_family_is_read_in_full() {
    let expected = request(
        Method::GET,
        "https",
        "app.example.com",
        "app.example.com:8443",
        "/a/b",
        "/a/./b?x=1",
    );
    assert_eq!(read_auth(INGRESS_NGINX), Ok(expected));
}

#[test]
fn ingress_nginx_url_without_path_means_root() {
    let req = read_auth(&with(INGRESS_NGINX, "x-original-url", "http://a.example?x=1")).unwrap();
    assert_eq!(
        (req.scheme, req.path.as_str(), req.uri.as_str()),
        ("http", "/", "/?x=1")
    );
}

#[test]
fn ingress_nginx_family_without_method_is_invalid() {
    let (header, _) = invalid_header(read_auth(&without(INGRESS_NGINX, "x-original-method")));
    assert_eq!(header, "X-Original-Method");
}

#[test]
fn ingress_nginx_family_with_bad_url_is_invalid() {
    for bad in [
        "/a/b",
        "ftp://a.example/",
        "https://",
        "https://user@a.example/",
        "https://a b/",
        "https://a/%2e%2e/..",
    ] {
        let (header, _) = invalid_header(read_auth(&with(INGRESS_NGINX, "x-original-url", bad)));
        assert_eq!(header, "X-Original-URL", "{bad:?}");
    }
}

#[test]
fn ingress_nginx_backslash_is_not_turned_into_a_slash() {
    let (header, _) = invalid_header(read_auth(&with(
        INGRESS_NGINX,
        "x-original-url",
        "https://a.example/..\\admin",
    )));
    assert_eq!(header, "X-Original-URL");
}

// ---- ext_authz

#[test]
fn ext_authz_form_uses_the_request_method_and_host() {
    let map = headers(&[("host", "App.Example.com:443"), ("x-forwarded-proto", "https")]);
    let req = from_ext_authz(&Method::PATCH, &map, "/a/%2e/b?x=1", true).unwrap();
    let expected = request(
        Method::PATCH,
        "https",
        "app.example.com",
        "app.example.com:443",
        "/a/b",
        "/a/%2e/b?x=1",
    );
    assert_eq!(req, expected);
}

#[test]
fn ext_authz_ignores_forwarded_proto_from_an_untrusted_peer() {
    let map = headers(&[("host", "a.example"), ("x-forwarded-proto", "https")]);
    assert_eq!(from_ext_authz(&Method::GET, &map, "/", false).unwrap().scheme, "http");
    let bad_proto = headers(&[("host", "a.example"), ("x-forwarded-proto", "nope")]);
    assert_eq!(
        from_ext_authz(&Method::GET, &bad_proto, "/", false).unwrap().scheme,
        "http"
    );
}

#[test]
fn ext_authz_empty_path_means_root() {
    let map = headers(&[("host", "a.example")]);
    let req = from_ext_authz(&Method::GET, &map, "", false).unwrap();
    assert_eq!((req.path.as_str(), req.uri.as_str()), ("/", "/"));
}

#[test]
fn ext_authz_without_host_is_invalid() {
    let (header, _) = invalid_header(from_ext_authz(&Method::GET, &HeaderMap::new(), "/", true));
    assert_eq!(header, "Host");
}

#[test]
fn ext_authz_with_unsafe_path_is_invalid() {
    let map = headers(&[("host", "a.example")]);
    let (header, _) = invalid_header(from_ext_authz(&Method::GET, &map, "/a/%2f", true));
    assert_eq!(header, ":path");
    let (header, _) = invalid_header(from_ext_authz(&Method::GET, &map, "a", true));
    assert_eq!(header, ":path");
}

#[test]
fn error_messages_name_the_header() {
    let err = read_auth(&without(INGRESS_NGINX, "x-original-method")).unwrap_err();
    // The contract (README): the 400 body names the header; the wording around it is free.
    assert!(err.to_string().contains("X-Original-Method"), "{err}");
}
