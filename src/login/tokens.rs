//! Verification of the provider's ID tokens and back-channel logout tokens with the login
//! issuer's own key store (refreshed on an unknown `kid`), never with keys from the token.

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};

use crate::authn::jwks::{KeyStore, algorithm_named, jsonwebtoken_algorithm};
use crate::authn::jwt::MAX_TOKEN_BYTES;
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

/// Checks tokens of the login provider for our client.
pub struct TokenChecker {
    issuer: IssuerConfig,
    client_id: String,
    keys: Arc<KeyStore>,
}

impl TokenChecker {
    /// A checker for tokens of `issuer` addressed to `client_id`, with that issuer's key store.
    pub fn new(issuer: &IssuerConfig, client_id: &str, keys: Arc<KeyStore>) -> TokenChecker {
        TokenChecker {
            issuer: issuer.clone(),
            client_id: client_id.to_string(),
            keys,
        }
    }

    /// Verifies `token` (signature with the issuer's key named by `kid`, `alg` allow-list, `iss`,
    /// `aud` containing our client id, `exp`, `iat`, and what `expect` adds); returns its claims.
    pub async fn verify(&self, token: &str, expect: Expect<'_>) -> Result<Map<String, Value>, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("token too long".into());
        }
        check_raw_header(token, expect)?;
        let header = decode_header(token).map_err(|_| "token header cannot be decoded".to_string())?;
        let alg = algorithm_named(&format!("{:?}", header.alg))
            .filter(|alg| self.issuer.algorithms.contains(alg))
            .ok_or("alg not allowed for the login issuer")?;
        let kid = header.kid.as_deref().ok_or("token has no kid")?;
        let set = match self.keys.keys().filter(|set| set.get(kid).is_some()) {
            Some(set) => set,
            None => self
                .keys
                .refetch_for_unknown_kid(kid)
                .await
                .ok_or("no keys for the login issuer")?,
        };
        let key = set.get(kid).ok_or("unknown kid")?;
        if !key.algorithms.contains(&alg) {
            return Err("alg does not match the key".into());
        }
        let mut validation = Validation::new(jsonwebtoken_algorithm(alg));
        validation.set_issuer(&[&self.issuer.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.leeway = self.issuer.leeway.as_secs();
        match expect {
            Expect::Logout => validation.set_required_spec_claims(&["exp", "iss", "aud"]),
            _ => validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]),
        }
        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| format!("token refused: {:?}", e.kind()))?
            .claims;
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

/// The header checks jsonwebtoken does not do: no `crit`, and `typ` by kind (a logout token is
/// never accepted as an ID token).
fn check_raw_header(token: &str, expect: Expect<'_>) -> Result<(), String> {
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| "token header is not base64url")?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| "token header is not JSON")?;
    if header.contains_key("crit") {
        return Err("token has a crit header".into());
    }
    let typ = header.get("typ").and_then(Value::as_str).map(str::to_ascii_lowercase);
    match (expect, typ.as_deref()) {
        (_, None | Some("jwt")) => Ok(()),
        (Expect::Logout, Some("logout+jwt" | "application/logout+jwt")) => Ok(()),
        _ => Err("token typ not accepted here".into()),
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

/// Compares two byte strings in time that depends on their lengths only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
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

    fn id_token(extra: Value) -> String {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa1.pem")).expect("key");
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("rsa key");
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
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("rsa1".into());
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }

    #[tokio::test]
    async fn id_token_nonce_must_match_the_one_sent() {
        crate::authn::jwt::install_crypto_provider();
        let checker = fixture_checker();
        checker.keys.load().await.expect("fixture keys load");
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
        crate::authn::jwt::install_crypto_provider();
        let checker = fixture_checker();
        checker.keys.load().await.expect("fixture keys load");
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
        crate::authn::jwt::install_crypto_provider();
        let checker = fixture_checker();
        checker.keys.load().await.expect("fixture keys load");
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

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    fn token_with_header(header: Value) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.e30.sig", engine.encode(header.to_string()))
    }

    #[test]
    fn logout_typ_is_accepted_for_logout_tokens_only_and_crit_never() {
        let logout = token_with_header(json!({ "alg": "RS256", "typ": "logout+jwt" }));
        assert!(check_raw_header(&logout, Expect::Logout).is_ok());
        assert!(check_raw_header(&logout, Expect::IdToken { nonce: "n" }).is_err());
        assert!(check_raw_header(&logout, Expect::RefreshedIdToken).is_err());
        let plain = token_with_header(json!({ "alg": "RS256", "typ": "JWT" }));
        assert!(check_raw_header(&plain, Expect::IdToken { nonce: "n" }).is_ok());
        let crit = token_with_header(json!({ "alg": "RS256", "crit": ["exp"] }));
        assert!(check_raw_header(&crit, Expect::Logout).is_err());
    }
}
