//! Pages for people, rendered by a real headless Chromium: a signed-in browser refused by a rule
//! gets an HTML page saying who is signed in, which rule refused and why, with a link to sign out
//! or switch account; a login that cannot complete gets a page with "Try again". The screenshots
//! are kept under `target/page-screenshots/` as artifacts. API clients keep their bodies, and a
//! `server.pages_dir` replaces the built-in templates.
//!
//! Chromium asks `/forward-auth` directly with the `X-Forwarded-*` headers a proxy would add
//! (Traefik and Caddy hand a non-2xx answer's body to the browser unchanged).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::common::{Portcullis, Setup, client, login_config, root};
use crate::e2e::browser::CHROMIUM;

const RULES: &str =
    "- id: admins-only\n  paths: [\"/admin/**\"]\n  policy: authenticated\n  require: { groups_any: [admins] }\n";

/// Where the screenshots are kept.
fn shots() -> PathBuf {
    let dir = root().join("target/page-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Chromium opens `url` with `headers` and `cookies`; what it rendered, the screenshot in `png`.
fn open(url: &str, headers: &[&str], cookies: &[String], png: &str) -> Value {
    let folder = crate::common::oidc::node_folder();
    let out = shots().join(png);
    let mut command = Command::new(crate::peers::program("node"));
    command
        .current_dir(&folder)
        .arg("page_shot.mjs")
        .args(["--url", url, "--chromium", CHROMIUM]);
    command.arg("--out").arg(&out);
    for header in headers {
        command.args(["--header", header]);
    }
    for cookie in cookies {
        command.args(["--cookie", cookie]);
    }
    let output = command.output().expect("run node page_shot.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "no JSON from the driver: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(seen["ok"], true, "{seen}");
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(size > 2000, "no real screenshot at {}", out.display());
    seen
}

/// A session cookie (name=value pairs) for `user` in `groups`, sealed with the config's secret.
async fn session_cookies(p: &Portcullis, user: &str, groups: &[&str]) -> Vec<String> {
    use portcullis::session::{Session, Sessions, new_session_id, unix_now};
    let config = portcullis::config::Config::load(&p.dir.path().join("portcullis.toml")).expect("config");
    let sessions = Sessions::new(&config.session, portcullis::metrics::Metrics::new()).expect("sessions");
    let now = unix_now();
    let claims = serde_json::json!({ "sub": user, "email": format!("{user}@example.com"), "groups": groups });
    let session = Session {
        id: new_session_id(),
        issuer: "main".into(),
        claims: claims.as_object().cloned().expect("object"),
        id_token: "x.y.z".into(),
        access_token: None,
        refresh_token: None,
        created_at: now,
        refreshed_at: now,
        expires_at: now + 3600,
    };
    let set = sessions
        .save(&session, &axum::http::HeaderMap::new())
        .await
        .expect("save");
    set.iter()
        .map(|cookie| {
            cookie
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair")
                .to_string()
        })
        .collect()
}

const FORWARDED: [&str; 4] = [
    "X-Forwarded-Proto: https",
    "X-Forwarded-Host: app.example.com",
    "X-Forwarded-Uri: /admin/users",
    "X-Forwarded-Method: GET",
];

#[tokio::test]
async fn a_refused_browser_sees_who_is_signed_in_which_rule_refused_and_a_sign_out_link() {
    let p = Portcullis::start(Setup::new(&login_config(), RULES)).await;
    let cookies = session_cookies(&p, "carol", &["dev"]).await;
    let seen = open(&p.url("/forward-auth"), &FORWARDED, &cookies, "forbidden.png");
    assert_eq!(seen["status"], 403, "{seen}");
    assert_eq!(seen["content_type"], "text/html; charset=utf-8");
    assert_eq!(seen["lang"], "en");
    assert_eq!(seen["title"], "Access denied");
    assert_eq!(seen["main"], 1);
    assert_eq!(seen["scripts"], 0);
    let text = seen["text"].as_str().expect("text");
    assert!(
        text.contains("You are signed in as carol (carol@example.com)."),
        "{text}"
    );
    assert!(
        text.contains("Rule admins-only does not let you open this page: requires one of groups [admins]."),
        "{text}"
    );
    assert_eq!(
        seen["links"],
        serde_json::json!([{
            "text": "Sign out or switch account",
            "href": "https://auth.example.com/oauth2/sign_out?rd=https%3A%2F%2Fapp.example.com%2Fadmin%2Fusers"
        }])
    );
    // An API client asking the same keeps the JSON body.
    let mut request = client()
        .get(p.url("/forward-auth"))
        .header("Accept", "application/json");
    for header in FORWARDED {
        let (name, value) = header.split_once(": ").expect("header");
        request = request.header(name, value);
    }
    let response = request.header("Cookie", cookies.join("; ")).send().await.expect("send");
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
}

#[tokio::test]
async fn a_login_that_cannot_complete_shows_a_page_with_try_again() {
    let p = Portcullis::start(Setup::new(&login_config(), RULES)).await;
    let url = p.url("/oauth2/callback?code=abc&state=expired-or-never-started");
    let seen = open(&url, &[], &[], "login-error.png");
    assert_eq!(seen["status"], 400, "{seen}");
    assert_eq!(seen["lang"], "en");
    assert_eq!(seen["title"], "Sign-in did not complete");
    let text = seen["text"].as_str().expect("text");
    assert!(
        text.contains("login state missing or expired: start the login again"),
        "{text}"
    );
    assert_eq!(
        seen["links"],
        serde_json::json!([{ "text": "Try again", "href": "/oauth2/start?rd=%2F" }])
    );
    // A script or API client keeps the short text.
    let response = client().get(&url).send().await.expect("send");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.expect("text"),
        "login state missing or expired: start the login again\n"
    );
}

#[tokio::test]
async fn pages_dir_replaces_the_built_in_pages() {
    let pages = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        pages.path().join("forbidden.html"),
        "<!doctype html><html lang=\"de\"><title>Kein Zutritt</title><main><p>{{user}}: {{reason}} ({{rule}})</p></main></html>",
    )
    .expect("write");
    let mut setup = Setup::new(&login_config(), RULES);
    setup.env = vec![(
        "PORTCULLIS_SERVER__PAGES_DIR".into(),
        pages.path().display().to_string(),
    )];
    let p = Portcullis::start(setup).await;
    let cookies = session_cookies(&p, "<dave>", &["dev"]).await;
    let mut request = client()
        .get(p.url("/forward-auth"))
        .header("Accept", "text/html")
        .header("Cookie", cookies.join("; "));
    for header in FORWARDED {
        let (name, value) = header.split_once(": ").expect("header");
        request = request.header(name, value);
    }
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 403);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = response.text().await.expect("text");
    assert!(
        html.contains("<p>&lt;dave&gt;: requires one of groups [admins] (admins-only)</p>"),
        "{html}"
    );
}

#[test]
fn check_refuses_a_pages_dir_with_an_unknown_placeholder() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("pages")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("pages/error.html"), "<p>{{message}} {{secret}}</p>").expect("write");
    std::fs::write(dir.path().join("portcullis.toml"), "[server]\npages_dir = \"pages\"\n").expect("write");
    let (code, _, stderr) = crate::common::run(&["check", "--config", "portcullis.toml"], dir.path());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("portcullis.toml:2: key `server.pages_dir`: ")
            && stderr.contains("error.html")
            && stderr.contains("{{secret}}"),
        "{stderr}"
    );
}
