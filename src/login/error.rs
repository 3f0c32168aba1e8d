//! The one way a login endpoint says no: [`LoginError`], rendered by one [`IntoResponse`].
//!
//! Every refusal answers `Cache-Control: no-store` with a short body (plain text for people,
//! the provider's error as a small escaped HTML page, the OAuth error JSON for the back-channel
//! endpoint) and, on a callback past its state check, expires the login-state cookie. The reason
//! in detail goes to the log where the refusal is made; bodies never echo tokens or internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::redirect::BadRedirect;

/// What went wrong on a login endpoint; each has its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `rd` is not an allowed target (400, the reason).
    BadRedirect(BadRedirect),
    /// The provider's metadata or token endpoint cannot be reached (502).
    ProviderUnreachable,
    /// The login-state cookie cannot be sealed (500).
    CannotStart,
    /// No login-state cookie for this callback, or it expired (400).
    StateMissing,
    /// The callback's `state` is not the one of the login cookie (400).
    StateMismatch,
    /// This callback's state was used before (400).
    AlreadyCompleted,
    /// The provider answered the callback with `error=` (403 for `access_denied`, else 400): a
    /// page that shows its error and description, escaped.
    ProviderRefused {
        /// The `error` parameter.
        error: String,
        /// The `error_description` parameter (may be empty).
        description: String,
    },
    /// The callback has no `code` (400).
    NoCode,
    /// The token endpoint refused the code (400).
    ExchangeRefused,
    /// The token answer has no ID token (502).
    NoIdToken,
    /// The ID token did not verify (400).
    IdTokenRefused,
    /// The provider's claims name no user (502).
    NoUser,
    /// The session store did not take the new session (503).
    SessionNotSaved,
    /// A redirect target that cannot be a `Location` header (400).
    BadLocation,
    /// A back-channel logout request without a valid, first-time logout token (400,
    /// `{"error":"invalid_request"}`).
    InvalidLogoutRequest,
    /// A back-channel logout that cannot be checked for replay or applied now (400,
    /// `{"error":"temporarily_unavailable"}`, so the provider may deliver it again).
    LogoutUnavailable,
}

impl Problem {
    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        use Problem::*;
        match self {
            ProviderRefused { error, .. } if error == "access_denied" => StatusCode::FORBIDDEN,
            ProviderUnreachable | NoIdToken | NoUser => StatusCode::BAD_GATEWAY,
            CannotStart => StatusCode::INTERNAL_SERVER_ERROR,
            SessionNotSaved => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The short text shown to people (the plain-text answers).
    fn message(&self) -> String {
        use Problem::*;
        let text = match self {
            BadRedirect(reason) => return reason.to_string(),
            ProviderUnreachable => "the login provider is not reachable; try again",
            CannotStart => "the login cannot start",
            StateMissing => "login state missing or expired: start the login again",
            StateMismatch => "login state does not match: start the login again",
            AlreadyCompleted => "this login was already completed",
            ProviderRefused { .. } => "Sign-in did not complete",
            NoCode => "no authorization code",
            ExchangeRefused => "the login could not be completed",
            NoIdToken => "the provider sent no ID token",
            IdTokenRefused => "the ID token was refused",
            NoUser => "the provider's claims name no user",
            SessionNotSaved => "the session cannot be saved; try again",
            BadLocation => "redirect target is not a valid header value",
            InvalidLogoutRequest => "invalid_request",
            LogoutUnavailable => "temporarily_unavailable",
        };
        text.to_string()
    }
}

impl Problem {
    /// What a browser's error page says (`answer::page::login_pages` renders it).
    fn page(&self) -> crate::answer::page::LoginRefusal {
        let (title, message) = match self {
            Problem::ProviderRefused { error, description } => (
                "Sign-in did not complete".to_string(),
                format!(
                    "The identity provider said: {} {}",
                    error,
                    description.chars().take(300).collect::<String>()
                )
                .trim()
                .to_string(),
            ),
            other if other.status().is_server_error() => ("Sign-in is not available right now".into(), other.message()),
            other => ("Sign-in did not complete".into(), other.message()),
        };
        crate::answer::page::LoginRefusal { title, message }
    }
}

impl From<BadRedirect> for Problem {
    fn from(error: BadRedirect) -> Problem {
        Problem::BadRedirect(error)
    }
}

/// A login endpoint's refusal: the [`Problem`], and the `Set-Cookie` that expires the
/// login-state cookie when the refusal ends a login this browser started.
#[derive(Debug)]
pub struct LoginError {
    /// What went wrong.
    pub problem: Problem,
    /// Expires the login-state cookie (callbacks past the state check only).
    pub clear_state: Option<HeaderValue>,
}

impl LoginError {
    /// The same refusal, also expiring the login-state cookie with `cookie`.
    pub fn clearing_state(mut self, cookie: Option<HeaderValue>) -> LoginError {
        self.clear_state = cookie;
        self
    }
}

impl From<Problem> for LoginError {
    fn from(problem: Problem) -> LoginError {
        LoginError {
            problem,
            clear_state: None,
        }
    }
}

impl From<BadRedirect> for LoginError {
    fn from(error: BadRedirect) -> LoginError {
        Problem::from(error).into()
    }
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        let status = self.problem.status();
        let mut response = match &self.problem {
            Problem::ProviderRefused { error, description } => {
                page(status, &self.problem.message(), &format!("{error} {description}"))
            }
            Problem::InvalidLogoutRequest | Problem::LogoutUnavailable => (
                status,
                axum::Json(serde_json::json!({ "error": self.problem.message() })),
            )
                .into_response(),
            _ => (status, format!("{}\n", self.problem.message())).into_response(),
        };
        if !matches!(self.problem, Problem::InvalidLogoutRequest | Problem::LogoutUnavailable) {
            response.extensions_mut().insert(self.problem.page());
        }
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(cookie) = self.clear_state {
            headers.append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// A small HTML page for people (provider errors), every value escaped.
fn page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1><p>The identity provider said: <code>{}</code></p>\
         <p><a href=\"/\">Back</a></p></body></html>\n",
        escape(detail.trim())
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn escape(text: &str) -> String {
    text.chars()
        .take(300)
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(error: LoginError) -> (StatusCode, Option<String>, Vec<String>, String) {
        let response = error.into_response();
        let headers = response.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let cookies = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        (
            response.status(),
            text(header::CACHE_CONTROL),
            cookies,
            text(header::CONTENT_TYPE).unwrap_or_default(),
        )
    }

    #[test]
    fn every_refusal_is_no_store_and_clears_the_state_only_when_asked() {
        let (status, cache, cookies, content_type) = parts(Problem::StateMissing.into());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert!(cookies.is_empty());
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let clear = HeaderValue::from_static("_portcullis_csrf_x=; Max-Age=0");
        let error = LoginError::from(Problem::NoCode).clearing_state(Some(clear));
        let (_, cache, cookies, _) = parts(error);
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(cookies, ["_portcullis_csrf_x=; Max-Age=0"]);
    }

    #[test]
    fn statuses_follow_what_went_wrong() {
        let refused = |error: &str| Problem::ProviderRefused {
            error: error.into(),
            description: String::new(),
        };
        assert_eq!(refused("access_denied").status(), StatusCode::FORBIDDEN);
        assert_eq!(refused("server_error").status(), StatusCode::BAD_REQUEST);
        assert_eq!(Problem::ProviderUnreachable.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(Problem::CannotStart.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Problem::SessionNotSaved.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Problem::LogoutUnavailable.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_provider_page_is_html_and_escaped_and_the_back_channel_answers_json() {
        let refused = Problem::ProviderRefused {
            error: "access_denied".into(),
            description: "<script>x</script>".into(),
        };
        let (_, _, _, content_type) = parts(refused.clone().into());
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let (_, _, _, content_type) = parts(Problem::InvalidLogoutRequest.into());
        assert_eq!(content_type, "application/json");
        assert_eq!(escape("<script>"), "&lt;script&gt;");
    }
}
