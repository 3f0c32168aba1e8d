//! The app behind the proxies: answers every request with 200 and a JSON of what it received.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Map, Value, json};

/// A running echo app on 127.0.0.1.
pub struct Upstream {
    /// The port it listens on.
    pub port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts it on a free port.
    pub async fn start() -> Upstream {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new().fallback(echo).with_state(hits.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { port, hits, task }
    }

    /// How many requests reached it.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(State(hits): State<Arc<AtomicUsize>>, method: Method, uri: Uri, headers: HeaderMap) -> axum::Json<Value> {
    hits.fetch_add(1, Ordering::SeqCst);
    let mut seen = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::from(String::from_utf8_lossy(v.as_bytes())))
            .collect();
        seen.insert(name.as_str().to_owned(), Value::from(values));
    }
    axum::Json(json!({ "method": method.as_str(), "uri": uri.to_string(), "headers": seen }))
}

/// What the app saw of one request.
#[derive(Debug)]
pub struct Seen(pub Value);

impl Seen {
    /// Reads the app's answer (which must be a 200 from the app itself).
    pub async fn from(response: reqwest::Response) -> Seen {
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "expected the app's 200, got {status}: {text}");
        Seen(serde_json::from_str(&text).unwrap_or_else(|e| panic!("not the app's JSON ({e}): {text}")))
    }

    /// The value of header `name` as the app received it: `None` when absent; fails when it
    /// came more than once (a spoofed copy next to the real one).
    pub fn header(&self, name: &str) -> Option<String> {
        let values = self.0["headers"][name.to_ascii_lowercase()].as_array()?;
        assert_eq!(
            values.len(),
            1,
            "{name} reached the app {} times: {values:?}",
            values.len()
        );
        values[0].as_str().map(str::to_owned)
    }

    /// The request target the app received.
    pub fn uri(&self) -> &str {
        self.0["uri"].as_str().expect("uri")
    }
}
