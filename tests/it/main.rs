//! The integration tests: one binary (links once), one module per behaviour area. Each test
//! starts the real `portcullis` binary on a free port, and where it needs them, a JWKS server
//! and real peers (nginx, Caddy, Traefik, Envoy, oidc-provider) on 127.0.0.1.

mod common;

mod callback_errors;
mod cli;
mod config_errors;
mod connections;
mod decisions;
mod e2e;
mod grpc;
mod header_families;
mod jwks;
mod jwt_attacks;
mod login;
mod logout_replay;
mod outages;
mod path_spellings;
mod peers;
mod readme_snippets;
mod refresh_races;
mod reload;
mod sessions;
mod systems;
