//! Validation of `rd=` targets (open-redirect protection), checked before anything else.
//!
//! Accepted: a relative path (`/path?query`), or a plain absolute `https` URL (`http` for
//! loopback hosts only) whose host is in `allowed_redirect_domains`. Everything else is refused:
//! scheme-relative and backslash forms, userinfo, other schemes, whitespace and control
//! characters (raw or percent-encoded), encoded slashes or backslashes where they could change
//! the host, and hosts that merely end with an allowed domain's text.

use percent_encoding::percent_decode_str;

/// Why an `rd` target is refused (for the 400 body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rd is not an allowed redirect target: {0}")]
pub struct BadRedirect(pub &'static str);

/// Checks `rd` against `allowed` domains (a leading dot: the domain and its subdomains); returns
/// the target to redirect to, `/` when `rd` is absent or empty.
pub fn validate(rd: Option<&str>, allowed: &[String]) -> Result<String, BadRedirect> {
    let rd = rd.unwrap_or_default();
    if rd.is_empty() {
        return Ok("/".into());
    }
    if rd.len() > 4096 {
        return Err(BadRedirect("too long"));
    }
    let decoded = percent_decode_str(rd).decode_utf8_lossy();
    // `rd` arrives decoded once (it is a query parameter): raw whitespace is refused. Decoded once
    // more only control characters are: the original URL's own `%20` (say `?q=a%20b`) is fine.
    if rd.chars().any(|c| c.is_control() || c.is_whitespace()) || decoded.chars().any(char::is_control) {
        return Err(BadRedirect("whitespace or control character"));
    }
    if rd.contains('\\') {
        return Err(BadRedirect("backslash"));
    }
    if rd.starts_with('/') {
        return relative(rd, &decoded);
    }
    absolute(rd, allowed)
}

fn relative(rd: &str, decoded: &str) -> Result<String, BadRedirect> {
    // `//host` and `/\host` are scheme-relative in browsers; so are their encoded forms.
    if ["//", "/\\"]
        .iter()
        .any(|prefix| rd.starts_with(prefix) || decoded.starts_with(prefix))
    {
        return Err(BadRedirect("scheme-relative URL"));
    }
    let lower = rd.to_ascii_lowercase();
    if lower.starts_with("/%2f") || lower.starts_with("/%5c") {
        return Err(BadRedirect("encoded slash or backslash"));
    }
    Ok(rd.to_string())
}

fn absolute(rd: &str, allowed: &[String]) -> Result<String, BadRedirect> {
    let lower = rd.to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(BadRedirect("not an http(s) URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Host and port only: no userinfo (`@`), no percent-encoding, nothing a parser may read twice.
    if authority.is_empty()
        || !authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        return Err(BadRedirect("host is not a plain host name"));
    }
    let url = url::Url::parse(rd).map_err(|_| BadRedirect("not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadRedirect("userinfo"));
    }
    let host = url.host_str().ok_or(BadRedirect("no host"))?.to_ascii_lowercase();
    if scheme == "http" && !is_loopback(&host) {
        return Err(BadRedirect("http is allowed for loopback hosts only"));
    }
    if !allowed.iter().any(|domain| host_allowed(&host, domain)) {
        return Err(BadRedirect("host not in allowed_redirect_domains"));
    }
    Ok(rd.to_string())
}

/// `host` equals the domain, or (for `.domain`) is the domain or one of its subdomains.
fn host_allowed(host: &str, domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    match domain.strip_prefix('.') {
        Some(bare) => host == bare || host.strip_suffix(bare).is_some_and(|label| label.ends_with('.')),
        None => host == domain,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![".example.com".into(), "127.0.0.1".into()]
    }

    #[test]
    fn plain_targets_on_allowed_hosts_are_accepted() {
        for rd in [
            "https://example.com/",
            "https://app.example.com/a/b?x=1&y=%2F#frag",
            "https://deep.app.example.com:8443/",
            "HTTPS://App.Example.com/x",
            "/relative/path?q=1",
            "/",
            "http://127.0.0.1:8080/x",
        ] {
            assert_eq!(validate(Some(rd), &allowed()).as_deref(), Ok(rd), "{rd}");
        }
        assert_eq!(validate(None, &allowed()).as_deref(), Ok("/"));
        assert_eq!(validate(Some(""), &allowed()).as_deref(), Ok("/"));
    }

    #[test]
    fn every_trick_is_refused() {
        for rd in [
            "//evil.com",
            "//evil.com/path",
            "/\\evil.com",
            "\\\\evil.com",
            "/%2F%2Fevil.com",
            "/%2fevil.com",
            "/%5Cevil.com",
            "/%5c%5cevil.com",
            "https:/evil.com",
            "https:evil.com",
            "https:\\\\evil.com",
            "https://evil.com\\@app.example.com",
            "https://app.example.com@evil.com/",
            "https://user:pw@app.example.com/",
            "https://app.example.com%2F@evil.com",
            "https://app.example.com%2f.evil.com",
            "https://app.example.com%5C.evil.com",
            "https://evil.com%23.example.com",
            "https://example.com.evil.com/",
            "https://evilexample.com/",
            "https://evil.com/https://app.example.com",
            "http://app.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://app.example.com/",
            " https://app.example.com/",
            "https://app.example.com/\r\nSet-Cookie: x=1",
            "https://app.example.com/%0d%0aSet-Cookie:x",
            "/path\twith-tab",
            "/%09/evil.com",
            "https://app.example.com\t.evil.com",
            "app.example.com",
            "https://",
            "https:///app.example.com",
            "http://localhost.evil.com/",
        ] {
            assert!(validate(Some(rd), &allowed()).is_err(), "{rd:?} was accepted");
        }
    }

    #[test]
    fn original_urls_with_encoded_spaces_come_back() {
        for rd in ["https://app.example.com/search?q=a%20b", "/search?q=a%20b&x=%C2%A0"] {
            assert_eq!(validate(Some(rd), &allowed()).as_deref(), Ok(rd), "{rd:?} was refused");
        }
    }

    #[test]
    fn leading_dot_means_domain_and_subdomains_and_no_dot_means_exact() {
        assert!(host_allowed("example.com", ".example.com"));
        assert!(host_allowed("a.b.example.com", ".example.com"));
        assert!(!host_allowed("evilexample.com", ".example.com"));
        assert!(host_allowed("app.example.com", "app.example.com"));
        assert!(!host_allowed("x.app.example.com", "app.example.com"));
    }
}
