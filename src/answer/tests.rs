use std::sync::{Arc, LazyLock};

use super::*;
use crate::config::HeadersConfig;

/// A rule set's template headers when no rule has any.
static NO_TEMPLATES: LazyLock<TemplateHeaders> = LazyLock::new(TemplateHeaders::default);

#[test]
fn login_url_percent_encodes_the_whole_original_url() {
    let start = url::Url::parse("https://auth.example.com/oauth2/start").expect("url");
    let url = login_url(&start, "https://app.example.com/a b?x=1&y=é#f");
    assert_eq!(
        url,
        "https://auth.example.com/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fa%20b%3Fx%3D1%26y%3D%C3%A9%23f"
    );
}

#[test]
fn identity_headers_are_all_present_and_empty_without_identity() {
    let names = passing_tokens();
    let values = names.values(None, Some("token"));
    assert_eq!(values.len(), 5);
    assert!(values.iter().all(|(_, value)| value.is_empty()), "{values:?}");
}

#[test]
fn control_characters_never_reach_a_header() {
    let name = HeaderName::from_static("x-test");
    assert_eq!(safe_header_value(&name, "a\u{7}b", "r"), "");
    assert_eq!(safe_header_value(&name, "a\nb", "r"), "");
    assert_eq!(safe_header_value(&name, "plain value", "r"), "plain value");
    assert_eq!(safe_header_value(&name, "José", "r").as_bytes(), "José".as_bytes());
}

#[test]
fn a_group_with_a_comma_is_left_out_of_the_groups_header() {
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let identity = Identity {
        issuer: "main".into(),
        user: "u".into(),
        email: None,
        groups: vec!["admins,ops".into(), "dev".into(), "a b".into(), "x,".into()],
        preferred_username: None,
        scopes: Vec::new(),
        claims: crate::authn::Claims::default(),
        expires_at: 0,
        digest: Default::default(),
    };
    let values = names.values(Some(&identity), None);
    let groups = values
        .iter()
        .find(|(name, _)| name.as_str() == "x-auth-request-groups")
        .map(|(_, value)| value.as_str());
    assert_eq!(groups, Some("dev,a b"));
}

fn context<'a>(request: &'a OriginalRequest, names: &'a IdentityHeaders) -> Context<'a> {
    Context {
        endpoint: Endpoint::ForwardAuth,
        client: ClientKind::Api,
        request,
        login_start: None,
        identity_headers: names,
        rule: None,
        template_headers: &NO_TEMPLATES,
        identity_token: TokenContext::default(),
    }
}

fn request() -> OriginalRequest {
    OriginalRequest {
        method: Method::GET,
        scheme: "https",
        host: "app.example.com".into(),
        authority: "app.example.com".into(),
        path: "/x".into(),
        uri: "/x".into(),
    }
}

#[test]
fn a_check_that_cannot_answer_is_503_never_an_allow() {
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let request = request();
    let decision = Decision::Unavailable {
        rule: "r",
        reason: "introspection timed out".into(),
    };
    let answer = plan(decision, &context(&request, &names));
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers.get("x-auth-request-user").is_none());
    assert_eq!(
        answer.body,
        Body::Json(serde_json::json!({"error": "unavailable", "reason": "introspection timed out"}))
    );
}

fn alice() -> Identity {
    Identity {
        issuer: "main".into(),
        user: "alice".into(),
        email: Some("alice@example.com".into()),
        groups: vec!["admins".into(), "dev".into()],
        preferred_username: Some("Alice".into()),
        scopes: Vec::new(),
        claims: crate::authn::Claims::default(),
        expires_at: 0,
        digest: Default::default(),
    }
}

fn allowed(identity: Option<std::sync::Arc<Identity>>) -> Decision<'static> {
    allowed_with_token(identity, None)
}

/// An allow for `identity` whose credential sends `token` upstream.
fn allowed_with_token(identity: Option<Arc<Identity>>, token: Option<&str>) -> Decision<'static> {
    Decision::Allow {
        rule: "r",
        identity,
        upstream: Upstream {
            access_token: token.map(str::to_string),
            set_cookies: Vec::new(),
        },
    }
}

/// Alice as the credential caches hold her: shared by requests, her digest made.
fn shared_alice() -> Arc<Identity> {
    let shared = Arc::new(alice());
    shared.digest();
    shared
}

/// The default identity header names, with `pass_access_token`.
fn passing_tokens() -> IdentityHeaders {
    IdentityHeaders::new(&HeadersConfig {
        pass_access_token: true,
        ..HeadersConfig::default()
    })
}

/// The answer's headers as (name, value) text pairs, sorted.
fn pairs(answer: &Answer) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = answer
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn identities_shared_by_requests_get_their_own_kept_header_values() {
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let request = request();
    let answer_for =
        |identity: &std::sync::Arc<Identity>| pairs(&plan(allowed(Some(identity.clone())), &context(&request, &names)));
    let made_each_time = answer_for(&std::sync::Arc::new(alice()));
    let shared = shared_alice();
    assert_eq!(answer_for(&shared), made_each_time);
    assert_eq!(answer_for(&shared), made_each_time, "the kept values");
    // Another identity, even one whose digest picks the same slot, gets its own.
    for user in ["bob", "carol", "dave", "erin", "frank"] {
        let other = std::sync::Arc::new(Identity {
            user: user.into(),
            ..alice()
        });
        other.digest();
        let user_header = ("x-auth-request-user".to_string(), user.to_string());
        assert!(answer_for(&other).contains(&user_header), "{user}");
        assert!(answer_for(&other).contains(&user_header), "{user}, kept");
    }
    assert_eq!(answer_for(&shared), made_each_time);
}

#[test]
fn an_allow_starts_from_the_identity_headers_then_adds_rule_and_template_headers() {
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let request = request();
    let set = rule_set();
    let mut context = context(&request, &names);
    context.template_headers = set.template_headers();
    context.rule = set.rules().find(|rule| rule.id == "tenant");
    let identity = Some(std::sync::Arc::new(alice()));
    let answer = plan(allowed(identity), &context);
    let expected = [
        // A template header of another rule: sent empty.
        ("x-auth-request-access-token", ""),
        ("x-auth-request-email", "alice@example.com"),
        ("x-auth-request-groups", "admins,dev"),
        ("x-auth-request-preferred-username", "Alice"),
        ("x-auth-request-user", "alice"),
        ("x-tenant", "acme for alice"),
        ("x-unused", ""),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()));
    assert_eq!(pairs(&answer), expected);
}

/// Two rules with headers, and the second's `X-Auth-Request-Access-Token` template.
fn rule_set() -> crate::rules::RuleSet {
    let yaml = r#"
- id: tenant
  paths: ["/t/**"]
  policy: allow
  headers: { X-Tenant: "acme for {user}" }
- id: unused
  paths: ["/u/**"]
  policy: allow
  headers: { X-Unused: "{email}", X-Auth-Request-Access-Token: "from the rule" }
"#;
    crate::rules::RuleSet::from_yaml(yaml, std::path::Path::new("rules.yaml")).expect("rules")
}

#[test]
fn identity_header_names_that_repeat_still_answer_as_one_header_each() {
    // `user` and `email` configured as the same header: the later value (email) wins, as
    // inserting one after the other does.
    let config = HeadersConfig {
        email: HeaderName::from_static("x-auth-request-user"),
        ..HeadersConfig::default()
    };
    let names = IdentityHeaders::new(&config);
    let request = request();
    let answer = plan(allowed(Some(std::sync::Arc::new(alice()))), &context(&request, &names));
    let users: Vec<_> = answer.headers.get_all("x-auth-request-user").iter().collect();
    assert_eq!(users, ["alice@example.com"]);
    assert_eq!(answer.headers.len(), 3);
}

#[test]
fn control_characters_are_found_in_ascii_and_beyond() {
    assert!(!has_control("plain value ~"));
    assert!(!has_control("José zoë"));
    assert!(has_control("a\u{1f}b"));
    assert!(has_control("a\u{7f}b"));
    assert!(has_control("é\u{85}"));
    assert!(has_control("\t"));
}

#[test]
fn an_allow_plans_the_identity_headers_and_the_refreshed_cookies() {
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let request = request();
    let cookie = HeaderValue::from_static("_portcullis=new; Path=/");
    let decision = Decision::Allow {
        rule: "r",
        identity: None,
        upstream: Upstream {
            access_token: None,
            set_cookies: vec![cookie.clone()],
        },
    };
    let answer = plan(decision, &context(&request, &names));
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers.get("x-auth-request-user").map(HeaderValue::as_bytes),
        Some(&b""[..])
    );
    assert_eq!(
        answer.headers.get_all(header::SET_COOKIE).iter().collect::<Vec<_>>(),
        [&cookie]
    );
}

#[test]
fn a_kept_head_serves_only_its_rule_set_and_its_header_names() {
    let request = request();
    let shared = shared_alice();
    let defaults = IdentityHeaders::new(&HeadersConfig::default());
    let renamed = IdentityHeaders::new(&HeadersConfig {
        user: HeaderName::from_static("x-user"),
        ..HeadersConfig::default()
    });
    let first = TemplateHeaders::new(vec![HeaderName::from_static("x-first")]);
    let second = TemplateHeaders::new(vec![HeaderName::from_static("x-second")]);
    let names_of = |identity: Option<&Arc<Identity>>, names: &IdentityHeaders, templates: &TemplateHeaders| {
        let mut context = context(&request, names);
        context.template_headers = templates;
        let answer = plan(allowed(identity.cloned()), &context);
        let mut names: Vec<String> = answer.headers.keys().map(|name| name.to_string()).collect();
        names.sort();
        names
    };
    // The memo keeps one head per identity (a slot by its digest), so each answer below is
    // asked right after one that kept another head for the same identity.
    for identity in [Some(&shared), None] {
        for _ in 0..2 {
            let with_first = names_of(identity, &defaults, &first);
            assert!(with_first.contains(&"x-first".to_string()), "{with_first:?}");
            assert_eq!(names_of(identity, &defaults, &first), with_first, "kept");
            let other_names = names_of(identity, &renamed, &first);
            assert!(other_names.contains(&"x-user".to_string()), "{other_names:?}");
            assert!(
                !other_names.contains(&"x-auth-request-user".to_string()),
                "{other_names:?}"
            );
            let with_second = names_of(identity, &defaults, &second);
            assert!(with_second.contains(&"x-second".to_string()), "{with_second:?}");
            assert!(!with_second.contains(&"x-first".to_string()), "{with_second:?}");
        }
    }
}

#[test]
fn the_access_token_is_never_kept_with_a_head() {
    let names = passing_tokens();
    let request = request();
    let shared = shared_alice();
    let token_of = |identity: Option<Arc<Identity>>, token: Option<&str>| {
        let answer = plan(allowed_with_token(identity, token), &context(&request, &names));
        let values: Vec<_> = answer
            .headers
            .get_all("x-auth-request-access-token")
            .iter()
            .cloned()
            .collect();
        values
    };
    for _ in 0..2 {
        assert_eq!(token_of(Some(shared.clone()), Some("one")), ["one"]);
        assert_eq!(token_of(Some(shared.clone()), Some("two")), ["two"]);
        assert_eq!(token_of(Some(shared.clone()), None), [""]);
        assert_eq!(token_of(None, Some("stray")), [""], "no identity, no token");
    }
}

#[test]
fn each_rule_gets_its_own_headers_from_a_kept_head_and_a_reloaded_rule_its_new_ones() {
    let names = passing_tokens();
    let request = request();
    let shared = shared_alice();
    let first = rule_set();
    let reloaded = crate::rules::RuleSet::from_yaml(
        "- id: tenant\n  policy: allow\n  headers: { X-Tenant: \"globex for {user}\" }\n",
        std::path::Path::new("rules.yaml"),
    )
    .expect("rules");
    let answer = |set: &crate::rules::RuleSet, id: &str| {
        let mut context = context(&request, &names);
        context.template_headers = set.template_headers();
        context.rule = set.rules().find(|rule| rule.id == id);
        pairs(&plan(
            allowed_with_token(Some(shared.clone()), Some("the token")),
            &context,
        ))
    };
    let header = |name: &str, value: &str| (name.to_string(), value.to_string());
    for _ in 0..2 {
        let tenant = answer(&first, "tenant");
        assert!(tenant.contains(&header("x-tenant", "acme for alice")), "{tenant:?}");
        assert!(tenant.contains(&header("x-unused", "")), "{tenant:?}");
        assert!(
            tenant.contains(&header("x-auth-request-access-token", "the token")),
            "{tenant:?}"
        );
        let unused = answer(&first, "unused");
        assert!(unused.contains(&header("x-tenant", "")), "{unused:?}");
        assert!(unused.contains(&header("x-unused", "alice@example.com")), "{unused:?}");
        // The rule's own header of that name wins over the access token.
        assert!(
            unused.contains(&header("x-auth-request-access-token", "from the rule")),
            "{unused:?}"
        );
        let again = answer(&reloaded, "tenant");
        assert!(again.contains(&header("x-tenant", "globex for alice")), "{again:?}");
        assert!(!again.iter().any(|(name, _)| name == "x-unused"), "{again:?}");
    }
}
