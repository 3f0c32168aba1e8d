//! The integration tests: one binary (links once), one module per behaviour area. Each test
//! starts the real `portcullis` binary on a free port, and where it needs them, a JWKS server
//! and real peers (nginx, Caddy, Traefik, Envoy, oidc-provider) on 127.0.0.1.

mod common;

mod authorizers;
mod callback_errors;
mod check_cases;
mod cli;
mod config_errors;
mod config_reference;
mod connections;
mod decisions;
mod e2e;
mod explain_cases;
mod expressions;
mod grpc;
mod header_families;
mod identity_token;
mod introspection;
mod jwks;
mod jwt_attacks;
mod login;
mod logout_replay;
mod outages;
mod pages;
mod path_spellings;
mod peers;
mod readme_snippets;
mod redis_cluster;
mod redis_outages;
mod redis_sentinel;
mod redis_tls;
mod refresh_races;
mod reload;
mod session_check_cli;
mod session_check_failures;
mod session_checks;
mod sessions;
mod systems;
mod troubleshooting;
