//! The provider's error answer on `/oauth2/callback` (`error=`): shown to the browser only when
//! the callback carries the state of a login this browser started; otherwise a plain 400 that
//! repeats nothing of what the link said.

use crate::common::browser::Jar;
use crate::common::login_kit::{config, cookie_session};
use crate::common::provider::{self, Provider};
use crate::common::rules::PRIVATE as RULES;
use crate::common::{Portcullis, Setup, client, header};

const DESCRIPTION: &str = "<script>alert(1)</script> Call +1-555-0100 to unlock your account";

fn error_callback(p: &Portcullis, state: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("error", "access_denied");
    query.append_pair("error_description", DESCRIPTION);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    p.url(&format!("/oauth2/callback?{}", query.finish()))
}

async fn get(url: &str, jar: &Jar) -> reqwest::Response {
    client()
        .get(url)
        .header("cookie", jar.header())
        .send()
        .await
        .expect("callback")
}

#[tokio::test]
async fn the_provider_error_page_is_shown_for_the_state_of_this_login() {
    let provider = Provider::start().await;
    let p = Portcullis::start(Setup::new(&config(&provider.issuer, &cookie_session()), RULES)).await;
    let started = provider::start_login(&p).await;
    let response = get(&error_callback(&p, Some(&started.state)), &started.jar).await;
    assert_eq!(response.status(), 403);
    let mut jar = started.jar.clone();
    jar.update(&response);
    assert!(jar.0.is_empty(), "the login state cookie is cleared: {:?}", jar.0);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("access_denied") && page.contains("to unlock your account"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "escaped: {page}");
    let again = get(&error_callback(&p, Some(&started.state)), &started.jar).await;
    assert_eq!(again.status(), 400, "the state is used up");
}

#[tokio::test]
async fn a_forged_or_missing_state_gets_a_plain_400_without_the_provider_text() {
    let provider = Provider::start().await;
    let p = Portcullis::start(Setup::new(&config(&provider.issuer, &cookie_session()), RULES)).await;
    let started = provider::start_login(&p).await;
    let forged = format!("{}x", started.state);
    for (url, jar) in [
        (error_callback(&p, Some(&forged)), started.jar.clone()),
        (error_callback(&p, None), started.jar.clone()),
        (error_callback(&p, Some(&started.state)), Jar::default()),
        (error_callback(&p, None), Jar::default()),
    ] {
        let response = get(&url, &jar).await;
        assert_eq!(response.status(), 400, "{url}");
        let content_type = header(&response, "content-type").unwrap_or_default().to_string();
        let body = response.text().await.expect("body");
        assert!(
            !body.contains("access_denied") && !body.contains("unlock") && !body.contains("script"),
            "{url}: {body}"
        );
        assert!(!content_type.contains("html"), "{content_type}");
    }
    let completes = get(&error_callback(&p, Some(&started.state)), &started.jar).await;
    assert_eq!(
        completes.status(),
        403,
        "the forged tries did not use up the real state"
    );
}
