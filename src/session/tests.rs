//! Unit tests of the session service in cookie mode.

use super::*;
use crate::config::{Secret, SessionKeys};
use axum::http::header;

fn config(secrets: &[&str]) -> SessionConfig {
    SessionConfig {
        keys: SessionKeys::decode(&secrets.iter().map(|s| Secret(s.to_string())).collect::<Vec<_>>()).expect("secrets"),
        ..SessionConfig::default()
    }
}

const ONE: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const TWO: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn sessions(secrets: &[&str]) -> Sessions {
    Sessions::new(&config(secrets), Metrics::new()).expect("sessions")
}

pub(crate) fn session(groups: usize) -> Session {
    let now = unix_now();
    let groups: Vec<String> = (0..groups).map(|i| format!("group-number-{i:05}")).collect();
    let claims = serde_json::json!({
        "sub": "alice", "sid": "sid-1", "email": "alice@example.com", "preferred_username": "alice",
        "groups": groups,
    });
    Session {
        id: new_session_id(),
        issuer: "main".into(),
        claims: claims.as_object().cloned().expect("object"),
        id_token: "header.payload.signature".into(),
        access_token: Some("access".into()),
        refresh_token: Some("refresh".into()),
        created_at: now,
        refreshed_at: now,
        expires_at: now + 3600,
    }
}

/// The request headers a browser would send back after `set_cookies`.
fn browser(set_cookies: &[HeaderValue]) -> HeaderMap {
    let pairs: Vec<String> = set_cookies
        .iter()
        .filter_map(|v| Cookie::parse(v.to_str().ok()?.to_string()).ok())
        .filter(|c| !c.value().is_empty())
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let mut headers = HeaderMap::new();
    if !pairs.is_empty() {
        headers.insert(header::COOKIE, pairs.join("; ").parse().expect("cookie header"));
    }
    headers
}

fn found(lookup: Lookup) -> Session {
    match lookup {
        Lookup::Found(session) => *session,
        other => panic!("no session: {other:?}"),
    }
}

#[tokio::test]
async fn saved_session_loads_back_with_its_identity() {
    let sessions = sessions(&[ONE]);
    let original = session(2);
    let set = sessions.save(&original, &HeaderMap::new()).await.expect("saved");
    assert_eq!(set.len(), 1);
    let text = set[0].to_str().expect("ascii");
    for attribute in [
        "_portcullis=",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(text.contains(attribute), "{text}");
    }
    let loaded = found(sessions.load(&browser(&set)).await);
    assert_eq!(loaded, original);
    let identity = loaded
        .identity(&crate::authn::claims::ClaimMapper::new(&issuer()))
        .expect("identity");
    assert_eq!(identity.user, "alice");
    assert_eq!(identity.email.as_deref(), Some("alice@example.com"));
    assert_eq!(identity.groups, vec!["group-number-00000", "group-number-00001"]);
    assert_eq!(identity.preferred_username.as_deref(), Some("alice"));
    assert_eq!(identity.claims.get("sid"), Some(serde_json::json!("sid-1")));
}

fn issuer() -> crate::config::IssuerConfig {
    serde_json::from_value(serde_json::json!({ "name": "main", "issuer": "https://idp.test/" })).expect("issuer")
}

#[tokio::test]
async fn claims_are_stored_once_as_a_json_object() {
    let sessions = sessions(&[ONE]);
    let set = sessions.save(&session(1), &HeaderMap::new()).await.expect("saved");
    let cookie = Cookie::parse(set[0].to_str().expect("ascii").to_string()).expect("cookie");
    let json = sessions.keys.open("_portcullis", cookie.value()).expect("opens");
    let envelope: Value = serde_json::from_str(&json).expect("json");
    let stored = envelope["session"].as_object().expect("session object");
    for duplicate in ["user", "email", "groups", "preferred_username", "sub", "sid"] {
        assert!(
            !stored.contains_key(duplicate),
            "{duplicate} kept beside the claims: {json}"
        );
    }
    assert_eq!(stored["claims"]["groups"], serde_json::json!(["group-number-00000"]));
    assert_eq!(json.matches("group-number-00000").count(), 1, "{json}");
}

#[tokio::test]
async fn a_session_of_the_old_format_is_refused_not_an_error() {
    let sessions = sessions(&[ONE]);
    let old = serde_json::json!({ "exp": unix_now() + 3600, "session": {
        "id": "x", "issuer": "main", "user": "alice", "email": null, "groups": [], "preferred_username": null,
        "claims": "{\"sub\":\"alice\"}", "sub": "alice", "sid": null, "id_token": "a.b.c", "access_token": null,
        "refresh_token": null, "created_at": 1, "refreshed_at": 1, "expires_at": unix_now() + 3600 } });
    let sealed = sessions.keys.seal("_portcullis", &old.to_string()).expect("sealed");
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, format!("_portcullis={sealed}").parse().expect("value"));
    assert!(matches!(sessions.load(&headers).await, Lookup::Refused(_)));
}

#[tokio::test]
async fn no_cookie_is_absent_and_bad_cookies_are_refused() {
    let sessions = sessions(&[ONE]);
    assert!(matches!(sessions.load(&HeaderMap::new()).await, Lookup::Absent));
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, "_portcullis=garbage%%".parse().expect("value"));
    assert!(matches!(sessions.load(&headers).await, Lookup::Refused(_)));
    let set = sessions.save(&session(0), &HeaderMap::new()).await.expect("saved");
    let good = browser(&set);
    let text = good[header::COOKIE].to_str().expect("ascii").to_string();
    let truncated = &text[..text.len() - 10];
    headers.insert(header::COOKIE, truncated.parse().expect("value"));
    assert!(matches!(sessions.load(&headers).await, Lookup::Refused(_)));
}

#[tokio::test]
async fn expired_session_is_refused() {
    let sessions = sessions(&[ONE]);
    let mut old = session(0);
    old.expires_at = unix_now() - 1;
    let set = sessions.save(&old, &HeaderMap::new()).await.expect("saved");
    assert!(matches!(sessions.load(&browser(&set)).await, Lookup::Refused(_)));
}

#[tokio::test]
async fn rotated_secret_still_opens_and_removed_secret_does_not() {
    let set = sessions(&[ONE])
        .save(&session(0), &HeaderMap::new())
        .await
        .expect("saved");
    found(sessions(&[TWO, ONE]).load(&browser(&set)).await);
    assert!(matches!(
        sessions(&[TWO]).load(&browser(&set)).await,
        Lookup::Refused(_)
    ));
}

#[tokio::test]
async fn large_session_is_chunked_and_stale_chunks_are_cleared() {
    let sessions = sessions(&[ONE]);
    let big = session(400);
    let set = sessions.save(&big, &HeaderMap::new()).await.expect("saved");
    assert!(set.len() >= 3, "{}", set.len());
    assert!(set.iter().all(|v| v.len() < 4096));
    let request = browser(&set);
    assert_eq!(found(sessions.load(&request).await), big);
    let small = sessions.save(&session(0), &request).await.expect("saved");
    let removals = small
        .iter()
        .filter(|v| v.to_str().expect("ascii").contains("Max-Age=0"))
        .count();
    assert_eq!(removals, set.len(), "every chunk is cleared");
    let after = browser(&small);
    found(sessions.load(&after).await);
}

#[tokio::test]
async fn revocation_refuses_sessions_created_before_it() {
    let sessions = sessions(&[ONE]);
    let mut before = session(0);
    before.created_at -= 10;
    let set = sessions.save(&before, &HeaderMap::new()).await.expect("saved");
    sessions.revoke("main", Some("sid-1"), None).await.expect("revoked");
    assert!(matches!(
        sessions.load(&browser(&set)).await,
        Lookup::Refused("session revoked")
    ));
    let mut later = session(0);
    later.claims.insert("sid".into(), "other".into());
    later.created_at += 10;
    let set = sessions.save(&later, &HeaderMap::new()).await.expect("saved");
    found(sessions.load(&browser(&set)).await);
    sessions.revoke("main", None, Some("alice")).await.expect("revoked");
    found(sessions.load(&browser(&set)).await);
}

#[tokio::test]
async fn sealed_state_opens_until_it_expires() {
    let sessions = sessions(&[ONE]);
    let set = sessions
        .seal("_state", "payload", Duration::from_secs(600))
        .expect("sealed");
    assert!(set.to_str().expect("ascii").contains("Max-Age=600"));
    let request = browser(&[set]);
    assert_eq!(sessions.open("_state", &request).as_deref(), Some("payload"));
    assert_eq!(sessions.open("_other", &request), None);
    let expired = sessions.seal("_state", "payload", Duration::ZERO).expect("sealed");
    let mut headers = HeaderMap::new();
    let value = Cookie::parse(expired.to_str().expect("ascii").to_string()).expect("cookie");
    headers.insert(
        header::COOKIE,
        format!("_state={}", value.value()).parse().expect("value"),
    );
    assert_eq!(sessions.open("_state", &headers), None);
}

#[tokio::test]
async fn clear_removes_every_session_cookie() {
    let sessions = sessions(&[ONE]);
    let set = sessions.save(&session(400), &HeaderMap::new()).await.expect("saved");
    let (_, cleared) = sessions.clear(&browser(&set)).await;
    assert_eq!(cleared.len(), set.len() + 1, "chunks and the base name");
    assert!(cleared.iter().all(|v| v.to_str().expect("ascii").contains("Max-Age=0")));
}

#[tokio::test]
async fn sealed_state_cookie_is_host_only_and_lax_whatever_the_session_says() {
    let mut strict = config(&[ONE]);
    strict.same_site = crate::config::SameSite::Strict;
    strict.domain = Some(".example.com".into());
    let sessions = Sessions::new(&strict, Metrics::new()).expect("sessions");
    let set = sessions
        .seal("_state", "payload", Duration::from_secs(600))
        .expect("sealed");
    let text = set.to_str().expect("ascii");
    assert!(text.contains("SameSite=Lax") && text.contains("HttpOnly"), "{text}");
    assert!(!text.contains("Domain"), "{text}");
    let cleared = sessions.expire_sealed("_state").expect("removal");
    assert!(!cleared.to_str().expect("ascii").contains("Domain"));
}

#[tokio::test]
async fn a_signed_out_cookie_is_refused_even_when_replayed() {
    let sessions = sessions(&[ONE]);
    let set = sessions.save(&session(0), &HeaderMap::new()).await.expect("saved");
    let copy = browser(&set);
    found(sessions.load(&copy).await);
    let (ended, removals) = sessions.clear(&copy).await;
    assert!(ended.is_some());
    assert!(!removals.is_empty());
    assert!(matches!(sessions.load(&copy).await, Lookup::Refused("session revoked")));
    let other = sessions.save(&session(0), &HeaderMap::new()).await.expect("saved");
    found(sessions.load(&browser(&other)).await);
}

#[tokio::test]
async fn a_refresh_of_a_signed_out_or_revoked_session_is_not_stored() {
    let sessions = sessions(&[ONE]);
    let live = session(0);
    let set = sessions.save(&live, &HeaderMap::new()).await.expect("saved");
    let mut refreshed = live.clone();
    refreshed.refreshed_at += 1;
    sessions
        .save_refreshed(&refreshed)
        .await
        .expect("a live session takes its refresh");
    sessions.clear(&browser(&set)).await;
    assert!(matches!(
        sessions.save_refreshed(&refreshed).await,
        Err(SaveError::Ended)
    ));
    let cookies = sessions.cookies(&refreshed, &HeaderMap::new()).expect("cookies");
    assert!(matches!(
        sessions.load(&browser(&cookies)).await,
        Lookup::Refused("session revoked")
    ));
    let other = session(0);
    sessions.revoke("main", Some("sid-1"), None).await.expect("revoked");
    assert!(matches!(sessions.save_refreshed(&other).await, Err(SaveError::Ended)));
}

#[tokio::test]
async fn a_logout_token_is_used_once_until_forgotten() {
    let sessions = sessions(&[ONE]);
    let ttl = Duration::from_secs(60);
    assert_eq!(sessions.first_use_of_logout_token("main", "j1", ttl).await, Ok(true));
    assert_eq!(sessions.first_use_of_logout_token("main", "j1", ttl).await, Ok(false));
    assert_eq!(sessions.first_use_of_logout_token("other", "j1", ttl).await, Ok(true));
    sessions.forget_logout_token("main", "j1").await;
    assert_eq!(sessions.first_use_of_logout_token("main", "j1", ttl).await, Ok(true));
}

#[test]
fn a_session_maps_its_claims_as_a_token_of_its_issuer_would() {
    // Scopes are read like a token's; a missing user claim is an error, not a fallback to `sub`.
    let mut session = session(0);
    session.claims.insert("scope".into(), serde_json::json!("read write"));
    let by_sub = crate::authn::claims::ClaimMapper::new(&issuer());
    assert_eq!(session.identity(&by_sub).expect("identity").scopes, ["read", "write"]);
    let mut by_missing: crate::config::IssuerConfig = issuer();
    by_missing.user_claim = "employee_id".into();
    let error = session
        .identity(&crate::authn::claims::ClaimMapper::new(&by_missing))
        .expect_err("no user");
    assert!(error.contains("employee_id"), "{error}");
}
