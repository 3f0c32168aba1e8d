use std::sync::Arc;

use crate::authn::{Claims, Identity};
use crate::rules::HeaderTemplate;

fn identity() -> Identity {
    Identity {
        issuer: Arc::from("main"),
        user: "u-1".into(),
        email: Some("ada@example.com".into()),
        groups: vec!["admins".into(), "ops".into()],
        preferred_username: None,
        scopes: vec![],
        claims: Claims::from_json(
            r#"{"tenant":"acme","n":42,"ok":true,"roles":["a","b"],"org":{"id":7},"a.b":"dotted","nothing":null}"#,
        ),
        expires_at: 0,
        digest: Default::default(),
    }
}

fn render(template: &str, identity: Option<&Identity>) -> String {
    HeaderTemplate::parse("X-Test", template)
        .expect("valid template")
        .render(identity)
}

#[test]
fn identity_placeholders_render_with_literal_text_around_them() {
    let id = identity();
    assert_eq!(
        render("user={user};mail={email}", Some(&id)),
        "user=u-1;mail=ada@example.com"
    );
    assert_eq!(render("{groups}", Some(&id)), "admins,ops");
    assert_eq!(render("[{preferred_username}]", Some(&id)), "[]");
    assert_eq!(render("{issuer}", Some(&id)), "main");
    assert_eq!(render("plain", Some(&id)), "plain");
}

#[test]
fn claims_render_by_type() {
    let id = identity();
    assert_eq!(render("{claims.tenant}", Some(&id)), "acme");
    assert_eq!(render("{claims.n}/{claims.ok}", Some(&id)), "42/true");
    assert_eq!(render("{claims.roles}", Some(&id)), "a,b");
    assert_eq!(render("{claims.org}", Some(&id)), r#"{"id":7}"#);
    assert_eq!(render("{claims.org.id}", Some(&id)), "7");
    assert_eq!(render("{claims.a.b}", Some(&id)), "dotted");
    assert_eq!(render("{claims.nothing}{claims.missing}", Some(&id)), "");
}

#[test]
fn a_missing_identity_renders_placeholders_empty() {
    assert_eq!(render("t={claims.tenant};u={user}", None), "t=;u=");
}

#[test]
fn unknown_and_unterminated_placeholders_are_errors() {
    for bad in ["{nobody}", "{claims.}", "{user", "{}"] {
        assert!(HeaderTemplate::parse("X-Test", bad).is_err(), "{bad}");
    }
    assert!(HeaderTemplate::parse("Bad Name", "{user}").is_err());
    assert_eq!(
        HeaderTemplate::parse("X-Test", "a}b").expect("stray brace").template(),
        "a}b"
    );
}
