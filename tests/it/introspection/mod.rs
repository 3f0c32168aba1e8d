//! Opaque access tokens checked by RFC 7662 introspection (`[issuers.introspection]`): against
//! the real oidc-provider (`provider`), against small endpoints that fail in every way an
//! endpoint can (`failures`), and the configuration refused without a client secret.

mod failures;
mod provider;

use crate::common::login_kit::{PUBLIC, SECRET_ONE};
use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET};
use crate::common::{Portcullis, ask};

/// `/admin/**` needs the group `admins`, `/read/**` the scope `api:read`; everything else a
/// credential, answered 401 (not a redirect) without one.
pub const RULES: &str = r#"
- id: admin
  paths: ["/admin/**"]
  policy: authenticated
  require: { groups_any: [admins] }
- id: read
  paths: ["/read/**"]
  policy: authenticated
  require: { scopes_all: ["api:read"] }
- id: api
  paths: ["/**"]
  policy: authenticated
  on_unauthenticated: unauthorized
"#;

/// The `[issuers.introspection]` block of the tests: the provider's `introspector` client, the
/// secret in `secret_file`, active answers cached `cache_ttl`.
pub fn introspection_block(secret_file: &std::path::Path, cache_ttl: &str) -> String {
    format!(
        r#"
[issuers.introspection]
client_id = "introspector"
client_secret_file = "{}"
cache_ttl = "{cache_ttl}"
timeout = "2s"
"#,
        secret_file.display()
    )
}

/// A Portcullis config trusting the provider at `issuer` for introspected tokens (the block
/// `introspection`) and browser login (`[login]`, access tokens passed upstream).
pub fn config_with_login(issuer: &str, introspection: &str) -> String {
    format!(
        r#"
[[issuers]]
name = "main"
issuer = "{issuer}"
audiences = ["{CLIENT_ID}"]
algorithms = ["RS256"]
{introspection}
[login]
issuer = "main"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_url = "{PUBLIC}/oauth2/callback"
scopes = ["openid", "email", "profile", "groups"]
allowed_redirect_domains = [".example.com"]

[session]
secrets = ["{SECRET_ONE}"]
secure = false

[headers]
pass_access_token = true

[rules]
paths = ["rules/"]
default = "deny"
"#
    )
}

/// Asks `/auth` about `GET https://app.example.com<uri>` with `Authorization: Bearer <token>`.
pub async fn ask_bearer(p: &Portcullis, uri: &str, token: &str) -> reqwest::Response {
    ask(p, uri, &[("Authorization", &format!("Bearer {token}"))]).await
}

/// Fails when any of `tokens` appears in Portcullis's log.
pub fn assert_no_token_logged(p: &Portcullis, tokens: &[&str]) {
    let log = p.log_text();
    assert!(!log.is_empty(), "the log is empty: the check would prove nothing");
    for token in tokens {
        assert!(!log.contains(token), "a token appears in the log:\n{log}");
    }
}

/// `portcullis_introspection_total{issuer="main",result=<result>}`, 0 before the first such call.
pub async fn introspections(p: &Portcullis, result: &str) -> f64 {
    let series = format!("portcullis_introspection_total{{issuer=\"main\",result=\"{result}\"}}");
    p.metric_if_present(&series).await.unwrap_or(0.0)
}

#[test]
fn introspection_without_a_client_secret_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    let issuer = "[[issuers]]\nname = \"main\"\nissuer = \"https://idp.test/\"\njwks_uri = \"https://idp.test/jwks\"\n";
    let cases = [
        (
            "[issuers.introspection]\nclient_id = \"portcullis\"\n",
            vec![
                "issuers[0].introspection.client_secret_file",
                "client secret is required",
            ],
        ),
        (
            "[issuers.introspection]\nclient_id = \"portcullis\"\nclient_secret_file = \"missing-secret\"\n",
            vec!["issuers[0].introspection.client_secret_file", "missing-secret"],
        ),
        (
            "[issuers.introspection]\nclient_id = \"p\"\nclient_secret = \"s\"\nurl = \"ftp://x\"\n",
            vec!["issuers[0].introspection.url"],
        ),
        (
            "[issuers.introspection]\nclient_id = \"p\"\nclient_secret = \"s\"\ncache_tll = \"1s\"\n",
            vec!["cache_tll"],
        ),
    ];
    for (block, expected) in cases {
        let config = format!("{issuer}{block}");
        std::fs::write(dir.path().join("portcullis.toml"), &config).expect("write");
        let (code, _, stderr) = crate::common::run(&["check", "--config", "portcullis.toml"], dir.path());
        assert_eq!(code, 1, "accepted: {config}");
        for text in expected.iter().chain(&["portcullis.toml"]) {
            assert!(stderr.contains(text), "`{text}` missing from: {stderr}");
        }
    }
    let good = format!("{issuer}[issuers.introspection]\nclient_id = \"p\"\nclient_secret = \"s\"\n");
    std::fs::write(dir.path().join("portcullis.toml"), good).expect("write");
    let (code, stdout, stderr) = crate::common::run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 0, "a block with a secret is valid: {stdout}{stderr}");
}
