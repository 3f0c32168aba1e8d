//! Flyte behind Portcullis: FlyteConsole users sign in with a browser, while flytectl, pyflyte
//! and flytepropeller call FlyteAdmin's API with access tokens of the `client_credentials`
//! grant, which IdPs such as Okta's org server, Google and Auth0 issue as opaque tokens. Flyte
//! checks those at the IdP (its external authorization server mode); Portcullis does it by
//! RFC 7662 introspection (`[issuers.introspection]`), all through real nginx `auth_request`
//! running `examples/nginx/nginx.conf`.
//!
//! The IdP is the suite's real OpenID provider (oidc-provider 9, `--introspection`): opaque
//! access tokens, its introspection endpoint, a confidential client for the CLI's
//! client_credentials grant (`opaque-svc`) and one Portcullis introspects as (`introspector`).
//! FlyteAdmin is the echo app, which shows what reached it.

use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, INTROSPECTOR, OPAQUE_SERVICE, OidcProvider, Options};
use crate::common::{Portcullis, Setup, client, free_port, header};
use crate::e2e::nginx::example_nginx;
use crate::e2e::{Backends, Secure, callback_url, signed_out_url};
use crate::peers::{Seen, Upstream};

/// Flyte's routes: health and the client config are public (flytectl reads the latter before
/// it has a token), FlyteAdmin's API answers 401 without a token (the CLI then fetches one), and
/// the console (`/private/**` in the shared browser journey) sends browsers to sign in.
const RULES: &str = r#"
- id: signed-out-page
  paths: ["/signed-out"]
  policy: allow
- id: flyte-public
  paths: ["/healthcheck", "/config/v1/flyte_client", "/.well-known/**"]
  policy: allow
- id: flyteadmin-api
  paths: ["/api/v1/**"]
  policy: authenticated
  on_unauthenticated: unauthorized
- id: console
  paths: ["/private/**", "/console/**"]
  policy: authenticated
  on_unauthenticated: redirect
"#;

/// Portcullis for the nginx origin `origin`: browser login and introspected API tokens, both
/// at the provider `issuer`.
fn config(issuer: &str, origin: &str) -> String {
    format!(
        r#"
[[issuers]]
name = "okta"
issuer = "{issuer}"
audiences = ["{CLIENT_ID}"]
algorithms = ["RS256"]

[issuers.introspection]
client_id = "{introspector}"
client_secret = "{introspector_secret}"

[login]
issuer = "okta"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_url = "{callback}"
scopes = ["openid", "email", "profile", "groups"]
allowed_redirect_domains = ["127.0.0.1"]

[session]
secret = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
secure = false

[rules]
paths = ["rules/"]
default = "deny"
"#,
        introspector = INTROSPECTOR.0,
        introspector_secret = INTROSPECTOR.1,
        callback = callback_url(origin),
    )
}

#[tokio::test]
async fn flyte_console_login_and_cli_client_credentials_token_through_nginx() {
    let (port, other_port, idp_port) = (free_port(), free_port(), free_port());
    let origin = format!("http://127.0.0.1:{port}");
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let portcullis = Portcullis::start(Setup::new(&config(&issuer, &origin), RULES)).await;
    let options = Options {
        redirect_uris: vec![callback_url(&origin)],
        post_logout_redirect_uris: vec![signed_out_url(&origin)],
        introspection: true,
        ..Options::default()
    };
    let idp = OidcProvider::start(idp_port, &options).await;
    portcullis.wait_for("/readyz", 200).await;
    let backends = Backends {
        idp,
        portcullis,
        upstream: Upstream::start().await,
        port,
        origin: origin.clone(),
    };
    let nginx = example_nginx(&backends, port, other_port).await;

    // flytectl / flytepropeller: a client_credentials token, opaque, on FlyteAdmin's API.
    let token = backends.idp.client_credentials_token(OPAQUE_SERVICE, "api:read").await;
    assert_eq!(token.matches('.').count(), 0, "not an opaque token: {token}");
    let api = |bearer: Option<&str>| {
        let request = client().get(format!("{origin}/api/v1/projects"));
        match bearer {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    };
    let seen = Seen::from(api(Some(&token)).send().await.expect("api")).await;
    assert_eq!(seen.uri(), "/api/v1/projects");
    assert_eq!(seen.header("X-Auth-Request-User").as_deref(), Some(OPAQUE_SERVICE.0));
    assert_eq!(
        seen.header("Authorization"),
        Some(format!("Bearer {token}")),
        "FlyteAdmin gets the token too"
    );
    let hits = backends.upstream.hits();

    // A token the IdP does not know, and none at all: 401, nothing reaches FlyteAdmin.
    let refused = api(Some("not-a-token-the-idp-issued")).send().await.expect("api");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        header(&refused, "WWW-Authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(api(None).send().await.expect("api").status(), 401);
    let public = client()
        .get(format!("{origin}/healthcheck"))
        .send()
        .await
        .expect("health");
    assert_eq!(public.status(), 200);
    assert_eq!(
        backends.upstream.hits(),
        hits + 1,
        "only the public health check got through"
    );

    // FlyteConsole: a browser signs in through Portcullis's login and reaches the console with
    // its identity, signs out and is sent to sign in again.
    backends.sign_in_and_out_through(nginx, Secure::No).await;
}
