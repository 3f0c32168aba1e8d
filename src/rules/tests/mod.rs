//! Tests of rule loading, matching, shadowing, templates and hot reload.

mod expressions;
mod identity_token;
mod loading;
mod matching;
mod reload;
mod shadowing;
mod templates;

use std::path::Path;

use axum::http::Method;

use super::{RuleError, RuleSet};
use crate::origin::OriginalRequest;

/// A request as the origin module would hand it over.
fn request(method: &str, host: &str, path: &str) -> OriginalRequest {
    OriginalRequest {
        method: Method::from_bytes(method.as_bytes()).expect("test method"),
        scheme: "https",
        host: host.into(),
        authority: host.into(),
        path: path.into(),
        uri: path.into(),
    }
}

/// Compiles `yaml` or fails the test with every error.
fn rules(yaml: &str) -> RuleSet {
    RuleSet::from_yaml(yaml, Path::new("rules.yaml")).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

/// The errors of `yaml`, or fails the test when it loads.
fn errors(yaml: &str) -> Vec<RuleError> {
    match RuleSet::from_yaml(yaml, Path::new("rules.yaml")) {
        Ok(set) => panic!("expected errors, loaded {} rules", set.len()),
        Err(errors) => errors,
    }
}

/// The id of the first matching rule.
fn matched(set: &RuleSet, method: &str, host: &str, path: &str) -> Option<String> {
    set.first_match(&request(method, host, path))
        .map(|rule| rule.id.clone())
}
