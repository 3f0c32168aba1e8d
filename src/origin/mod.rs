//! The original request: which method, host and path the proxy is asking about, read from the
//! one header family of the endpoint asked (only from trusted peers) or from the
//! `/ext-authz/<path>` form, with the path normalised for matching.
//!
//! Submodules: `values` parses single header values (method, scheme, host, target) and `path`
//! normalises paths. Nothing here panics on any input: every failure is an [`OriginError`] that
//! names the header at fault.

mod path;
mod values;

use std::net::IpAddr;

use axum::http::{HeaderMap, Method, header};
use ipnet::IpNet;

pub use path::normalise_path;
#[doc(hidden)]
pub use path::normalise_path_full;
use values::{Authority, Field, Target, X_FORWARDED_METHOD, X_FORWARDED_URI, X_ORIGINAL_METHOD, X_ORIGINAL_URL};

/// The request the proxy asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// The original method.
    pub method: Method,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Host without port, lower case: what host rules match.
    pub host: String,
    /// Host with port as the client sent it: what the original URL is rebuilt from.
    pub authority: String,
    /// The normalised path (no query): what path rules match.
    pub path: String,
    /// Path and query exactly as the client sent them: what `rd=` carries back.
    pub uri: String,
}

impl OriginalRequest {
    /// The original URL, `scheme://authority/uri`.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.uri)
    }
}

/// Why the original request could not be read; shown to the caller in a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The peer is outside `trusted_proxies`: its headers are not read, so the request has none.
    #[error("header {headers} ignored from this peer (not in server.trusted_proxies)")]
    UntrustedPeer {
        /// The headers the endpoint would have read.
        headers: &'static str,
    },
    /// A header the endpoint needs is missing, repeated, or its value cannot be used.
    #[error("header {header} is invalid: {reason}")]
    Invalid {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of a gRPC `CheckRequest` that the decision needs is missing or cannot be used.
    #[error("field {field} is invalid: {reason}")]
    Field {
        /// The field's path in the `CheckRequest` (`attributes.request.http.method`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a path cannot be normalised without ambiguity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("path must start with /")]
    NotAbsolute,
    /// `%2F` or `%5C`: an encoded separator.
    #[error("encoded slash or backslash in path")]
    EncodedSeparator,
    /// A literal backslash.
    #[error("backslash in path")]
    Backslash,
    /// A NUL or other control character, literal or encoded.
    #[error("control character in path")]
    ControlCharacter,
    /// A `%` not followed by two hex digits, or percent-encoding that is not UTF-8.
    #[error("bad percent-encoding in path")]
    BadPercentEncoding,
    /// A `.` or `..` segment with `;` parameters (`..;x`), which some servers resolve as `..`.
    #[error("dot segment with ; parameters in path")]
    DotSegmentParameter,
    /// `..` above the root.
    #[error("path climbs above the root")]
    AboveRoot,
    /// A literal `#`: a fragment is never sent to a server, so the path was not built by a
    /// browser and could be read two ways.
    #[error("# in path")]
    Fragment,
    /// A segment ending in `.` (`/admin./`), which IIS routes as the segment without the dot.
    #[error("path segment ends in a dot")]
    SegmentEndsInDot,
    /// A segment ending in a space (`/admin%20/`), which IIS routes as the segment without it.
    #[error("path segment ends in a space")]
    SegmentEndsInSpace,
}

/// The peers whose forwarded headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// Whether `peer` is one of them (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, peer: IpAddr) -> bool {
        let canonical = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&canonical) || net.contains(&peer))
    }
}

/// What an untrusted peer of `/auth` is told it sent in vain.
const AUTH_FAMILY: &str = "X-Original-URL/X-Original-Method";
/// What an untrusted peer of `/forward-auth` is told it sent in vain.
const FORWARD_AUTH_FAMILY: &str = "X-Forwarded-Method/-Proto/-Host/-Uri";

/// Reads the original request of `/auth` (nginx `auth_request`, ingress-nginx `auth-url`):
/// `X-Original-Method` and the absolute `X-Original-URL`, and nothing else. nginx and
/// ingress-nginx copy every client header into the subrequest, so no other header may choose
/// what is judged (the bug class of oauth2-proxy's CVE-2026-40575). `trusted` says whether the
/// peer is a trusted proxy; when it is not, nothing is read.
pub fn from_auth_headers(headers: &HeaderMap, trusted: bool) -> Result<OriginalRequest, OriginError> {
    if !trusted {
        return Err(OriginError::UntrustedPeer { headers: AUTH_FAMILY });
    }
    let url = values::required(headers, &X_ORIGINAL_URL)?;
    let method = values::required_method(headers, &X_ORIGINAL_METHOD)?;
    let (scheme, authority, target) =
        values::parse_absolute_url(url).map_err(|reason| values::invalid(X_ORIGINAL_URL.label, reason))?;
    Ok(OriginalRequest::assemble(method, scheme, authority, target))
}

/// Reads the original request of `/forward-auth` (Traefik ForwardAuth, Caddy `forward_auth`):
/// `X-Forwarded-Method`, `-Proto` (missing means `http`), `-Host` and `-Uri`, and nothing else.
/// Every one but the scheme is required: the `Host` of the auth request is the auth service's
/// own, and a missing method must not let a request slip past a method-restricted rule.
pub fn from_forward_auth_headers(headers: &HeaderMap, trusted: bool) -> Result<OriginalRequest, OriginError> {
    if !trusted {
        return Err(OriginError::UntrustedPeer {
            headers: FORWARD_AUTH_FAMILY,
        });
    }
    let method = values::required_method(headers, &X_FORWARDED_METHOD)?;
    let scheme = values::forwarded_scheme(headers)?;
    let authority = values::forwarded_authority(headers)?;
    let uri = values::required(headers, &X_FORWARDED_URI)?;
    let target = target_from(&X_FORWARDED_URI, uri)?;
    Ok(OriginalRequest::assemble(method, scheme, authority, target))
}

fn target_from(field: &Field, raw: &str) -> Result<Target, OriginError> {
    values::parse_target(raw).map_err(|reason| values::invalid(field.label, reason))
}

impl OriginalRequest {
    fn assemble(method: Method, scheme: &'static str, authority: Authority, target: Target) -> Self {
        Self {
            method,
            scheme,
            host: authority.host,
            authority: authority.authority,
            path: target.path,
            uri: target.uri,
        }
    }
}

/// Reads the original request of the `/ext-authz/<path>` form: the method and `Host` are the
/// request's own, `path_and_query` is what follows the prefix (with its leading `/`).
/// `X-Forwarded-Proto` is read only from a trusted peer.
pub fn from_ext_authz(
    method: &Method,
    headers: &HeaderMap,
    path_and_query: &str,
    trusted: bool,
) -> Result<OriginalRequest, OriginError> {
    let authority = values::host_authority(headers)?;
    let scheme = if trusted {
        values::forwarded_scheme(headers)?
    } else {
        "http"
    };
    let target = match path_and_query {
        "" => values::parse_target("/"),
        rest if rest.starts_with('?') => values::parse_target(&format!("/{rest}")),
        rest => values::parse_target(rest),
    }
    .map_err(|reason| values::invalid(EXT_AUTHZ_PATH, reason))?;
    Ok(OriginalRequest::assemble(method.clone(), scheme, authority, target))
}

/// What a bad `/ext-authz/<path>` path is reported as: Envoy's `:path` pseudo-header.
const EXT_AUTHZ_PATH: &str = ":path";

/// The fields of an Envoy `CheckRequest` that say what is asked about: its
/// `attributes.request.http` `method`, `scheme`, `host` and `path` (with the query).
#[derive(Debug, Clone, Copy)]
pub struct CheckFields<'a> {
    /// The original method.
    pub method: &'a str,
    /// `http` or `https` as Envoy saw the request; empty means `http`.
    pub scheme: &'a str,
    /// The original `:authority` (`Host`).
    pub host: &'a str,
    /// The original path and query.
    pub path: &'a str,
}

/// The `CheckRequest` fields, as a 400 names them.
pub const CHECK_METHOD: &str = "attributes.request.http.method";
/// See [`CHECK_METHOD`].
pub const CHECK_SCHEME: &str = "attributes.request.http.scheme";
/// See [`CHECK_METHOD`].
pub const CHECK_HOST: &str = "attributes.request.http.host";
/// See [`CHECK_METHOD`].
pub const CHECK_PATH: &str = "attributes.request.http.path";

/// Reads the original request of gRPC ext_authz (`envoy.service.auth.v3.Authorization/Check`):
/// the method, host and path are required. The scheme is read only from a trusted peer, as
/// `X-Forwarded-Proto` on `/ext-authz`; otherwise (or when empty) it is `http`.
pub fn from_check_request(fields: &CheckFields<'_>, trusted: bool) -> Result<OriginalRequest, OriginError> {
    let field = |field: &'static str, reason: &str| OriginError::Field {
        field,
        reason: reason.to_owned(),
    };
    let method = values::parse_method(fields.method).map_err(|reason| match fields.method {
        "" => field(CHECK_METHOD, "missing"),
        _ => field(CHECK_METHOD, reason),
    })?;
    let scheme = match (trusted, fields.scheme) {
        (false, _) | (true, "") => "http",
        (true, raw) => values::parse_scheme(raw).ok_or_else(|| field(CHECK_SCHEME, "not http or https"))?,
    };
    let authority = match fields.host {
        "" => return Err(field(CHECK_HOST, "missing")),
        raw => values::parse_authority(raw).map_err(|reason| field(CHECK_HOST, reason))?,
    };
    let target = match fields.path {
        "" => return Err(field(CHECK_PATH, "missing")),
        raw => values::parse_target(raw).map_err(|reason| field(CHECK_PATH, &reason))?,
    };
    Ok(OriginalRequest::assemble(method, scheme, authority, target))
}

/// Who is asking: a browser (sent to login) or an API client (answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// No bearer token, no `X-Requested-With: XMLHttpRequest`, and an `Accept` with `text/html`.
    Browser,
    /// Everything else.
    Api,
}

/// Tells a browser from an API client by the original request's headers.
pub fn client_kind(headers: &HeaderMap) -> ClientKind {
    let wants_html = || {
        headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|accept| contains_ignore_case(accept.as_bytes(), b"text/html"))
    };
    // Cheapest test first: API clients rarely send `Accept: text/html`.
    if !wants_html() || is_xml_http_request(headers) || crate::authn::bearer::presented(headers).is_some() {
        ClientKind::Api
    } else {
        ClientKind::Browser
    }
}

fn is_xml_http_request(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-requested-with")
        .iter()
        .any(|value| value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"XMLHttpRequest"))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod values_tests;
