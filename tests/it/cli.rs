//! The command line: version, secret, token, check, explain.

use base64::Engine;

use crate::common::{root, run};

#[test]
fn version_prints_the_crate_version() {
    let (code, stdout, _) = run(&["--version"], &root());
    assert_eq!(code, 0);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

#[test]
fn secret_prints_32_random_bytes_in_base64() {
    let (code, first, _) = run(&["secret"], &root());
    let (_, second, _) = run(&["secret"], &root());
    assert_eq!(code, 0);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(first.trim())
        .expect("base64");
    assert_eq!(bytes.len(), 32);
    assert_ne!(first, second);
}

fn demo_token(extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "--key",
        "examples/quickstart/demo-key.pem",
        "--aud",
        "demo",
        "--sub",
        "alice",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args, &root());
    assert_eq!(code, 0, "{stderr}");
    stdout.trim().to_string()
}

#[test]
fn check_accepts_the_quickstart_config() {
    let (code, stdout, stderr) = run(&["check", "--config", "examples/quickstart/portcullis.toml"], &root());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("ok"));
}

#[test]
fn check_reports_every_bad_rule_with_file_and_id_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("portcullis.toml"), "[rules]\npaths = [\"rules/\"]\n").expect("write");
    std::fs::write(
        dir.path().join("rules/a.yaml"),
        "- id: broken-regex\n  path_regex: \"/x/(\"\n  policy: allow\n- id: dup\n  policy: allow\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("rules/b.yaml"), "- id: dup\n  policy: deny\n").expect("write");
    let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("a.yaml") && stderr.contains("broken-regex"), "{stderr}");
    assert!(stderr.contains("b.yaml") && stderr.contains("dup"), "{stderr}");
}

#[test]
fn check_warns_about_shadowed_rules_but_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("portcullis.toml"), "[rules]\npaths = [\"r.yaml\"]\n").expect("write");
    std::fs::write(
        dir.path().join("r.yaml"),
        "- id: everything\n  policy: authenticated\n- id: never-reached\n  paths: [\"/x/**\"]\n  policy: allow\n",
    )
    .expect("write");
    let (code, stdout, _) = run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 0);
    assert!(
        stdout.contains("warning") && stdout.contains("never-reached"),
        "{stdout}"
    );
}

#[test]
fn minted_token_passes_the_quickstart_admin_rule_in_explain() {
    let token = demo_token(&["--groups", "admins,dev", "--claim", "tenant=acme"]);
    let url = "https://app.example.com/admin/settings";
    let args = [
        "explain",
        "--config",
        "examples/quickstart/portcullis.toml",
        "--url",
        url,
        "--token",
        &token,
    ];
    let (code, stdout, stderr) = run(&args, &root());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("rule public-assets: no match"), "{stdout}");
    assert!(stdout.contains("rule admin: MATCH"), "{stdout}");
    assert!(stdout.contains("user=alice"), "{stdout}");
    assert!(stdout.contains("decision: allow"), "{stdout}");
    assert!(
        stdout.to_lowercase().contains("x-auth-request-tenant: acme"),
        "{stdout}"
    );
}

#[test]
fn explain_shows_403_for_a_token_outside_the_group() {
    let token = demo_token(&["--groups", "dev"]);
    let args = [
        "explain",
        "--config",
        "examples/quickstart/portcullis.toml",
        "--url",
        "https://app.example.com/admin/",
        "--token",
        &token,
    ];
    let (code, stdout, _) = run(&args, &root());
    assert_eq!(code, 0);
    assert!(stdout.contains("decision: forbidden (403)"), "{stdout}");
}

#[test]
fn token_refuses_a_key_that_is_not_a_private_key() {
    let (code, _, stderr) = run(
        &["token", "--key", "examples/quickstart/jwks.json", "--sub", "x"],
        &root(),
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("--key"), "{stderr}");
}

#[tokio::test]
async fn explain_reads_a_session_cookie() {
    use portcullis::config::Config;
    use portcullis::session::{Session, Sessions, new_session_id, unix_now};
    let dir = tempfile::tempdir().expect("tempdir");
    // Sessions come from the login: `explain --cookie` reads them with the config's [login].
    let config = crate::common::login_config();
    std::fs::write(dir.path().join("portcullis.toml"), config).expect("write");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(
        dir.path().join("rules/r.yaml"),
        "- id: admin\n  policy: authenticated\n  require: { groups_any: [admins] }\n",
    )
    .expect("write");
    let loaded = Config::load(&dir.path().join("portcullis.toml")).expect("config");
    let sessions = Sessions::new(&loaded.session, portcullis::metrics::Metrics::new()).expect("sessions");
    let now = unix_now();
    let session = Session {
        id: new_session_id(),
        issuer: "main".into(),
        claims: serde_json::json!({ "sub": "carol", "email": "carol@example.com", "groups": ["admins"] })
            .as_object()
            .cloned()
            .expect("object"),
        id_token: "x.y.z".into(),
        access_token: None,
        refresh_token: None,
        created_at: now,
        refreshed_at: now,
        expires_at: now + 3600,
    };
    let cookies = sessions
        .save(&session, &axum::http::HeaderMap::new())
        .await
        .expect("save");
    let set_cookie = cookies[0].to_str().expect("ascii");
    let value = set_cookie
        .split(';')
        .next()
        .expect("pair")
        .split_once('=')
        .expect("name=value")
        .1;
    let explain = |cookie: &str| {
        let args = [
            "explain",
            "--config",
            "portcullis.toml",
            "--url",
            "https://app.example.com/",
            "--cookie",
            cookie,
        ];
        run(&args, dir.path())
    };
    let (code, stdout, stderr) = explain(value);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("user=carol") && stdout.contains("decision: allow"),
        "{stdout}"
    );
    // Change the last character to another one (appending `A` after dropping an `A` would not).
    let last = if value.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &value[..value.len() - 1]);
    let (_, stdout, _) = explain(&tampered);
    assert!(
        stdout.contains("session cookie refused") && stdout.contains("unauthenticated"),
        "{stdout}"
    );
}

#[test]
fn explain_matches_the_path_the_server_would() {
    let run_explain = |url: &str| {
        let args = [
            "explain",
            "--config",
            "examples/quickstart/portcullis.toml",
            "--url",
            url,
        ];
        run(&args, &root())
    };
    let (code, stdout, _) = run_explain("https://app.example.com/");
    assert_eq!(code, 0);
    assert!(stdout.contains("(path matched as /)"), "{stdout}");
    let (_, stdout, _) = run_explain("https://app.example.com/static/../admin/");
    assert!(
        stdout.contains("(path matched as /admin/)") && stdout.contains("rule admin: MATCH"),
        "{stdout}"
    );
    let (code, _, stderr) = run_explain("https://app.example.com/a%2Fb");
    assert_eq!(code, 1, "refused like the server refuses it");
    assert!(stderr.contains("encoded slash"), "{stderr}");
    let (_, stdout, _) = run_explain("https://app.example.com/ADMIN;jsessionid=1/users");
    assert!(
        stdout.contains("(path matched as /ADMIN/users)") && stdout.contains("rule admin: MATCH"),
        "{stdout}"
    );
    let (code, _, stderr) = run_explain("https://app.example.com/admin./");
    assert_eq!(code, 1);
    assert!(stderr.contains("dot"), "{stderr}");
}

#[test]
fn explain_refuses_a_relative_url_and_says_what_to_give() {
    let args = [
        "explain",
        "--config",
        "examples/quickstart/portcullis.toml",
        "--url",
        "/admin/",
    ];
    let (code, _, stderr) = run(&args, &root());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("relative") && stderr.contains("https://app.example.com/admin/"),
        "{stderr}"
    );
}

#[test]
fn check_shows_the_normalised_path_a_misspelled_glob_would_need() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("portcullis.toml"), "[rules]\npaths = [\"r.yaml\"]\n").expect("write");
    std::fs::write(
        dir.path().join("r.yaml"),
        "- id: tomcat\n  paths: [\"/app;v=1/**\"]\n  policy: deny\n- id: fine\n  paths: [\"/ok/**\"]\n  policy: allow\n",
    )
    .expect("write");
    let (code, stdout, _) = run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 0);
    assert!(
        stdout.contains("warning") && stdout.contains("`tomcat`") && stdout.contains("`/app/x`"),
        "{stdout}"
    );
    assert!(!stdout.contains("`fine`"), "{stdout}");
}
