//! Where an issuer's keys come from and one load of them: a file, a `jwks_uri`, or the issuer's
//! OpenID discovery document. Reads bodies with a size cap and reports `Cache-Control: max-age`.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

use crate::config::IssuerConfig;

/// A JWKS or discovery body larger than this is refused.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where the keys of one issuer are read from.
#[derive(Debug)]
pub enum KeySource {
    /// `jwks_file`: read at load, never fetched.
    File(PathBuf),
    /// `jwks_uri`: fetched over HTTP.
    Uri(String),
    /// Neither: the `jwks_uri` of `<issuer>/.well-known/openid-configuration`, remembered once
    /// found and looked up again after a failed fetch.
    Discovery {
        /// The configured issuer, which the document's `issuer` must equal exactly.
        issuer: String,
        /// The `jwks_uri` the last discovery returned.
        found: Mutex<Option<String>>,
    },
}

impl std::fmt::Display for KeySource {
    /// The config key and where it points: `jwks_file /etc/keys.json`, `jwks_uri https://...`,
    /// `discovery at https://idp/`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "jwks_file {}", path.display()),
            KeySource::Uri(uri) => write!(f, "jwks_uri {uri}"),
            KeySource::Discovery { issuer, .. } => write!(f, "discovery at {issuer}"),
        }
    }
}

/// The raw JWKS body and how long the server said it may be cached.
pub struct Fetched {
    /// The JWKS document.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server sent one.
    pub max_age: Option<Duration>,
}

impl KeySource {
    /// The source an `[[issuers]]` block configures.
    pub fn of(config: &IssuerConfig) -> KeySource {
        match (&config.jwks_file, &config.jwks_uri) {
            (Some(file), _) => KeySource::File(file.clone()),
            (None, Some(uri)) => KeySource::Uri(uri.clone()),
            (None, None) => KeySource::Discovery {
                issuer: config.issuer.clone(),
                found: Mutex::new(None),
            },
        }
    }

    /// True for sources that can change at run time (worth refreshing and refetching).
    pub fn is_remote(&self) -> bool {
        !matches!(self, KeySource::File(_))
    }

    /// Reads the JWKS once.
    pub async fn load(&self, http: &reqwest::Client) -> Result<Fetched, String> {
        match self {
            KeySource::File(path) => {
                let body = tokio::fs::read(path)
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(Fetched { body, max_age: None })
            }
            KeySource::Uri(uri) => get(http, uri).await,
            KeySource::Discovery { issuer, found } => {
                let known = found.lock().map(|found| found.clone()).unwrap_or_default();
                let uri = match known {
                    Some(uri) => uri,
                    None => discover_jwks_uri(http, issuer).await?,
                };
                let result = get(http, &uri).await;
                if let Ok(mut found) = found.lock() {
                    // A failed fetch may mean the IdP moved its keys: discover again next time.
                    *found = result.is_ok().then_some(uri);
                }
                result
            }
        }
    }
}

/// The `jwks_uri` of the issuer's discovery document, whose `issuer` must equal ours exactly.
async fn discover_jwks_uri(http: &reqwest::Client, issuer: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let fetched = get(http, &url).await?;
    let document: Discovery =
        serde_json::from_slice(&fetched.body).map_err(|e| format!("{url}: not a discovery document: {e}"))?;
    if document.issuer != issuer {
        return Err(format!(
            "{url}: names issuer `{}`, expected `{issuer}`",
            document.issuer
        ));
    }
    let scheme_ok = url::Url::parse(&document.jwks_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !scheme_ok {
        return Err(format!("{url}: jwks_uri `{}` is not an http(s) URL", document.jwks_uri));
    }
    Ok(document.jwks_uri)
}

/// GETs `url`, insisting on a 2xx answer and a body of at most [`MAX_BODY_BYTES`].
async fn get(http: &reqwest::Client, url: &str) -> Result<Fetched, String> {
    let mut response = http.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!("{url}: body larger than {MAX_BODY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// The `max-age` of a `Cache-Control` value; `None` without one or with `no-cache`/`no-store`.
pub fn max_age(cache_control: &str) -> Option<Duration> {
    let mut seconds = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return None;
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            seconds = value.trim_matches('"').parse::<u64>().ok();
        }
    }
    seconds.map(Duration::from_secs)
}
