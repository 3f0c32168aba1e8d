//! `portcullis check` refuses authorizer mistakes in the config (naming the key and the file)
//! and in the rules (naming the file, the line and the rule id), all at once.

use crate::common::pki::Pki;
use crate::common::{file_issuer_config, run};

/// Runs `check` on `config` (after the file issuer) and `rules`: (exit code, stdout + stderr).
fn check(config: &str, rules: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("rules/10-api.yaml"), rules).expect("rules");
    std::fs::write(dir.path().join("token"), "t0ken\n").expect("token");
    std::fs::write(dir.path().join("empty"), "\n").expect("empty");
    std::fs::write(dir.path().join("not-a-ca.pem"), "hello\n").expect("not a ca");
    std::fs::copy(Pki::new().ca(), dir.path().join("ca.crt")).expect("ca");
    let config = format!("{}{config}", file_issuer_config("rsa1"));
    std::fs::write(dir.path().join("portcullis.toml"), config).expect("config");
    let (code, stdout, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    (code, format!("{stdout}{stderr}"))
}

const GOOD: &str = r#"
[[authorizers]]
name = "kubernetes"
kind = "subject_access_review"
url = "https://127.0.0.1:6443"
token_file = "token"
ca_file = "ca.crt"
"#;

#[test]
fn config_mistakes_are_reported_at_once_by_key_and_file() {
    let config = r#"
[[authorizers]]
name = "kubernetes"
kind = "subject_access_review"
url = "ftp://api"
token_file = "missing-token"
ca_file = "not-a-ca.pem"

[[authorizers]]
name = "kubernetes"
kind = "http"
token_file = "empty"
timeout = "0s"
"#;
    let (code, out) = check(config, "");
    assert_eq!(code, 1, "{out}");
    for expected in [
        "authorizers[0].url",
        "authorizers[0].token_file",
        "missing-token",
        "authorizers[0].ca_file",
        "not-a-ca.pem",
        "authorizers[1].name",
        "used twice",
        "authorizers[1].url",
        "authorizers[1].token_file",
        "authorizers[1].timeout",
        "portcullis.toml",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
}

#[test]
fn an_unknown_kind_or_key_is_refused_by_name() {
    let (code, out) = check(
        "\n[[authorizers]]\nname = \"x\"\nkind = \"opa\"\nurl = \"http://a/\"\n",
        "",
    );
    assert_eq!(code, 1);
    assert!(out.contains("authorizers") && out.contains("opa"), "{out}");
    let (code, out) = check(
        "\n[[authorizers]]\nname = \"x\"\nkind = \"http\"\nurl = \"http://a/\"\nttl = \"1s\"\n",
        "",
    );
    assert_eq!(code, 1);
    assert!(out.contains("ttl"), "{out}");
}

#[test]
fn rule_mistakes_name_the_file_the_line_and_the_rule() {
    let config =
        format!("{GOOD}\n[[authorizers]]\nname = \"policy\"\nkind = \"http\"\nurl = \"http://policy.test/check\"\n");
    let rules = r#"- id: fine
  paths: ["/ok/**"]
  policy: authenticated
  require: { authorizer: kubernetes, resource: { resource: pods } }
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
"#;
    let (code, out) = check(&config, rules);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "10-api.yaml:5: rule `unknown`: require.authorizer: unknown authorizer `opa` (configured: kubernetes, policy)",
        "10-api.yaml:9: rule `resource-on-http`: require.resource: authorizer `policy` is not a subject_access_review",
        "10-api.yaml:13: rule `resource-alone`: require.resource needs require.authorizer",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
    assert!(!out.contains("`fine`"), "{out}");
    assert!(out.contains("3 error(s)"), "{out}");
}

#[test]
fn a_valid_authorizer_config_and_rules_pass() {
    let rules = "- id: k8s\n  paths: [\"/api/**\"]\n  policy: authenticated\n  require: { authorizer: kubernetes }\n";
    let (code, out) = check(GOOD, rules);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok:") && out.contains("1 rules"), "{out}");
}

#[test]
fn outside_a_cluster_a_subject_access_review_needs_only_a_url() {
    // No service account files here: without token_file and ca_file none is sent or used.
    assert!(!std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").exists());
    let config =
        "\n[[authorizers]]\nname = \"kubernetes\"\nkind = \"subject_access_review\"\nurl = \"http://127.0.0.1:8001\"\n";
    let (code, out) = check(config, "");
    assert_eq!(code, 0, "{out}");
}
