//! Calls to remote services (introspection endpoints, session checks, authorizers): what every
//! such call shares once its answer arrives. A body is read only up to a bound, and a failed call
//! is put in words that say whether it timed out, could not connect or failed later, with the
//! causes (a TLS reason such as an unknown issuer is a cause) and never the headers sent.

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
