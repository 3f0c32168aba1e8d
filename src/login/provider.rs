//! The login provider's metadata (OIDC discovery), fetched on first need and retried on the next
//! request while it fails (the provider may start after Portcullis), and the `openidconnect`
//! client built from it, which talks HTTP through our own reqwest client (no redirects, timeouts).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{AsyncHttpClient, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet};
use openidconnect::{HttpRequest, HttpResponse, RedirectUrl};

/// The `openidconnect` client with the endpoints discovery gives: authorization (set), token and
/// userinfo (maybe set).
pub type OidcClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Answers larger than this are refused (discovery, tokens, userinfo are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// What discovery told us about the provider.
pub struct Provider {
    /// The client for authorization URLs, code exchange and refresh.
    pub client: OidcClient,
    /// `end_session_endpoint` (RP-initiated logout), when the provider has one.
    pub end_session_endpoint: Option<url::Url>,
    /// `userinfo_endpoint`, when the provider has one.
    pub userinfo_endpoint: Option<url::Url>,
}

/// Discovery of the login provider, done once successfully and kept.
pub struct Discovery {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_url: url::Url,
    http: reqwest::Client,
    current: ArcSwapOption<Provider>,
    fetching: tokio::sync::Mutex<()>,
}

impl Discovery {
    /// Discovery for `issuer` (the `[[issuers]].issuer` URL, which metadata must repeat exactly).
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        redirect_url: &url::Url,
        http: reqwest::Client,
    ) -> Discovery {
        Discovery {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_url: redirect_url.clone(),
            http,
            current: ArcSwapOption::empty(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The provider, discovering it now if that has not succeeded yet (one fetch at a time).
    pub async fn provider(&self) -> Result<Arc<Provider>, String> {
        if let Some(provider) = self.current.load_full() {
            return Ok(provider);
        }
        let _guard = self.fetching.lock().await;
        if let Some(provider) = self.current.load_full() {
            return Ok(provider);
        }
        let provider = Arc::new(self.discover().await.inspect_err(|reason| {
            tracing::warn!(key = "login.issuer", issuer = %self.issuer, %reason, "login provider discovery failed; retrying on next use");
        })?);
        self.current.store(Some(provider.clone()));
        Ok(provider)
    }

    async fn discover(&self) -> Result<Provider, String> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let body = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET {url}: {e}"))?
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("discovery document is not JSON: {e}"))?;
        let metadata: CoreProviderMetadata =
            serde_json::from_value(document.clone()).map_err(|e| format!("discovery document: {e}"))?;
        if metadata.issuer().as_str() != self.issuer {
            return Err(format!(
                "discovery says issuer `{}`, configured `{}` (they must be equal)",
                metadata.issuer().as_str(),
                self.issuer
            ));
        }
        let endpoint = |name: &str| {
            document
                .get(name)
                .and_then(serde_json::Value::as_str)
                .and_then(|text| url::Url::parse(text).ok())
        };
        let redirect = RedirectUrl::new(self.redirect_url.to_string()).map_err(|e| e.to_string())?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        Ok(Provider {
            client,
            end_session_endpoint: endpoint("end_session_endpoint"),
            userinfo_endpoint: endpoint("userinfo_endpoint"),
        })
    }
}

/// Our reqwest client as `openidconnect`'s HTTP client.
pub struct Http(pub reqwest::Client);

/// An HTTP failure talking to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let status = response.status();
            let headers = response.headers().clone();
            if response.content_length().is_some_and(|length| length > MAX_BODY as u64) {
                return Err(HttpError("answer too large".into()));
            }
            let body = response.bytes().await.map_err(|e| HttpError(e.to_string()))?;
            if body.len() > MAX_BODY {
                return Err(HttpError("answer too large".into()));
            }
            let mut answer = HttpResponse::new(body.to_vec());
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok(answer)
        })
    }
}
