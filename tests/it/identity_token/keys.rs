//! The identity token's keys: every PEM form `openssl` writes loads (server, `check` and
//! `portcullis token --key`), the published key set, and the refusals of `check` and `serve`.

use std::path::Path;

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;

use super::{config, openssl};
use crate::common::{Portcullis, Setup, client, file_issuer_config, run};

/// The four forms: (file, openssl arguments, the algorithm the key gives).
const FORMS: [(&str, &[&str], &str); 4] = [
    (
        "ec-sec1.pem",
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "ec-sec1.pem"],
        "ES256",
    ),
    (
        "ec-pkcs8.pem",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec-pkcs8.pem",
        ],
        "ES256",
    ),
    ("rsa-pkcs8.pem", &["genrsa", "-out", "rsa-pkcs8.pem", "2048"], "RS256"),
    (
        "rsa-pkcs1.pem",
        &["genrsa", "-traditional", "-out", "rsa-pkcs1.pem", "2048"],
        "RS256",
    ),
];

#[tokio::test]
async fn every_pem_form_openssl_writes_signs_and_is_published() {
    let keys = tempfile::tempdir().expect("tempdir");
    for (file, args, algorithm) in FORMS {
        openssl(keys.path(), args);
        let pem = std::fs::read_to_string(keys.path().join(file)).expect("key");
        let expected_label = match file {
            "ec-sec1.pem" => "BEGIN EC PRIVATE KEY",
            "rsa-pkcs1.pem" => "BEGIN RSA PRIVATE KEY",
            _ => "BEGIN PRIVATE KEY",
        };
        assert!(pem.contains(expected_label), "{file}: openssl wrote {pem:.40}");
        let rules = "- id: orders\n  paths: [\"/orders/**\"]\n  policy: authenticated\n  identity_token: {audience: orders-api}\n";
        let portcullis = Portcullis::start(Setup::new(&config(&keys.path().join(file), &[]), rules)).await;
        let response = client()
            .get(portcullis.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("jwks");
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(
            crate::common::header(&response, "cache-control"),
            Some("public, max-age=300")
        );
        assert!(crate::common::header(&response, "content-type").is_some_and(|t| t.starts_with("application/json")));
        let set: JwkSet = response.json().await.expect("a JWK set");
        let jwk = &set.keys[0];
        let published: Value = serde_json::to_value(jwk).expect("json");
        assert_eq!(published["alg"], algorithm, "{file}");
        assert_eq!(published["use"], "sig", "{file}");
        assert!(published.get("d").is_none(), "{file}: public parts only");
        // `portcullis token --key` takes the same file; its token verifies with the published key.
        let (code, token, stderr) = run(&["token", "--key", file, "--sub", "alice", "--aud", "api"], keys.path());
        assert_eq!(code, 0, "{file}: {stderr}");
        let token = token.trim();
        let header = jsonwebtoken::decode_header(token).expect("a JWT");
        assert_eq!(format!("{:?}", header.alg), algorithm, "{file}");
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&["api"]);
        let key = DecodingKey::from_jwk(jwk).expect("usable");
        jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[tokio::test]
async fn jwks_is_404_without_the_identity_token_section() {
    let portcullis = Portcullis::start(Setup::new(&file_issuer_config("rsa1"), "")).await;
    let response = client()
        .get(portcullis.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 404);
}

/// `check` (and `serve`) on `config_body` with `rules`: the exit code and what was printed.
fn check(dir: &Path, config_body: &str, rules: &str) -> (i32, String) {
    std::fs::create_dir_all(dir.join("rules")).expect("rules dir");
    std::fs::write(dir.join("rules/10-rules.yaml"), rules).expect("rules");
    std::fs::write(dir.join("portcullis.toml"), config_body).expect("config");
    let (code, stdout, stderr) = run(&["check", "--config", "portcullis.toml"], dir);
    (code, format!("{stdout}{stderr}"))
}

#[test]
fn check_and_serve_refuse_a_key_that_does_not_load_naming_key_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    openssl(
        dir.path(),
        &["ecparam", "-genkey", "-name", "secp384r1", "-out", "p384.pem"],
    );
    openssl(
        dir.path(),
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "good.pem"],
    );
    let p384 = dir.path().join("p384.pem");
    let good = dir.path().join("good.pem");
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            config(&p384, &[]),
            "key `identity_token.key_file`",
            p384.display().to_string(),
        ),
        (
            config(&missing, &[]),
            "key `identity_token.key_file`",
            missing.display().to_string(),
        ),
        (
            config(&good, &[&p384]),
            "key `identity_token.previous_key_files[0]`",
            p384.display().to_string(),
        ),
    ];
    for (body, key, file) in cases {
        let (code, output) = check(dir.path(), &body, "");
        assert_eq!(code, 1, "{output}");
        assert!(output.contains(key) && output.contains(&file), "{key} {file}: {output}");
        let serve = run(&["serve", "--config", "portcullis.toml"], dir.path());
        assert_eq!(serve.0, 1, "serve refuses too: {serve:?}");
        assert!(serve.2.contains(key), "{}", serve.2);
    }
    let (code, output) = check(
        dir.path(),
        &config(&good, &[]).replace(
            "issuer = \"https://auth",
            "header = \"bad header\"\nissuer = \"https://auth",
        ),
        "",
    );
    assert_eq!(code, 1);
    assert!(output.contains("identity_token.header"), "{output}");
    let (code, output) = check(dir.path(), &config(&good, &[&good]), "");
    assert_eq!(code, 0, "{output}");
}

#[test]
fn check_refuses_identity_token_rules_without_the_section_naming_file_line_and_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = "- id: public\n  paths: [\"/p\"]\n  policy: allow\n- id: orders\n  policy: authenticated\n  identity_token: {audience: orders-api}\n";
    let (code, output) = check(dir.path(), &file_issuer_config("rsa1"), rules);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("10-rules.yaml:4: rule `orders`"), "{output}");
    assert!(output.contains("needs an [identity_token] section"), "{output}");
    openssl(
        dir.path(),
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", "k.pem"],
    );
    let denying = "- id: closed\n  policy: deny\n  identity_token: {}\n";
    let (code, output) = check(dir.path(), &config(&dir.path().join("k.pem"), &[]), denying);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("rule `closed`") && output.contains("only applies to"),
        "{output}"
    );
}
