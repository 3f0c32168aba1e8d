//! The last question each worker thread put to an authorizer for an identity, kept with its
//! verdict. A request that asks it again is answered by comparing its parts with the kept
//! ones, with no hash of them: the cache key is a SHA-256 over the same parts, which cost as
//! much as the rest of such a decision.
//!
//! The question holds every part of the request and rule that goes into what either kind of
//! authorizer is sent (an `http` body: the rule id, method, host, path and query; a review: the
//! rule's resource, method and path); the identity is the memo's key, by its digest. The query
//! is compared as part of the target as sent (path and query), which is stricter and needs no
//! search for the `?`. So a kept verdict is only ever served for the same body the authorizer
//! judged, and never after it lapses.

use std::cell::RefCell;

use axum::http::Method;

use super::{ResourceAttributes, Verdict};
use crate::memo::{self, Memo};
use crate::origin::OriginalRequest;
use crate::remote::Kept;
use crate::rules::Rule;

thread_local! {
    /// Each worker thread's last question and verdict per identity, by authorizer number and
    /// identity digest.
    static LAST_ASKED: RefCell<Memo<(Question, Kept<Verdict>), 16>> = const { RefCell::new(Memo::new()) };
}

/// What an authorizer was asked about an identity, as owned copies of the rule's and the
/// request's parts.
#[derive(Debug, Clone)]
pub(super) struct Question {
    rule: Box<str>,
    resource: Option<ResourceAttributes>,
    method: Method,
    host: Box<str>,
    path: Box<str>,
    /// The target as sent: path and query.
    uri: Box<str>,
}

impl Question {
    /// The question `request` under `rule` puts.
    pub(super) fn of(rule: &Rule, request: &OriginalRequest) -> Question {
        Question {
            rule: rule.id.as_str().into(),
            resource: rule.require.resource.clone(),
            method: request.method.clone(),
            host: request.host.as_str().into(),
            path: request.path.as_str().into(),
            uri: request.uri.as_str().into(),
        }
    }

    /// Whether `request` under `rule` puts this question.
    pub(super) fn is(&self, rule: &Rule, request: &OriginalRequest) -> bool {
        *self.rule == *rule.id
            && self.method == request.method
            && *self.path == *request.path
            && *self.host == *request.host
            && *self.uri == *request.uri
            && self.resource == rule.require.resource
    }
}

/// The query as the client sent it, empty when none.
pub(super) fn query(request: &OriginalRequest) -> &str {
    request.uri.split_once('?').map_or("", |(_, query)| query)
}

/// The verdict this thread keeps from authorizer `number` for the identity with `digest`
/// asking `request` under `rule`, if that was the question and the verdict has not lapsed.
pub(super) fn answered(number: u64, digest: &[u8; 32], rule: &Rule, request: &OriginalRequest) -> Option<Verdict> {
    memo::read(&LAST_ASKED, number, digest, |(question, kept)| {
        (kept.is_live() && question.is(rule, request)).then(|| kept.answer.clone())
    })
}

/// Keeps `kept` on this thread as authorizer `number`'s verdict for the identity with `digest`
/// asking `request` under `rule`.
pub(super) fn keep(number: u64, digest: &[u8; 32], rule: &Rule, request: &OriginalRequest, kept: Kept<Verdict>) {
    memo::keep(&LAST_ASKED, number, digest, (Question::of(rule, request), kept));
}
