//! The `/oauth2/*` endpoints. Every refusal is a [`LoginError`] (one answer shape, see
//! [`super::error`]); reasons go to the log (never a token, cookie or secret).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError,
    Scope,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{LoginError, Problem};
use super::provider::Http;
use super::tokens::Expect;
use super::{LOGIN_STATE_TTL, Login, redirect};
use crate::authn::Identity;
use crate::authn::constant_time_eq;
use crate::session::{Session, new_session_id, unix_now};

type Params = Query<HashMap<String, String>>;

/// What `/oauth2/start` hands to `/oauth2/callback` in the sealed login cookie.
#[derive(Serialize, Deserialize)]
struct LoginState {
    state: String,
    nonce: String,
    verifier: String,
    rd: String,
}

impl Login {
    /// The request's `rd=` target, checked against `allowed_redirect_domains`.
    fn checked_rd(&self, params: &HashMap<String, String>) -> Result<String, redirect::BadRedirect> {
        redirect::validate(
            params.get("rd").map(String::as_str),
            &self.config.allowed_redirect_domains,
        )
    }

    /// One state cookie per login in flight (named after the start of its state), so logins
    /// started in several tabs at once do not overwrite each other's state.
    fn state_cookie_name(&self, state: &str) -> String {
        let tag: String = state.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
        format!("{}_csrf_{tag}", self.sessions.cookie_name())
    }
}

/// How long sign-out waits for the provider's metadata before it signs out locally only.
const SIGN_OUT_DISCOVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `/oauth2/start?rd=`: validates `rd`, then 302 to the provider with state, nonce and PKCE S256.
pub async fn start(State(login): State<Arc<Login>>, Query(params): Params) -> Result<Response, LoginError> {
    let rd = login.checked_rd(&params)?;
    let provider = login
        .discovery
        .provider()
        .await
        .map_err(|_| Problem::ProviderUnreachable)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = provider.client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in login.config.scopes.iter().filter(|scope| *scope != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let sealed = LoginState {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        rd,
    };
    let cookie = serde_json::to_string(&sealed).ok().and_then(|json| {
        login
            .sessions
            .seal(&login.state_cookie_name(state.secret()), &json, LOGIN_STATE_TTL)
    });
    let cookie = cookie.ok_or(Problem::CannotStart)?;
    redirect_to(url.as_str(), vec![cookie])
}

/// `/oauth2/callback`: state against the sealed cookie, code exchange with the PKCE verifier, ID
/// token verified (nonce included), session saved, 302 to `rd`.
///
/// The state is checked before anything else: the provider's error page (`error=`) is shown only
/// for a callback of a login this browser started, so nobody can make us display their text
/// with a crafted link; any other callback gets a plain 400.
pub async fn callback(
    State(login): State<Arc<Login>>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, LoginError> {
    let state = params.get("state").map_or("", String::as_str);
    let state_cookie = login.state_cookie_name(state);
    let saved = login
        .sessions
        .open(&state_cookie, &headers)
        .and_then(|json| serde_json::from_str::<LoginState>(&json).ok())
        .ok_or(Problem::StateMissing)?;
    if !constant_time_eq(state.as_bytes(), saved.state.as_bytes()) {
        tracing::info!("callback state does not match the login cookie");
        return Err(Problem::StateMismatch.into());
    }
    let clear_state = login.sessions.expire_sealed(&state_cookie);
    // One atomic check-and-mark, so two concurrent callbacks with the same state cannot both pass.
    if !login
        .used_states
        .entry(saved.state.clone())
        .or_insert(())
        .await
        .is_fresh()
    {
        tracing::info!("replayed callback refused");
        return Err(Problem::AlreadyCompleted.into());
    }
    let ended = |problem: Problem| LoginError::from(problem).clearing_state(clear_state.clone());
    if let Some(error) = params.get("error") {
        tracing::info!(error = %error, "the provider refused the login");
        return Err(ended(Problem::ProviderRefused {
            error: error.clone(),
            description: params.get("error_description").cloned().unwrap_or_default(),
        }));
    }
    let code = params.get("code").ok_or_else(|| ended(Problem::NoCode))?;
    let mut cookies = complete(&login, code, &saved, &headers).await.map_err(ended)?;
    cookies.extend(clear_state);
    redirect_to(&saved.rd, cookies)
}

/// The code exchange and the session it opens; the `Set-Cookie` values on success.
async fn complete(
    login: &Login,
    code: &str,
    saved: &LoginState,
    headers: &HeaderMap,
) -> Result<Vec<HeaderValue>, Problem> {
    let unreachable = Problem::ProviderUnreachable;
    let provider = login.discovery.provider().await.map_err(|_| unreachable.clone())?;
    let exchange = provider
        .client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|_| unreachable.clone())?
        .set_pkce_verifier(PkceCodeVerifier::new(saved.verifier.clone()))
        .request_async(&Http(login.http.clone()))
        .await;
    let response = exchange.map_err(|error| {
        tracing::info!(%error, "code exchange failed");
        match error {
            RequestTokenError::ServerResponse(_) => Problem::ExchangeRefused,
            _ => unreachable,
        }
    })?;
    let id_token = response
        .extra_fields()
        .id_token()
        .ok_or(Problem::NoIdToken)?
        .to_string();
    let mut claims = login
        .tokens
        .verify(&id_token, Expect::IdToken { nonce: &saved.nonce })
        .await
        .map_err(|reason| {
            tracing::warn!(key = "login.issuer", issuer = %login.issuer.name, %reason, "ID token refused");
            Problem::IdTokenRefused
        })?;
    let access_token = response.access_token().secret().clone();
    if !login.claims.has_groups(&claims) {
        merge_userinfo(login, &provider, &access_token, &mut claims).await;
    }
    let now = unix_now();
    let session = Session {
        id: new_session_id(),
        issuer: login.issuer.name.clone(),
        claims,
        id_token,
        access_token: Some(access_token),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
        created_at: now,
        refreshed_at: now,
        expires_at: now.saturating_add(login.sessions.ttl().as_secs()),
    };
    // A session must name its user as a token of this issuer would: refuse it now rather than
    // at every request.
    let identity = session.identity(&login.claims).map_err(|reason| {
        tracing::warn!(key = "issuers[].user_claim", issuer = %login.issuer.name, %reason, "the provider's claims name no user");
        Problem::NoUser
    })?;
    tracing::info!(user = %identity.user, "signed in");
    login.sessions.save(&session, headers).await.map_err(|error| {
        tracing::warn!(key = "session.store", %error, "session cannot be saved");
        Problem::SessionNotSaved
    })
}

/// Adds the userinfo claims the ID token lacks (same `sub` only); failures are logged.
async fn merge_userinfo(
    login: &Login,
    provider: &super::provider::Provider,
    access_token: &str,
    claims: &mut Map<String, Value>,
) {
    let Some(endpoint) = &provider.userinfo_endpoint else {
        return;
    };
    let answer = login.http.get(endpoint.clone()).bearer_auth(access_token).send().await;
    let info = match answer.and_then(reqwest::Response::error_for_status) {
        Ok(response) => response.json::<Map<String, Value>>().await.ok(),
        Err(error) => {
            tracing::warn!(key = "login.issuer", issuer = %login.issuer.name, %error, "userinfo request failed");
            None
        }
    };
    let Some(info) = info else { return };
    if info.get("sub") != claims.get("sub") {
        tracing::warn!(key = "login.issuer", issuer = %login.issuer.name, "userinfo is for another subject; ignored");
        return;
    }
    for (name, value) in info {
        claims.entry(name).or_insert(value);
    }
}

/// `/oauth2/sign_out?rd=`: clears the session (and its Redis entry), then 302 to the provider's
/// `end_session_endpoint` (with `id_token_hint` and `post_logout_redirect_uri`) or to `rd`.
pub async fn sign_out(
    State(login): State<Arc<Login>>,
    Query(params): Params,
    headers: HeaderMap,
) -> Result<Response, LoginError> {
    let rd = login.checked_rd(&params)?;
    let (ended, cookies) = login.sessions.clear(&headers).await;
    let id_token = ended.map(|session| session.id_token);
    // Bounded: with the provider unreachable, sign-out still clears the cookies promptly (it
    // then goes to `rd` instead of the provider's end_session_endpoint).
    let end_session = match tokio::time::timeout(SIGN_OUT_DISCOVERY_WAIT, login.discovery.provider()).await {
        Ok(Ok(provider)) => provider.end_session_endpoint.clone(),
        _ => None,
    };
    let target = match (end_session, login.config.redirect_url.join(&rd)) {
        (Some(mut end), Ok(back)) => {
            {
                let mut query = end.query_pairs_mut();
                if let Some(hint) = &id_token {
                    query.append_pair("id_token_hint", hint);
                }
                query.append_pair("client_id", &login.config.client_id);
                query.append_pair("post_logout_redirect_uri", back.as_str());
            }
            end.to_string()
        }
        _ => rd,
    };
    redirect_to(&target, cookies)
}

/// `POST /oauth2/backchannel_logout`: OIDC Back-Channel Logout 1.0. Verifies `logout_token`,
/// refuses a token whose `jti` was used before (until it expires), and revokes the sessions of
/// its `sid` or `sub`.
pub async fn backchannel_logout(State(login): State<Arc<Login>>, body: Bytes) -> Result<Response, LoginError> {
    let token = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned())
        .ok_or(Problem::InvalidLogoutRequest)?;
    let claims = login.tokens.verify(&token, Expect::Logout).await.map_err(|reason| {
        tracing::info!(%reason, "logout token refused");
        Problem::InvalidLogoutRequest
    })?;
    let text_claim = |name: &str| claims.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
    let (sid, sub) = (text_claim("sid"), text_claim("sub"));
    let jti = text_claim("jti").unwrap_or_default();
    let issuer = &login.issuer.name;
    match login
        .sessions
        .first_use_of_logout_token(issuer, jti, replay_window(&claims, login.issuer.leeway))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("replayed logout token refused");
            return Err(Problem::InvalidLogoutRequest.into());
        }
        Err(reason) => {
            tracing::warn!(key = "session.store", %reason, "back-channel logout cannot check the token for replay");
            return Err(Problem::LogoutUnavailable.into());
        }
    }
    if let Err(reason) = login.sessions.revoke(issuer, sid, sub).await {
        tracing::warn!(key = "session.store", %reason, "back-channel logout could not revoke the sessions");
        // The provider may deliver it again: that delivery must not count as a replay.
        login.sessions.forget_logout_token(issuer, jti).await;
        return Err(Problem::LogoutUnavailable.into());
    }
    tracing::info!(
        by_sid = sid.is_some(),
        by_sub = sub.is_some(),
        "back-channel logout revoked sessions"
    );
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}

/// How long a used logout token must be remembered: as long as it could still be accepted, until
/// its `exp` (required, already checked) plus the issuer's leeway; at least one second.
fn replay_window(claims: &Map<String, Value>, leeway: std::time::Duration) -> std::time::Duration {
    let exp = claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0);
    let until = if exp.is_finite() && exp > 0.0 { exp as u64 } else { 0 };
    let remaining = until.saturating_add(leeway.as_secs()).saturating_sub(unix_now());
    std::time::Duration::from_secs(remaining.max(1))
}

/// The `/oauth2/userinfo` answer for `identity`, with any refreshed session cookies.
pub fn identity_json(identity: &Identity, cookies: Vec<HeaderValue>) -> Response {
    let body = json!({
        "user": identity.user,
        "email": identity.email,
        "groups": identity.groups,
        "preferred_username": identity.preferred_username,
    });
    with_cookies(axum::Json(body).into_response(), cookies)
}

/// A 302 to `location` with `cookies`, never stored by caches.
fn redirect_to(location: &str, cookies: Vec<HeaderValue>) -> Result<Response, LoginError> {
    let location = HeaderValue::from_str(location).map_err(|_| Problem::BadLocation)?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    no_store(&mut response);
    Ok(with_cookies(response, cookies))
}

fn with_cookies(mut response: Response, cookies: Vec<HeaderValue>) -> Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
