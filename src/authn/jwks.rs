//! Each issuer's key set: fetched (discovery, `jwks_uri`) or read (`jwks_file`), indexed by
//! `kid`, refreshed in the background, refetched on an unknown `kid` at most once per 10 s.

/// The HTTP client for key fetches (stub until the jwt branch lands).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}
