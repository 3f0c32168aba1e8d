//! The systems Portcullis is built to serve, end to end, one named test each: the flow as the
//! system runs it, through a real proxy, with Portcullis in the place of the system's own
//! authentication component (running the files of `examples/<system>/` where there are some).

mod flyte;
mod kyma;
mod mia_platform;
mod oauth2_proxy_keycloak;
mod zero;
