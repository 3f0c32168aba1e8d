//! Real nginx (`auth_request`, the example config) in front of the app with a Kratos-shaped
//! session check, in the order of the rules of a Zero (Oathkeeper + Kratos) deployment: public
//! pages and webhooks open, everything else needs the browser's Kratos session.

use super::nginx::{BOTH, Stack};
use super::{Seen, header};
use crate::common::file_issuer_config;
use crate::common::kratos::{self, Kratos, KratosUser};

const ZERO_RULES: &str = r#"
- id: zero-public
  paths: ["/", "/public/**", "/.well-known/**"]
  policy: allow
- id: zero-webhooks
  methods: [POST]
  paths: ["/webhooks/**"]
  policy: allow
- id: zero-app
  paths: ["/**"]
  policy: authenticated
  credentials: [kratos]
  headers:
    X-Auth-Request-Tenant: "{claims.identity.traits.username}"
"#;

#[tokio::test]
async fn nginx_sends_the_browser_cookie_to_the_check_and_the_identity_to_the_app() {
    let kratos = Kratos::start().await;
    let config = format!("{}{}", file_issuer_config("rsa1"), kratos.check_config("kratos", "2s"));
    let stack = Stack::start_with(&config, ZERO_RULES).await;
    let jane = KratosUser::named("jane", &["admins", "ops"]);
    let token = kratos.sign_in(&jane);
    let browser_cookie = format!("csrf_token_x=abc; {}={token}", kratos::COOKIE);
    for variant in BOTH {
        let response = stack
            .get(variant, "/projects/7?tab=settings")
            .header("Cookie", &browser_cookie)
            .header("X-Auth-Request-User", "spoofed")
            .send()
            .await
            .expect("send");
        let seen = Seen::from(response).await;
        assert_eq!(seen.uri(), "/projects/7?tab=settings", "{variant:?}");
        assert_eq!(seen.header("X-Auth-Request-User"), Some(jane.id.clone()), "{variant:?}");
        assert_eq!(seen.header("X-Auth-Request-Email").as_deref(), Some("jane@example.com"));
        assert_eq!(seen.header("X-Auth-Request-Groups").as_deref(), Some("admins,ops"));
        assert_eq!(
            seen.header("X-Auth-Request-Preferred-Username").as_deref(),
            Some("jane")
        );
        assert_eq!(seen.header("X-Auth-Request-Tenant").as_deref(), Some("jane"));
    }
    // The browser's cookie went through nginx's subrequest and Portcullis to the check, with
    // the original request described; the second variant's request was a cache hit.
    let calls = kratos.requests();
    assert_eq!(calls.len(), 1, "one call, then cached");
    let value = |name: &str| calls[0].get(name).map(|v| v.to_str().expect("ascii").to_owned());
    assert_eq!(value("cookie"), Some(format!("{}={token}", kratos::COOKIE)));
    assert_eq!(value("x-forwarded-method").as_deref(), Some("GET"));
    assert_eq!(value("x-forwarded-host").as_deref(), Some("app.example.com"));
    assert_eq!(value("x-forwarded-uri").as_deref(), Some("/projects/7?tab=settings"));
}

#[tokio::test]
async fn nginx_with_zero_rules_opens_public_paths_and_webhooks_and_guards_the_rest() {
    let kratos = Kratos::start().await;
    let config = format!("{}{}", file_issuer_config("rsa1"), kratos.check_config("kratos", "2s"));
    let stack = Stack::start_with(&config, ZERO_RULES).await;
    for variant in BOTH {
        for path in ["/", "/public/app.js", "/.well-known/ory/webauthn.js"] {
            let response = stack.get(variant, path).send().await.expect("send");
            assert_eq!(response.status(), 200, "{variant:?} {path}");
        }
        let hook = super::super::common::client()
            .post(format!("{}/webhooks/stripe", stack_base(&stack, variant)))
            .header("Host", "app.example.com")
            .send()
            .await
            .expect("send");
        assert_eq!(hook.status(), 200, "{variant:?}: a POST webhook is open");
        let response = stack.get(variant, "/webhooks/stripe").send().await.expect("send");
        assert_eq!(response.status(), 401, "{variant:?}: a GET on the webhook path is not");
        let forged = format!("{}=ory_st_forged", kratos::COOKIE);
        let response = stack
            .get(variant, "/projects")
            .header("Cookie", &forged)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 401, "{variant:?}");
        assert_eq!(header(&response, "Location"), None);
    }
    assert_eq!(
        kratos.calls(),
        1,
        "the forged cookie was asked about once, then its refusal reused"
    );
}

fn stack_base(stack: &Stack, variant: super::nginx::Variant) -> String {
    let request = stack.get(variant, "/").build().expect("request");
    let url = request.url();
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(80)
    )
}
