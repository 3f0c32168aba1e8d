//! Short-lived sealed cookies beside the session (the login state of `/oauth2/start`): sealed
//! with the session keys under their own name, with their own expiry inside.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use cookie::Cookie;
use serde::{Deserialize, Serialize};

use super::{Sessions, codec, unix_now};

/// Sealed payloads of other cookies ([`Sessions::seal`]): the bytes and their expiry.
#[derive(Serialize, Deserialize)]
struct Sealed {
    exp: u64,
    value: String,
}

impl Sessions {
    /// A `Set-Cookie` value for cookie `name` holding `value` sealed, valid for `max_age`
    /// (short-lived state such as the login cookie).
    pub fn seal(&self, name: &str, value: &str, max_age: Duration) -> Option<HeaderValue> {
        let sealed = Sealed {
            exp: unix_now().saturating_add(max_age.as_secs()),
            value: value.to_string(),
        };
        let json = serde_json::to_string(&sealed).ok()?;
        let mut cookie = Self::sealed_cookie(name, &self.keys.seal(name, &json)?, self.config.secure);
        cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ));
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// A `Set-Cookie` value that removes a cookie set by [`Sessions::seal`].
    pub fn expire_sealed(&self, name: &str) -> Option<HeaderValue> {
        let mut cookie = Self::sealed_cookie(name, "", self.config.secure);
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// A sealed short-lived cookie (the login state): host-only (no `Domain`, so a sibling
    /// subdomain cannot plant one), HttpOnly, `SameSite=Lax` whatever the session's setting (the
    /// provider's redirect back is a cross-site top-level navigation: `Strict` would lose it), and
    /// `Secure` as configured.
    fn sealed_cookie(name: &str, value: &str, secure: bool) -> Cookie<'static> {
        let mut cookie = Cookie::new(name.to_string(), value.to_string());
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(secure);
        cookie.set_same_site(cookie::SameSite::Lax);
        cookie
    }

    /// The value sealed by [`Sessions::seal`] in cookie `name` of `request`, when it opens and
    /// has not expired.
    pub fn open(&self, name: &str, request: &HeaderMap) -> Option<String> {
        let cookies = codec::request_cookies(request);
        let json = self.keys.open(name, codec::find(&cookies, name)?)?;
        let sealed: Sealed = serde_json::from_str(&json).ok()?;
        (sealed.exp > unix_now()).then_some(sealed.value)
    }
}
