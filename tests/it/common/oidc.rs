//! The real OpenID provider of the tests: oidc-provider 9 running `tests/node/provider.mjs`, one
//! launcher for browser login by hand (`crate::login`), in Chromium (`crate::e2e`) and for
//! client-credentials access tokens (`crate::peers::oidc`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::peers::{PeerProcess, program};

/// The client Portcullis signs in as (with `redirect_uris`).
pub const CLIENT_ID: &str = "portcullis";
/// Its secret.
pub const CLIENT_SECRET: &str = "portcullis-secret";
/// The groups of every account (but those whose login starts with `big`).
pub const GROUPS: [&str; 2] = ["admins", "devs"];
/// The resource (audience) the provider issues JWT access tokens for to the service client.
pub const RESOURCE: &str = "urn:portcullis:api";

/// The folder of the node side of the tests (`tests/node`: the provider and the browser
/// driver, one npm tree).
pub fn node_folder() -> PathBuf {
    let folder = super::root().join("tests/node");
    assert!(
        folder.join("node_modules/oidc-provider").is_dir(),
        "the node packages are not installed: run tests/run.sh (or `npm ci` in {})",
        folder.display()
    );
    folder
}

/// What the provider registers.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Redirect URIs of the `portcullis` client (none: no such client).
    pub redirect_uris: Vec<String>,
    /// Its post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Its back-channel logout URI.
    pub backchannel_uri: Option<String>,
    /// Identity claims in the ID token too, not only at userinfo.
    pub claims_in_id_token: bool,
    /// The `svc` client of the client_credentials grant, with JWT access tokens for [`RESOURCE`].
    pub service_client: bool,
    /// Introspection and revocation on, the `introspector` client that may introspect, and the
    /// `opaque-svc` client of the client_credentials grant with opaque access tokens.
    pub introspection: bool,
}

/// The client Portcullis introspects tokens as (with [`Options::introspection`]).
pub const INTROSPECTOR: (&str, &str) = ("introspector", "introspector-secret");
/// The client_credentials client whose access tokens are opaque (with [`Options::introspection`]).
pub const OPAQUE_SERVICE: (&str, &str) = ("opaque-svc", "opaque-svc-secret");

/// A running provider.
pub struct OidcProvider {
    /// Its process (stopped on drop; its output is printed when the test fails).
    pub process: Option<PeerProcess>,
    /// `http://127.0.0.1:PORT`: the issuer exactly as its discovery document spells it.
    pub issuer: String,
    /// Its discovery document.
    pub discovery: Value,
}

impl OidcProvider {
    /// Starts it on `port` with `options` and waits until its discovery document names the issuer.
    pub async fn start(port: u16, options: &Options) -> OidcProvider {
        let mut command = Command::new(program("node"));
        command
            .current_dir(node_folder())
            .arg("provider.mjs")
            .args(["--port", &port.to_string()]);
        for uri in &options.redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        for uri in &options.post_logout_redirect_uris {
            command.args(["--post-logout-redirect-uri", uri]);
        }
        if let Some(uri) = &options.backchannel_uri {
            command.args(["--backchannel-uri", uri]);
        }
        if options.claims_in_id_token {
            command.arg("--claims-in-id-token");
        }
        if options.service_client {
            command.arg("--service-client");
        }
        if options.introspection {
            command.arg("--introspection");
        }
        let mut process = PeerProcess::spawn("oidc-provider", command, tempfile::tempdir().expect("tempdir"));
        process.wait_for_port(port).await;
        let issuer = format!("http://127.0.0.1:{port}");
        let discovery: Value = super::client()
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery json");
        assert_eq!(
            discovery["issuer"],
            issuer.as_str(),
            "the provider spells its issuer differently"
        );
        OidcProvider {
            process: Some(process),
            issuer,
            discovery,
        }
    }

    /// Stops it (the provider going down under a live session).
    pub fn stop(&mut self) {
        self.process.take();
    }

    /// An access token of the client_credentials grant for `client` (id, secret) with `scope`.
    pub async fn client_credentials_token(&self, (id, secret): (&str, &str), scope: &str) -> String {
        let response = super::client()
            .post(format!("{}/token", self.issuer))
            .basic_auth(id, Some(secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[("grant_type", "client_credentials"), ("scope", scope)]))
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let body: Value = response.json().await.expect("token json");
        assert_eq!(status, 200, "token endpoint: {body}\n{}", self.log_text());
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Revokes `token` (RFC 7009) as `client` (id, secret), the client it was issued to.
    pub async fn revoke(&self, (id, secret): (&str, &str), token: &str) {
        let endpoint = self.discovery["revocation_endpoint"]
            .as_str()
            .expect("revocation endpoint");
        let response = super::client()
            .post(endpoint)
            .basic_auth(id, Some(secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[("token", token), ("token_type_hint", "access_token")]))
            .send()
            .await
            .expect("revocation request");
        assert_eq!(response.status(), 200, "revocation: {}", self.log_text());
    }

    /// Its output so far.
    pub fn log_text(&self) -> String {
        self.process.as_ref().map(PeerProcess::log_text).unwrap_or_default()
    }
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
