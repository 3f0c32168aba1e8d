use std::sync::Arc;

use axum::http::Method;

use super::*;
use crate::authn::Claims;

fn identity(groups: &[&str], claims: &str) -> Identity {
    Identity {
        issuer: Arc::from("corp"),
        user: "alice".into(),
        email: Some("alice@example.com".into()),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        preferred_username: None,
        scopes: vec![],
        claims: Claims::from_json(claims),
        expires_at: u64::MAX,
        digest: Default::default(),
    }
}

fn request(method: Method, uri: &str) -> OriginalRequest {
    let path = uri.split('?').next().unwrap_or(uri).to_string();
    OriginalRequest {
        method,
        scheme: "https",
        host: "app.example.com".into(),
        authority: "app.example.com:8443".into(),
        path,
        uri: uri.into(),
    }
}

fn eval(source: &str, identity: &Identity, request: &OriginalRequest) -> Evaluation {
    Expression::compile(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .evaluate(identity, request)
}

fn get() -> OriginalRequest {
    request(Method::GET, "/x")
}

#[test]
fn group_membership_reads_the_identitys_groups() {
    let source = "'admins' in groups";
    assert_eq!(
        eval(source, &identity(&["dev", "admins"], "{}"), &get()),
        Evaluation::True
    );
    assert_eq!(eval(source, &identity(&["dev"], "{}"), &get()), Evaluation::False);
    let exists = "groups.exists(g, g.startsWith('team-'))";
    assert_eq!(eval(exists, &identity(&["team-a"], "{}"), &get()), Evaluation::True);
    assert_eq!(eval(exists, &identity(&["a-team"], "{}"), &get()), Evaluation::False);
}

#[test]
fn claims_are_read_as_json_values() {
    let verified = "claims.email_verified == true";
    assert_eq!(
        eval(verified, &identity(&[], r#"{"email_verified":true}"#), &get()),
        Evaluation::True
    );
    assert_eq!(
        eval(verified, &identity(&[], r#"{"email_verified":false}"#), &get()),
        Evaluation::False
    );
    let numbers = "claims.level >= 3 && claims.ratio < 0.5 && claims.big > 0u";
    let claims = r#"{"level":3,"ratio":0.25,"big":18446744073709551615}"#;
    assert_eq!(eval(numbers, &identity(&[], claims), &get()), Evaluation::True);
}

#[test]
fn nested_claims_and_claims_read_whole_work() {
    let claims = r#"{"realm_access":{"roles":["viewer","editor"]},"org":{"tier":"gold"},"a.b":1}"#;
    let alice = identity(&[], claims);
    let nested = "'editor' in claims.realm_access.roles && claims.org.tier == 'gold'";
    assert_eq!(eval(nested, &alice, &get()), Evaluation::True);
    // Indexing reads the claims whole: names that are not identifiers, and `in`.
    assert_eq!(
        eval("claims['a.b'] == 1 && 'org' in claims", &alice, &get()),
        Evaluation::True
    );
    let many = "claims.a == 1 || claims.b == 1 || claims.c == 1 || claims.d == 1 || claims.org.tier == 'gold'";
    assert_eq!(eval(many, &alice, &get()), Evaluation::True);
}

#[test]
fn request_fields_are_method_host_normalised_path_and_query() {
    let alice = identity(&[], "{}");
    let post = request(Method::POST, "/api/orders?page=2&sort=asc");
    let source = "request.method == 'POST' && request.host == 'app.example.com' \
                  && request.path.startsWith('/api/') && request.query == 'page=2&sort=asc'";
    assert_eq!(eval(source, &alice, &post), Evaluation::True);
    assert_eq!(
        eval(source, &alice, &request(Method::GET, "/api/orders?page=2&sort=asc")),
        Evaluation::False
    );
    assert_eq!(eval("request.query == ''", &alice, &get()), Evaluation::True);
    // Read through the map as well as by name.
    let whole = "has(request.path) && request['method'] == 'POST' && size(request) == 4";
    assert_eq!(eval(whole, &alice, &post), Evaluation::True);
}

#[test]
fn user_email_and_issuer_are_strings() {
    let source = "user == 'alice' && email.endsWith('@example.com') && issuer == 'corp'";
    assert_eq!(eval(source, &identity(&[], "{}"), &get()), Evaluation::True);
    let mut nobody = identity(&[], "{}");
    nobody.email = None;
    assert_eq!(eval("email == ''", &nobody, &get()), Evaluation::True);
}

#[test]
fn has_tells_whether_a_claim_is_present() {
    let source = "has(claims.tenant) && claims.tenant == 'acme'";
    assert_eq!(
        eval(source, &identity(&[], r#"{"tenant":"acme"}"#), &get()),
        Evaluation::True
    );
    assert_eq!(eval(source, &identity(&[], "{}"), &get()), Evaluation::False);
    assert_eq!(
        eval("has(claims.org.tier)", &identity(&[], r#"{"org":{}}"#), &get()),
        Evaluation::False
    );
}

#[test]
fn a_missing_claim_is_an_error_that_refuses() {
    let missing = eval("claims.email_verified", &identity(&[], "{}"), &get());
    assert!(
        matches!(&missing, Evaluation::Error(e) if e.contains("email_verified")),
        "{missing:?}"
    );
    let garbage = eval("claims.email_verified", &identity(&[], "not json"), &get());
    assert!(matches!(garbage, Evaluation::Error(_)), "{garbage:?}");
    let expression = Expression::compile("claims.email_verified").unwrap();
    let refused = expression.check(&identity(&[], "{}"), &get(), "r").unwrap_err();
    assert!(
        refused.starts_with("requires expression `claims.email_verified` (could not be evaluated"),
        "{refused}"
    );
}

#[test]
fn a_type_error_or_a_non_bool_result_refuses() {
    let alice = identity(&[], r#"{"n":"3"}"#);
    assert!(matches!(eval("claims.n > 2", &alice, &get()), Evaluation::Error(_)));
    let text = eval("user", &alice, &get());
    assert!(
        matches!(&text, Evaluation::Error(e) if e.contains("not a bool")),
        "{text:?}"
    );
    let expression = Expression::compile("1 + 1").unwrap();
    assert!(expression.check(&alice, &get(), "r").is_err());
    let expression = Expression::compile("false").unwrap();
    assert_eq!(
        expression.check(&alice, &get(), "r"),
        Err("requires expression `false`".into())
    );
    assert_eq!(Expression::compile("true").unwrap().check(&alice, &get(), "r"), Ok(()));
}

#[test]
fn a_syntax_error_does_not_compile_and_says_where() {
    let error = Expression::compile("'admins' in groups ||").unwrap_err();
    assert!(
        error.starts_with("expression `'admins' in groups ||` does not parse at 1:22: Syntax error"),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");
}

#[test]
fn an_unknown_variable_does_not_compile() {
    let error = Expression::compile("'admins' in group || requst.method == 'GET'").unwrap_err();
    assert!(error.contains("unknown variable(s) group, requst"), "{error}");
    // Comprehension variables, type names and `@` accumulators are not variables.
    for fine in [
        "groups.all(g, g != '')",
        "groups.map(g, size(g)).exists(n, n > 3)",
        "type(claims.x) == string || type(claims.x) == int",
        "[1, 2].exists(x, x == 2) && {'a': user}.a == user",
    ] {
        assert!(
            Expression::compile(fine).is_ok(),
            "{fine}: {:?}",
            Expression::compile(fine)
        );
    }
    // A comprehension variable is out of scope after its macro.
    assert!(Expression::compile("groups.all(g, g != '') && g == ''").is_err());
}

#[test]
fn claims_are_parsed_only_as_far_as_the_expression_reads_them() {
    let uses = |source: &str| Expression::compile(source).unwrap().claims;
    assert_eq!(uses("'a' in groups"), ClaimsUse::None);
    assert_eq!(
        uses("claims.b.c == 1 && has(claims.a)"),
        ClaimsUse::Members(vec!["a".into(), "b".into()])
    );
    assert_eq!(uses("'a' in claims"), ClaimsUse::Whole);
    // A comprehension variable named `claims` is not the claims.
    assert_eq!(uses("groups.exists(claims, claims == 'x')"), ClaimsUse::None);
}

#[test]
fn expressions_compare_by_source_and_deserialize_compiled() {
    let parsed: Expression = serde_json::from_str(r#""user == 'alice'""#).unwrap();
    assert_eq!(parsed, Expression::compile("user == 'alice'").unwrap());
    assert_eq!(parsed.source(), "user == 'alice'");
    let error = serde_json::from_str::<Expression>(r#""user ==""#).unwrap_err();
    assert!(error.to_string().contains("does not parse"), "{error}");
}

#[test]
fn evaluation_displays_for_explain() {
    assert_eq!(Evaluation::True.to_string(), "true");
    assert_eq!(Evaluation::False.to_string(), "false");
    assert_eq!(
        Evaluation::Error("No such key: x".into()).to_string(),
        "error: No such key: x"
    );
}

#[test]
fn explain_shows_the_expression_and_its_value() {
    let expression = Expression::compile("claims.email_verified").unwrap();
    let verified = identity(&[], r#"{"email_verified":true}"#);
    assert_eq!(
        expression.explain(Some(&verified), &get()),
        "expression `claims.email_verified`: true"
    );
    let missing = expression.explain(Some(&identity(&[], "{}")), &get());
    assert!(
        missing.starts_with("expression `claims.email_verified`: error: "),
        "{missing}"
    );
    assert_eq!(
        expression.explain(None, &get()),
        "expression `claims.email_verified`: not evaluated (no identity)"
    );
}

#[test]
fn an_expression_reads_the_request_or_only_the_identity() {
    for (source, identity_only) in [
        ("'admins' in groups", true),
        ("claims.email_verified && user == 'alice'", true),
        ("issuer == 'corp' && email.endsWith('@example.com')", true),
        ("request.method == 'GET'", false),
        ("'admins' in groups || request.path.startsWith('/public/')", false),
        ("has(request.query)", false),
        ("[request].size() == 1", false),
        // A comprehension variable named `request` is not the request.
        ("groups.exists(request, request == 'admins')", true),
    ] {
        let expression = Expression::compile(source).expect(source);
        assert_eq!(expression.identity_only, identity_only, "{source}");
    }
}

/// A kept verdict is never served for another identity, another expression or (for one that
/// reads the request) another request.
#[test]
fn a_kept_verdict_answers_only_for_the_same_expression_and_identity() {
    let admins = Expression::compile("'admins' in groups").expect("compiles");
    let verified = Expression::compile("claims.email_verified == true").expect("compiles");
    let alice = identity(&["admins"], r#"{"email_verified":false}"#);
    let bob = Identity {
        user: "bob".into(),
        ..identity(&["dev"], r#"{"email_verified":true}"#)
    };
    for _ in 0..3 {
        assert_eq!(admins.evaluate(&alice, &get()), Evaluation::True);
        assert_eq!(verified.evaluate(&alice, &get()), Evaluation::False);
        assert_eq!(admins.evaluate(&bob, &get()), Evaluation::False);
        assert_eq!(verified.evaluate(&bob, &get()), Evaluation::True);
    }
    // The same groups with a claim changed: a new identity, evaluated anew.
    let alice_verified = identity(&["admins"], r#"{"email_verified":true}"#);
    assert_eq!(verified.evaluate(&alice_verified, &get()), Evaluation::True);
    // The same source compiled again is another expression; it agrees.
    let again = Expression::compile("'admins' in groups").expect("compiles");
    assert_eq!(again.evaluate(&bob, &get()), Evaluation::False);
    // One that reads the request answers per request.
    let gets = Expression::compile("'admins' in groups && request.method == 'GET'").expect("compiles");
    assert_eq!(gets.evaluate(&alice, &get()), Evaluation::True);
    assert_eq!(gets.evaluate(&alice, &request(Method::POST, "/x")), Evaluation::False);
    assert_eq!(gets.evaluate(&alice, &get()), Evaluation::True);
}

/// An evaluation error is not kept: it is evaluated (and logged) each time.
#[test]
fn an_evaluation_error_is_never_kept() {
    let missing = Expression::compile("claims.tenant == 'acme'").expect("compiles");
    let alice = identity(&[], "{}");
    for _ in 0..2 {
        assert!(matches!(missing.evaluate(&alice, &get()), Evaluation::Error(_)));
    }
    VERDICTS.with(|verdicts| assert_eq!(verdicts.borrow().get(missing.number, alice.digest()), None));
}
