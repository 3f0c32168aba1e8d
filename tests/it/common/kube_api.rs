//! A Kubernetes-API-shaped server for the subject access review authorizer. No real API server
//! runs on these machines (no kind, k3s or kubectl server), so this one answers
//! `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` exactly as the Kubernetes API
//! documents it: HTTPS with a certificate from a CA made in the test (the `openssl` CLI), the
//! bearer token checked (401 `Status` otherwise), and a `SubjectAccessReview` answered `201
//! Created` with `status.allowed` (and a `reason`) from a small RBAC table. It counts the
//! reviews, keeps their bodies, and can hold answers (to overlap concurrent askers) or go down.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::pki::Pki;

/// The review endpoint, as the API server serves it.
pub const REVIEW_PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// Who a grant is for, as an RBAC binding's subject.
#[derive(Clone, Debug)]
pub enum Subject {
    /// `kind: User`.
    User(&'static str),
    /// `kind: Group`.
    Group(&'static str),
}

/// One RBAC rule bound to one subject: verbs on non-resource URLs (a trailing `*` is a prefix,
/// as in `nonResourceURLs`) or on resources (in one namespace, as a RoleBinding grants, or in
/// all, as a ClusterRoleBinding does).
#[derive(Clone, Debug)]
pub struct Grant {
    /// Whom it is for.
    pub subject: Subject,
    /// `get`, `list`, ... or `*`.
    pub verbs: Vec<&'static str>,
    /// What it covers.
    pub on: On,
}

/// What a grant covers.
#[derive(Clone, Debug)]
pub enum On {
    /// `nonResourceURLs`.
    Paths(Vec<&'static str>),
    /// `apiGroups` (one), `resources` (`pods` or `pods/log`), and the namespace of a RoleBinding
    /// (`None`: a ClusterRoleBinding).
    Resources {
        /// The namespace, or all.
        namespace: Option<&'static str>,
        /// The API group (`""` for the core group).
        group: &'static str,
        /// The resources.
        resources: Vec<&'static str>,
    },
}

impl Grant {
    fn allows(&self, user: &str, groups: &[String], spec: &Value) -> bool {
        let bound = match self.subject {
            Subject::User(name) => name == user,
            Subject::Group(name) => groups.iter().any(|g| g == name),
        };
        let verb_ok = |verb: &str| self.verbs.iter().any(|v| *v == "*" || *v == verb);
        bound
            && match (&self.on, &spec["nonResourceAttributes"], &spec["resourceAttributes"]) {
                (On::Paths(paths), Value::Object(attributes), _) => {
                    let path = attributes["path"].as_str().unwrap_or_default();
                    verb_ok(attributes["verb"].as_str().unwrap_or_default())
                        && paths.iter().any(|p| match p.strip_suffix('*') {
                            Some(prefix) => path.starts_with(prefix),
                            None => path == *p,
                        })
                }
                (
                    On::Resources {
                        namespace,
                        group,
                        resources,
                    },
                    _,
                    Value::Object(attributes),
                ) => {
                    let text = |name: &str| attributes.get(name).and_then(Value::as_str).unwrap_or_default();
                    let resource = match text("subresource") {
                        "" => text("resource").to_string(),
                        sub => format!("{}/{sub}", text("resource")),
                    };
                    verb_ok(text("verb"))
                        && text("group") == *group
                        && namespace.is_none_or(|ns| ns == text("namespace"))
                        && resources.iter().any(|r| *r == resource)
                }
                _ => false,
            }
    }
}

struct Control {
    token: Mutex<String>,
    rbac: Vec<Grant>,
    reviews: Mutex<Vec<Value>>,
    calls: AtomicUsize,
    hold: tokio::sync::Semaphore,
    /// The open connections, closed by [`KubeApi::stop`] (a pooled keep-alive connection would
    /// otherwise outlive the listener).
    connections: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// A running Kubernetes-API-shaped server on 127.0.0.1 over HTTPS.
pub struct KubeApi {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The certificates (its `ca()` is the right `ca_file`).
    pub pki: Pki,
    /// The service account token file Portcullis is given.
    pub token_file: PathBuf,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

/// Answers are let through this many at a time when not held (plenty).
const OPEN: usize = 1 << 20;

impl KubeApi {
    /// Starts serving `rbac`, accepting only the token it writes to `token_file`.
    pub async fn start(rbac: Vec<Grant>) -> KubeApi {
        let pki = Pki::new();
        let token = "sa-token-1".to_string();
        let token_file = pki.dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).expect("token file");
        let control = Arc::new(Control {
            token: Mutex::new(token),
            rbac,
            reviews: Mutex::default(),
            calls: AtomicUsize::new(0),
            hold: tokio::sync::Semaphore::new(OPEN),
            connections: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config()));
        let router = Router::new()
            .route(REVIEW_PATH, post(review))
            .with_state(control.clone());
        let connections = control.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                let connection = tokio::spawn(async move {
                    // A client that does not trust the CA ends here, as with the real server.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service =
                        hyper::service::service_fn(move |request| tower::ServiceExt::oneshot(router.clone(), request));
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
                connections
                    .connections
                    .lock()
                    .expect("lock")
                    .push(connection.abort_handle());
            }
        });
        KubeApi {
            url,
            pki,
            token_file,
            control,
            task,
        }
    }

    /// How many reviews reached it (with a valid token or not).
    pub fn calls(&self) -> usize {
        self.control.calls.load(Ordering::SeqCst)
    }

    /// Every review body it was sent with a valid token, in order.
    pub fn reviews(&self) -> Vec<Value> {
        self.control.reviews.lock().expect("lock").clone()
    }

    /// Holds every answer until [`Self::release`].
    pub async fn hold(&self) {
        self.control
            .hold
            .acquire_many(OPEN as u32)
            .await
            .expect("hold")
            .forget();
    }

    /// Lets held answers go.
    pub fn release(&self) {
        self.control.hold.add_permits(OPEN);
    }

    /// Accepts only `token` from now on (the kubelet rotated the service account's token).
    pub fn rotate_token(&self, token: &str) {
        *self.control.token.lock().expect("lock") = token.to_string();
    }

    /// Stops listening and closes every open connection: connections are refused from now on.
    pub fn stop(&self) {
        self.task.abort();
        for connection in self.control.connections.lock().expect("lock").drain(..) {
            connection.abort();
        }
    }

    /// The `[[authorizers]]` block for it, named `name`, with `ca_file`.
    pub fn authorizer_config(&self, name: &str, ca_file: &Path) -> String {
        format!(
            "\n[[authorizers]]\nname = \"{name}\"\nkind = \"subject_access_review\"\nurl = \"{}\"\ntoken_file = \"{}\"\nca_file = \"{}\"\ncache_ttl = \"30s\"\ntimeout = \"2s\"\n",
            self.url,
            self.token_file.display(),
            ca_file.display()
        )
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn review(State(control): State<Arc<Control>>, headers: HeaderMap, body: String) -> Response {
    control.calls.fetch_add(1, Ordering::SeqCst);
    let expected = format!("Bearer {}", control.token.lock().expect("lock"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
        return (StatusCode::UNAUTHORIZED, axum::Json(status)).into_response();
    }
    let Ok(mut review) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    control.reviews.lock().expect("lock").push(review.clone());
    let _held = control.hold.acquire().await.expect("hold");
    let spec = &review["spec"];
    let user = spec["user"].as_str().unwrap_or_default();
    let groups: Vec<String> = serde_json::from_value(spec["groups"].clone()).unwrap_or_default();
    let allowed = control.rbac.iter().any(|grant| grant.allows(user, &groups, spec));
    review["status"] = match allowed {
        true => json!({"allowed": true, "reason": "RBAC: allowed by the test table"}),
        false => json!({"allowed": false}),
    };
    (StatusCode::CREATED, axum::Json(review)).into_response()
}
