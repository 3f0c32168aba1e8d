//! Verification of the provider's ID tokens and back-channel logout tokens with the login
//! issuer's own key store (refreshed on an unknown `kid`), never with keys from the token.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::authn::constant_time_eq;
use crate::authn::jwks::KeyStore;
use crate::authn::jws::{JwsVerifier, TokenUse};
use crate::config::IssuerConfig;

/// The `events` member of a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Which kind of token is checked, and what it must hold besides the common checks.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// An ID token from the code exchange: `nonce` must equal this.
    IdToken {
        /// The nonce sent with the authorization request.
        nonce: &'a str,
    },
    /// An ID token from a refresh: no nonce to compare.
    RefreshedIdToken,
    /// A back-channel logout token (`typ: logout+jwt` allowed, `events`, no `nonce`).
    Logout,
}

/// Checks tokens of the login provider for our client, through the signed-token core.
pub struct TokenChecker {
    client_id: String,
    id_tokens: JwsVerifier,
    logout_tokens: JwsVerifier,
}

impl TokenChecker {
    /// A checker for tokens of `issuer` addressed to `client_id`, with that issuer's key store.
    pub fn new(issuer: &IssuerConfig, client_id: &str, keys: Arc<KeyStore>) -> TokenChecker {
        let audience = [client_id.to_string()];
        TokenChecker {
            client_id: client_id.to_string(),
            id_tokens: JwsVerifier::new(TokenUse::IdToken, issuer, &audience, keys.clone()),
            logout_tokens: JwsVerifier::new(TokenUse::LogoutToken, issuer, &audience, keys),
        }
    }

    /// Verifies `token` with the core (header and `typ` by kind, key by `kid`, `alg` allow-list,
    /// signature, `iss`, `aud` containing our client id, `exp`, no repeated claim name), then
    /// `iat` and what `expect` adds; returns its claims.
    pub async fn verify(&self, token: &str, expect: Expect<'_>) -> Result<Map<String, Value>, String> {
        let verifier = match expect {
            Expect::Logout => &self.logout_tokens,
            Expect::IdToken { .. } | Expect::RefreshedIdToken => &self.id_tokens,
        };
        let claims = verifier.verify(token).await.map_err(|e| e.to_string())?.claims;
        if !claims.get("iat").is_some_and(Value::is_number) {
            return Err("token has no iat".into());
        }
        self.check_claims(&claims, expect)?;
        Ok(claims)
    }

    fn check_claims(&self, claims: &Map<String, Value>, expect: Expect<'_>) -> Result<(), String> {
        match expect {
            Expect::IdToken { nonce } => {
                let sent = claims
                    .get("nonce")
                    .and_then(Value::as_str)
                    .ok_or("ID token has no nonce")?;
                if !constant_time_eq(sent.as_bytes(), nonce.as_bytes()) {
                    return Err("ID token nonce does not match".into());
                }
                self.check_azp(claims)
            }
            Expect::RefreshedIdToken => self.check_azp(claims),
            Expect::Logout => check_logout_claims(claims),
        }
    }

    /// `azp` must name us when present, and be present when there are several audiences.
    fn check_azp(&self, claims: &Map<String, Value>) -> Result<(), String> {
        let several = claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|aud| aud.len() > 1);
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if azp == self.client_id => Ok(()),
            Some(_) => Err("ID token azp is not our client".into()),
            None if several => Err("ID token has several audiences and no azp".into()),
            None => Ok(()),
        }
    }
}

/// OIDC Back-Channel Logout 1.0, section 2.4 and 2.6: the `events` member, a `jti` (replays are
/// refused by it), no `nonce`, `sid` or `sub`.
pub fn check_logout_claims(claims: &Map<String, Value>) -> Result<(), String> {
    let has_event = claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT));
    if !has_event {
        return Err("logout token has no back-channel logout event".into());
    }
    if claims.contains_key("nonce") {
        return Err("logout token must not have a nonce".into());
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
    if text("jti").is_none() {
        return Err("logout token has no jti".into());
    }
    if text("sid").is_none() && text("sub").is_none() {
        return Err("logout token has neither sid nor sub".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use base64::Engine;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn fixture_checker() -> TokenChecker {
        let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa1.jwks.json");
        let issuer: IssuerConfig = serde_json::from_value(json!({
            "name": "idp", "issuer": "https://idp.test/", "jwks_file": jwks, "algorithms": ["RS256"]
        }))
        .expect("issuer config");
        let keys = KeyStore::new(&issuer, crate::authn::jwks::http_client(), Metrics::new());
        TokenChecker::new(&issuer, "portcullis", Arc::new(keys))
    }

    async fn loaded_checker() -> TokenChecker {
        crate::authn::jwt::install_crypto_provider();
        let checker = fixture_checker();
        checker.id_tokens.keys().load().await.expect("fixture keys load");
        checker
    }

    /// A token of the fixture key `rsa1` with this header and this payload text, as given.
    fn signed_text(header: Value, payload: &str) -> String {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa1.pem")).expect("key");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("rsa key");
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let message = format!("{}.{}", engine.encode(header.to_string()), engine.encode(payload));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).expect("signs");
        format!("{message}.{signature}")
    }

    fn id_token(extra: Value) -> String {
        id_token_typed(extra, Some("JWT"))
    }

    fn id_token_typed(extra: Value, typ: Option<&str>) -> String {
        let now = crate::session::unix_now();
        let mut claims = json!({
            "iss": "https://idp.test/", "aud": "portcullis", "sub": "alice", "iat": now, "exp": now + 300
        });
        for (name, value) in extra.as_object().expect("object") {
            match value {
                Value::Null => drop(claims.as_object_mut().expect("object").remove(name)),
                _ => claims[name] = value.clone(),
            }
        }
        let mut header = json!({ "alg": "RS256", "kid": "rsa1" });
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        signed_text(header, &claims.to_string())
    }

    #[tokio::test]
    async fn id_token_nonce_must_match_the_one_sent() {
        let checker = loaded_checker().await;
        let expect = Expect::IdToken { nonce: "sent-nonce" };
        let good = checker
            .verify(&id_token(json!({ "nonce": "sent-nonce" })), expect)
            .await;
        assert!(good.is_ok(), "{good:?}");
        let wrong = checker
            .verify(&id_token(json!({ "nonce": "other-nonce" })), expect)
            .await;
        assert_eq!(wrong.expect_err("wrong nonce refused"), "ID token nonce does not match");
        let missing = checker.verify(&id_token(json!({})), expect).await;
        assert_eq!(missing.expect_err("missing nonce refused"), "ID token has no nonce");
    }

    #[tokio::test]
    async fn id_token_with_several_audiences_needs_our_azp() {
        let checker = loaded_checker().await;
        let expect = Expect::IdToken { nonce: "n" };
        let audiences = json!(["portcullis", "other"]);
        let without = checker
            .verify(&id_token(json!({ "nonce": "n", "aud": audiences })), expect)
            .await;
        assert!(without.is_err());
        let foreign = json!({ "nonce": "n", "aud": audiences, "azp": "other" });
        assert!(checker.verify(&id_token(foreign), expect).await.is_err());
        let ours = json!({ "nonce": "n", "aud": audiences, "azp": "portcullis" });
        assert!(checker.verify(&id_token(ours), expect).await.is_ok());
    }

    #[tokio::test]
    async fn logout_token_needs_exp() {
        let checker = loaded_checker().await;
        let events = json!({ BACKCHANNEL_LOGOUT_EVENT: {} });
        let with_exp = id_token(json!({ "events": events, "sid": "s1", "jti": "j1" }));
        assert!(checker.verify(&with_exp, Expect::Logout).await.is_ok());
        let mut without = json!({ "events": events, "sid": "s1", "jti": "j1" });
        without["exp"] = Value::Null;
        let without_exp = id_token(without);
        assert!(
            checker.verify(&without_exp, Expect::Logout).await.is_err(),
            "replayable forever"
        );
    }

    #[test]
    fn logout_claims_need_the_event_no_nonce_and_sid_or_sub() {
        let event = json!({ BACKCHANNEL_LOGOUT_EVENT: {} });
        assert!(check_logout_claims(&claims(json!({ "events": event, "jti": "j", "sid": "s" }))).is_ok());
        assert!(check_logout_claims(&claims(json!({ "events": event, "jti": "j", "sub": "u" }))).is_ok());
        assert!(check_logout_claims(&claims(json!({ "jti": "j", "sid": "s" }))).is_err());
        assert!(check_logout_claims(&claims(json!({ "events": event, "jti": "j" }))).is_err());
        assert!(
            check_logout_claims(&claims(
                json!({ "events": event, "jti": "j", "sid": "s", "nonce": "n" })
            ))
            .is_err()
        );
        assert!(check_logout_claims(&claims(json!({ "events": { "other": {} }, "jti": "j", "sid": "s" }))).is_err());
        assert!(
            check_logout_claims(&claims(json!({ "events": event, "sid": "s" }))).is_err(),
            "no jti"
        );
        assert!(check_logout_claims(&claims(json!({ "events": event, "jti": "", "sid": "s" }))).is_err());
    }

    #[tokio::test]
    async fn logout_typ_is_accepted_for_logout_tokens_only_and_crit_never() {
        let checker = loaded_checker().await;
        let logout_claims =
            json!({ "events": { BACKCHANNEL_LOGOUT_EVENT: {} }, "sid": "s1", "jti": "j1", "nonce": null });
        let logout = id_token_typed(logout_claims.clone(), Some("logout+jwt"));
        assert!(checker.verify(&logout, Expect::Logout).await.is_ok());
        let as_id = id_token_typed(json!({ "nonce": "n" }), Some("logout+jwt"));
        assert!(checker.verify(&as_id, Expect::IdToken { nonce: "n" }).await.is_err());
        assert!(checker.verify(&as_id, Expect::RefreshedIdToken).await.is_err());
        let plain = id_token_typed(json!({ "nonce": "n" }), Some("JWT"));
        assert!(checker.verify(&plain, Expect::IdToken { nonce: "n" }).await.is_ok());
        let untyped = id_token_typed(json!({ "nonce": "n" }), None);
        assert!(checker.verify(&untyped, Expect::IdToken { nonce: "n" }).await.is_ok());
        let now = crate::session::unix_now();
        let payload = json!({
            "iss": "https://idp.test/", "aud": "portcullis", "sub": "alice", "iat": now, "exp": now + 300,
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} }, "sid": "s1", "jti": "j1"
        });
        let crit = signed_text(
            json!({ "alg": "RS256", "kid": "rsa1", "crit": ["exp"] }),
            &payload.to_string(),
        );
        assert!(checker.verify(&crit, Expect::Logout).await.is_err());
    }

    #[tokio::test]
    async fn a_claim_named_twice_refuses_id_and_logout_tokens() {
        let checker = loaded_checker().await;
        let now = crate::session::unix_now();
        let common = format!(
            r#""iss":"https://idp.test/","aud":"portcullis","iat":{now},"exp":{}"#,
            now + 300
        );
        let header = json!({ "alg": "RS256", "kid": "rsa1", "typ": "JWT" });
        let id = signed_text(header.clone(), &format!(r#"{{{common},"nonce":"n","sub":"alice"}}"#));
        assert!(checker.verify(&id, Expect::IdToken { nonce: "n" }).await.is_ok());
        let twice = signed_text(
            header.clone(),
            &format!(r#"{{{common},"nonce":"n","sub":"alice","sub":"admin"}}"#),
        );
        let refused = checker.verify(&twice, Expect::IdToken { nonce: "n" }).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|reason| reason.contains("`sub` appears twice")),
            "{refused:?}"
        );
        let refreshed = checker.verify(&twice, Expect::RefreshedIdToken).await;
        assert!(refreshed.is_err(), "{refreshed:?}");
        let event = format!(r#""events":{{"{BACKCHANNEL_LOGOUT_EVENT}":{{}}}},"jti":"j1""#);
        let logout = signed_text(header.clone(), &format!(r#"{{{common},{event},"sid":"s1"}}"#));
        assert!(checker.verify(&logout, Expect::Logout).await.is_ok());
        let logout_twice = signed_text(header, &format!(r#"{{{common},{event},"sid":"s1","sid":"s2"}}"#));
        let refused = checker.verify(&logout_twice, Expect::Logout).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|reason| reason.contains("`sid` appears twice")),
            "{refused:?}"
        );
    }
}
