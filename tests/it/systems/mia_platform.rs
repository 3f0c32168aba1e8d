//! Mia-Platform: the authentication manager knows who is signed in (from the `sid` cookie or
//! the `Authorization` header); per-route CEL expressions over the user's groups and the
//! request decide; the services get the user as Mia-Platform's authorization service sends it
//! (`miauserid`, `miausergroups`, `miauserproperties`). Runs `examples/mia-platform/`
//! (portcullis.toml, rules, nginx.conf) through real nginx, against the Mia-shaped
//! authentication manager of `common::mia` (no real Mia-Platform runs here) and the echo app.

use serde_json::{Value, json};

use crate::common::mia::{self, Mia, MiaUser};
use crate::common::{Portcullis, client};
use crate::peers::{PeerProcess, Seen, Upstream, example_with, print_log_on_failure};

/// Everything of the flow, stopped on drop.
struct MiaPlatform {
    manager: Mia,
    portcullis: Portcullis,
    app: Upstream,
    _nginx: PeerProcess,
    port: u16,
}

/// How a request presents the user.
enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
    Nothing,
}

impl MiaPlatform {
    async fn start() -> MiaPlatform {
        let manager = Mia::start().await;
        let config = example_with(
            "mia-platform/portcullis.toml",
            &[
                // The kit writes its own [server] section (port 0, trusting 127.0.0.1).
                (
                    "[server]\nlisten = \"0.0.0.0:4180\"\n# The API gateway's pods call Portcullis: their pod network must be trusted.\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
                    String::new(),
                ),
                (
                    "http://authentication-manager.mia.svc.cluster.local/userinfo",
                    manager.userinfo_url(),
                ),
            ],
        );
        let portcullis = super::portcullis_on_example("mia-platform", &config, "10-mia.yaml").await;
        let app = Upstream::start().await;
        let (nginx, port) = super::example_nginx("mia-platform", &portcullis, app.port).await;
        MiaPlatform {
            manager,
            portcullis,
            app,
            _nginx: nginx,
            port,
        }
    }

    /// `<method> http://api.mia.example.com<uri>` through nginx, presenting `credential`, with a
    /// spoofed `miauserid` that must never reach the services.
    async fn call(&self, method: &str, uri: &str, credential: Credential<'_>) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client()
            .request(method, format!("http://127.0.0.1:{}{uri}", self.port))
            .header("Host", "api.mia.example.com")
            .header("miauserid", "spoofed");
        request = match credential {
            Credential::Bearer(token) => request.header("Authorization", format!("Bearer {token}")),
            Credential::Cookie(sid) => request.header("Cookie", format!("lang=it; {}={sid}", mia::COOKIE)),
            Credential::Nothing => request,
        };
        request.send().await.expect("send")
    }
}

impl Drop for MiaPlatform {
    fn drop(&mut self) {
        print_log_on_failure(&self.portcullis);
    }
}

fn user(id: &str, groups: &[&str]) -> MiaUser {
    MiaUser {
        user_id: id.to_string(),
        groups: groups.iter().map(ToString::to_string).collect(),
        permissions: vec!["api.orders.read".into()],
        properties: json!({ "email": format!("{id}@mia.example.com"), "name": id, "tenant": "acme" }),
    }
}

#[tokio::test]
async fn mia_platform_group_expressions_decide_and_the_user_reaches_the_services_through_nginx() {
    let mia = MiaPlatform::start().await;
    let admin = mia.manager.sign_in(&user("ada", &["admin", "ops"]));
    let editor = mia.manager.sign_in(&user("eddie", &["editor"]));

    // An administrator (by Authorization header) may do anything, back office included.
    for (method, uri) in [
        ("GET", "/api/orders/1"),
        ("POST", "/api/orders"),
        ("PUT", "/api/backoffice/settings"),
    ] {
        let response = mia.call(method, uri, Credential::Bearer(&admin)).await;
        assert_eq!(response.status(), 200, "admin {method} {uri}");
    }
    let forwarded = mia.manager.requests();
    assert_eq!(
        forwarded[0].get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {admin}").as_str()),
        "the manager got the request's Authorization header"
    );

    // An editor (by the `sid` cookie) may read: the services see who it is, as Mia-Platform's
    // authorization service names the user, and never the client's spoofed header.
    let seen = Seen::from(mia.call("GET", "/api/orders/1", Credential::Cookie(&editor)).await).await;
    assert_eq!(seen.header("miauserid").as_deref(), Some("eddie"));
    assert_eq!(seen.header("miausergroups").as_deref(), Some("editor"));
    let properties: Value = serde_json::from_str(&seen.header("miauserproperties").expect("properties")).expect("JSON");
    assert_eq!(
        properties,
        json!({ "email": "eddie@mia.example.com", "name": "eddie", "tenant": "acme" })
    );
    let cookie = mia.manager.requests().last().and_then(|h| h.get("cookie").cloned());
    assert_eq!(
        cookie.as_ref().and_then(|v| v.to_str().ok()),
        Some(format!("{}={editor}", mia::COOKIE).as_str()),
        "the manager got the session cookie, and none of the browser's other cookies"
    );

    // ... and may not write, nor enter the back office: the expression says 403, and the
    // services never see the request.
    let hits = mia.app.hits();
    assert_eq!(
        mia.call("POST", "/api/orders", Credential::Cookie(&editor))
            .await
            .status(),
        403
    );
    assert_eq!(
        mia.call("GET", "/api/backoffice/settings", Credential::Cookie(&editor))
            .await
            .status(),
        403
    );
    // Somebody the manager knows but in neither group: 403 as well.
    let viewer = mia.manager.sign_in(&user("vera", &["viewer"]));
    assert_eq!(
        mia.call("GET", "/api/orders/1", Credential::Bearer(&viewer))
            .await
            .status(),
        403
    );
    // A credential the manager does not know, or none: 401.
    assert_eq!(
        mia.call("GET", "/api/orders/1", Credential::Bearer("unknown"))
            .await
            .status(),
        401
    );
    assert_eq!(
        mia.call("GET", "/api/orders/1", Credential::Nothing).await.status(),
        401
    );
    assert_eq!(mia.app.hits(), hits);
    // Public routes need nobody.
    assert_eq!(mia.call("GET", "/-/healthz", Credential::Nothing).await.status(), 200);

    // The manager goes down: a user not yet cached gets 503, never a pass; a cached answer
    // keeps serving.
    let late = mia.manager.sign_in(&user("lena", &["admin"]));
    mia.manager.stop();
    let hits = mia.app.hits();
    let response = mia.call("GET", "/api/orders/1", Credential::Bearer(&late)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(mia.app.hits(), hits);
    assert_eq!(
        mia.call("GET", "/api/orders/1", Credential::Bearer(&admin))
            .await
            .status(),
        200
    );
    assert_eq!(
        mia.portcullis
            .metric(r#"portcullis_decisions_total{endpoint="auth",outcome="error",rule="mia-api"}"#)
            .await,
        1.0
    );
    let log = mia.portcullis.log_text();
    for secret in [&admin, &editor, &late] {
        assert!(!log.contains(secret.as_str()), "a credential reached the log");
    }
}
