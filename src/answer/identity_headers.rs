//! The identity headers of an allowed answer: the names `[headers]` gives, and their values for
//! an identity (borrowed from it where they can be).

use std::borrow::Cow;
use std::cell::RefCell;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::safe_header_value;
use crate::authn::Identity;
use crate::config::HeadersConfig;
use crate::memo::{self, Memo, next_owner};

thread_local! {
    /// The identity header values of the last identities answered on this thread, by digest.
    static VALUES: RefCell<Memo<[HeaderValue; 4], 16>> = const { RefCell::new(Memo::new()) };
}

/// The identity header names of `[headers]` (parsed when the config was loaded), and the
/// access-token header with `pass_access_token`.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    user: HeaderName,
    email: HeaderName,
    groups: HeaderName,
    preferred_username: HeaderName,
    access_token: Option<HeaderName>,
    /// Every name above with an empty value, in the order [`IdentityHeaders::each`] yields
    /// them: a 200's headers start as a copy of it and get their values by position, with no
    /// hashing per request. `None` when two names are the same header.
    blank: Option<HeaderMap>,
    /// Its number among the threads' kept values ([`next_owner`]).
    number: u64,
}

impl IdentityHeaders {
    /// Takes the names `[headers]` gives (parsed when the config was loaded).
    pub fn new(config: &HeadersConfig) -> IdentityHeaders {
        let mut headers = IdentityHeaders {
            user: config.user.clone(),
            email: config.email.clone(),
            groups: config.groups.clone(),
            preferred_username: config.preferred_username.clone(),
            access_token: config
                .pass_access_token
                .then(|| HeaderName::from_static("x-auth-request-access-token")),
            blank: None,
            number: next_owner(),
        };
        let names: Vec<&HeaderName> = headers.each(None, None).map(|(name, _)| name).collect();
        // Room for what the answer and the HTTP rendering add (rule headers, the identity token,
        // Content-Type, Content-Length): a copy keeps the index size, so none of those inserts
        // rebuilds the index.
        let mut blank = HeaderMap::with_capacity(names.len() + 8);
        for name in &names {
            blank.insert(*name, HeaderValue::from_static(""));
        }
        let distinct = blank.len() == names.len();
        headers.blank = distinct.then_some(blank);
        headers
    }

    /// The identity header names with empty values, in [`IdentityHeaders::each`]'s order;
    /// `None` when two of them are the same header.
    pub(super) fn blank(&self) -> Option<&HeaderMap> {
        self.blank.as_ref()
    }

    /// Every identity header with its value for `identity` (empty when unknown).
    pub fn values(&self, identity: Option<&Identity>, access_token: Option<&str>) -> Vec<(HeaderName, String)> {
        self.each(identity, access_token)
            .map(|(name, value)| (name.clone(), value.into_owned()))
            .collect()
    }

    /// Every identity header with its value for `identity` (empty when unknown), in
    /// [`IdentityHeaders::each`]'s order, as header values. Each thread keeps the identity's
    /// own for the last few identities shared by requests (those with a digest made, see
    /// [`Identity::digest_if_made`]), so a credential sent again copies them instead of
    /// building them; a value that cannot be sent is then logged once per thread.
    pub(super) fn header_values<'a>(
        &'a self,
        identity: Option<&Identity>,
        access_token: Option<&str>,
        rule: &str,
    ) -> impl Iterator<Item = (&'a HeaderName, HeaderValue)> {
        let values = match identity {
            None => [const { HeaderValue::from_static("") }; 4],
            Some(identity) => match identity.digest_if_made() {
                None => self.make(identity, rule),
                Some(digest) => memo::kept(&VALUES, self.number, digest).unwrap_or_else(|| {
                    let values = self.make(identity, rule);
                    memo::keep(&VALUES, self.number, digest, values.clone());
                    values
                }),
            },
        };
        let names = [&self.user, &self.email, &self.groups, &self.preferred_username];
        let token = self.access_token.as_ref().map(|name| {
            let token = identity.and(access_token).unwrap_or_default();
            (name, safe_header_value(name, token, rule))
        });
        names.into_iter().zip(values).chain(token)
    }

    /// The values of the identity's own headers, in [`IdentityHeaders::header_values`]' order.
    fn make(&self, identity: &Identity, rule: &str) -> [HeaderValue; 4] {
        [
            safe_header_value(&self.user, &identity.user, rule),
            safe_header_value(&self.email, identity.email.as_deref().unwrap_or_default(), rule),
            safe_header_value(&self.groups, &joined_groups(identity), rule),
            safe_header_value(
                &self.preferred_username,
                identity.preferred_username.as_deref().unwrap_or_default(),
                rule,
            ),
        ]
    }

    /// Every identity header with its value, borrowed from the identity where it can be.
    pub(super) fn each<'a>(
        &'a self,
        identity: Option<&'a Identity>,
        access_token: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a HeaderName, Cow<'a, str>)> {
        let text = |value: Option<&'a String>| Cow::Borrowed(value.map_or("", String::as_str));
        let fixed = [
            (&self.user, text(identity.map(|i| &i.user))),
            (&self.email, text(identity.and_then(|i| i.email.as_ref()))),
            (
                &self.groups,
                identity.map_or(Cow::Borrowed(""), |i| Cow::Owned(joined_groups(i))),
            ),
            (
                &self.preferred_username,
                text(identity.and_then(|i| i.preferred_username.as_ref())),
            ),
        ];
        let token = self
            .access_token
            .as_ref()
            .map(|name| (name, Cow::Borrowed(identity.and(access_token).unwrap_or_default())));
        fixed.into_iter().chain(token)
    }
}

/// The groups header value: the groups joined with commas. A group whose name holds a comma is
/// left out (and logged): an upstream that splits the header would read it as two groups. It
/// still counts for the rule's requirements.
fn joined_groups(identity: &Identity) -> String {
    let mut joined = String::new();
    for group in &identity.groups {
        if group.contains(',') {
            tracing::warn!(key = "headers.groups", issuer = %identity.issuer, group = ?group, "a group name holds a comma; left out of the groups header");
            continue;
        }
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(group);
    }
    joined
}
