//! Tokens from a real OpenID provider (oidc-provider 9, `tests/node/provider.mjs`): keys
//! found through discovery, RFC 9068 access tokens (`typ: at+jwt`) from the client_credentials
//! grant, and their scopes checked against rule requirements.

use base64::Engine;
use serde_json::Value;

use crate::common::oidc::{OidcProvider, Options, RESOURCE};
use crate::common::{Portcullis, Setup, client, free_port, header};

const RULES: &str = r#"
- id: read
  paths: ["/read/**"]
  policy: authenticated
  require: { scopes_all: ["api:read"] }
- id: write
  paths: ["/write/**"]
  policy: authenticated
  require: { scopes_all: ["api:write"] }
- id: signed-in
  paths: ["/**"]
  policy: authenticated
"#;

/// A running oidc-provider with the service client.
struct Provider(OidcProvider);

impl Provider {
    async fn start() -> Provider {
        let options = Options {
            service_client: true,
            ..Options::default()
        };
        Provider(OidcProvider::start(free_port(), &options).await)
    }

    /// An access token for `resource` with `scope`, from the client_credentials grant.
    async fn client_credentials_token(&self, resource: &str, scope: &str) -> String {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ])
            .finish();
        let response = client()
            .post(format!("{}/token", self.0.issuer))
            .basic_auth("svc", Some("svc-secret"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: Value = response.json().await.expect("token json");
        assert_eq!(status, 200, "token endpoint: {body}\n{}", self.0.log_text());
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Portcullis trusting this provider through discovery, for `audience`.
    async fn portcullis(&self, audience: &str) -> Portcullis {
        let config = format!(
            r#"
[[issuers]]
name = "oidc-provider"
issuer = "{}"
audiences = ["{audience}"]
algorithms = ["RS256"]

[rules]
paths = ["rules/"]
default = "deny"
"#,
            self.0.issuer
        );
        let portcullis = Portcullis::start(Setup::new(&config, RULES)).await;
        portcullis.wait_for("/readyz", 200).await;
        portcullis
    }
}

/// A JWT's decoded header.
fn jwt_header(token: &str) -> Value {
    let encoded = token.split('.').next().expect("header part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("header json")
}

/// Asks `/auth` about `GET https://api.example.com<uri>` with `token`.
async fn ask(portcullis: &Portcullis, uri: &str, token: &str) -> reqwest::Response {
    client()
        .get(portcullis.url("/auth"))
        .header("X-Original-URL", format!("https://api.example.com{uri}"))
        .header("X-Original-Method", "GET")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("ask /auth")
}

#[tokio::test]
async fn oidc_provider_access_token_is_accepted_as_its_client() {
    let provider = Provider::start().await;
    let portcullis = provider.portcullis(RESOURCE).await;
    let token = provider.client_credentials_token(RESOURCE, "api:read").await;
    assert_eq!(jwt_header(&token)["typ"], "at+jwt");
    let response = ask(&portcullis, "/anything", &token).await;
    assert_eq!(response.status(), 200, "{}", portcullis.log_text());
    // The subject of a client_credentials token is the client.
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("svc"));
    assert_eq!(header(&response, "X-Auth-Request-Email"), Some(""));
}

#[tokio::test]
async fn oidc_provider_token_scopes_meet_or_fail_rule_requirements() {
    let provider = Provider::start().await;
    let portcullis = provider.portcullis(RESOURCE).await;
    let token = provider.client_credentials_token(RESOURCE, "api:read").await;
    assert_eq!(
        ask(&portcullis, "/read/items", &token).await.status(),
        200,
        "{}",
        portcullis.log_text()
    );
    assert_eq!(ask(&portcullis, "/write/items", &token).await.status(), 403);
}

#[tokio::test]
async fn oidc_provider_token_for_another_audience_is_unauthenticated() {
    let provider = Provider::start().await;
    let portcullis = provider.portcullis("urn:portcullis:other").await;
    let token = provider.client_credentials_token(RESOURCE, "api:read").await;
    let response = ask(&portcullis, "/anything", &token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "WWW-Authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
}
