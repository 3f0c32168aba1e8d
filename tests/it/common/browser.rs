//! The browser the login tests play: cookie jars carried by hand, and the `/auth` request a
//! proxy sends for a browser.

use std::collections::BTreeMap;

use super::{Portcullis, client};

/// Cookies by name, as a browser keeps them for one site.
#[derive(Debug, Default, Clone)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    /// Applies the `Set-Cookie` headers of `response`.
    pub fn update(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ascii");
            let pair = text.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            let removal = value.is_empty() || text.contains("Max-Age=0") || text.contains("1970");
            if removal {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// The `Cookie` header value.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A browser: one jar for Portcullis, one for the provider.
#[derive(Debug, Default, Clone)]
pub struct Browser {
    /// Cookies for Portcullis.
    pub portcullis: Jar,
    /// Cookies for the login provider.
    pub idp: Jar,
}

/// The `Location` of a response; panics without one.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", response.status()))
        .to_str()
        .expect("ascii")
        .to_string()
}

/// The `Location` of a response, when it has one.
pub fn location_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_string())
}

impl Browser {
    /// `/auth` for a browser GET of `https://app.example.com<uri>` with the session cookies.
    pub async fn auth(&self, p: &Portcullis, uri: &str) -> reqwest::Response {
        auth_at(&p.base, &self.portcullis, uri).await
    }
}

/// `/auth` on the Portcullis at `base` for a browser GET of `https://app.example.com<uri>` with
/// the cookies of `jar` (usable from a spawned task, which cannot borrow a [`Portcullis`]).
pub async fn auth_at(base: &str, jar: &Jar, uri: &str) -> reqwest::Response {
    client()
        .get(format!("{base}/auth"))
        .header("X-Original-URL", format!("https://app.example.com{uri}"))
        .header("X-Original-Method", "GET")
        .header("Accept", "text/html")
        .header("cookie", jar.header())
        .send()
        .await
        .expect("auth")
}

/// `url?rd=<rd>`, encoded.
pub fn with_rd(url: &str, rd: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("rd", rd)
        .finish();
    format!("{url}?{query}")
}
