//! `portcullis check` catches what `serve` would trip on: key files that are no usable JWK set,
//! rules naming issuers that do not exist, an empty rule set (a warning), and every config
//! mistake at once with its key, line and value. Also: `serve` names the issuer and where its
//! keys come from when they cannot load, and writes no colour codes into a file.

use std::path::Path;

use crate::common::{Portcullis, Setup, run};

/// Writes `files` (name, content) into a fresh folder with an empty `rules/` and runs `check`
/// on its `portcullis.toml`: (folder, exit code, stdout, stderr).
fn check(files: &[(&str, &str)]) -> (tempfile::TempDir, i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    let (code, stdout, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    (dir, code, stdout, stderr)
}

const ISSUER: &str = "[[issuers]]\nname = \"main\"\nissuer = \"https://i.test/\"\njwks_file = \"keys/jwks.json\"\n";

#[test]
fn a_jwks_file_that_is_not_a_usable_key_set_fails_check_naming_key_file_and_line() {
    for (content, reason) in [
        ("{\"keys\": [", "not a JWKS document"),
        ("not json", "not a JWKS document"),
        ("{\"keys\": []}", "no usable signing key"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("keys")).expect("mkdir");
        std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
        std::fs::write(dir.path().join("keys/jwks.json"), content).expect("write");
        std::fs::write(dir.path().join("portcullis.toml"), ISSUER).expect("write");
        let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
        assert_eq!(code, 1, "{content}: accepted");
        assert!(
            stderr.contains("portcullis.toml:4: key `issuers[0].jwks_file`: ")
                && stderr.contains("keys/jwks.json")
                && stderr.contains(reason),
            "{content}: {stderr}"
        );
    }
}

#[test]
fn a_rule_naming_an_issuer_that_does_not_exist_fails_check_with_file_line_and_rule() {
    let keys = crate::common::fixture("keys/rsa1.jwks.json");
    let config = ISSUER.replace("keys/jwks.json", &keys.display().to_string());
    let rules = "- id: fine\n  policy: allow\n  paths: [\"/\"]\n- id: needs-nope\n  policy: authenticated\n  require:\n    issuers: [nope]\n";
    let (_dir, code, _, stderr) = check(&[("portcullis.toml", &config), ("rules/r.yaml", rules)]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("r.yaml:4")
            && stderr.contains("needs-nope")
            && stderr.contains("`nope`")
            && stderr.contains("`main`"),
        "{stderr}"
    );
    let (_dir, code, stdout, stderr) = check(&[
        ("portcullis.toml", &config),
        ("rules/r.yaml", &rules.replace("nope", "main")),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn an_empty_rule_set_passes_check_with_a_warning() {
    let (_dir, code, stdout, stderr) =
        check(&[("portcullis.toml", "[rules]\npaths = [\"rules/\"]\ndefault = \"deny\"\n")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("warning: rules.paths: no rules in") && stdout.contains("default policy"),
        "{stdout}"
    );
    let (_dir, _, stdout, _) = check(&[
        ("portcullis.toml", "[rules]\npaths = [\"rules/\"]\n"),
        ("rules/r.yaml", "- id: a\n  policy: allow\n"),
    ]);
    assert!(!stdout.contains("no rules"), "{stdout}");
}

#[test]
fn every_config_mistake_is_reported_at_once_with_line_value_and_one_key_spelling() {
    let config = "[server]\nlisten = \"nowhere\"\n\n[[issuers]]\nname = \"a\"\nissuer = \"https://i.test/\"\nleeway = \"soon\"\nlisen = 1\n\n[session]\nsecret = 12345\n[rules]\ndefault = \"maybe\"\n";
    let (_dir, code, _, stderr) = check(&[("portcullis.toml", config)]);
    assert_eq!(code, 1);
    for expected in [
        "error: portcullis.toml:2: key `server.listen`: invalid socket address syntax (value: \"nowhere\")",
        "error: portcullis.toml:7: key `issuers[0].leeway`: `soon` is not a duration",
        "error: portcullis.toml:8: key `issuers[0].lisen`: unknown key; expected one of `name`, `issuer`,",
        "error: portcullis.toml:11: key `session.secret`: expected a string (value: ***)",
        "error: portcullis.toml:13: key `rules.default`: unknown value `maybe`; expected one of `deny`, `authenticated`, `allow`",
        "5 error(s)",
    ] {
        assert!(stderr.contains(expected), "`{expected}` missing from:\n{stderr}");
    }
    assert!(!stderr.contains("12345"), "a secret was shown: {stderr}");
    assert!(!stderr.contains("issuers.0") && !stderr.contains("`one of"), "{stderr}");
}

#[tokio::test]
async fn serve_names_the_issuer_and_where_its_keys_are_when_they_cannot_load_without_colour_codes() {
    // A port nothing listens on: the keys cannot load, so the log must say whose and from where.
    let port = crate::common::free_port();
    let config = format!(
        "[[issuers]]\nname = \"unreachable\"\nissuer = \"https://i.test/\"\njwks_uri = \"http://127.0.0.1:{port}/jwks.json\"\n\n[rules]\npaths = [\"rules/\"]\n"
    );
    let p = Portcullis::start(Setup::new(&config, "[]\n")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let wanted = format!("jwks_uri http://127.0.0.1:{port}/jwks.json");
    while !p.log_text().contains(&wanted) {
        assert!(std::time::Instant::now() < deadline, "{}", p.log_text());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = p.log_text();
    let line = log.lines().find(|l| l.contains(&wanted)).expect("the line");
    assert!(
        line.contains("ERROR") && line.contains("unreachable") && line.contains("no keys were loaded yet"),
        "{line}"
    );
    assert!(
        log.contains("rules.paths: no rules in"),
        "the empty rule set is not logged: {log}"
    );
    // The log goes to a file here: no ANSI escape sequences.
    assert!(!log.contains('\u{1b}'), "colour codes in a log file: {log:?}");
    assert!(Path::new(&p.dir.path()).is_dir());
}
