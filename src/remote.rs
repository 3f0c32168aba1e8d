//! Calls to remote services (introspection endpoints, session checks, authorizers): what every
//! such call shares. Answers come from the caller's cache when they can, else from one call
//! shared by concurrent askers. A body is read only up to a bound, and a failed call
//! is put in words that say whether it timed out, could not connect or failed later, with the
//! causes (a TLS reason such as an unknown issuer is a cause) and never the headers sent.

/// The cached answer for `key`, else the one `call` makes (single flight: concurrent misses share
/// one call; errors are not cached). A hit does not even build the call's future (large: it holds
/// the HTTP client's), and a miss boxes it, so the caller's future stays small on the hot path.
pub async fn cached_or_call<K, V, E, F>(
    cache: &moka::future::Cache<K, V>,
    key: K,
    call: impl FnOnce() -> F,
) -> Result<V, std::sync::Arc<E>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<V, E>>,
{
    if let Some(answer) = cache.get(&key).await {
        return Ok(answer);
    }
    cache.try_get_with(key, Box::pin(call())).await
}

/// The body of `response`, refused when larger than `max` bytes.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error in words: timed out, cannot connect, cannot read the answer, or request
/// failed, then reqwest's text (which names the URL) and its causes.
pub fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() || error.is_body() {
        "cannot read the answer"
    } else {
        "request failed"
    };
    let mut text = format!("{what}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
