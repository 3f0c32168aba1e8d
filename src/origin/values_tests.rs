//! The one-pass parsers of `values` against the straightforward ones they replaced (kept here,
//! as they were, as the reference): the same answer, error text included, for every short
//! string of an alphabet chosen to hit each branch, and for named cases of each fast path and
//! its fallback.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::values::{parse_absolute_url, parse_authority, parse_method, parse_target};
use super::*;

mod reference {
    //! The parsers as they were before the single-pass rewrite.

    use axum::http::Method;

    use super::super::normalise_path_full;
    // The scheme split and the port and IPv6 checks are unchanged: the reference uses the ones
    // in force.
    use super::super::values::{Authority, Target, check_ipv6, check_port, split_scheme};

    pub(super) fn parse_method(raw: &str) -> Result<Method, &'static str> {
        if raw.is_empty() {
            return Err("empty");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err("not an HTTP method token");
        }
        Method::from_bytes(raw.to_ascii_uppercase().as_bytes()).map_err(|_| "not an HTTP method token")
    }

    pub(super) fn parse_authority(raw: &str) -> Result<Authority, &'static str> {
        if raw.is_empty() {
            return Err("empty");
        }
        let authority = raw.to_ascii_lowercase();
        let (host, port) = split_port(&authority)?;
        if let Some(port) = port {
            check_port(port)?;
        }
        let host = match host.strip_prefix('[') {
            Some(bracketed_tail) => check_ipv6(bracketed_tail).map(|()| host)?,
            None => check_name(host)?,
        };
        Ok(Authority {
            host: host.to_owned(),
            authority,
        })
    }

    fn split_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
        if authority.starts_with('[') {
            let close = authority.find(']').ok_or("unclosed [ in IPv6 address")?;
            let (host, rest) = authority.split_at(close + 1);
            return match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None if rest.is_empty() => Ok((host, None)),
                None => Err("unexpected characters after IPv6 address"),
            };
        }
        Ok(authority
            .split_once(':')
            .map_or((authority, None), |(host, port)| (host, Some(port))))
    }

    fn check_name(name: &str) -> Result<&str, &'static str> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() || name.len() > 253 {
            return Err("host name empty or too long");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err("host name has characters outside letters, digits, - . _");
        }
        if name.split('.').any(str::is_empty) {
            return Err("host name has an empty label");
        }
        if ends_in_a_number(name) && name.parse::<std::net::Ipv4Addr>().is_err() {
            return Err("host name ends in a number but is not an IPv4 address");
        }
        Ok(name)
    }

    fn ends_in_a_number(name: &str) -> bool {
        let last = name.rsplit('.').next().unwrap_or(name);
        let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
        match hex {
            Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
            None => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
        }
    }

    pub(super) fn parse_target(raw: &str) -> Result<Target, String> {
        if raw.contains('#') {
            return Err("# in request target".to_owned());
        }
        let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
        if query.bytes().any(|b| b.is_ascii_control()) {
            return Err("control character in query".to_owned());
        }
        let path = normalise_path_full(path).map_err(|err| err.to_string())?;
        Ok(Target {
            path,
            uri: raw.to_owned(),
        })
    }

    pub(super) fn parse_absolute_url(raw: &str) -> Result<(&'static str, Authority, Target), String> {
        let (scheme, rest) = split_scheme(raw).ok_or("not an absolute http or https URL")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user info is not allowed".to_owned());
        }
        let authority = parse_authority(authority)?;
        let target = match target.strip_prefix('/') {
            Some(_) => parse_target(target)?,
            None => parse_target(&format!("/{target}"))?,
        };
        Ok((scheme, authority, target))
    }
}

/// Calls `each` with every string of `alphabet` bytes of length `len`, after `prefix`.
fn every_string(alphabet: &[u8], prefix: &str, len: usize, each: &mut impl FnMut(&str)) {
    let mut digits = vec![0usize; len];
    let mut text = String::with_capacity(prefix.len() + len);
    loop {
        text.clear();
        text.push_str(prefix);
        text.extend(digits.iter().map(|&d| char::from(alphabet[d])));
        each(&text);
        let Some(carry) = digits.iter().rposition(|&d| d + 1 < alphabet.len()) else {
            return;
        };
        digits[carry] += 1;
        digits[carry + 1..].fill(0);
    }
}

/// Every string of `alphabet` up to `max` bytes, after `prefix`; returns how many were checked.
pub(super) fn every_string_up_to(alphabet: &[u8], prefix: &str, max: usize, mut each: impl FnMut(&str)) -> usize {
    let mut seen = 0;
    for len in 0..=max {
        every_string(alphabet, prefix, len, &mut |text| {
            seen += 1;
            each(text);
        });
    }
    seen
}

#[test]
fn hosts_parse_as_before() {
    // Case, digits and hex, the dot, the port colon, brackets, `@`, `_` and a byte never allowed.
    let mut accepted = 0;
    let seen = every_string_up_to(b"aB0x9.:[]_@ ", "", 5, |raw| {
        let got = parse_authority(raw);
        assert_eq!(got, reference::parse_authority(raw), "{raw:?}");
        accepted += usize::from(got.is_ok());
    });
    assert!(seen > 200_000 && accepted > 5_000, "{seen} seen, {accepted} accepted");
    for raw in [
        "App.Example.com",
        "app.example.com:8443",
        "APP.EXAMPLE.COM.:80",
        "[::1]",
        "[::1]:8080",
        "[FE80::1]",
        "[::1]x",
        "[::1",
        "10.0.0.1",
        "10.0.0.1:65536",
        "0X1F",
        "a.0x",
        "a:b:c",
        ".a",
        "a..b",
        "a.",
        "a..",
        &"a".repeat(254),
        &format!("{}.", "a".repeat(253)),
        "app.example.com/x",
        "caf\u{e9}.example",
    ] {
        assert_eq!(parse_authority(raw), reference::parse_authority(raw), "{raw:?}");
    }
}

#[test]
fn targets_parse_as_before() {
    let mut canonical = 0;
    let seen = every_string_up_to(b"/.a;%2F?#\x01", "", 6, |raw| {
        let got = parse_target(raw);
        assert_eq!(got, reference::parse_target(raw), "{raw:?}");
        canonical += usize::from(path::canonical_path_len(raw.as_bytes()).is_some());
    });
    assert!(
        seen > 500_000 && canonical > 5_000,
        "{seen} seen, {canonical} canonical"
    );
}

#[test]
fn absolute_urls_parse_as_before() {
    let seen = every_string_up_to(b"aA:@/.?#1", "https://", 5, |raw| {
        assert_eq!(parse_absolute_url(raw), reference::parse_absolute_url(raw), "{raw:?}");
    });
    assert!(seen > 60_000, "{seen}");
    for raw in [
        "https://app.example.com/static/app.css",
        "HTTPS://App.Example.com:8443/a/./b?x=1",
        "http://a.example?x=1",
        "https://user@a.example/",
        "https://a@b:99999/",
        "https://[::1@]/",
        "https://[::1]:8080/x",
        "https://a b/",
        "https://a/%2e%2e/..",
        "https://a/..\\admin",
        "https://a.example/a#top",
        "ftp://a/",
        "https://",
    ] {
        assert_eq!(parse_absolute_url(raw), reference::parse_absolute_url(raw), "{raw:?}");
    }
}

#[test]
fn methods_parse_as_before() {
    let seen = every_string_up_to(b"GgeT-(!", "", 5, |raw| {
        assert_eq!(parse_method(raw), reference::parse_method(raw), "{raw:?}");
    });
    assert!(seen > 10_000, "{seen}");
    for raw in [
        "GET",
        "get",
        "Post",
        "PROPFIND",
        "propfind",
        "M-SEARCH",
        "",
        "GE T",
        "X".repeat(40).as_str(),
    ] {
        assert_eq!(parse_method(raw), reference::parse_method(raw), "{raw:?}");
    }
}

fn auth(url: &'static str, method: &'static str) -> Result<OriginalRequest, OriginError> {
    let mut headers = HeaderMap::new();
    headers.append(HeaderName::from_static("x-original-url"), HeaderValue::from_static(url));
    headers.append(
        HeaderName::from_static("x-original-method"),
        HeaderValue::from_static(method),
    );
    from_auth_headers(&headers, true)
}

#[test]
fn a_lower_case_method_is_still_upper_cased() {
    let request = auth("https://a.example/", "propfind").unwrap();
    assert_eq!(request.method, Method::from_bytes(b"PROPFIND").unwrap());
    assert_eq!(auth("https://a.example/", "get").unwrap().method, Method::GET);
    assert_eq!(auth("https://a.example/", "GET").unwrap().method, Method::GET);
}

#[test]
fn the_host_is_lower_cased_only_when_it_needs_to_be() {
    let upper = auth("https://App.EXAMPLE.com:8443/x", "GET").unwrap();
    assert_eq!(
        (upper.host.as_str(), upper.authority.as_str()),
        ("app.example.com", "app.example.com:8443")
    );
    let lower = auth("https://app.example.com/x", "GET").unwrap();
    assert_eq!(
        (lower.host.as_str(), lower.authority.as_str()),
        ("app.example.com", "app.example.com")
    );
    let ipv6 = auth("https://[FE80::1]:8443/x", "GET").unwrap();
    assert_eq!(
        (ipv6.host.as_str(), ipv6.authority.as_str()),
        ("[fe80::1]", "[fe80::1]:8443")
    );
}

#[test]
fn user_info_is_still_named_whatever_else_is_wrong() {
    for url in [
        "https://user@a.example/",
        "https://u@a:99999/",
        "https://[::1@]/",
        "https://a b@c/",
    ] {
        let err = auth(url, "GET").unwrap_err();
        assert!(err.to_string().contains("user info is not allowed"), "{url}: {err}");
    }
}

#[test]
fn a_path_that_needs_normalising_right_after_one_that_does_not() {
    let first = auth("https://a.example/static/app.css?v=1", "GET").unwrap();
    assert_eq!(
        (first.path.as_str(), first.uri.as_str()),
        ("/static/app.css", "/static/app.css?v=1")
    );
    let second = auth("https://a.example/static/./x/../app%2ecss;v=1?v=1", "GET").unwrap();
    assert_eq!(
        (second.path.as_str(), second.uri.as_str()),
        ("/static/app.css", "/static/./x/../app%2ecss;v=1?v=1")
    );
    let third = auth("https://a.example/static/app.css", "GET").unwrap();
    assert_eq!(third.path, "/static/app.css");
    // A canonical path up to the `?` still has its query checked.
    assert!(auth("https://a.example/static/app.css?a#b", "GET").is_err());
    let ends_in_dot = auth("https://a.example/static/app.?x", "GET").unwrap_err();
    assert!(ends_in_dot.to_string().contains("ends in a dot"), "{ends_in_dot}");
}

#[test]
fn forwarded_lists_and_padding_are_trimmed_as_before() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-forwarded-method", "\tget "),
        ("x-forwarded-proto", " HTTPS \t, http"),
        ("x-forwarded-host", "\t App.Example.com:8443 ,b.example"),
        ("x-forwarded-uri", " /a/b?c "),
    ] {
        headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    let request = from_forward_auth_headers(&headers, true).unwrap();
    assert_eq!(request.method, Method::GET);
    assert_eq!(request.scheme, "https");
    assert_eq!(
        (request.host.as_str(), request.authority.as_str()),
        ("app.example.com", "app.example.com:8443")
    );
    assert_eq!((request.path.as_str(), request.uri.as_str()), ("/a/b", "/a/b?c"));
}
