//! Remote authorizers (`[[authorizers]]`, a rule's `require.authorizer`): asked only about an
//! identity that already passed the rule's other requirements, after `decision::decide` allowed
//! it. A denial turns the decision into a 403; an authorizer that cannot answer (timeout,
//! refused connection, TLS failure, another status, a body it cannot read) into a 503, never a
//! 200.
//!
//! The shape every remote check shares: one bounded client per authorizer, a cache with single
//! flight (moka's `try_get_with`: concurrent misses for one key make one call), and a typed
//! [`CannotAnswer`]. Allowed and denied answers are cached for `cache_ttl`, keyed by a hash of
//! exactly what is sent (so per user, groups and attributes); errors never are, so cached
//! answers keep serving while the remote is down and the next miss asks again. In front of the
//! cache, each worker thread keeps the last question it put for an identity with its verdict
//! ([`question`]), so asking it again compares strings instead of hashing them.

mod http;
mod question;
mod sar;
mod token;

use std::sync::Arc;

use moka::future::Cache;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use sar::verb_of;

use crate::authn::Identity;
use crate::config::{AuthorizerConfig, AuthorizerKind, read_ca};
use crate::decision::Decision;
use crate::memo::next_owner;
use crate::metrics::Metrics;
use crate::origin::OriginalRequest;
use crate::remote::{Kept, UntilLapse};
use crate::rules::{Known, Rule};
use token::TokenFile;

use super::Requirements;

/// An authorizer's answer larger than this is refused (a review is a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How many answers one authorizer keeps at most.
const CACHE_ENTRIES: u64 = 100_000;

/// A rule's `require.resource`: what a subject access review asks about (Kubernetes'
/// `resourceAttributes`). Empty fields are left out; a missing `verb` comes from the method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceAttributes {
    /// The namespace; omitted for cluster-wide resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The API group (`apps`); omitted or empty for the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The API version (`v1`); omitted means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource (`deployments`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The subresource (`status`, `log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// The object's name; omitted means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The verb; default: from the request's method (see [`verb_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
}

/// An authorizer's verdict on one identity and request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It allows.
    Allow,
    /// It denies, with its reason when it gave one.
    Deny(String),
}

/// Why an authorizer gave no verdict: no statement about the user, so the answer is 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CannotAnswer(pub String);

/// Every configured authorizer by name, built once at start-up (FxHash: the names come from
/// the config, so lookups need no protection from chosen collisions).
#[derive(Default)]
pub struct Authorizers(FxHashMap<String, Arc<Authorizer>>);

impl Authorizers {
    /// One client and cache per `[[authorizers]]` block; `Err` when a CA or token file cannot
    /// be read (validation already checked them, so only a file changed since).
    pub fn new(configs: &[AuthorizerConfig], metrics: &Metrics) -> Result<Authorizers, String> {
        let mut authorizers = FxHashMap::default();
        for config in configs {
            let authorizer = Authorizer::new(config, metrics.clone())?;
            authorizers.insert(config.name.clone(), Arc::new(authorizer));
        }
        Ok(Authorizers(authorizers))
    }

    /// The authorizer named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Authorizer>> {
        self.0.get(name)
    }
}

/// One remote authorizer: where it is, how it is reached, what it answered lately.
pub struct Authorizer {
    name: String,
    kind: AuthorizerKind,
    /// Where the request goes (for a subject access review, the API's review endpoint).
    endpoint: String,
    client: reqwest::Client,
    token: Option<TokenFile>,
    cache: Cache<[u8; 32], Kept<Verdict>>,
    /// How long a verdict is used.
    cache_ttl: std::time::Duration,
    /// This authorizer's number among the threads' kept verdicts.
    number: u64,
    metrics: Metrics,
}

impl Authorizer {
    fn new(config: &AuthorizerConfig, metrics: Metrics) -> Result<Authorizer, String> {
        let mut client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")));
        if let Some(ca_file) = &config.ca_file {
            client = client.tls_certs_only(read_ca(ca_file)?);
        }
        let client = client
            .build()
            .map_err(|e| format!("authorizer `{}`: {e}", config.name))?;
        let endpoint = match config.kind {
            AuthorizerKind::SubjectAccessReview => sar::endpoint(config.url()),
            AuthorizerKind::Http => config.url().to_string(),
        };
        Ok(Authorizer {
            name: config.name.clone(),
            kind: config.kind,
            endpoint,
            client,
            token: config.token_file.as_deref().map(TokenFile::open).transpose()?,
            cache: Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .expire_after(UntilLapse)
                .build(),
            cache_ttl: config.cache_ttl,
            number: next_owner(),
            metrics,
        })
    }

    /// The verdict on `identity` making `request` under `rule`: from this thread's last
    /// verdict on the same question or the cache, else from one call shared by every
    /// concurrent asker of the same question.
    pub async fn ask(
        &self,
        rule: &Rule,
        identity: &Identity,
        request: &OriginalRequest,
    ) -> Result<Verdict, CannotAnswer> {
        let digest = identity.digest();
        if let Some(verdict) = question::answered(self.number, digest, rule, request) {
            return Ok(verdict);
        }
        // Boxed: the cache's and the call's futures are large, and a kept verdict needs neither.
        Box::pin(async move {
            let kept = self.cached_or_called(rule, identity, request).await?;
            question::keep(self.number, digest, rule, request, kept.clone());
            Ok(kept.answer)
        })
        .await
    }

    /// The cached verdict on the question, else the one a call gets (shared by concurrent
    /// askers), with the instant it lapses.
    async fn cached_or_called(
        &self,
        rule: &Rule,
        identity: &Identity,
        request: &OriginalRequest,
    ) -> Result<Kept<Verdict>, CannotAnswer> {
        // The key stands for the body sent: an `http` body is built from the identity's claims
        // (parsed whole) and serialised, so its key is hashed from the same inputs instead, and
        // the body is made only on a miss. A review's body is small: it is its own key.
        let (key, body) = match self.kind {
            AuthorizerKind::Http => (http::cache_key(&rule.id, identity, request), None),
            AuthorizerKind::SubjectAccessReview => {
                let body = serde_json::to_vec(&request_body(self.kind, rule, identity, request)).unwrap_or_default();
                (Sha256::digest(&body).into(), Some(body))
            }
        };
        let call = || async move {
            let body = body.unwrap_or_else(|| {
                serde_json::to_vec(&request_body(self.kind, rule, identity, request)).unwrap_or_default()
            });
            let verdict = self.call(body).await?;
            Ok(Kept::lasting(verdict, self.cache_ttl))
        };
        crate::remote::cached_or_call(&self.cache, key, call)
            .await
            .map_err(|e: Arc<CannotAnswer>| (*e).clone())
    }

    /// One call to the remote, counted and, when it cannot answer, logged with the URL.
    async fn call(&self, body: Vec<u8>) -> Result<Verdict, CannotAnswer> {
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(&*token.current().await);
        }
        let answer = match request.send().await {
            Ok(response) => self.read(response).await,
            Err(error) => Err(CannotAnswer(crate::remote::describe(&error))),
        };
        let result = match &answer {
            Ok(Verdict::Allow) => "allow",
            Ok(Verdict::Deny(_)) => "deny",
            Err(_) => "error",
        };
        self.metrics
            .authorizer_total
            .with_label_values(&[self.name.as_str(), result])
            .inc();
        if let Err(CannotAnswer(reason)) = &answer {
            tracing::warn!(authorizer = %self.name, url = %self.endpoint, %reason, "authorizer cannot answer");
        }
        answer
    }

    async fn read(&self, response: reqwest::Response) -> Result<Verdict, CannotAnswer> {
        match self.kind {
            AuthorizerKind::SubjectAccessReview => {
                let status = response.status();
                if status == reqwest::StatusCode::UNAUTHORIZED
                    && let Some(token) = &self.token
                {
                    // The kubelet may have rotated the token: read the file again next time.
                    token.recheck_soon();
                }
                let body = crate::remote::read_capped(response, MAX_ANSWER_BYTES)
                    .await
                    .map_err(CannotAnswer)?;
                sar::verdict(status, &body, self.token.is_some())
            }
            AuthorizerKind::Http => Ok(http::verdict(response.status())?),
        }
    }
}

/// What is sent to an authorizer of `kind` about `identity` making `request` under `rule`.
pub fn request_body(kind: AuthorizerKind, rule: &Rule, identity: &Identity, request: &OriginalRequest) -> Value {
    match kind {
        AuthorizerKind::SubjectAccessReview => sar::review(identity, rule.require.resource.as_ref(), request),
        AuthorizerKind::Http => http::body(&rule.id, identity, request),
    }
}

/// Asks the rule's authorizer, if it has one, about an allowed decision: a denial becomes
/// `Forbidden`, no answer `Unavailable`. Any other decision, and a rule without an authorizer,
/// pass unchanged.
pub async fn confirm<'r>(
    authorizers: &Authorizers,
    decision: Decision<'r>,
    rule: Option<&'r Rule>,
    request: &OriginalRequest,
) -> Decision<'r> {
    let (
        Some(rule),
        Decision::Allow {
            identity: Some(identity),
            ..
        },
    ) = (rule, &decision)
    else {
        return decision;
    };
    let Some(name) = rule.require.authorizer.as_deref() else {
        return decision;
    };
    let rule_id = rule.id.as_str();
    let Some(authorizer) = authorizers.get(name) else {
        // Rules are checked against the config at load, so this is a bug: fail closed.
        return Decision::Unavailable {
            rule: rule_id,
            reason: format!("authorizer `{name}` is not configured"),
        };
    };
    // The identity is borrowed from the decision, not cloned: its count is shared by every
    // request of the same user.
    let verdict = authorizer.ask(rule, identity, request).await;
    match verdict {
        Ok(Verdict::Allow) => decision,
        Ok(Verdict::Deny(reason)) => Decision::Forbidden {
            rule: rule_id,
            reason: match reason.is_empty() {
                true => format!("authorizer `{name}` denies this request"),
                false => format!("authorizer `{name}` denies this request: {reason}"),
            },
        },
        // The details (URL, TLS or connection error) were logged where the call failed; the
        // client learns only which check could not be made.
        Err(CannotAnswer(_)) => Decision::Unavailable {
            rule: rule_id,
            reason: format!("authorizer `{name}` cannot answer"),
        },
    }
}

/// What is wrong with a rule's `require.authorizer` and `require.resource` given the names the
/// configuration defines (each a load error with the rule's file, line and id).
pub fn rule_problems(require: &Requirements, known: &Known) -> Vec<String> {
    let mut problems = Vec::new();
    let authorizer = require.authorizer.as_deref().map(|name| {
        let found = known.authorizers.iter().find(|(known, _)| known == name);
        (name, found.map(|(_, is_review)| *is_review))
    });
    match authorizer {
        Some((name, None)) => {
            let names: Vec<&str> = known.authorizers.iter().map(|(name, _)| name.as_str()).collect();
            problems.push(match names.is_empty() {
                true => format!("require.authorizer: unknown authorizer `{name}` (no [[authorizers]] configured)"),
                false => format!(
                    "require.authorizer: unknown authorizer `{name}` (configured: {})",
                    names.join(", ")
                ),
            });
        }
        Some((name, Some(false))) if require.resource.is_some() => problems.push(format!(
            "require.resource: authorizer `{name}` is not a subject_access_review (only those take a resource)"
        )),
        None if require.resource.is_some() => {
            problems.push("require.resource needs require.authorizer (a subject_access_review)".into())
        }
        _ => {}
    }
    problems
}

/// For `portcullis explain`: which authorizer would be asked and what it would be sent (it is
/// not asked: explain makes no remote calls), or `None` when the rule has no authorizer.
pub fn explain(
    configs: &[AuthorizerConfig],
    rule: &Rule,
    identity: &Identity,
    request: &OriginalRequest,
) -> Option<String> {
    let name = rule.require.authorizer.as_deref()?;
    let config = configs.iter().find(|config| config.name == name)?;
    let body = request_body(config.kind, rule, identity, request);
    Some(format!(
        "authorizer: `{name}` ({} at {}) would be asked, not asked by explain; it would be sent {body}\n  \
         the decision below holds only if it allows (it denies: 403; it cannot answer: 503)",
        config.kind.label(),
        config.url()
    ))
}

#[cfg(test)]
mod tests;
