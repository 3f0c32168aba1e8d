//! The `CheckRequest` Envoy sends for a request, with only what a decision reads set. Shared by
//! the integration tests (`tests/it/grpc.rs`) and the gRPC load driver
//! (`benches/ext_authz_load.rs`, which includes this file by path).

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};

/// `method https://host path` with `headers` (lower-case names), as Envoy's ext_authz filter
/// describes it.
pub fn check_request<'a>(
    method: &str,
    host: &str,
    path: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> CheckRequest {
    let http = HttpRequest {
        method: method.into(),
        scheme: "https".into(),
        host: host.into(),
        path: path.into(),
        headers: headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        ..HttpRequest::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(http),
            }),
            ..AttributeContext::default()
        }),
    }
}
