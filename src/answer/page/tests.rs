use super::*;

fn refused(user: Option<&str>) -> Refused {
    Refused {
        user: user.map(str::to_string),
        email: user.map(|_| "alice@example.com".to_string()),
        rule: "admin".into(),
        reason: "requires one of groups [admins, ops]".into(),
    }
}

#[test]
fn the_403_page_says_who_which_rule_and_why_with_a_sign_out_link() {
    let html = Pages::default().forbidden(
        &refused(Some("alice")),
        Some("https://auth.test/oauth2/sign_out?rd=x&y"),
    );
    assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"), "{html}");
    assert!(html.contains("<title>Access denied</title>") && html.contains("<main>"));
    assert!(
        html.contains("You are signed in as alice (alice@example.com)."),
        "{html}"
    );
    assert!(
        html.contains("Rule <code>admin</code> does not let you open this page: requires one of groups [admins, ops].")
    );
    assert!(html.contains("<a href=\"https://auth.test/oauth2/sign_out?rd=x&amp;y\">Sign out or switch account</a>"));
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("{{"),
        "{html}"
    );
}

#[test]
fn without_login_or_identity_the_403_page_says_so_and_has_no_link() {
    let html = Pages::default().forbidden(&refused(None), None);
    assert!(html.contains("You are not signed in."));
    assert!(!html.contains("Sign out"), "{html}");
}

#[test]
fn every_value_is_escaped() {
    let mut evil = refused(Some("<img src=x onerror=alert(1)>"));
    evil.rule = "\"><script>".into();
    let html = Pages::default().forbidden(&evil, None);
    assert!(!html.contains("<img") && !html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") && html.contains("&quot;&gt;&lt;script&gt;"));
}

#[test]
fn the_login_error_page_has_a_try_again_link() {
    let refusal = LoginRefusal {
        title: "Sign-in did not complete".into(),
        message: "login state missing or expired: start the login again".into(),
    };
    let html = Pages::default().error(StatusCode::BAD_REQUEST, &refusal, "/oauth2/start?rd=%2F");
    assert!(html.contains("<title>Sign-in did not complete</title>"));
    assert!(html.contains("<a href=\"/oauth2/start?rd=%2F\">Try again</a>"));
    assert!(html.contains("Error 400."));
}

#[test]
fn templates_come_from_the_pages_dir_and_unknown_placeholders_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(FORBIDDEN_FILE), "<p>{{user}} may not: {{ reason }}</p>").expect("write");
    let pages = Pages::load(Some(dir.path())).expect("loads");
    assert_eq!(
        pages.forbidden(&refused(Some("bob")), None),
        "<p>bob may not: requires one of groups [admins, ops]</p>"
    );
    assert!(
        pages
            .error(
                StatusCode::FORBIDDEN,
                &LoginRefusal {
                    title: "t".into(),
                    message: "m".into()
                },
                "/"
            )
            .contains("<html lang=\"en\">")
    );
    std::fs::write(dir.path().join(ERROR_FILE), "{{message}} {{token}}").expect("write");
    let error = Pages::load(Some(dir.path())).expect_err("unknown placeholder");
    assert!(error.contains("error.html") && error.contains("{{token}}"), "{error}");
    let error = Pages::load(Some(&dir.path().join(FORBIDDEN_FILE))).expect_err("a file");
    assert!(error.contains("is not a folder"), "{error}");
}
