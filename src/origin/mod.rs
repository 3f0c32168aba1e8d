//! The original request: which method, host and path the proxy is asking about, read from the
//! forwarded header families (only from trusted peers) or from the `/ext-authz/<path>` form, with
//! the path normalised for matching.
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
use values::{
    Authority, Field, Target, X_FORWARDED_METHOD, X_FORWARDED_URI, X_ORIGINAL_METHOD, X_ORIGINAL_URI, X_ORIGINAL_URL,
};

/// The request the proxy asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// The original method.
    pub method: Method,
    /// `http` or `https`.
    pub scheme: String,
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
    /// None of the three header families is present.
    #[error(
        "missing forwarded headers: send X-Forwarded-Method/-Proto/-Host/-Uri, X-Original-URL, or X-Original-URI with Host"
    )]
    Missing,
    /// The forwarded headers came from a peer outside `trusted_proxies`: they are ignored, so
    /// the request has none.
    #[error(
        "missing forwarded headers: X-Forwarded-*, X-Original-URL and X-Original-URI are ignored from this peer (not in server.trusted_proxies)"
    )]
    UntrustedPeer,
    /// A header is there but its value cannot be used.
    #[error("header {header} is invalid: {reason}")]
    Invalid {
        /// The header's name.
        header: &'static str,
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

/// Reads the original request from the first header family present (see the contract).
/// `trusted` says whether the peer is a trusted proxy; when it is not, forwarded headers are not
/// read at all.
///
/// Every family requires its method header: a proxy configuration that forgot it must not let a
/// request slip past a rule restricted to some methods.
pub fn from_forwarded_headers(headers: &HeaderMap, trusted: bool) -> Result<OriginalRequest, OriginError> {
    if !trusted {
        return Err(OriginError::UntrustedPeer);
    }
    if let Some(uri) = values::single(headers, X_FORWARDED_URI)? {
        return from_traefik_family(headers, uri);
    }
    if let Some(url) = values::single(headers, X_ORIGINAL_URL)? {
        return from_ingress_nginx_family(headers, url);
    }
    if let Some(uri) = values::single(headers, X_ORIGINAL_URI)? {
        return from_nginx_family(headers, uri);
    }
    Err(OriginError::Missing)
}

/// Family 1: `X-Forwarded-Method`, `-Proto`, `-Host` (else `Host`), `-Uri`.
fn from_traefik_family(headers: &HeaderMap, uri: &str) -> Result<OriginalRequest, OriginError> {
    let method = values::required_method(headers, X_FORWARDED_METHOD)?;
    let scheme = values::forwarded_scheme(headers)?;
    let authority = values::forwarded_authority(headers)?;
    let target = target_from(X_FORWARDED_URI, uri)?;
    Ok(OriginalRequest::assemble(method, scheme, authority, target))
}

/// Family 2: `X-Original-URL` (absolute) and `X-Original-Method`.
fn from_ingress_nginx_family(headers: &HeaderMap, url: &str) -> Result<OriginalRequest, OriginError> {
    let method = values::required_method(headers, X_ORIGINAL_METHOD)?;
    let (scheme, authority, target) =
        values::parse_absolute_url(url).map_err(|reason| values::invalid(X_ORIGINAL_URL.label, reason))?;
    Ok(OriginalRequest::assemble(method, scheme, authority, target))
}

/// Family 3: `X-Original-URI`, `X-Original-Method`, `X-Forwarded-Host` (else `Host`), and
/// `X-Forwarded-Proto`.
fn from_nginx_family(headers: &HeaderMap, uri: &str) -> Result<OriginalRequest, OriginError> {
    let method = values::required_method(headers, X_ORIGINAL_METHOD)?;
    let scheme = values::forwarded_scheme(headers)?;
    let authority = values::forwarded_authority(headers)?;
    let target = target_from(X_ORIGINAL_URI, uri)?;
    Ok(OriginalRequest::assemble(method, scheme, authority, target))
}

fn target_from(field: Field, raw: &str) -> Result<Target, OriginError> {
    values::parse_target(raw).map_err(|reason| values::invalid(field.label, reason))
}

impl OriginalRequest {
    fn assemble(method: Method, scheme: &str, authority: Authority, target: Target) -> Self {
        Self {
            method,
            scheme: scheme.to_owned(),
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
    if has_bearer_token(headers) || is_xml_http_request(headers) || !wants_html() {
        ClientKind::Api
    } else {
        ClientKind::Browser
    }
}

fn has_bearer_token(headers: &HeaderMap) -> bool {
    headers.get_all(header::AUTHORIZATION).iter().any(|value| {
        let value = value.as_bytes().trim_ascii_start();
        value
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"))
            && value.get(6).is_none_or(|&next| next == b' ')
    })
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
mod tests;
