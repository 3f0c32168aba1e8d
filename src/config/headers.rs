//! `[headers]`: the names of the identity headers on an allowed answer, parsed into
//! [`HeaderName`]s as the file is read, so a bad name is refused with its key and origin.

use axum::http::HeaderName;
use serde::{Deserialize, Deserializer};

/// `[headers]`: names of the identity headers on an allowed answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersConfig {
    /// User header.
    #[serde(deserialize_with = "header_name")]
    pub user: HeaderName,
    /// E-mail header.
    #[serde(deserialize_with = "header_name")]
    pub email: HeaderName,
    /// Groups header (comma-joined).
    #[serde(deserialize_with = "header_name")]
    pub groups: HeaderName,
    /// Preferred user name header.
    #[serde(deserialize_with = "header_name")]
    pub preferred_username: HeaderName,
    /// Also send `X-Auth-Request-Access-Token`.
    pub pass_access_token: bool,
}

/// The default names of the user, email, groups and preferred username headers.
pub const DEFAULT_HEADER_NAMES: [&str; 4] = [
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
];

impl Default for HeadersConfig {
    fn default() -> Self {
        let [user, email, groups, preferred_username] = DEFAULT_HEADER_NAMES.map(HeaderName::from_static);
        HeadersConfig {
            user,
            email,
            groups,
            preferred_username,
            pass_access_token: false,
        }
    }
}

/// Deserializes a header name such as `X-Auth-Request-User`.
fn header_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HeaderName, D::Error> {
    let name = String::deserialize(deserializer)?;
    HeaderName::try_from(name.as_str())
        .map_err(|_| serde::de::Error::custom(format!("`{name}` is not a valid header name")))
}
