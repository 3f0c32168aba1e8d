//! `[[session_checks]]`: sessions held by another service (Ory Kratos `/sessions/whoami`, a
//! Mia-Platform authentication manager, ...), asked who is signed in by a GET to its `url`.
//!
//! Validation resolves what the file only names: the URL is parsed, header names become
//! [`HeaderName`]s and `forward_headers` gets its default (`Cookie` and the block's `headers`),
//! so the check itself takes a [`SessionCheckConfig`] as it is.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::HeaderName;
use serde::Deserialize;

use super::IssuerConfig;
use super::problems::Problems;
use super::values::{check_http_url, duration};

/// Names a `[[session_checks]]` block cannot take: the built-in credential kinds.
pub const RESERVED_NAMES: [&str; 2] = ["bearer", "session"];

/// Headers Portcullis sets on the call itself, so they cannot be forwarded from the request.
const NOT_FORWARDED: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "x-forwarded-method",
    "x-forwarded-host",
    "x-forwarded-uri",
    "x-forwarded-proto",
];

/// One `[[session_checks]]` block as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionCheckSection {
    name: String,
    url: String,
    #[serde(default)]
    cookies: Vec<String>,
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default)]
    forward_headers: Option<Vec<String>>,
    #[serde(default = "default_user_field")]
    user_field: String,
    #[serde(default = "default_email_field")]
    email_field: String,
    #[serde(default = "default_groups_field")]
    groups_field: String,
    #[serde(default = "default_preferred_username_field")]
    preferred_username_field: String,
    #[serde(default = "default_cache_ttl", deserialize_with = "duration")]
    cache_ttl: Duration,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    timeout: Duration,
}

// The defaults read an Ory Kratos `/sessions/whoami` answer, as Oathkeeper's `cookie_session`
// does (`subject_from: identity.id`).
fn default_user_field() -> String {
    "identity.id".into()
}
fn default_email_field() -> String {
    "identity.traits.email".into()
}
fn default_groups_field() -> String {
    "identity.metadata_public.groups".into()
}
fn default_preferred_username_field() -> String {
    "identity.traits.username".into()
}
fn default_cache_ttl() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

/// One validated `[[session_checks]]` block.
#[derive(Debug, Clone)]
pub struct SessionCheckConfig {
    /// The name rules use in `credentials:` and `require.issuers`; the identity's issuer.
    pub name: String,
    /// Where the GET goes.
    pub url: url::Url,
    /// The check applies when one of these cookies is sent ...
    pub cookies: Vec<String>,
    /// ... or one of these request headers.
    pub headers: Vec<HeaderName>,
    /// Copied from the original request to the check (default: `Cookie` and `headers`).
    pub forward_headers: Vec<HeaderName>,
    /// Dotted path of the user in the JSON answer.
    pub user_field: String,
    /// Dotted path of the e-mail address.
    pub email_field: String,
    /// Dotted path of the groups (array of strings, or a space/comma separated string).
    pub groups_field: String,
    /// Dotted path of the preferred user name.
    pub preferred_username_field: String,
    /// How long a valid answer is reused for the same forwarded values.
    pub cache_ttl: Duration,
    /// Bounds each call.
    pub timeout: Duration,
}

/// Validates every block, recording what cannot work; the blocks that can.
pub(crate) fn validate(
    sections: Vec<SessionCheckSection>,
    issuers: &[IssuerConfig],
    problems: &mut Problems,
) -> Vec<SessionCheckConfig> {
    let mut names = HashSet::new();
    let mut checks = Vec::new();
    for (index, section) in sections.into_iter().enumerate() {
        let key = |field: &str| format!("session_checks[{index}].{field}");
        let before = problems.len();
        let name = section.name.trim();
        if name.is_empty() {
            problems.add(&key("name"), "must not be empty");
        } else if RESERVED_NAMES.contains(&name) {
            problems.add(&key("name"), format!("`{name}` is a built-in credential kind"));
        } else if issuers.iter().any(|issuer| issuer.name == name) {
            problems.add(&key("name"), format!("`{name}` is already an [[issuers]] name"));
        } else if !names.insert(name.to_string()) {
            problems.add(&key("name"), format!("`{name}` is used twice"));
        }
        let url = match check_http_url(&section.url)
            .and_then(|()| url::Url::parse(&section.url).map_err(|e| e.to_string()))
        {
            Ok(url) => Some(url),
            Err(e) => {
                problems.add(&key("url"), e);
                None
            }
        };
        if section.cookies.is_empty() && section.headers.is_empty() {
            problems.add(
                &key("cookies"),
                "set cookies or headers: the check needs something to look for",
            );
        }
        for cookie in &section.cookies {
            if cookie.is_empty() || !cookie.bytes().all(is_token_byte) {
                problems.add(&key("cookies"), format!("`{cookie}` is not a cookie name"));
            }
        }
        let headers = header_names(&section.headers, &key("headers"), problems);
        let forward_headers = match &section.forward_headers {
            Some(names) => header_names(names, &key("forward_headers"), problems),
            None => {
                let mut names = vec![axum::http::header::COOKIE];
                names.extend(headers.iter().filter(|h| **h != axum::http::header::COOKIE).cloned());
                names
            }
        };
        for name in &forward_headers {
            if NOT_FORWARDED.contains(&name.as_str()) {
                problems.add(
                    &key("forward_headers"),
                    format!("`{name}` is set by Portcullis on the call"),
                );
            }
        }
        for (field, path) in [
            ("user_field", &section.user_field),
            ("email_field", &section.email_field),
            ("groups_field", &section.groups_field),
            ("preferred_username_field", &section.preferred_username_field),
        ] {
            if let Err(reason) = check_field_path(path) {
                problems.add(&key(field), reason);
            }
        }
        if section.timeout.is_zero() {
            problems.add(&key("timeout"), "must be more than 0s");
        }
        let Some(url) = url else { continue };
        if problems.len() > before {
            continue;
        }
        checks.push(SessionCheckConfig {
            name: name.to_string(),
            url,
            cookies: section.cookies,
            headers,
            forward_headers,
            user_field: section.user_field,
            email_field: section.email_field,
            groups_field: section.groups_field,
            preferred_username_field: section.preferred_username_field,
            cache_ttl: section.cache_ttl,
            timeout: section.timeout,
        });
    }
    checks
}

fn header_names(names: &[String], key: &str, problems: &mut Problems) -> Vec<HeaderName> {
    let mut parsed = Vec::new();
    for name in names {
        match HeaderName::try_from(name.as_str()) {
            Ok(header) if !parsed.contains(&header) => parsed.push(header),
            Ok(_) => problems.add(key, format!("`{name}` is listed twice")),
            Err(_) => problems.add(key, format!("`{name}` is not a valid header name")),
        }
    }
    parsed
}

/// A dotted path into a JSON answer: not empty, no empty segment (`identity..id`, `.id`).
pub fn check_field_path(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("must not be empty (a dotted path such as identity.id)".into());
    }
    if path.split('.').any(|segment| segment.trim().is_empty()) {
        return Err(format!(
            "`{path}` has an empty segment (write a dotted path such as identity.id)"
        ));
    }
    Ok(())
}

/// RFC 6265 cookie-name characters (an RFC 7230 token).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_refuse_empty_paths_and_segments() {
        assert!(check_field_path("identity.id").is_ok());
        assert!(check_field_path("userId").is_ok());
        for bad in ["", " ", ".id", "identity.", "identity..id"] {
            assert!(check_field_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_block_gets_the_kratos_defaults_and_forwards_cookie_and_its_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("portcullis.toml");
        let text = "[[session_checks]]\nname = \"kratos\"\nurl = \"http://kratos/sessions/whoami\"\ncookies = [\"ory_kratos_session\"]\nheaders = [\"X-Session-Token\"]\n";
        std::fs::write(&file, text).expect("write");
        let config = crate::config::Config::load(&file).expect("loads");
        let check = &config.session_checks[0];
        assert_eq!(check.user_field, "identity.id");
        assert_eq!(check.email_field, "identity.traits.email");
        assert_eq!(check.groups_field, "identity.metadata_public.groups");
        assert_eq!(check.preferred_username_field, "identity.traits.username");
        assert_eq!(
            (check.cache_ttl, check.timeout),
            (Duration::from_secs(30), Duration::from_secs(2))
        );
        let forwarded: Vec<&str> = check.forward_headers.iter().map(HeaderName::as_str).collect();
        assert_eq!(forwarded, ["cookie", "x-session-token"]);
    }

    #[test]
    fn cookie_names_are_tokens() {
        assert!("ory_kratos_session".bytes().all(is_token_byte));
        assert!(!"a b".bytes().all(is_token_byte));
        assert!(!"a;b".bytes().all(is_token_byte));
    }
}
