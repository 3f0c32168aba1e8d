//! How claims become the identity's groups and scopes.

use serde_json::json;

use super::*;

async fn identity_of(claims: Value, groups_claim: &str) -> Arc<crate::authn::Identity> {
    let groups_claim = groups_claim.to_string();
    let setup = file_setup(jwks(&["rsa1"]), move |c| c.groups_claim = groups_claim).await;
    setup
        .verifier
        .verify(&mint("RS256", "rsa1", &claims))
        .await
        .expect("accepted")
}

#[tokio::test]
async fn groups_may_be_a_json_array() {
    let identity = identity_of(claims_with(json!({ "groups": ["a", "b", 3] })), "groups").await;
    assert_eq!(identity.groups, ["a", "b"]);
}

#[tokio::test]
async fn groups_may_be_a_space_separated_string() {
    let identity = identity_of(claims_with(json!({ "groups": "a b  c" })), "groups").await;
    assert_eq!(identity.groups, ["a", "b", "c"]);
}

#[tokio::test]
async fn groups_may_be_a_comma_separated_string() {
    let identity = identity_of(claims_with(json!({ "groups": "a,b, c" })), "groups").await;
    assert_eq!(identity.groups, ["a", "b", "c"]);
}

#[tokio::test]
async fn groups_may_be_a_nested_claim() {
    let claims = claims_with(json!({ "realm_access": { "roles": ["admin", "user"] } }));
    let identity = identity_of(claims, "realm_access.roles").await;
    assert_eq!(identity.groups, ["admin", "user"]);
}

#[tokio::test]
async fn missing_groups_are_empty() {
    let identity = identity_of(claims_with(json!({ "groups": null })), "groups").await;
    assert!(identity.groups.is_empty());
}

#[tokio::test]
async fn scp_array_gives_the_scopes() {
    let identity = identity_of(
        claims_with(json!({ "scope": null, "scp": ["read", "admin"] })),
        "groups",
    )
    .await;
    assert_eq!(identity.scopes, ["read", "admin"]);
}

#[tokio::test]
async fn scp_string_gives_the_scopes() {
    let identity = identity_of(claims_with(json!({ "scope": null, "scp": "read admin" })), "groups").await;
    assert_eq!(identity.scopes, ["read", "admin"]);
}

#[tokio::test]
async fn email_and_preferred_username_are_optional() {
    let claims = claims_with(json!({ "email": null, "preferred_username": 5 }));
    let identity = identity_of(claims, "groups").await;
    assert_eq!(identity.email, None);
    assert_eq!(identity.preferred_username, None);
}
