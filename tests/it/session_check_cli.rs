//! `check` and `explain` with `[[session_checks]]`: configuration and rule mistakes refused
//! with the key, file, line and rule; `explain --cookie-header`/`--header` presenting a session
//! to the Kratos-shaped service and saying which credential was tried.

use std::path::Path;

use crate::common::kratos::{self, Kratos, KratosUser};
use crate::common::{file_issuer_config, run};

/// A folder with `portcullis.toml` (`config`) and `rules/10.yaml` (`rules`).
fn folder(config: &str, rules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("portcullis.toml"), config).expect("write");
    std::fs::write(dir.path().join("rules/10.yaml"), rules).expect("write");
    dir
}

fn check(dir: &Path) -> (i32, String) {
    let (code, stdout, stderr) = run(&["check", "--config", "portcullis.toml"], dir);
    (code, format!("{stdout}{stderr}"))
}

const CHECK: &str = r#"
[[session_checks]]
name = "kratos"
url = "http://127.0.0.1:4433/sessions/whoami"
cookies = ["ory_kratos_session"]
"#;

#[test]
fn check_refuses_bad_field_paths_and_names_all_at_once_with_key_and_file() {
    let config = format!(
        r#"{}{CHECK}
[[session_checks]]
name = "kratos"
url = "not a url"
cookies = ["a b"]
user_field = ""
email_field = "identity..email"
groups_field = ".groups"

[[session_checks]]
name = "bearer"
url = "http://127.0.0.1:1/"

[[session_checks]]
name = "main"
url = "http://127.0.0.1:1/"
headers = ["X-Token"]
"#,
        file_issuer_config("rsa1")
    );
    let dir = folder(&config, "[]\n");
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    for expected in [
        "portcullis.toml:19: key `session_checks[1].name`: `kratos` is used twice",
        "key `session_checks[1].url`",
        "key `session_checks[1].cookies`: `a b` is not a cookie name",
        "key `session_checks[1].user_field`: must not be empty",
        "key `session_checks[1].email_field`: `identity..email` has an empty segment",
        "key `session_checks[1].groups_field`",
        "key `session_checks[2].name`: `bearer` is a built-in credential kind",
        "key `session_checks[2].cookies`: set cookies or headers",
        "key `session_checks[3].name`: `main` is already an [[issuers]] name",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
    // Each problem names the file and its line: `portcullis.toml:19: key ...`.
    let twice = out.lines().find(|l| l.contains("is used twice")).unwrap_or_default();
    let line = twice
        .split("portcullis.toml:")
        .nth(1)
        .and_then(|rest| rest.split(':').next());
    assert!(
        line.is_some_and(|n| n.parse::<u32>().is_ok()),
        "no file and line in {twice:?}"
    );
}

#[test]
fn check_refuses_unknown_credentials_in_rules_with_file_line_and_rule() {
    let rules = r#"
- id: fine
  paths: ["/a/**"]
  policy: authenticated
  credentials: [kratos, bearer]
- id: typo
  paths: ["/b/**"]
  policy: authenticated
  credentials: [kratoss]
- id: no-login
  paths: ["/c/**"]
  policy: authenticated
  credentials: [session]
"#;
    let dir = folder(&format!("{}{CHECK}", file_issuer_config("rsa1")), rules);
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("10.yaml:6: rule `typo`: credentials: unknown credential `kratoss`"),
        "{out}"
    );
    assert!(
        out.contains("10.yaml:10: rule `no-login`: credentials: `session` needs [login]"),
        "{out}"
    );
    assert!(!out.contains("`fine`"), "{out}");
    // Without the block, `kratos` is unknown too.
    let dir = folder(&file_issuer_config("rsa1"), rules);
    let (_, out) = check(dir.path());
    assert!(
        out.contains("rule `fine`: credentials: unknown credential `kratos`"),
        "{out}"
    );
}

#[tokio::test]
async fn explain_presents_a_session_with_cookie_header_or_header() {
    let kratos = Kratos::start().await;
    let rules = r#"
- id: app
  paths: ["/**"]
  policy: authenticated
  credentials: [bearer, kratos]
"#;
    let config = format!("{}{}", file_issuer_config("rsa1"), kratos.check_config("kratos", "2s"));
    let dir = folder(&config, rules);
    let user = KratosUser::named("ivy", &["admins"]);
    let token = kratos.sign_in(&user);
    let cookie = format!("theme=dark; {}={token}", kratos::COOKIE);
    let explain = |extra: Vec<String>| {
        let dir = dir.path().to_path_buf();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut args = vec![
                    "explain",
                    "--config",
                    "portcullis.toml",
                    "--url",
                    "https://app.example.com/x",
                ];
                args.extend(extra.iter().map(String::as_str));
                run(&args, &dir)
            })
            .await
            .expect("explain")
        }
    };
    let (code, out, err) = explain(vec!["--cookie-header".into(), cookie]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("credentials: tried in this order: bearer, kratos"),
        "{out}"
    );
    assert!(out.contains("credential bearer: not presented"), "{out}");
    assert!(out.contains("credential kratos: presented and accepted"), "{out}");
    assert!(out.contains(&format!("user={}", user.id)), "{out}");
    assert!(out.contains("issuer=kratos"), "{out}");
    assert!(
        out.contains(r#""metadata_public":{"groups":["admins"]}"#),
        "the claims: {out}"
    );
    assert!(out.contains("decision: allow"), "{out}");
    // Kratos's header, refused: explain says so and why.
    let (_, out, _) = explain(vec!["--header".into(), "X-Session-Token: ory_st_unknown".into()]).await;
    assert!(out.contains("credential kratos: presented and refused"), "{out}");
    assert!(out.contains("401"), "{out}");
    assert!(out.contains("unauthenticated"), "{out}");
    assert_eq!(kratos.calls(), 2);
}
