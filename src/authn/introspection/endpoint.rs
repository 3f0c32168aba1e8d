//! One issuer's introspection endpoint and one call to it: where it is (the config, else the
//! issuer's discovery document, looked up on first use and kept once found), the RFC 7662
//! request with HTTP Basic client authentication, and the answer read strictly: a 200 with a
//! JSON object whose `active` is a boolean, or an error that is no verdict on the token.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::config::{IntrospectionConfig, IssuerConfig};

/// An answer larger than this is refused (introspection answers are a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What the endpoint said about a token.
#[derive(Debug)]
pub enum Said {
    /// `active: true`, with the whole answer (its claims).
    Active(Map<String, Value>),
    /// `active: false`.
    Inactive,
}

/// Where and how to ask one issuer.
pub struct Endpoint {
    /// The issuer URL (discovery, and the `issuer` the document must name).
    issuer: String,
    /// The configured URL, else the discovered one once found.
    url: OnceCell<String>,
    /// `Basic base64(urlencode(id):urlencode(secret))`, built once; never logged.
    authorization: HeaderValue,
    timeout: Duration,
    http: reqwest::Client,
}

impl Endpoint {
    /// The endpoint of `issuer`'s `introspection` block.
    pub fn new(issuer: &IssuerConfig, config: &IntrospectionConfig, http: reqwest::Client) -> Endpoint {
        let secret = config.client_secret.as_ref().map_or("", |secret| secret.0.as_str());
        let mut authorization = HeaderValue::from_str(&basic_authorization(&config.client_id, secret))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        authorization.set_sensitive(true);
        Endpoint {
            issuer: issuer.issuer.clone(),
            url: OnceCell::new_with(config.url.clone()),
            authorization,
            timeout: config.timeout,
            http,
        }
    }

    /// The endpoint URL for logs: the configured or discovered one, else where discovery is.
    pub fn describe(&self) -> String {
        match self.url.get() {
            Some(url) => url.clone(),
            None => discovery_url(&self.issuer),
        }
    }

    /// Asks about `token`. `Err` (the endpoint and the reason, never the token) when the
    /// endpoint cannot be found or reached, times out, answers another status than 200 or a
    /// body that is not an introspection answer.
    pub async fn introspect(&self, token: &str) -> Result<Said, String> {
        let url = self.url.get_or_try_init(|| self.discover()).await?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("token", token), ("token_type_hint", "access_token")])
            .finish();
        let request = self
            .http
            .post(url)
            .timeout(self.timeout)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body);
        let response = request
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::remote::describe(&e)))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("{url}: answered HTTP {status}"));
        }
        let bytes = crate::remote::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        parse_answer(&bytes).map_err(|e| format!("{url}: {e}"))
    }

    /// The `introspection_endpoint` of the issuer's discovery document.
    async fn discover(&self) -> Result<String, String> {
        let url = discovery_url(&self.issuer);
        let response = self
            .http
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::remote::describe(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url}: answered HTTP {}", response.status()));
        }
        let bytes = crate::remote::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let document: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not a discovery document: {e}"))?;
        if document.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(format!("{url}: the document names another issuer"));
        }
        let endpoint = document
            .get("introspection_endpoint")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{url}: no introspection_endpoint"))?;
        let scheme_ok = url::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !scheme_ok {
            return Err(format!(
                "{url}: introspection_endpoint `{endpoint}` is not an http(s) URL"
            ));
        }
        tracing::info!(issuer = %self.issuer, endpoint, "introspection endpoint discovered");
        Ok(endpoint.to_owned())
    }
}

/// `client_secret_basic` (RFC 6749 2.3.1): the id and the secret are form-urlencoded before
/// they are joined and base64-encoded, so a `:` or a non-ASCII character survives.
pub fn basic_authorization(client_id: &str, secret: &str) -> String {
    let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// A 200's body as an introspection answer: a JSON object whose `active` is a boolean.
pub fn parse_answer(bytes: &[u8]) -> Result<Said, String> {
    let answer: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|_| "the answer is not a JSON object".to_string())?;
    match answer.get("active") {
        Some(Value::Bool(true)) => Ok(Said::Active(answer)),
        Some(Value::Bool(false)) => Ok(Said::Inactive),
        _ => Err("the answer has no boolean `active`".into()),
    }
}
