//! Kyma: users sign in at Dex; the API behind nginx is guarded by what the cluster's RBAC says
//! about each user (a SubjectAccessReview), as Kyma's authorization proxy and kube-rbac-proxy
//! do. Runs `examples/kyma/` (portcullis.toml, rules, nginx.conf) through real nginx, against a
//! Dex-style issuer (the kit's JWKS server with discovery, tokens carrying Dex's claims) and the
//! Kubernetes-API-shaped server of `common::kube_api` (no real API server runs here) holding the
//! RBAC of `examples/kyma/rbac.yaml`.

use serde_json::json;

use crate::common::jwks_server::{JwksServer, fixture_jwks};
use crate::common::kube_api::{Grant, KubeApi, On, Subject};
use crate::common::tokens::{now, sign};
use crate::common::{Portcullis, client};
use crate::peers::{PeerProcess, Seen, Upstream, example_with, print_log_on_failure};

/// Everything of the flow, stopped on drop.
struct Kyma {
    dex: JwksServer,
    api: KubeApi,
    portcullis: Portcullis,
    app: Upstream,
    _nginx: PeerProcess,
    port: u16,
}

impl Kyma {
    async fn start() -> Kyma {
        let dex = JwksServer::start(fixture_jwks(&["rsa1"])).await;
        // examples/kyma/rbac.yaml: developers may `get` and `head` /api and below.
        let api = KubeApi::start(vec![Grant {
            subject: Subject::Group("developers"),
            verbs: vec!["get", "head"],
            on: On::Paths(vec!["/api", "/api/*"]),
        }])
        .await;
        let config = example_with(
            "kyma/portcullis.toml",
            &[
                // The kit writes its own [server] section (port 0, trusting 127.0.0.1).
                (
                    "[server]\nlisten = \"0.0.0.0:4180\"\n# The ingress controller's pods call Portcullis: their pod network must be trusted.\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
                    String::new(),
                ),
                ("\"https://dex.kyma.example.com\"", format!("\"{}\"", dex.issuer())),
                ("https://kubernetes.default.svc", api.url.clone()),
                (
                    "/var/run/secrets/kubernetes.io/serviceaccount/token",
                    api.token_file.display().to_string(),
                ),
                (
                    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                    api.pki.ca().display().to_string(),
                ),
            ],
        );
        let portcullis = super::portcullis_on_example("kyma", &config, "10-kyma.yaml").await;
        let app = Upstream::start().await;
        let (nginx, port) = super::example_nginx("kyma", &portcullis, app.port).await;
        Kyma {
            dex,
            api,
            portcullis,
            app,
            _nginx: nginx,
            port,
        }
    }

    /// A token as Dex issues it for the `kyma-console` client.
    fn dex_token(&self, email: &str, groups: &[&str]) -> String {
        let claims = json!({
            "iss": self.dex.issuer(),
            "sub": "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs",
            "aud": "kyma-console",
            "exp": now() + 600,
            "iat": now(),
            "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
            "email": email,
            "email_verified": true,
            "groups": groups,
            "name": "Dana Developer",
        });
        sign("rsa1", jsonwebtoken::Algorithm::RS256, "rsa1", &claims)
    }

    /// `<method> http://api.kyma.example.com<uri>` through nginx.
    async fn call(&self, method: &str, uri: &str, token: Option<&str>) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client()
            .request(method, format!("http://127.0.0.1:{}{uri}", self.port))
            .header("Host", "api.kyma.example.com");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request.send().await.expect("send")
    }
}

impl Drop for Kyma {
    fn drop(&mut self) {
        print_log_on_failure(&self.portcullis);
    }
}

#[tokio::test]
async fn kyma_rbac_decides_what_a_dex_user_may_do_through_nginx() {
    let kyma = Kyma::start().await;
    let developer = kyma.dex_token("dana@example.com", &["developers"]);

    // A developer may read: the API sees who it is, as Dex and the cluster name her.
    let response = kyma
        .call("GET", "/api/v1/namespaces/default/pods", Some(&developer))
        .await;
    let seen = Seen::from(response).await;
    assert_eq!(seen.header("X-Auth-Request-User").as_deref(), Some("dana@example.com"));
    assert_eq!(seen.header("X-Auth-Request-Groups").as_deref(), Some("developers"));
    let review = kyma.api.reviews().pop().expect("a review was made");
    assert_eq!(
        review["spec"],
        json!({
            "user": "dana@example.com",
            "groups": ["developers"],
            "nonResourceAttributes": { "path": "/api/v1/namespaces/default/pods", "verb": "get" },
        })
    );

    // ... and may not delete: the cluster says no, nginx answers 403, the API never sees it.
    let hits = kyma.app.hits();
    let response = kyma
        .call("DELETE", "/api/v1/namespaces/default/pods/web", Some(&developer))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(kyma.app.hits(), hits);

    // Somebody outside the developers group is refused by the cluster as well.
    let stranger = kyma.dex_token("sam@example.com", &["marketing"]);
    assert_eq!(
        kyma.call("GET", "/api/v1/namespaces", Some(&stranger)).await.status(),
        403
    );

    // No token: 401, and no review is asked for.
    let reviews = kyma.api.calls();
    let response = kyma.call("GET", "/api/v1/namespaces", None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(kyma.api.calls(), reviews);

    // The API server goes down: an answer already given keeps serving for its cache_ttl; a new
    // question cannot be answered, and nginx says 503, never lets it through.
    kyma.api.stop();
    let response = kyma
        .call("GET", "/api/v1/namespaces/default/pods", Some(&developer))
        .await;
    assert_eq!(response.status(), 200, "the cached answer serves");
    let hits = kyma.app.hits();
    let response = kyma
        .call("GET", "/api/v1/namespaces/default/services", Some(&developer))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(kyma.app.hits(), hits);
    assert_eq!(
        kyma.portcullis
            .metric(r#"portcullis_decisions_total{endpoint="auth",outcome="error",rule="kyma-api"}"#)
            .await,
        1.0
    );
}
