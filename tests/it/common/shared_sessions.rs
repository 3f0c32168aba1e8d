//! Two Portcullis replicas sharing sessions through one Redis set-up (a server, a cluster, a
//! Sentinel set) in front of the real oidc-provider, and the checks every set-up must pass: a
//! session made through one replica is valid on the other, sign-out on one ends it on both, and
//! the provider's back-channel logout ends it on both.

use std::time::{Duration, Instant};

use super::login_kit::{APP, Browser, Idp, SECRET_ONE, config, start_idp, with_rd};
use super::redis_ha::MASTER_NAME;
use super::rules::PRIVATE as RULES;
use super::{Portcullis, Setup, client, free_port};

/// How long a test waits for Portcullis to use Redis again after a failover or an outage: a
/// guard against a hang, far above what it takes.
pub const RECOVERY: Duration = Duration::from_secs(60);

/// The provider and two replicas; the provider's back-channel logout goes to `a`.
pub struct Replicas {
    /// The login provider.
    pub idp: Idp,
    /// The replica the provider sends back-channel logouts to.
    pub a: Portcullis,
    /// The other replica.
    pub b: Portcullis,
}

/// The `[session]` body for sessions in Redis reached through `redis_keys` (e.g.
/// `redis_cluster_urls = [...]`).
pub fn session_in(redis_keys: &str) -> String {
    format!("secrets = [\"{SECRET_ONE}\"]\nrefresh = \"1h\"\nstore = \"redis\"\n{redis_keys}")
}

/// The `[session]` keys for the sentinels at `urls` and their master [`MASTER_NAME`].
pub fn sentinel_keys(urls: &[String]) -> String {
    format!(
        "{}\nredis_sentinel_master = \"{MASTER_NAME}\"",
        url_list("redis_sentinel_urls", urls)
    )
}

/// `name = ["url", ...]` as TOML.
pub fn url_list(name: &str, urls: &[String]) -> String {
    let quoted: Vec<String> = urls.iter().map(|url| format!("\"{url}\"")).collect();
    format!("{name} = [{}]", quoted.join(", "))
}

impl Replicas {
    /// Starts the provider and two replicas with `session` settings.
    pub async fn start(session: &str) -> Replicas {
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let config = config(&issuer, session);
        let a = Portcullis::start(Setup::new(&config, RULES)).await;
        let b = Portcullis::start(Setup::new(&config, RULES)).await;
        let idp = start_idp(port, Some(a.url("/oauth2/backchannel_logout"))).await;
        Replicas { idp, a, b }
    }

    /// A replica's log without colours, to search.
    pub fn plain_log(p: &Portcullis) -> String {
        let text = p.log_text();
        let mut plain = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find('\u{1b}') {
            plain.push_str(&rest[..start]);
            let after = &rest[start..];
            rest = after.find('m').map_or("", |end| &after[end + 1..]);
        }
        plain.push_str(rest);
        plain
    }

    /// Both replicas' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!("--- a ---\n{}\n--- b ---\n{}", self.a.log_text(), self.b.log_text())
    }

    /// Signs `user` in through `a` and checks that the session works on both replicas.
    pub async fn login(&self, user: &str) -> Browser {
        let mut browser = Browser::default();
        let callback = browser.login(&self.a, &self.idp, user, APP).await;
        assert_eq!(callback.status(), 302, "{}", self.logs());
        self.assert_status(&browser, 200, "a session made through a").await;
        browser
    }

    /// Asserts that `browser`'s session gets `status` on both replicas.
    pub async fn assert_status(&self, browser: &Browser, status: u16, case: &str) {
        for (name, p) in [("a", &self.a), ("b", &self.b)] {
            let got = browser.auth(p, "/private/x").await.status();
            assert_eq!(got, status, "{case}: on {name}\n{}", self.logs());
        }
    }

    /// After a Sentinel failover to the server on `port`: polls, with `browser`'s requests as
    /// the traffic, until both replicas have connected to it. Until then one of them may still
    /// write to the old master, which keeps accepting writes until the sentinels demote it, and
    /// those writes are lost when it resyncs (Redis's documented window; a session made in it
    /// would be missing on the other replica).
    pub async fn until_on_master(&self, browser: &Browser, port: u16) {
        let new_master = format!("master=127.0.0.1:{port}");
        let uses_new_master = |log: String| {
            log.lines()
                .any(|line| line.contains("connected to the master") && line.contains(&new_master))
        };
        super::redis_ha::settle("both replicas on the new master", || async {
            let _ = browser.auth(&self.a, "/private/x").await;
            let _ = browser.auth(&self.b, "/private/x").await;
            uses_new_master(Self::plain_log(&self.a)) && uses_new_master(Self::plain_log(&self.b))
        })
        .await;
    }

    /// Polls until `browser`'s session gets `status` on both replicas (after a failover or an
    /// outage Redis is used again when the client has reconnected).
    pub async fn until_status(&self, browser: &Browser, status: u16, case: &str) {
        let deadline = Instant::now() + RECOVERY;
        loop {
            let a = browser.auth(&self.a, "/private/x").await.status();
            let b = browser.auth(&self.b, "/private/x").await.status();
            if a == status && b == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{case}: still {a} on a and {b} on b\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Signs `browser` out through `b` and checks that the old cookie is dead on both.
    pub async fn sign_out_through_b(&self, browser: &Browser) {
        let out = client()
            .get(with_rd(&self.b.url("/oauth2/sign_out"), "https://app.example.com/"))
            .header("cookie", browser.portcullis.header())
            .send()
            .await
            .expect("sign out");
        assert_eq!(out.status(), 302, "{}", self.logs());
        self.assert_status(browser, 401, "signed out through b").await;
    }

    /// Ends `browser`'s provider session: the provider's back-channel logout (to `a`) must end
    /// the session on both replicas.
    pub async fn backchannel_logout(&self, browser: &mut Browser) {
        browser.end_provider_session(&self.idp).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while browser.auth(&self.b, "/private/x").await.status() != 401 {
            assert!(Instant::now() < deadline, "never revoked\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.assert_status(browser, 401, "after the back-channel logout").await;
        assert!(self.a.log_text().contains("back-channel logout revoked sessions"));
    }

    /// The three checks every Redis set-up passes, each with a fresh login.
    pub async fn share_sign_out_and_backchannel_logout(&self) {
        let carol = self.login("carol").await;
        self.sign_out_through_b(&carol).await;
        let mut dave = self.login("dave").await;
        self.backchannel_logout(&mut dave).await;
    }
}
