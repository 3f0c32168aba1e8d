//! An active introspection answer to an [`Identity`]: the contract's checks (`iss` and `aud`
//! when present, `exp` and `nbf` with the issuer's leeway), then the issuer's claim mapping over
//! the answer, whose members become the identity's claims.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::authn::Identity;
use crate::authn::claims::ClaimMapper;

/// What an answer is checked against: one issuer's settings.
pub struct Expected<'a> {
    /// The issuer URL the answer's `iss` must equal, when it has one.
    pub issuer: &'a str,
    /// The answer's `aud`, when present, must contain one of these (when not empty).
    pub audiences: &'a [String],
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// How long an answer without `exp` is vouched for (the cache TTL).
    pub without_exp: Duration,
    /// The issuer's claim names.
    pub claims: &'a ClaimMapper,
}

/// The identity an active `answer` vouches for at `now` (Unix seconds), or why it is refused.
///
/// A token without a resource owner (the client_credentials grant) has no `sub`: its
/// `client_id` is then the subject, as in the JWT access tokens IdPs issue for that grant.
pub fn identity(mut answer: Map<String, Value>, expected: &Expected<'_>, now: u64) -> Result<Identity, String> {
    if let Some(iss) = answer.get("iss")
        && iss.as_str() != Some(expected.issuer)
    {
        return Err("the introspection answer names another issuer".into());
    }
    if let Some(aud) = answer.get("aud")
        && !expected.audiences.is_empty()
        && !audience_matches(aud, expected.audiences)
    {
        return Err("the token is for another audience".into());
    }
    if is_refresh_token(&answer) {
        return Err("the token is a refresh token, not an access token".into());
    }
    let leeway = expected.leeway.as_secs();
    let expires_at = match answer.get("exp") {
        Some(exp) => {
            let exp = seconds(exp).ok_or("exp is not a time")?;
            if exp.saturating_add(leeway) <= now {
                return Err("the token has expired".into());
            }
            exp
        }
        None => now.saturating_add(expected.without_exp.as_secs().max(1)),
    };
    if let Some(nbf) = answer.get("nbf") {
        let nbf = seconds(nbf).ok_or("nbf is not a time")?;
        if nbf > now.saturating_add(leeway) {
            return Err("the token is not valid yet".into());
        }
    }
    if !answer.contains_key("sub")
        && let Some(client) = answer.get("client_id").cloned()
    {
        answer.insert("sub".into(), client);
    }
    let text = serde_json::to_string(&answer).map_err(|e| e.to_string())?;
    expected.claims.identity(&answer, &text, expires_at)
}

/// Whether the answer says the token is a refresh token (`token_type`, or Keycloak's `typ`):
/// those are for the token endpoint, never a bearer credential.
fn is_refresh_token(answer: &Map<String, Value>) -> bool {
    ["token_type", "typ"].iter().any(|name| {
        answer
            .get(*name)
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.eq_ignore_ascii_case("refresh_token") || kind.eq_ignore_ascii_case("refresh"))
    })
}

/// `aud` as a string or an array of strings, containing one of `audiences`.
fn audience_matches(aud: &Value, audiences: &[String]) -> bool {
    match aud {
        Value::String(one) => audiences.iter().any(|a| a == one),
        Value::Array(many) => many
            .iter()
            .filter_map(Value::as_str)
            .any(|one| audiences.iter().any(|a| a == one)),
        _ => false,
    }
}

/// A NumericDate (fractions dropped).
fn seconds(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapper() -> ClaimMapper {
        let config: crate::config::IssuerConfig =
            serde_json::from_value(json!({ "name": "main", "issuer": "https://idp.test/" })).expect("issuer");
        ClaimMapper::new(&config)
    }

    fn check(answer: Value, audiences: &[&str]) -> Result<Identity, String> {
        let audiences: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
        let claims = mapper();
        let expected = Expected {
            issuer: "https://idp.test/",
            audiences: &audiences,
            leeway: Duration::from_secs(30),
            without_exp: Duration::from_secs(60),
            claims: &claims,
        };
        identity(answer.as_object().cloned().expect("object"), &expected, 1_000)
    }

    #[test]
    fn an_active_answer_maps_to_the_identity_with_its_scopes_and_claims() {
        let answer = json!({
            "active": true, "sub": "alice", "iss": "https://idp.test/", "exp": 2_000,
            "scope": "read write", "groups": ["admins"], "email": "a@x", "tenant": "acme"
        });
        let identity = check(answer, &[]).expect("valid");
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.scopes, ["read", "write"]);
        assert_eq!(identity.groups, ["admins"]);
        assert_eq!(identity.email.as_deref(), Some("a@x"));
        assert_eq!(identity.claims.get("tenant"), Some(json!("acme")));
        assert_eq!(identity.expires_at, 2_000);
    }

    #[test]
    fn a_client_credentials_answer_has_its_client_as_the_subject() {
        let identity = check(json!({"active": true, "client_id": "svc", "exp": 2_000}), &[]).expect("valid");
        assert_eq!(identity.user, "svc");
        let owner = check(json!({"active": true, "client_id": "svc", "sub": "bob"}), &[]).expect("valid");
        assert_eq!(owner.user, "bob");
        assert_eq!(owner.expires_at, 1_060, "no exp: vouched for the cache TTL");
        assert!(check(json!({"active": true}), &[]).is_err(), "no subject at all");
    }

    #[test]
    fn iss_and_aud_are_checked_when_present() {
        assert!(check(json!({"active": true, "sub": "u", "iss": "https://evil.test/"}), &[]).is_err());
        assert!(check(json!({"active": true, "sub": "u", "aud": "other"}), &["api"]).is_err());
        assert!(check(json!({"active": true, "sub": "u", "aud": ["x", "api"]}), &["api"]).is_ok());
        assert!(check(json!({"active": true, "sub": "u", "aud": "api"}), &["api"]).is_ok());
        assert!(check(json!({"active": true, "sub": "u", "aud": 7}), &["api"]).is_err());
        assert!(
            check(json!({"active": true, "sub": "u", "aud": "other"}), &[]).is_ok(),
            "no audiences: not checked"
        );
        assert!(
            check(json!({"active": true, "sub": "u"}), &["api"]).is_ok(),
            "no aud: not checked"
        );
    }

    #[test]
    fn a_refresh_token_is_no_bearer_credential() {
        assert!(check(json!({"active": true, "sub": "u", "token_type": "refresh_token"}), &[]).is_err());
        assert!(check(json!({"active": true, "sub": "u", "typ": "Refresh"}), &[]).is_err());
        assert!(
            check(
                json!({"active": true, "sub": "u", "token_type": "Bearer", "typ": "Bearer"}),
                &[]
            )
            .is_ok()
        );
    }

    #[test]
    fn exp_and_nbf_are_honoured_with_the_leeway() {
        assert!(
            check(json!({"active": true, "sub": "u", "exp": 980}), &[]).is_ok(),
            "within leeway"
        );
        assert!(check(json!({"active": true, "sub": "u", "exp": 970}), &[]).is_err());
        assert!(check(json!({"active": true, "sub": "u", "exp": "soon"}), &[]).is_err());
        assert!(check(json!({"active": true, "sub": "u", "nbf": 1_020}), &[]).is_ok());
        assert!(check(json!({"active": true, "sub": "u", "nbf": 1_031}), &[]).is_err());
    }
}
