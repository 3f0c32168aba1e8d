//! The OIDC browser login (placeholder while the session module is built).
