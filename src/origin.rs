//! The original request: which method, host and path the proxy is asking about, read from the
//! forwarded header families (only from trusted peers) or from the `/ext-authz/<path>` form, with
//! the path normalised for matching.

use std::net::IpAddr;

use axum::http::{HeaderMap, Method};
use ipnet::IpNet;

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
    /// The forwarded headers came from a peer outside `trusted_proxies`.
    #[error("forwarded headers are not accepted from this peer (not in server.trusted_proxies)")]
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
        todo!("origin: {peer}")
    }
}

/// Reads the original request from the first header family present (see the contract).
/// `trusted` says whether the peer is a trusted proxy; when it is not, forwarded headers are not
/// read at all.
pub fn from_forwarded_headers(headers: &HeaderMap, trusted: bool) -> Result<OriginalRequest, OriginError> {
    todo!("origin: {headers:?} {trusted}")
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
    todo!("origin: {method} {headers:?} {path_and_query} {trusted}")
}

/// Normalises a path for matching: decodes percent-encoded unreserved characters, removes `.`
/// and `..` segments, merges duplicate slashes. Refuses what cannot be normalised unambiguously.
pub fn normalise_path(raw: &str) -> Result<String, PathError> {
    todo!("origin: {raw}")
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
    todo!("origin: {headers:?}")
}
