//! Pages for people: a browser (an `Accept` with `text/html`, no bearer token) that is refused
//! gets a small HTML page instead of a bare word. The 403 says who is signed in, which rule
//! refused and why, with a sign-out link to switch accounts when `[login]` is on; a login that
//! fails says what went wrong with a link to try again. API clients keep their JSON and text.
//!
//! The pages are templates with `{{name}}` placeholders: built in (`src/answer/pages/`), or
//! `forbidden.html` and `error.html` from `server.pages_dir`. Every value is HTML-escaped; the
//! `*_link` placeholders are markup built here from escaped parts. No script, no external asset:
//! the answer carries a `Content-Security-Policy` that forbids both.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{Answer, Body};
use crate::authn::Identity;
use crate::decision::Decision;
use crate::origin::{ClientKind, OriginalRequest};

/// The file of the 403 page in `server.pages_dir`.
pub const FORBIDDEN_FILE: &str = "forbidden.html";
/// The file of the login error page in `server.pages_dir`.
pub const ERROR_FILE: &str = "error.html";

const FORBIDDEN_PLACEHOLDERS: &[&str] = &[
    "title",
    "status",
    "signed_in",
    "user",
    "email",
    "rule",
    "reason",
    "sign_out_url",
    "sign_out_link",
];
const ERROR_PLACEHOLDERS: &[&str] = &["title", "status", "message", "retry_url", "retry_link"];

/// Only inline styles; no script, no frame, no other origin.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The two page templates, checked when loaded.
#[derive(Debug, Clone)]
pub struct Pages {
    forbidden: String,
    error: String,
}

impl Default for Pages {
    fn default() -> Pages {
        Pages {
            forbidden: include_str!("pages/forbidden.html").to_string(),
            error: include_str!("pages/error.html").to_string(),
        }
    }
}

impl Pages {
    /// The built-in pages, each replaced by its file in `dir` when there is one. `Err` names
    /// the file and what is wrong with it (not readable, or a placeholder that does not exist).
    pub fn load(dir: Option<&Path>) -> Result<Pages, String> {
        let mut pages = Pages::default();
        let Some(dir) = dir else { return Ok(pages) };
        if !dir.is_dir() {
            return Err(format!("{} is not a folder", dir.display()));
        }
        for (file, known, slot) in [
            (FORBIDDEN_FILE, FORBIDDEN_PLACEHOLDERS, &mut pages.forbidden),
            (ERROR_FILE, ERROR_PLACEHOLDERS, &mut pages.error),
        ] {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some(unknown) = placeholders(&text).find(|name| !known.contains(name)) {
                return Err(format!(
                    "{}: unknown placeholder {{{{{unknown}}}}} (known: {})",
                    path.display(),
                    known.join(", ")
                ));
            }
            *slot = text;
        }
        Ok(pages)
    }

    /// The 403 page for `refused`; `sign_out` is the sign-out URL when `[login]` is on.
    pub fn forbidden(&self, refused: &Refused, sign_out: Option<&str>) -> String {
        let signed_in = match (&refused.user, &refused.email) {
            (Some(user), Some(email)) if !email.is_empty() => format!("You are signed in as {user} ({email})."),
            (Some(user), _) => format!("You are signed in as {user}."),
            (None, _) => "You are not signed in.".to_string(),
        };
        let link = sign_out.map(|url| {
            format!(
                "<nav aria-label=\"Account\"><p><a href=\"{}\">Sign out or switch account</a></p></nav>",
                escape(url)
            )
        });
        render(
            &self.forbidden,
            &[
                ("title", escape("Access denied")),
                ("status", "403".into()),
                ("signed_in", escape(&signed_in)),
                ("user", escape(refused.user.as_deref().unwrap_or(""))),
                ("email", escape(refused.email.as_deref().unwrap_or(""))),
                ("rule", escape(&refused.rule)),
                ("reason", escape(refused.reason.trim_end_matches('.'))),
                ("sign_out_url", escape(sign_out.unwrap_or(""))),
                ("sign_out_link", link.unwrap_or_default()),
            ],
        )
    }

    /// A login error page with a link to start again at `retry`.
    pub fn error(&self, status: StatusCode, refusal: &LoginRefusal, retry: &str) -> String {
        let link = format!(
            "<nav aria-label=\"Next step\"><p><a href=\"{}\">Try again</a></p></nav>",
            escape(retry)
        );
        render(
            &self.error,
            &[
                ("title", escape(&refusal.title)),
                ("status", status.as_u16().to_string()),
                ("message", escape(&refusal.message)),
                ("retry_url", escape(retry)),
                ("retry_link", link),
            ],
        )
    }
}

/// What the 403 page tells: who, which rule, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// The signed-in user, when a valid credential was presented.
    pub user: Option<String>,
    /// Their e-mail address, when known.
    pub email: Option<String>,
    /// The rule that refused.
    pub rule: String,
    /// Why, in words.
    pub reason: String,
}

impl Refused {
    /// The facts of a `Forbidden` decision for `identity`; `None` for any other decision.
    pub fn of(decision: &Decision<'_>, identity: Option<&Identity>) -> Option<Refused> {
        let Decision::Forbidden { rule, reason } = decision else {
            return None;
        };
        Some(Refused {
            user: identity.map(|i| i.user.clone()),
            email: identity.and_then(|i| i.email.clone()),
            rule: rule.to_string(),
            reason: reason.clone(),
        })
    }
}

/// The answer a browser gets: the 403 page in place of the text body; anything else as planned.
pub fn for_browser(
    mut answer: Answer,
    refused: Option<Refused>,
    client: ClientKind,
    pages: &Pages,
    login_start: Option<&url::Url>,
    request: &OriginalRequest,
) -> Answer {
    let (ClientKind::Browser, Some(refused)) = (client, refused) else {
        return answer;
    };
    let sign_out = login_start.map(|start| {
        let mut url = start.clone();
        url.set_path(&start.path().replace("/oauth2/start", "/oauth2/sign_out"));
        super::login_url(&url, &request.url())
    });
    answer.body = Body::Html(pages.forbidden(&refused, sign_out.as_deref()));
    answer
        .headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    answer
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

/// A login refusal a browser should see as a page: put into the response's extensions by
/// `LoginError`, rendered by [`login_pages`].
#[derive(Debug, Clone)]
pub struct LoginRefusal {
    /// The page's heading.
    pub title: String,
    /// What went wrong, in words.
    pub message: String,
}

/// Middleware of the `/oauth2/*` routes: a browser's refused login becomes the error page, with
/// "Try again" starting a new login on the same origin. API clients keep the body as it was.
pub async fn login_pages(State(pages): State<Arc<Pages>>, request: Request, next: Next) -> Response {
    let client = crate::origin::client_kind(request.headers());
    let response = next.run(request).await;
    let Some(refusal) = response.extensions().get::<LoginRefusal>().cloned() else {
        return response;
    };
    if client != ClientKind::Browser {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let html = pages.error(parts.status, &refusal, "/oauth2/start?rd=%2F");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts
        .headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    Response::from_parts(parts, axum::body::Body::from(html))
}

/// The names of the `{{name}}` placeholders in `template`.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(name, _)| name.trim()))
}

/// `template` with each `{{name}}` replaced by its value (already escaped or built here).
fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.split_once("}}") {
            Some((name, tail)) => {
                let value = values.iter().find(|(key, _)| *key == name.trim());
                out.push_str(value.map_or("", |(_, v)| v.as_str()));
                rest = tail;
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` safe inside HTML text and double- or single-quoted attributes; control characters
/// become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
