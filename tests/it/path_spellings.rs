//! Spellings of a protected path that common upstreams route to it (Tomcat's `;parameters`,
//! IIS's trailing dots and spaces, case-insensitive routers) are judged as the protected path
//! or refused with 400, on every endpoint, never let through by a public rule.

use crate::common::{Portcullis, Setup, assert_400_naming, client, file_issuer_config};

/// A public catch-all behind the protected rules: a spelling that slipped past them would pass.
const RULES: &str = r#"
- id: static
  paths: ["/static/**"]
  policy: allow
- id: admin
  paths: ["/admin/**"]
  policy: authenticated
- id: internal
  paths: ["/internal/**"]
  policy: deny
- id: private-api
  path_regex: "/api/v[0-9]+/private/.*"
  policy: deny
- id: everything-else
  paths: ["/**"]
  policy: allow
"#;

/// Without the catch-all: what no rule matches falls to the default deny.
const RULES_WITHOUT_CATCH_ALL: &str = r#"
- id: static
  paths: ["/static/**"]
  policy: allow
- id: health
  path_regex: "/health[a-z]*"
  policy: allow
"#;

async fn start(rules: &str) -> Portcullis {
    Portcullis::start(Setup::new(&file_issuer_config("rsa1"), rules)).await
}

/// The status of `GET https://app.example.com<target>` on `/auth` and on `/forward-auth`, which
/// must agree.
async fn status(p: &Portcullis, target: &str) -> u16 {
    let auth = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", format!("https://app.example.com{target}"))
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("auth");
    let forward = client()
        .get(p.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", target)
        .send()
        .await
        .expect("forward-auth");
    assert_eq!(
        auth.status(),
        forward.status(),
        "{target}: /auth and /forward-auth disagree"
    );
    auth.status().as_u16()
}

#[tokio::test]
async fn tomcat_path_parameters_are_judged_as_the_path_without_them() {
    let p = start(RULES).await;
    for target in [
        "/admin;jsessionid=1/",
        "/admin;jsessionid=1/users",
        "/admin/users;x=1",
        "/;x/admin/",
    ] {
        assert_eq!(status(&p, target).await, 401, "{target}");
    }
    assert_eq!(status(&p, "/internal;a=b/metrics").await, 403);
    assert_eq!(status(&p, "/static;v=2/app.css").await, 200);
}

#[tokio::test]
async fn any_letter_case_of_a_protected_path_is_protected() {
    let p = start(RULES).await;
    for target in ["/ADMIN/", "/Admin/users", "/aDMIN", "/admin/USERS"] {
        assert_eq!(status(&p, target).await, 401, "{target}");
    }
    for target in ["/INTERNAL/metrics", "/Internal/Metrics", "/API/V1/PRIVATE/keys"] {
        assert_eq!(status(&p, target).await, 403, "{target}");
    }
    assert_eq!(status(&p, "/administrator").await, 200);
}

#[tokio::test]
async fn an_allow_rule_opens_only_the_exact_case() {
    let p = start(RULES_WITHOUT_CATCH_ALL).await;
    assert_eq!(status(&p, "/static/app.css").await, 200);
    assert_eq!(status(&p, "/healthz").await, 200);
    for target in ["/STATIC/app.css", "/Static/app.css", "/HEALTHZ"] {
        assert_eq!(status(&p, target).await, 403, "{target} must fall to the default deny");
    }
}

#[tokio::test]
async fn iis_trailing_dots_and_spaces_and_fragments_are_400() {
    let p = start(RULES).await;
    for target in [
        "/admin./",
        "/admin%2e/",
        "/admin%2E/users",
        "/admin%20/",
        "/admin /x",
        "/admin.;x/",
        "/static/../admin./",
        "/admin#/",
        "/static/x#/../../admin",
    ] {
        assert_eq!(status(&p, target).await, 400, "{target}");
    }
}

#[tokio::test]
async fn the_400_names_the_header_that_carried_the_path() {
    let p = start(RULES).await;
    let response = client()
        .get(p.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", "/admin./")
        .send()
        .await
        .expect("send");
    assert_400_naming(response, &["X-Forwarded-Uri", "dot"], "/admin./").await;
}

#[tokio::test]
async fn ext_authz_judges_the_same_spellings_the_same_way() {
    let p = start(RULES).await;
    for (path, expected) in [
        ("/admin;jsessionid=1/", 401),
        ("/ADMIN/", 401),
        ("/INTERNAL/metrics", 403),
        ("/admin./", 400),
        ("/admin%20/", 400),
    ] {
        let response = client()
            .get(p.url(&format!("/ext-authz{path}")))
            .header("Host", "app.example.com")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), expected, "{path}");
    }
}
