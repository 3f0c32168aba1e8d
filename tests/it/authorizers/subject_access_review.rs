//! The subject access review authorizer against the Kubernetes-API-shaped server: what it asks,
//! how the RBAC table's answers become 200 and 403, caching and single flight, and 503 whenever
//! the API server cannot answer (down, wrong CA, refused token).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{status, status_at};
use crate::common::kube_api::{Grant, KubeApi, On, Subject};
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, file_issuer_config};

const RULES: &str = r#"
- id: cluster-api
  paths: ["/api/**"]
  policy: authenticated
  on_unauthenticated: unauthorized
  require:
    groups_any: [developers, admins]
    authorizer: kubernetes
- id: deployments
  paths: ["/apps/prod/deployments/**"]
  policy: authenticated
  require:
    authorizer: kubernetes
    resource: { namespace: prod, group: apps, resource: deployments }
- id: logs
  paths: ["/logs/**"]
  policy: authenticated
  require:
    authorizer: kubernetes
    resource: { namespace: prod, resource: pods, subresource: log, verb: get }
"#;

/// Developers may read `/api/*`, admins do anything there; alice may read deployments in prod.
fn rbac() -> Vec<Grant> {
    vec![
        Grant {
            subject: Subject::Group("developers"),
            verbs: vec!["get", "head"],
            on: On::Paths(vec!["/api/*"]),
        },
        Grant {
            subject: Subject::Group("admins"),
            verbs: vec!["*"],
            on: On::Paths(vec!["/api/*"]),
        },
        Grant {
            subject: Subject::User("alice"),
            verbs: vec!["get", "list"],
            on: On::Resources {
                namespace: Some("prod"),
                group: "apps",
                resources: vec!["deployments"],
            },
        },
    ]
}

fn developer() -> String {
    rsa1(json!({ "sub": "dana", "groups": ["developers"] }))
}

fn admin() -> String {
    rsa1(json!({ "sub": "ada", "groups": ["admins"] }))
}

/// The API server with [`rbac`] and Portcullis asking it with `ca_file`.
async fn start(ca_right: bool) -> (KubeApi, Portcullis) {
    let api = KubeApi::start(rbac()).await;
    let ca = if ca_right { api.pki.ca() } else { api.pki.other_ca() };
    let config = format!(
        "{}{}",
        file_issuer_config("rsa1"),
        api.authorizer_config("kubernetes", &ca)
    );
    let portcullis = Portcullis::start(Setup::new(&config, RULES)).await;
    (api, portcullis)
}

#[tokio::test]
async fn non_resource_reviews_allow_and_deny_as_the_rbac_table_says() {
    let (api, p) = start(true).await;
    assert_eq!(status(&p, "GET", "/api/v1/namespaces", Some(&developer())).await, 200);
    assert_eq!(
        status(&p, "DELETE", "/api/v1/namespaces", Some(&developer())).await,
        403
    );
    assert_eq!(status(&p, "DELETE", "/api/v1/namespaces", Some(&admin())).await, 200);
    let reviews = api.reviews();
    assert_eq!(reviews.len(), 3, "{reviews:#?}");
    assert_eq!(
        reviews[0],
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": "dana",
                "groups": ["developers"],
                "nonResourceAttributes": { "path": "/api/v1/namespaces", "verb": "get" },
            },
        })
    );
    assert_eq!(reviews[1]["spec"]["nonResourceAttributes"]["verb"], "delete");
    // The path asked about is the normalised one rules match, never the spelling sent.
    assert_eq!(status(&p, "GET", "/api//v1/./pods;x=1", Some(&developer())).await, 200);
    assert_eq!(
        api.reviews()[3]["spec"]["nonResourceAttributes"]["path"],
        "/api/v1/pods"
    );
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="kubernetes",result="allow"}"#)
            .await,
        3.0
    );
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="kubernetes",result="deny"}"#)
            .await,
        1.0
    );
    assert_eq!(
        p.metric(r#"portcullis_decisions_total{endpoint="auth",outcome="forbidden",rule="cluster-api"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn resource_reviews_allow_and_deny_as_the_rbac_table_says() {
    let (api, p) = start(true).await;
    let alice = rsa1(json!({ "sub": "alice", "groups": [] }));
    let bob = rsa1(json!({ "sub": "bob", "groups": ["developers"] }));
    assert_eq!(status(&p, "GET", "/apps/prod/deployments/web", Some(&alice)).await, 200);
    assert_eq!(status(&p, "GET", "/apps/prod/deployments/web", Some(&bob)).await, 403);
    assert_eq!(
        status(&p, "DELETE", "/apps/prod/deployments/web", Some(&alice)).await,
        403
    );
    assert_eq!(
        api.reviews()[0]["spec"],
        json!({
            "user": "alice",
            "groups": [],
            "resourceAttributes": { "namespace": "prod", "group": "apps", "resource": "deployments", "verb": "get" },
        })
    );
    // Alice may read deployments, not pod logs: a resource the table does not grant her.
    assert_eq!(status(&p, "GET", "/logs/web", Some(&alice)).await, 403);
}

#[tokio::test]
async fn the_verb_of_a_resource_review_comes_from_the_method_unless_the_rule_names_it() {
    let (api, p) = start(true).await;
    let alice = rsa1(json!({ "sub": "alice" }));
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        status(&p, method, "/apps/prod/deployments/web", Some(&alice)).await;
    }
    let verbs: Vec<String> = api
        .reviews()
        .iter()
        .map(|review| {
            review["spec"]["resourceAttributes"]["verb"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    // HEAD asks the very question GET asked, so it is answered from the cache: no review.
    assert_eq!(verbs, ["get", "create", "update", "patch", "delete", "*"]);
    status(&p, "POST", "/logs/web", Some(&alice)).await;
    let last = api.reviews().pop().expect("review");
    assert_eq!(
        last["spec"]["resourceAttributes"],
        json!({"namespace": "prod", "resource": "pods", "subresource": "log", "verb": "get"})
    );
}

#[tokio::test]
async fn answers_are_cached_and_concurrent_askers_share_one_review() {
    let (api, p) = start(true).await;
    let token = developer();
    api.hold().await;
    let asks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(status_at(p.url("/auth"), "GET", "/api/v1/pods", Some(token.clone()))))
        .collect();
    let all = async {
        let mut statuses = Vec::new();
        for ask in asks {
            statuses.push(ask.await.expect("ask"));
        }
        statuses
    };
    let watcher = async {
        wait_until("the first review arrives", || api.calls() >= 1).await;
        // Give the other seven time to reach Portcullis while the review is held: without
        // single flight each would make its own review now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = api.calls();
        api.release();
        during
    };
    let (statuses, during) = tokio::join!(all, watcher);
    assert_eq!(during, 1, "concurrent askers made {during} reviews");
    assert_eq!(statuses, vec![200; 8]);
    // Cached: asked again, sequentially, no new review.
    for _ in 0..3 {
        assert_eq!(status(&p, "GET", "/api/v1/pods", Some(&token)).await, 200);
    }
    assert_eq!(api.calls(), 1);
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="kubernetes",result="allow"}"#)
            .await,
        1.0
    );
    // Denials are cached too; another question is another review.
    assert_eq!(status(&p, "DELETE", "/api/v1/pods", Some(&token)).await, 403);
    assert_eq!(status(&p, "DELETE", "/api/v1/pods", Some(&token)).await, 403);
    assert_eq!(api.calls(), 2);
    assert_eq!(status(&p, "GET", "/api/v1/pods", Some(&admin())).await, 200);
    assert_eq!(api.calls(), 3);
}

#[tokio::test]
async fn with_the_api_server_down_cached_answers_serve_and_others_are_503() {
    let (api, p) = start(true).await;
    let token = developer();
    assert_eq!(status(&p, "GET", "/api/v1/pods", Some(&token)).await, 200);
    assert_eq!(status(&p, "DELETE", "/api/v1/pods", Some(&token)).await, 403);
    api.stop();
    assert_eq!(
        status(&p, "GET", "/api/v1/pods", Some(&token)).await,
        200,
        "cached allow"
    );
    assert_eq!(
        status(&p, "DELETE", "/api/v1/pods", Some(&token)).await,
        403,
        "cached deny"
    );
    for _ in 0..2 {
        // Errors are not cached: each uncached question asks again, and fails closed.
        assert_eq!(status(&p, "GET", "/api/v1/services", Some(&token)).await, 503);
    }
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="kubernetes",result="error"}"#)
            .await,
        2.0
    );
    assert_eq!(
        p.metric(r#"portcullis_decisions_total{endpoint="auth",outcome="error",rule="cluster-api"}"#)
            .await,
        2.0
    );
    let log = p.log_text();
    assert!(
        log.contains("authorizer cannot answer") && log.contains(&api.url),
        "{log}"
    );
    assert!(
        !log.contains(&token) && !log.contains("sa-token-1"),
        "a token was logged"
    );
}

#[tokio::test]
async fn a_wrong_ca_is_503_with_a_log_that_says_why() {
    let (api, p) = start(false).await;
    assert_eq!(status(&p, "GET", "/api/v1/pods", Some(&developer())).await, 503);
    assert_eq!(api.reviews().len(), 0, "no review crosses an unverified connection");
    let log = p.log_text();
    let line = log
        .lines()
        .find(|line| line.contains("authorizer cannot answer"))
        .unwrap_or_else(|| panic!("no log line:\n{log}"));
    assert!(line.contains(&api.url), "{line}");
    assert!(line.contains("UnknownIssuer") || line.contains("certificate"), "{line}");
}

#[tokio::test]
async fn requests_that_fail_before_the_authorizer_never_reach_it() {
    let (api, p) = start(true).await;
    assert_eq!(status(&p, "GET", "/api/v1/pods", None).await, 401);
    assert_eq!(status(&p, "GET", "/api/v1/pods", Some("not.a.token")).await, 401);
    let expired = rsa1(json!({ "groups": ["developers"], "exp": 1 }));
    assert_eq!(status(&p, "GET", "/api/v1/pods", Some(&expired)).await, 401);
    let outsider = rsa1(json!({ "sub": "eve", "groups": ["guests"] }));
    assert_eq!(
        status(&p, "GET", "/api/v1/pods", Some(&outsider)).await,
        403,
        "groups_any first"
    );
    assert_eq!(
        status(&p, "GET", "/nothing/here", Some(&developer())).await,
        403,
        "default deny"
    );
    assert_eq!(api.calls(), 0);
}

#[tokio::test]
async fn a_refused_token_is_503_and_a_rotated_token_file_is_read_again() {
    let (api, p) = start(true).await;
    let token = developer();
    api.rotate_token("sa-token-2");
    assert_eq!(status(&p, "GET", "/api/v1/pods", Some(&token)).await, 503);
    assert!(p.log_text().contains("refused the token"), "{}", p.log_text());
    std::fs::write(&api.token_file, "sa-token-2\n").expect("rotate the file");
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&p, "GET", "/api/v1/pods", Some(&token)).await != 200 {
        assert!(
            Instant::now() < deadline,
            "the new token was never used:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn explain_says_which_authorizer_would_be_asked_and_does_not_ask_it() {
    let api = KubeApi::start(rbac()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/10.yaml"), RULES).expect("rules");
    let config = format!(
        "{}{}",
        file_issuer_config("rsa1"),
        api.authorizer_config("kubernetes", &api.pki.ca())
    );
    std::fs::write(dir.path().join("portcullis.toml"), config).expect("config");
    let token = developer();
    let (code, stdout, stderr) = crate::common::run(
        &[
            "explain",
            "--config",
            "portcullis.toml",
            "--url",
            "https://app.example.com/api/v1/pods",
            "--method",
            "DELETE",
            "--token",
            &token,
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("authorizer: `kubernetes` (subject_access_review at https://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("not asked by explain"), "{stdout}");
    assert!(
        stdout.contains(r#""nonResourceAttributes":{"path":"/api/v1/pods","verb":"delete"}"#),
        "{stdout}"
    );
    assert_eq!(api.calls(), 0, "explain made a review");
}
