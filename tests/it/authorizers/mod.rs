//! Remote authorizers (`[[authorizers]]`, `require.authorizer`): the subject access review
//! against a Kubernetes-API-shaped server over HTTPS (`common::kube_api`), the HTTP kind against
//! small policy servers, and the load errors `check` reports.

mod check;
mod http;
mod subject_access_review;

use crate::common::{Portcullis, client};

/// Asks `/auth` about `<method> https://app.example.com<uri>`, with a bearer token when given.
pub async fn ask_as(p: &Portcullis, method: &str, uri: &str, token: Option<&str>) -> reqwest::Response {
    ask_at(&p.url("/auth"), method, uri, token).await
}

/// [`ask_as`] at the `/auth` URL `auth` (owned arguments, for spawned tasks).
pub async fn status_at(auth: String, method: &'static str, uri: &'static str, token: Option<String>) -> u16 {
    ask_at(&auth, method, uri, token.as_deref()).await.status().as_u16()
}

async fn ask_at(auth: &str, method: &str, uri: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .get(auth)
        .header("X-Original-URL", format!("https://app.example.com{uri}"))
        .header("X-Original-Method", method);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    request.send().await.expect("request")
}

/// The status of [`ask_as`].
pub async fn status(p: &Portcullis, method: &str, uri: &str, token: Option<&str>) -> u16 {
    ask_as(p, method, uri, token).await.status().as_u16()
}
