//! `require.expression` through the real binary: a CEL expression allows one identity and
//! forbids another (403), an evaluation error is a logged 403 and never a 500, `check` refuses a
//! syntax error naming the line, `explain` prints the expression's value.

use serde_json::{Value, json};

use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, ask, client, file_issuer_config, run};

const EXPRESSION: &str = "'admins' in groups || (claims.email_verified && request.method == 'GET')";

/// The contract's example expression behind a static requirement.
fn rules() -> String {
    format!(
        r#"
- id: orders
  paths: ["/orders/**"]
  policy: authenticated
  require:
    groups_any: [dev]
    expression: "{EXPRESSION}"
- id: reports
  paths: ["/reports/**"]
  policy: authenticated
  require:
    expression: "request.path.startsWith('/reports/' + claims.tenant + '/') && request.query.contains('format=csv')"
"#
    )
}

async fn start() -> Portcullis {
    Portcullis::start(Setup::new(&file_issuer_config("rsa1"), &rules())).await
}

/// Asks `/auth` about `method https://app.example.com<uri>` with a bearer token.
async fn ask_as(p: &Portcullis, method: &str, uri: &str, token: &str) -> reqwest::Response {
    client()
        .get(p.url("/auth"))
        .header("X-Original-URL", format!("https://app.example.com{uri}"))
        .header("X-Original-Method", method)
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request")
}

async fn reason(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("json body");
    body["reason"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_expression_allows_one_identity_and_forbids_another() {
    let p = start().await;
    let admin = rsa1(json!({ "groups": ["admins", "dev"] }));
    assert_eq!(ask_as(&p, "POST", "/orders/1", &admin).await.status(), 200);
    let verified = rsa1(json!({ "groups": ["dev"], "email_verified": true }));
    assert_eq!(ask_as(&p, "GET", "/orders/1", &verified).await.status(), 200);
    let refused = ask_as(&p, "POST", "/orders/1", &verified).await;
    assert_eq!(refused.status(), 403);
    assert!(
        reason(refused).await.contains(EXPRESSION),
        "the reason names the expression"
    );
    let unverified = rsa1(json!({ "groups": ["dev"], "email_verified": false }));
    assert_eq!(ask_as(&p, "GET", "/orders/1", &unverified).await.status(), 403);
    // The static requirement is checked first, and names itself.
    let outsider = rsa1(json!({ "groups": ["admins"] }));
    let refused = ask_as(&p, "GET", "/orders/1", &outsider).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(reason(refused).await, "requires one of groups [dev]");
    assert_eq!(
        p.metric(r#"portcullis_decisions_total{endpoint="auth",outcome="forbidden",rule="orders"}"#)
            .await,
        3.0
    );
}

#[tokio::test]
async fn request_fields_and_claims_decide_together() {
    let p = start().await;
    let acme = rsa1(json!({ "tenant": "acme" }));
    let csv = "/reports/acme/q3?format=csv";
    assert_eq!(ask_as(&p, "GET", csv, &acme).await.status(), 200);
    assert_eq!(
        ask_as(&p, "GET", "/reports/acme/q3?format=pdf", &acme).await.status(),
        403
    );
    assert_eq!(
        ask_as(&p, "GET", "/reports/globex/q3?format=csv", &acme).await.status(),
        403
    );
    // The path is the normalised one (`/reports/globex/q3`): a dot segment does not smuggle
    // another tenant's path past `startsWith`.
    let smuggled = "/reports/acme/../globex/q3?format=csv";
    assert_eq!(ask_as(&p, "GET", smuggled, &acme).await.status(), 403);
}

#[tokio::test]
async fn an_evaluation_error_is_a_logged_403_never_a_500() {
    let p = start().await;
    // No `email_verified` claim: `claims.email_verified` cannot be evaluated.
    let missing = rsa1(json!({ "groups": ["dev"] }));
    let refused = ask_as(&p, "GET", "/orders/1", &missing).await;
    assert_eq!(refused.status(), 403, "{}", p.log_text());
    let why = reason(refused).await;
    assert!(why.contains("could not be evaluated"), "{why}");
    // A claim of the wrong type: `'yes' && ...` has no overload.
    let wrong_type = rsa1(json!({ "groups": ["dev"], "email_verified": "yes" }));
    let refused = ask_as(&p, "GET", "/orders/1", &wrong_type).await;
    assert_eq!(refused.status(), 403, "{}", p.log_text());
    // No `tenant` claim: string concatenation with a missing key.
    let no_tenant = rsa1(json!({}));
    let refused = ask_as(&p, "GET", "/reports/x/?format=csv", &no_tenant).await;
    assert_eq!(refused.status(), 403, "{}", p.log_text());
    let log = p.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("require.expression could not be evaluated"))
        .collect();
    assert_eq!(warnings.len(), 3, "{log}");
    assert!(
        warnings[0].contains("orders") && warnings[0].contains("email_verified"),
        "{}",
        warnings[0]
    );
    assert!(warnings[2].contains("reports"), "{}", warnings[2]);
    for token in [&missing, &wrong_type, &no_tenant] {
        let signature = token.rsplit('.').next().expect("signature");
        assert!(!log.contains(signature), "a token leaked into the log");
    }
    // Still alive and still answering.
    assert_eq!(ask(&p, "/orders/1", &[]).await.status(), 401);
}

#[test]
fn check_refuses_a_syntax_error_naming_file_line_and_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("portcullis.toml"), "[rules]\npaths = [\"r.yaml\"]\n").expect("write");
    let text = "- id: fine\n  policy: allow\n  paths: [\"/a\"]\n\n- id: broken\n  policy: authenticated\n  require:\n    expression: \"'admins' in groups ||\"\n- id: typo\n  policy: authenticated\n  require: { expression: \"'admins' in group\" }\n";
    std::fs::write(dir.path().join("r.yaml"), text).expect("write");
    let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("r.yaml:5: rule `broken`: "), "{stderr}");
    assert!(stderr.contains("does not parse at 1:22"), "{stderr}");
    assert!(stderr.contains("r.yaml:9: rule `typo`: "), "{stderr}");
    assert!(stderr.contains("unknown variable(s) group "), "{stderr}");
}

#[tokio::test]
async fn explain_prints_the_expression_and_its_value() {
    let p = start().await;
    let config = p.dir.path();
    let explain = |token: &str, method: &str| {
        let args = [
            "explain",
            "--config",
            "portcullis.toml",
            "--url",
            "https://app.example.com/orders/1",
            "--method",
            method,
            "--token",
            token,
        ];
        let (code, stdout, stderr) = run(&args, config);
        assert_eq!(code, 0, "{stdout}{stderr}");
        stdout
    };
    let verified = rsa1(json!({ "groups": ["dev"], "email_verified": true }));
    let out = explain(&verified, "GET");
    assert!(out.contains(&format!("expression `{EXPRESSION}`: true")), "{out}");
    assert!(out.contains("decision: allow"), "{out}");
    let out = explain(&verified, "POST");
    assert!(out.contains(&format!("expression `{EXPRESSION}`: false")), "{out}");
    assert!(out.contains("decision: forbidden (403)"), "{out}");
    let out = explain(&rsa1(json!({ "groups": ["dev"] })), "GET");
    assert!(
        out.contains(&format!("expression `{EXPRESSION}`: error: ")) && out.contains("email_verified"),
        "{out}"
    );
}
