//! `portcullis token` mints tokens in the past and future (`--ttl -1h`, `--exp`, `--nbf`) and
//! `portcullis explain` shows each of the token's values beside the expected one, says when only
//! the leeway let a token pass, and prints the same as JSON with `--json`.

use serde_json::Value;

use crate::common::{root, run};

const CONFIG: &str = "examples/quickstart/portcullis.toml";
const ADMIN: &str = "https://app.example.com/admin/";

/// A token from the quickstart's demo key with `extra` arguments.
fn token(extra: &[&str]) -> String {
    let mut args = vec!["token", "--key", "examples/quickstart/demo-key.pem", "--sub", "alice"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args, &root());
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout.trim().to_string()
}

/// The payload of a JWT, read without checking it.
fn payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

fn explain(token: &str, json: bool) -> String {
    let mut args = vec!["explain", "--config", CONFIG, "--url", ADMIN, "--token", token];
    if json {
        args.push("--json");
    }
    let (code, stdout, stderr) = run(&args, &root());
    assert_eq!(code, 0, "{stderr}");
    stdout
}

#[test]
fn token_takes_negative_ttls_and_absolute_times() {
    let expired = payload(&token(&["--ttl", "-1h"]));
    let iat = expired["iat"].as_i64().expect("iat");
    assert_eq!(expired["exp"].as_i64(), Some(iat - 3600), "{expired}");
    let fixed = payload(&token(&["--exp", "2030-01-01T00:00:00Z", "--nbf", "1767225600"]));
    assert_eq!(fixed["exp"], 1_893_456_000);
    assert_eq!(fixed["nbf"], 1_767_225_600);
    let (code, _, stderr) = run(
        &[
            "token",
            "--key",
            "examples/quickstart/demo-key.pem",
            "--sub",
            "a",
            "--exp",
            "soon",
        ],
        &root(),
    );
    assert_eq!(code, 2, "clap refuses a bad value");
    assert!(stderr.contains("--exp") && stderr.contains("RFC 3339"), "{stderr}");
}

#[test]
fn explain_says_when_only_the_leeway_let_an_expired_token_pass() {
    // The quickstart's leeway is 30 s: one second past `exp` still passes, by the leeway.
    let text = explain(&token(&["--aud", "demo", "--groups", "admins", "--ttl", "-1s"]), false);
    assert!(
        text.contains("exp: ok: ") && text.contains("passes only by the leeway of 30s"),
        "{text}"
    );
    assert!(text.contains("decision: allow"), "{text}");
    let text = explain(&token(&["--aud", "demo", "--ttl", "-1h"]), false);
    assert!(
        text.contains("exp: FAILS") && text.contains("beyond the leeway of 30s"),
        "{text}"
    );
    let text = explain(&token(&["--aud", "demo", "--nbf", "4102444800"]), false);
    assert!(text.contains("nbf: FAILS"), "{text}");
}

#[test]
fn explain_shows_the_tokens_values_beside_the_expected_ones() {
    let text = explain(&token(&["--aud", "someone-else", "--iss", "portcullis-demo"]), false);
    assert!(
        text.contains("aud: FAILS: token `someone-else`, expected [\"demo\"]"),
        "{text}"
    );
    assert!(text.contains("iss: ok: token `portcullis-demo`"), "{text}");
    assert!(text.contains("alg: ok: token `RS256`"), "{text}");
    assert!(
        text.contains("kid: ok: token `demo-key`, expected [\"demo-key\"]"),
        "{text}"
    );
    let text = explain(&token(&["--aud", "demo", "--iss", "https://elsewhere.test/"]), false);
    assert!(
        text.contains("iss: FAILS: token `https://elsewhere.test/`, expected [\"portcullis-demo\"]"),
        "{text}"
    );
    let text = explain(&token(&["--aud", "demo", "--kid", "rotated-away"]), false);
    assert!(
        text.contains("kid: FAILS: token `rotated-away`, expected [\"demo-key\"]"),
        "{text}"
    );
}

#[test]
fn explain_json_has_the_documented_fields() {
    let out = explain(&token(&["--aud", "demo", "--groups", "dev"]), true);
    let json: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(json["request"]["path"], "/admin/");
    assert_eq!(json["rule"], "admin");
    assert_eq!(json["default_policy"], "deny");
    assert!(
        json["rules"]
            .as_array()
            .is_some_and(|r| r.iter().any(|t| t["id"] == "admin" && t["matches"] == true))
    );
    assert_eq!(json["credential"]["outcome"], "valid");
    assert_eq!(json["identity"]["user"], "alice");
    assert_eq!(json["identity"]["groups"], serde_json::json!(["dev"]));
    assert_eq!(json["decision"]["outcome"], "forbidden");
    assert_eq!(json["decision"]["status"], 403);
    let aud = json["token"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["claim"] == "aud"))
        .expect("an aud check");
    assert_eq!(aud["actual"], "demo");
    assert_eq!(aud["expected"], serde_json::json!(["demo"]));
    assert_eq!(aud["ok"], true);
    let exp = json["token"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["claim"] == "exp"))
        .expect("exp");
    assert_eq!(exp["expected"]["leeway_seconds"], 30);
    let allowed: Value =
        serde_json::from_str(&explain(&token(&["--aud", "demo", "--groups", "admins"]), true)).expect("json");
    assert_eq!(allowed["decision"]["status"], 200);
    assert_eq!(allowed["headers"]["x-auth-request-user"], "alice");
}
