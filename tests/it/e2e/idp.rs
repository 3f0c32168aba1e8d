//! The OpenID provider of the end-to-end tests: oidc-provider 9 running `tests/e2e/idp.mjs`.

use std::process::Command;

use crate::common::free_port;
use crate::peers::{PeerProcess, program};

/// The client Portcullis signs in as (registered in `idp.mjs`).
pub const CLIENT_ID: &str = "portcullis";
/// Its secret.
pub const CLIENT_SECRET: &str = "portcullis-secret";
/// The groups every account of `idp.mjs` has.
pub const GROUPS: [&str; 2] = ["admins", "dev"];

/// Where the ID token's identity claims come from.
#[derive(Clone, Copy, Debug)]
pub enum Claims {
    /// oidc-provider's default for the code flow: the ID token has only the protocol claims, so
    /// email, preferred_username and groups come from the userinfo endpoint.
    FromUserinfo,
    /// `--claims-in-id-token`: the ID token carries them itself.
    InIdToken,
}

/// A running provider.
pub struct Idp {
    /// Its process (stopped on drop; its output is printed when the test fails).
    pub _process: PeerProcess,
    /// `http://127.0.0.1:PORT`: the issuer exactly as its discovery document spells it.
    pub issuer: String,
}

impl Idp {
    /// Starts it with `redirect_uri` and `post_logout_redirect_uri` registered for the client,
    /// and waits until its discovery document names the issuer it was given.
    pub async fn start(redirect_uri: &str, post_logout_redirect_uri: &str, claims: Claims) -> Idp {
        let folder = super::node_folder();
        let port = free_port();
        let mut command = Command::new(program("node"));
        command
            .current_dir(&folder)
            .arg("idp.mjs")
            .args(["--port", &port.to_string()])
            .args(["--redirect-uri", redirect_uri])
            .args(["--post-logout-redirect-uri", post_logout_redirect_uri]);
        if let Claims::InIdToken = claims {
            command.arg("--claims-in-id-token");
        }
        let (process, issuer, discovery) = crate::peers::start_provider(command, port).await;
        assert_eq!(
            discovery["end_session_endpoint"],
            format!("{issuer}/session/end").as_str(),
            "RP-initiated logout is off at the provider"
        );
        Idp {
            _process: process,
            issuer,
        }
    }
}
