//! The identity headers of an allowed answer: the names `[headers]` gives, and their values for
//! an identity (borrowed from it where they can be). A 200 starts from its *head*: these
//! headers, the matched rule's own `headers:`, then every other header some rule can emit,
//! empty; each worker thread keeps the heads of the identities it answered last.

use std::borrow::Cow;
use std::cell::RefCell;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::safe_header_value;
use crate::authn::Identity;
use crate::config::{DEFAULT_HEADER_NAMES, HeadersConfig};
use crate::memo::{self, Memo, next_owner};
use crate::rules::{Rule, TemplateHeaders};

thread_local! {
    /// The heads of the last 200s answered on this thread, by rule number (the rule set's when
    /// no rule matched) and identity digest, each with the number of the [`IdentityHeaders`]
    /// that made it.
    static HEADS: RefCell<Memo<(u64, HeaderMap), 16>> = const { RefCell::new(Memo::new()) };
}

/// The access-token header's name (`pass_access_token`).
const ACCESS_TOKEN: &str = "x-auth-request-access-token";

/// The key of the head of a 200 without an identity: no identity's SHA-256 digest is all
/// zeros (finding one would take a preimage of SHA-256).
const NO_IDENTITY: [u8; 32] = [0; 32];

/// The identity header names of `[headers]` (parsed when the config was loaded), and the
/// access-token header with `pass_access_token`.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    user: HeaderName,
    email: HeaderName,
    groups: HeaderName,
    preferred_username: HeaderName,
    access_token: Option<HeaderName>,
    /// Its number among the threads' kept heads ([`next_owner`]).
    number: u64,
}

impl IdentityHeaders {
    /// Takes the names `[headers]` gives (parsed when the config was loaded).
    pub fn new(config: &HeadersConfig) -> IdentityHeaders {
        IdentityHeaders {
            user: config.user.clone(),
            email: config.email.clone(),
            groups: config.groups.clone(),
            preferred_username: config.preferred_username.clone(),
            access_token: config.pass_access_token.then(|| HeaderName::from_static(ACCESS_TOKEN)),
            number: next_owner(),
        }
    }

    /// Every identity header with its value for `identity` (empty when unknown).
    pub fn values(&self, identity: Option<&Identity>, access_token: Option<&str>) -> Vec<(HeaderName, String)> {
        self.each(identity, access_token)
            .map(|(name, value)| (name.clone(), value.into_owned()))
            .collect()
    }

    /// The headers a 200 starts with: every identity header with its value for `identity`
    /// (the access-token header empty: [`IdentityHeaders::access_token`] gives its value),
    /// then the matched rule's own headers (`headers:`) with theirs, then every other name of
    /// `templates` empty. `rule_id` names the rule in logs.
    ///
    /// Each thread keeps the heads of the last few identities shared by requests (those with a
    /// digest made, see [`Identity::digest_if_made`]) and of none, per rule (per rule set when
    /// no rule matched), so a credential sent again copies its head instead of building it; a
    /// value that cannot be sent is then logged once per thread.
    pub(super) fn head(
        &self,
        identity: Option<&Identity>,
        rule: Option<&Rule>,
        rule_id: &str,
        templates: &TemplateHeaders,
    ) -> HeaderMap {
        let key = match identity {
            None => &NO_IDENTITY,
            Some(identity) => match identity.digest_if_made() {
                Some(digest) => digest,
                None => return self.make_head(Some(identity), rule, rule_id, templates),
            },
        };
        // A rule's number is its own, and tied to its set's template headers.
        let owner = rule.map_or(templates.number(), |rule| rule.number);
        let kept = memo::read(&HEADS, owner, key, |(number, head)| {
            (*number == self.number).then(|| head.clone())
        });
        kept.unwrap_or_else(|| {
            let head = self.make_head(identity, rule, rule_id, templates);
            memo::keep(&HEADS, owner, key, (self.number, own_copy(&head)));
            head
        })
    }

    /// The access-token header and the identity's token, with `pass_access_token` and both.
    pub(super) fn access_token(
        &self,
        identity: Option<&Identity>,
        access_token: Option<&str>,
        rule: &str,
    ) -> Option<(&HeaderName, HeaderValue)> {
        let name = self.access_token.as_ref()?;
        let token = identity.and(access_token)?;
        Some((name, safe_header_value(name, token, rule)))
    }

    /// A head built (see [`IdentityHeaders::head`]). Names inserted twice (two identity
    /// headers configured alike, a rule header named as an identity header) are one header,
    /// with the later value.
    fn make_head(
        &self,
        identity: Option<&Identity>,
        rule: Option<&Rule>,
        rule_id: &str,
        templates: &TemplateHeaders,
    ) -> HeaderMap {
        let values = match identity {
            None => [const { HeaderValue::from_static("") }; 4],
            Some(identity) => self.make(identity, rule_id),
        };
        let names = [&self.user, &self.email, &self.groups, &self.preferred_username];
        // Room for what the answer and the HTTP rendering add (the identity token,
        // Content-Type, Content-Length): a copy keeps the index size, so none of those inserts
        // rebuilds the index.
        let mut head = HeaderMap::with_capacity(5 + templates.names().len() + 8);
        for (name, value) in names.into_iter().zip(values) {
            head.insert(name.clone(), value);
        }
        if let Some(name) = &self.access_token {
            head.insert(name.clone(), HeaderValue::from_static(""));
        }
        for template in rule.map_or(&[][..], |rule| &rule.headers) {
            let value = template.render(identity);
            head.insert(
                template.name.clone(),
                safe_header_value(&template.name, &value, rule_id),
            );
        }
        for name in templates.names() {
            head.entry(name).or_insert_with(|| HeaderValue::from_static(""));
        }
        head
    }

    /// The values of the identity's own headers: user, email, groups, preferred username.
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

/// `head` with header names of this thread's own: a name parsed at load (from `[headers]` or a
/// rule's `headers:`) is shared by every thread, and each copy of it counts on one counter that
/// the threads' cores then pass around; a kept head's copies count on this thread's. The
/// default names are static and count nothing. Values are the thread's own already.
fn own_copy(head: &HeaderMap) -> HeaderMap {
    let mut own = HeaderMap::with_capacity(head.capacity());
    for (name, value) in head {
        let text = name.as_str();
        let name = match DEFAULT_HEADER_NAMES
            .into_iter()
            .chain([ACCESS_TOKEN])
            .find(|known| *known == text)
        {
            Some(known) => HeaderName::from_static(known),
            None => HeaderName::from_bytes(text.as_bytes()).unwrap_or_else(|_| name.clone()),
        };
        own.append(name, value.clone());
    }
    own
}
