//! The identity token on the command line: `portcullis token --identity-token` mints the
//! token Portcullis would send an upstream, and `explain` shows the claims it would carry.

use std::sync::Arc;

use crate::answer::identity_token::IdentityTokens;
use crate::authn::{Claims, Identity};
use crate::config::Config;
use crate::rules::Rule;
use crate::session::unix_now;

use super::TokenArgs;

/// The identity token for `--sub`, `--email`, `--groups` and `--aud`, signed as the server
/// signs it: the config's `[identity_token]` key, issuer and `ttl`, capped by `--ttl` (the
/// credential's own lifetime).
pub(super) fn mint(args: &TokenArgs) -> Result<String, String> {
    let file = Config::locate(args.config.clone());
    let config = Config::load(&file).map_err(|e| e.to_string())?;
    let section = config
        .identity_token
        .as_ref()
        .ok_or_else(|| format!("{} has no [identity_token] section", file.display()))?;
    let now = unix_now();
    let identity = Identity {
        issuer: Arc::from("cli"),
        user: args.sub.clone(),
        email: args.email.clone(),
        groups: args.groups.clone(),
        preferred_username: None,
        scopes: Vec::new(),
        claims: Claims::default(),
        expires_at: u64::try_from(args.exp.unwrap_or((now as i64).saturating_add(args.ttl))).unwrap_or(0),
        digest: Default::default(),
    };
    let claims = IdentityTokens::new(section).claims(&identity, args.aud.as_deref(), now);
    section.signer.sign(&claims)
}

/// The lines `explain` adds for an allowed request: the identity token header and the claims
/// the token would carry (a fresh `jti` and times each run; no signature is shown).
pub(super) fn explain(config: &Config, rule: Option<&Rule>, identity: Option<&Identity>) -> Vec<String> {
    let Some(section) = &config.identity_token else {
        return Vec::new();
    };
    let header = &section.header;
    let Some(wanted) = rule.and_then(|rule| rule.identity_token.as_ref()) else {
        return vec![if section.is_authorization() {
            format!("  {header}: (not set: the rule has no identity_token; the client's own is passed on)")
        } else {
            format!("  {header}:  (empty: the rule has no identity_token)")
        }];
    };
    let Some(identity) = identity else {
        return vec![format!("  {header}:  (empty: no identity, so no identity token)")];
    };
    let claims = IdentityTokens::new(section).claims(identity, wanted.audience.as_deref(), unix_now());
    let prefix = if section.is_authorization() { "Bearer " } else { "" };
    vec![
        format!(
            "  {header}: {prefix}<identity token, {:?}, kid {}>",
            section.signer.algorithm(),
            section.signer.kid()
        ),
        format!("identity token claims: {}", serde_json::Value::Object(claims)),
    ]
}
