//! Start-up refuses a bad configuration and names the key and the file.

use std::path::Path;
use std::process::Command;

use crate::common::{Portcullis, Setup, binary, client, file_issuer_config, run};

fn check_with(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("portcullis.toml"), config).expect("write");
    let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    (code, stderr)
}

fn assert_refused(config: &str, expected: &[&str]) {
    let (code, stderr) = check_with(config);
    assert_eq!(code, 1, "accepted: {config}");
    for text in expected {
        assert!(stderr.contains(text), "`{text}` missing from: {stderr}");
    }
}

#[test]
fn unknown_key_is_refused_by_name_and_file() {
    assert_refused(
        "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 2\n",
        &["lisen", "portcullis.toml"],
    );
    assert_refused("[nonsense]\nx = 1\n", &["nonsense"]);
}

#[test]
fn bad_values_are_refused_by_key() {
    assert_refused(
        "[server]\nlisten = \"not-an-address\"\n",
        &["server.listen", "portcullis.toml"],
    );
    assert_refused(
        "[server]\ntrusted_proxies = [\"10.0.0.0/99\"]\n",
        &["server.trusted_proxies"],
    );
    assert_refused("[rules]\ndefault = \"maybe\"\n", &["rules.default"]);
    assert_refused("[session]\nttl = \"forever\"\n", &["session.ttl", "forever"]);
    assert_refused("[headers]\nuser = \"bad header\"\n", &["headers.user"]);
}

#[test]
fn issuer_mistakes_are_refused() {
    let issuer = |extra: &str| format!("[[issuers]]\nname = \"a\"\nissuer = \"https://i.test/\"\n{extra}");
    assert_refused(
        &issuer("jwks_file = \"missing.json\"\n"),
        &["issuers[0].jwks_file", "missing.json"],
    );
    assert_refused(&issuer("algorithms = [\"HS256\"]\n"), &["issuers", "algorithms"]);
    assert_refused(&issuer("algorithms = []\n"), &["issuers[0].algorithms"]);
    assert_refused(&issuer("leeway = \"soon\"\n"), &["leeway"]);
    assert_refused(&format!("{}{}", issuer(""), issuer("")), &["issuers[1].name", "twice"]);
    let other_name = issuer("").replace("name = \"a\"", "name = \"b\"");
    assert_refused(
        &format!("{}{}", issuer(""), other_name),
        &["issuers[1].issuer", "twice"],
    );
}

#[test]
fn login_needs_a_known_issuer_and_secrets() {
    let login = "[login]\nissuer = \"nobody\"\nclient_id = \"c\"\nclient_secret = \"s\"\nredirect_url = \"https://a.test/oauth2/callback\"\n";
    assert_refused(login, &["login.issuer", "nobody"]);
    let issuer = "[[issuers]]\nname = \"nobody\"\nissuer = \"https://i.test/\"\n";
    assert_refused(&format!("{issuer}{login}"), &["session", "portcullis secret"]);
    let session = "[session]\nsecret = \"c2hvcnQ=\"\n";
    assert_refused(&format!("{issuer}{login}{session}"), &["session.secrets[0]", "32"]);
    let secret_file = "[session]\nsecret_file = \"/nonexistent/secret\"\n";
    assert_refused(
        &format!("{issuer}{login}{secret_file}"),
        &["session.secret_file", "/nonexistent/secret"],
    );
}

#[test]
fn redis_store_needs_a_url() {
    assert_refused("[session]\nstore = \"redis\"\n", &["session.redis_url"]);
}

#[test]
fn missing_config_file_is_named() {
    let (code, _, stderr) = run(&["check", "--config", "/nonexistent/portcullis.toml"], Path::new("/"));
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent/portcullis.toml"), "{stderr}");
}

#[test]
fn serve_refuses_a_bad_config_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.toml"), "[server]\nlisten = 5\n").expect("write");
    let output = Command::new(binary())
        .args(["serve", "--config"])
        .arg(dir.path().join("bad.toml"))
        .output();
    let output = output.expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("server.listen") && stderr.contains("bad.toml"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_bad_rules_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("c.toml"), "[rules]\npaths = [\"r.yaml\"]\n").expect("write");
    std::fs::write(dir.path().join("r.yaml"), "- id: x\n  policy: sometimes\n").expect("write");
    let output = Command::new(binary())
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .output();
    let output = output.expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("r.yaml"));
}

#[test]
fn environment_overrides_the_file_and_bad_env_values_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("c.toml"), "[rules]\npaths = [\"r.yaml\"]\n").expect("write");
    std::fs::write(dir.path().join("r.yaml"), "[]\n").expect("write");
    let output = Command::new(binary())
        .args(["check", "--config"])
        .arg(dir.path().join("c.toml"))
        .env("PORTCULLIS_SERVER__LISTEN", "nonsense")
        .env("PORTCULLIS_PORT", "tcp://10.0.0.1:4180")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORTCULLIS_SERVER__LISTEN"), "{stderr}");
}

#[test]
fn a_value_from_the_environment_that_cannot_work_is_named_by_its_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("portcullis.toml"), "[server]\nmax_connections = 5\n").expect("write");
    let output = Command::new(binary())
        .args(["check", "--config", "portcullis.toml"])
        .current_dir(dir.path())
        .env("PORTCULLIS_SERVER__MAX_CONNECTIONS", "0")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = "environment variable PORTCULLIS_SERVER__MAX_CONNECTIONS: key `server.max_connections`";
    assert!(stderr.contains(expected), "{stderr}");
}

#[tokio::test]
async fn environment_override_changes_behaviour() {
    let mut setup = Setup::new(&file_issuer_config("rsa1"), "[]\n");
    setup.env = vec![("PORTCULLIS_RULES__DEFAULT".into(), "allow".into())];
    let p = Portcullis::start(setup).await;
    let response = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "http://app.example.com/anything")
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
}

#[test]
fn config_is_found_through_portcullis_config_variable() {
    let root = crate::common::root();
    let output = Command::new(binary())
        .arg("check")
        .current_dir("/")
        .env("PORTCULLIS_CONFIG", root.join("examples/quickstart/portcullis.toml"))
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn secrets_and_redis_url_can_come_from_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    let one = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
    let two = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    std::fs::write(dir.path().join("secrets"), format!("{one}\n{two}\n")).expect("write");
    std::fs::write(dir.path().join("redis-url"), "redis://:pw@127.0.0.1:6379/0\n").expect("write");
    let config = "[session]\nsecrets_file = \"secrets\"\nstore = \"redis\"\nredis_url_file = \"redis-url\"\n";
    std::fs::write(dir.path().join("portcullis.toml"), config).expect("write");
    let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 0, "{stderr}");
    let loaded = portcullis::config::Config::load(&dir.path().join("portcullis.toml")).expect("config");
    assert_eq!(loaded.session.keys.len(), 2);
    assert_eq!(loaded.session.redis_url(), Some("redis://:pw@127.0.0.1:6379/0"));
    assert_refused(
        "[session]\nsecrets_file = \"/nonexistent/secrets\"\n",
        &["session.secrets_file"],
    );
    assert_refused(
        "[session]\nredis_url_file = \"/nonexistent/url\"\n",
        &["session.redis_url_file"],
    );
}

#[test]
fn redis_store_takes_exactly_one_of_server_cluster_and_sentinel() {
    let session = |keys: &str| format!("[session]\nstore = \"redis\"\n{keys}\n");
    let url = "redis_url = \"redis://127.0.0.1:6379/0\"";
    let cluster = "redis_cluster_urls = [\"redis://127.0.0.1:7000\", \"redis://127.0.0.1:7001\"]";
    let sentinel = "redis_sentinel_urls = [\"redis://127.0.0.1:26379\"]";
    let master = "redis_sentinel_master = \"mymaster\"";
    assert_refused(
        &session(&format!("{url}\n{cluster}")),
        &["session.redis_cluster_urls", "redis_url", "set only one"],
    );
    assert_refused(
        &session(&format!("{cluster}\n{sentinel}\n{master}")),
        &["session.redis_sentinel_urls", "redis_cluster_urls", "set only one"],
    );
    assert_refused(
        &session(&format!("{url}\n{sentinel}\n{master}")),
        &["redis_url", "redis_sentinel_urls", "set only one"],
    );
    assert_refused(&session(sentinel), &["session.redis_sentinel_master", "required"]);
    assert_refused(
        &session(&format!("{sentinel}\nredis_sentinel_master = \" \"")),
        &["session.redis_sentinel_master"],
    );
    assert_refused(
        &session(&format!("{url}\n{master}")),
        &["session.redis_sentinel_master", "redis_sentinel_urls"],
    );
    assert_refused(
        &session(""),
        &["session.redis_url", "redis_cluster_urls", "redis_sentinel_urls"],
    );
    for good in [url.to_string(), cluster.to_string(), format!("{sentinel}\n{master}")] {
        let (code, stderr) = check_with(&session(&good));
        assert_eq!(code, 0, "{good}: {stderr}");
    }
}

#[test]
fn a_malformed_redis_url_is_refused_by_check_naming_its_key_not_its_password() {
    let session = |keys: &str| format!("[session]\nstore = \"redis\"\n{keys}\n");
    assert_refused(
        &session("redis_url = \"http://:hunter2@127.0.0.1:6379\""),
        &["session.redis_url", "not a Redis URL"],
    );
    assert_refused(
        &session("redis_url = \"redis://:hunter2@127.0.0.1:6379/zero\""),
        &["session.redis_url", "database"],
    );
    assert_refused(
        &session("redis_cluster_urls = [\"redis://127.0.0.1:7000\", \"nonsense:hunter2\"]"),
        &["session.redis_cluster_urls[1]"],
    );
    assert_refused(
        &session("redis_sentinel_urls = [\"tcp://hunter2@127.0.0.1:26379\"]\nredis_sentinel_master = \"m\""),
        &["session.redis_sentinel_urls[0]"],
    );
    let (_, stderr) = check_with(&session("redis_url = \"http://:hunter2@127.0.0.1:6379\""));
    assert!(!stderr.contains("hunter2"), "the password is printed: {stderr}");
}
