//! The login test kit: the provider for the `portcullis` client, a Portcullis config with
//! `[login]`, session settings, and the scripted browser's login (the test plays the browser,
//! carrying cookies by hand, from `/oauth2/start` through the dev login and consent forms).

use super::browser::location;
pub use super::browser::{Browser, Jar, location_of, with_rd};
use super::oidc::{CLIENT_ID, CLIENT_SECRET, OidcProvider, Options};
use super::redis::Redis;
use super::rules::PRIVATE as RULES;
use super::{Portcullis, Setup, client, fixture, free_port};

/// The public origin of Portcullis in the test configs; the test maps it to the real port.
pub const PUBLIC: &str = "https://auth.example.com";
pub const SECRET_ONE: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
pub const SECRET_TWO: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const APP: &str = "https://app.example.com/private/page?x=1&y=two";

/// The login provider: oidc-provider with the `portcullis` client for [`PUBLIC`].
pub type Idp = OidcProvider;

/// Starts the login provider on `port`; `backchannel` is the back-channel logout URI of the client.
pub async fn start_idp(port: u16, backchannel: Option<String>) -> Idp {
    let options = Options {
        redirect_uris: vec![format!("{PUBLIC}/oauth2/callback")],
        post_logout_redirect_uris: vec![format!("{PUBLIC}/")],
        backchannel_uri: backchannel,
        ..Options::default()
    };
    OidcProvider::start(port, &options).await
}

/// The Portcullis config for `issuer`, session settings in `session` (added to `[session]`).
pub fn config(issuer: &str, session: &str) -> String {
    format!(
        r#"
[[issuers]]
name = "main"
issuer = "{issuer}"
audiences = ["portcullis"]
algorithms = ["RS256"]

[[issuers]]
name = "api"
issuer = "https://issuer.test/"
jwks_file = "{jwks}"
audiences = ["api"]

[login]
issuer = "main"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_url = "{PUBLIC}/oauth2/callback"
scopes = ["openid", "email", "profile", "groups", "offline_access"]
allowed_redirect_domains = [".example.com"]

[session]
{session}

[headers]
pass_access_token = true

[rules]
paths = ["rules/"]
default = "deny"
"#,
        jwks = fixture("keys/rsa1.jwks.json").display()
    )
}

/// The default `[session]` body: cookie store, one secret.
pub fn cookie_session() -> String {
    format!("secrets = [\"{SECRET_ONE}\"]\nrefresh = \"1h\"")
}

impl Browser {
    /// `/oauth2/start?rd=<rd>` up to the provider's redirect to our callback (not followed):
    /// returns the callback URL on the real Portcullis.
    pub async fn login_until_callback(&mut self, p: &Portcullis, idp: &Idp, user: &str, rd: &str) -> String {
        let start = client()
            .get(with_rd(&p.url("/oauth2/start"), rd))
            .send()
            .await
            .expect("start");
        assert_eq!(start.status(), 302, "{}", p.log_text());
        self.portcullis.update(&start);
        let mut next = location(&start);
        assert!(next.starts_with(&idp.issuer), "{next}");
        for _ in 0..20 {
            if let Some(path) = next.strip_prefix(PUBLIC) {
                return p.url(path);
            }
            let url = if next.starts_with('/') {
                format!("{}{next}", idp.issuer)
            } else {
                next.clone()
            };
            let response = client()
                .get(&url)
                .header("cookie", self.idp.header())
                .send()
                .await
                .expect("idp");
            self.idp.update(&response);
            if response.status().is_redirection() {
                next = location(&response);
                continue;
            }
            assert_eq!(response.status(), 200, "{url}");
            let page = response.text().await.expect("page");
            let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
                vec![("prompt", "login"), ("login", user), ("password", "any")]
            } else {
                vec![("prompt", "consent")]
            };
            let posted = client()
                .post(&url)
                .header("cookie", self.idp.header())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(form)
                        .finish(),
                )
                .send()
                .await
                .expect("form");
            self.idp.update(&posted);
            assert!(posted.status().is_redirection(), "{url}: {}", posted.status());
            next = location(&posted);
        }
        panic!("the login never came back to the callback")
    }

    /// A whole login; returns the callback's answer (302 to `rd` with the session cookies).
    pub async fn login(&mut self, p: &Portcullis, idp: &Idp, user: &str, rd: &str) -> reqwest::Response {
        let callback = self.login_until_callback(p, idp, user, rd).await;
        let response = client()
            .get(&callback)
            .header("cookie", self.portcullis.header())
            .send()
            .await
            .expect("callback");
        self.portcullis.update(&response);
        response
    }
}

impl Browser {
    /// Signs out at the provider (its RP-initiated logout page, confirmed as a user would): the
    /// provider then sends the back-channel logout to the client's `backchannel_uri`.
    pub async fn end_provider_session(&mut self, idp: &Idp) {
        let issuer = &idp.issuer;
        let end = client()
            .get(format!("{issuer}/session/end?client_id={CLIENT_ID}"))
            .header("cookie", self.idp.header())
            .send()
            .await
            .expect("end session");
        self.idp.update(&end);
        let page = end.text().await.expect("page");
        let xsrf = page
            .split("name=\"xsrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no xsrf in {page}"));
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("xsrf", xsrf), ("logout", "yes")])
            .finish();
        let confirm = client()
            .post(format!("{issuer}/session/end/confirm"))
            .header("cookie", self.idp.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("confirm");
        assert!(confirm.status().is_redirection(), "{}", confirm.status());
    }
}

/// A provider and a Portcullis in front of it with `session` settings.
pub async fn setup(session: &str) -> (Idp, Portcullis) {
    let port = free_port();
    let p = Portcullis::start(Setup::new(&config(&format!("http://127.0.0.1:{port}"), session), RULES)).await;
    let idp = start_idp(port, Some(p.url("/oauth2/backchannel_logout"))).await;
    (idp, p)
}

/// The `[session]` body for sessions in `redis`.
pub fn redis_session(redis: &Redis) -> String {
    format!(
        "secrets = [\"{SECRET_ONE}\"]\nrefresh = \"1h\"\nstore = \"redis\"\nredis_url = \"{}\"",
        redis.url
    )
}
