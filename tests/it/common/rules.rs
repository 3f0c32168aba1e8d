//! The rule sets several test modules share, and what is derived from them (how many rules a
//! set holds), so that no test hard-codes a count another module's fixture decides.

/// The decision rules of the bearer-token tests: a public path, group- and host-bound rules, a
/// deny rule and an API that answers 401 instead of redirecting.
pub const DECISIONS: &str = r#"
- id: public
  paths: ["/public/**"]
  policy: allow
- id: admin
  paths: ["/admin/**"]
  policy: authenticated
  require: { groups_any: [admins] }
  headers: { X-Auth-Request-Tenant: "{claims.tenant}" }
- id: ops
  paths: ["/ops/**"]
  policy: authenticated
  require: { groups_any: [ops] }
- id: closed
  paths: ["/closed/**"]
  policy: deny
- id: app
  hosts: ["app.example.com"]
  paths: ["/app/**"]
  policy: authenticated
- id: api
  paths: ["/api/**"]
  policy: authenticated
  on_unauthenticated: unauthorized
"#;

/// Portcullis with the [`DECISIONS`] rules and the `rsa1` file issuer of
/// [`super::file_issuer_config`].
pub async fn start_decisions() -> super::Portcullis {
    super::Portcullis::start(super::Setup::new(&super::file_issuer_config("rsa1"), DECISIONS)).await
}

/// The rules of the browser-login tests: `/private/**` needs a session.
pub const PRIVATE: &str = r#"
- id: private
  paths: ["/private/**"]
  policy: authenticated
"#;

/// The number of rules in a rule file of this module (its `- id:` entries).
pub fn count(rules: &str) -> usize {
    rules
        .lines()
        .filter(|line| line.trim_start().starts_with("- id:"))
        .count()
}

#[test]
fn the_fixtures_hold_the_rules_they_name() {
    assert_eq!(count(DECISIONS), 6);
    assert_eq!(count(PRIVATE), 1);
}
