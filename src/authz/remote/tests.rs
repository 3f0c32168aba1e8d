use std::path::Path;
use std::sync::Arc;

use axum::http::Method;
use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::authn::Claims;
use crate::rules::RuleSet;

fn identity() -> Identity {
    Identity {
        issuer: Arc::from("dex"),
        user: "jane@example.com".into(),
        email: Some("jane@example.com".into()),
        groups: vec!["developers".into(), "all".into()],
        preferred_username: None,
        scopes: Vec::new(),
        claims: Claims::from_json(r#"{"sub":"jane","email_verified":true}"#),
        expires_at: 0,
        digest: Default::default(),
    }
}

fn request(method: &str, path: &str, uri: &str) -> OriginalRequest {
    OriginalRequest {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        scheme: "https",
        host: "api.example.com".into(),
        authority: "api.example.com".into(),
        path: path.into(),
        uri: uri.into(),
    }
}

fn known() -> Known {
    Known {
        authorizers: vec![("kubernetes".into(), true), ("policy".into(), false)],
        ..Known::default()
    }
}

fn load(yaml: &str) -> Result<RuleSet, Vec<crate::rules::RuleError>> {
    RuleSet::from_yaml_with(yaml, Path::new("rules.yaml"), &known())
}

#[test]
fn the_verb_comes_from_the_method_as_kubernetes_maps_it() {
    let cases = [
        ("GET", "get"),
        ("HEAD", "get"),
        ("POST", "create"),
        ("PUT", "update"),
        ("PATCH", "patch"),
        ("DELETE", "delete"),
        ("OPTIONS", "*"),
        ("PURGE", "*"),
    ];
    for (method, verb) in cases {
        assert_eq!(
            verb_of(&Method::from_bytes(method.as_bytes()).expect("method")),
            verb,
            "{method}"
        );
    }
}

#[test]
fn a_review_without_resource_asks_about_the_normalised_path_and_lower_cased_method() {
    let body = sar::review(&identity(), None, &request("PATCH", "/api/v1/x", "/api//v1/x?watch=1"));
    assert_eq!(
        body,
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": "jane@example.com",
                "groups": ["developers", "all"],
                "nonResourceAttributes": { "path": "/api/v1/x", "verb": "patch" },
            },
        })
    );
}

#[test]
fn a_review_with_resource_sends_it_and_fills_the_verb_from_the_method_only_when_missing() {
    let resource = ResourceAttributes {
        namespace: Some("prod".into()),
        group: Some("apps".into()),
        resource: Some("deployments".into()),
        ..Default::default()
    };
    let body = sar::review(&identity(), Some(&resource), &request("DELETE", "/d", "/d"));
    assert_eq!(
        body["spec"]["resourceAttributes"],
        json!({"namespace": "prod", "group": "apps", "resource": "deployments", "verb": "delete"})
    );
    assert!(body["spec"].get("nonResourceAttributes").is_none());
    let fixed = ResourceAttributes {
        verb: Some("list".into()),
        ..resource
    };
    let body = sar::review(&identity(), Some(&fixed), &request("DELETE", "/d", "/d"));
    assert_eq!(body["spec"]["resourceAttributes"]["verb"], "list");
}

#[test]
fn the_api_servers_answer_decides_only_with_200_or_201_and_a_review() {
    let allowed = br#"{"status":{"allowed":true}}"#;
    assert_eq!(sar::verdict(StatusCode::CREATED, allowed, true), Ok(Verdict::Allow));
    assert_eq!(sar::verdict(StatusCode::OK, allowed, true), Ok(Verdict::Allow));
    let denied = br#"{"status":{"allowed":false,"reason":"no RBAC rule"}}"#;
    assert_eq!(
        sar::verdict(StatusCode::CREATED, denied, true),
        Ok(Verdict::Deny("no RBAC rule".into()))
    );
    assert!(
        sar::verdict(StatusCode::CREATED, br#"{"status":{"allowed":"yes"}}"#, true).is_err(),
        "a status that is not a review's is no answer"
    );
    assert_eq!(
        sar::verdict(StatusCode::CREATED, br#"{"kind":"SubjectAccessReview"}"#, true),
        Ok(Verdict::Deny(String::new()))
    );
    assert!(sar::verdict(StatusCode::CREATED, b"<html>", true).is_err());
    for status in [401, 403, 404, 500, 503] {
        let status = StatusCode::from_u16(status).expect("status");
        assert!(sar::verdict(status, allowed, true).is_err(), "{status}");
    }
    let forbidden = sar::verdict(StatusCode::FORBIDDEN, b"{}", true).unwrap_err();
    assert!(forbidden.0.contains("subjectaccessreviews"), "{forbidden}");
    let without_token = sar::verdict(StatusCode::UNAUTHORIZED, b"{}", false).unwrap_err();
    assert!(without_token.0.contains("set token_file"), "{without_token}");
}

#[test]
fn the_http_authorizer_gets_the_identity_and_the_request() {
    let body = http::body("api", &identity(), &request("GET", "/a/b", "/a//b?x=1&y=2"));
    assert_eq!(
        body,
        json!({
            "user": "jane@example.com",
            "email": "jane@example.com",
            "groups": ["developers", "all"],
            "claims": {"sub": "jane", "email_verified": true},
            "issuer": "dex",
            "rule": "api",
            "request": {"method": "GET", "host": "api.example.com", "path": "/a/b", "query": "x=1&y=2"},
        })
    );
    assert_eq!(http::verdict(StatusCode::OK), Ok(Verdict::Allow));
    assert_eq!(http::verdict(StatusCode::FORBIDDEN), Ok(Verdict::Deny(String::new())));
    for status in [201, 204, 302, 401, 404, 500] {
        assert!(http::verdict(StatusCode::from_u16(status).expect("status")).is_err());
    }
}

#[test]
fn rules_name_a_configured_authorizer_and_take_a_resource_only_for_a_review() {
    let rules = load(
        r#"
- id: k8s
  paths: ["/api/**"]
  policy: authenticated
  require:
    authorizer: kubernetes
    resource: { namespace: prod, resource: pods, subresource: log, name: web, group: "", version: v1, verb: get }
- id: policy
  paths: ["/p/**"]
  policy: authenticated
  require: { authorizer: policy }
"#,
    )
    .expect("loads");
    let rule = rules.rules().next().expect("rule");
    assert_eq!(rule.require.authorizer.as_deref(), Some("kubernetes"));
    assert_eq!(
        rule.require.resource.as_ref().and_then(|r| r.subresource.as_deref()),
        Some("log")
    );
}

#[test]
fn authorizer_mistakes_are_load_errors_with_line_and_rule() {
    let errors = load(
        r#"
- id: unknown
  paths: ["/a/**"]
  policy: authenticated
  require: { authorizer: opa }
- id: resource-on-http
  paths: ["/b/**"]
  policy: authenticated
  require: { authorizer: policy, resource: { resource: pods } }
- id: resource-alone
  paths: ["/c/**"]
  policy: authenticated
  require: { resource: { resource: pods } }
- id: bad-field
  paths: ["/d/**"]
  policy: authenticated
  require: { authorizer: kubernetes, resource: { kind: Pod } }
"#,
    )
    .expect_err("refused");
    let find = |rule: &str| {
        errors
            .iter()
            .find(|e| e.rule.as_deref() == Some(rule))
            .unwrap_or_else(|| panic!("no error for {rule}: {errors:#?}"))
    };
    let unknown = find("unknown");
    assert_eq!(unknown.line, Some(2));
    assert!(
        unknown.reason.contains("unknown authorizer `opa`"),
        "{}",
        unknown.reason
    );
    assert!(unknown.reason.contains("kubernetes, policy"), "{}", unknown.reason);
    let on_http = find("resource-on-http");
    assert_eq!(on_http.line, Some(6));
    assert!(
        on_http.reason.contains("not a subject_access_review"),
        "{}",
        on_http.reason
    );
    assert!(find("resource-alone").reason.contains("needs require.authorizer"));
    assert!(find("bad-field").reason.contains("kind"));
    let none = RuleSet::from_yaml(
        "- id: x\n  policy: authenticated\n  require: { authorizer: kubernetes }\n",
        Path::new("r.yaml"),
    )
    .expect_err("no authorizers configured");
    assert!(
        none[0].reason.contains("no [[authorizers]] configured"),
        "{}",
        none[0].reason
    );
}

#[test]
fn the_http_cache_key_changes_with_every_part_of_the_body_and_only_then() {
    let base = identity();
    let get = request("GET", "/orders/42", "/orders/42?x=1");
    let key = |rule: &str, identity: &Identity, request: &OriginalRequest| http::cache_key(rule, identity, request);
    let same = key("r", &base, &get);
    assert_eq!(same, key("r", &base.clone(), &get.clone()));
    let mut variants: Vec<[u8; 32]> = vec![
        key("other", &base, &get),
        key("r", &base, &request("POST", "/orders/42", "/orders/42?x=1")),
        key("r", &base, &request("GET", "/orders/43", "/orders/43?x=1")),
        key("r", &base, &request("GET", "/orders/42", "/orders/42?x=2")),
    ];
    let changed = |change: &dyn Fn(&mut Identity)| {
        let mut identity = base.clone();
        change(&mut identity);
        key("r", &identity, &get)
    };
    variants.push(changed(&|i| i.user = "bob".into()));
    variants.push(changed(&|i| i.email = None));
    variants.push(changed(&|i| i.email = Some(String::new())));
    variants.push(changed(&|i| i.groups.push("x".into())));
    variants.push(changed(&|i| i.groups = vec!["dev,ops".into()]));
    variants.push(changed(&|i| i.claims = Claims::from_json(r#"{"tenant":"other"}"#)));
    variants.push(changed(&|i| i.issuer = "elsewhere".into()));
    for (index, variant) in variants.iter().enumerate() {
        assert_ne!(*variant, same, "variant {index} hashed like the original");
    }
    let distinct: std::collections::HashSet<_> = variants.iter().collect();
    assert_eq!(distinct.len(), variants.len(), "two variants hashed alike");
}

#[test]
fn a_kept_verdict_answers_only_the_same_question_and_only_before_it_lapses() {
    let rules = load(
        r#"
- id: orders
  paths: ["/orders/**"]
  policy: authenticated
  require: { authorizer: policy }
- id: other
  paths: ["/other/**"]
  policy: authenticated
  require: { authorizer: policy }
- id: pods
  paths: ["/api/**"]
  policy: authenticated
  require: { authorizer: kubernetes, resource: { resource: pods } }
"#,
    )
    .expect("loads");
    let rule = |id: &str| rules.rules().find(|rule| rule.id == id).expect("rule").clone();
    let (orders, other, pods) = (rule("orders"), rule("other"), rule("pods"));
    let number = crate::memo::next_owner();
    let jane = identity();
    let digest = *jane.digest();
    let asked = request("GET", "/orders/42", "/orders/42?x=1");
    let hour = std::time::Duration::from_secs(3600);
    question::keep(number, &digest, &orders, &asked, Kept::lasting(Verdict::Allow, hour));
    assert_eq!(
        question::answered(number, &digest, &orders, &asked),
        Some(Verdict::Allow)
    );
    assert_eq!(
        question::answered(number, &digest, &orders, &asked.clone()),
        Some(Verdict::Allow),
        "the same parts in another request"
    );

    let mut elsewhere = asked.clone();
    elsewhere.host = "other.example.com".into();
    let mut bob = identity();
    bob.user = "bob".into();
    let unasked = [
        ("another rule", number, *jane.digest(), &other, asked.clone()),
        (
            "another method",
            number,
            digest,
            &orders,
            request("POST", "/orders/42", "/orders/42?x=1"),
        ),
        (
            "another path",
            number,
            digest,
            &orders,
            request("GET", "/orders/43", "/orders/43?x=1"),
        ),
        (
            "another query",
            number,
            digest,
            &orders,
            request("GET", "/orders/42", "/orders/42?x=2"),
        ),
        (
            "no query",
            number,
            digest,
            &orders,
            request("GET", "/orders/42", "/orders/42"),
        ),
        // Asked again, not wrong: the body would be the same.
        (
            "the same path spelled otherwise",
            number,
            digest,
            &orders,
            request("GET", "/orders/42", "/orders//42?x=1"),
        ),
        ("another host", number, digest, &orders, elsewhere),
        (
            "another authorizer",
            crate::memo::next_owner(),
            digest,
            &orders,
            asked.clone(),
        ),
        ("another identity", number, *bob.digest(), &orders, asked.clone()),
    ];
    for (what, number, digest, rule, request) in &unasked {
        assert_eq!(question::answered(*number, digest, rule, request), None, "{what}");
    }

    // A reloaded rule with the same id but another resource asks another question.
    let reloaded = load(
        "- id: pods\n  paths: [\"/api/**\"]\n  policy: authenticated\n  require: { authorizer: kubernetes, resource: { resource: secrets } }\n",
    )
    .expect("loads");
    let reloaded = reloaded.rules().next().expect("rule");
    let review = request("GET", "/api/v1/pods", "/api/v1/pods");
    let denied = Verdict::Deny("no".into());
    question::keep(number, &digest, &pods, &review, Kept::lasting(denied.clone(), hour));
    assert_eq!(question::answered(number, &digest, &pods, &review), Some(denied));
    assert_eq!(question::answered(number, &digest, reloaded, &review), None);

    // A verdict whose cache_ttl has passed is not served.
    question::keep(
        number,
        &digest,
        &orders,
        &asked,
        Kept::lasting(Verdict::Allow, Default::default()),
    );
    assert_eq!(question::answered(number, &digest, &orders, &asked), None);
}
