//! A rule's `identity_token:` against the config's `[identity_token]`.

use std::path::Path;

use super::errors;
use crate::rules::{IdentityTokenRule, Known, RuleSet};

fn with_section(yaml: &str) -> Result<RuleSet, Vec<crate::rules::RuleError>> {
    let known = Known {
        identity_token: true,
        ..Known::default()
    };
    RuleSet::from_yaml_with(yaml, Path::new("rules.yaml"), &known)
}

#[test]
fn identity_token_with_or_without_an_audience_loads_when_the_config_has_the_section() {
    let set = with_section(
        "- id: orders\n  policy: authenticated\n  identity_token: {audience: orders-api}\n\
         - id: open\n  paths: [\"/open\"]\n  policy: allow\n  identity_token:\n",
    )
    .unwrap_or_else(|errors| panic!("{errors:#?}"));
    let tokens: Vec<_> = set.rules().map(|rule| rule.identity_token.clone()).collect();
    assert_eq!(
        tokens,
        [
            Some(IdentityTokenRule {
                audience: Some("orders-api".into())
            }),
            Some(IdentityTokenRule::default()),
        ]
    );
}

#[test]
fn identity_token_without_the_config_section_is_a_load_error_with_file_line_and_rule() {
    let errors = errors(
        "- id: first\n  policy: allow\n- id: orders\n  policy: authenticated\n  identity_token: {audience: orders-api}\n",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].rule.as_deref(), Some("orders"));
    assert_eq!(errors[0].line, Some(3));
    assert_eq!(errors[0].file, Path::new("rules.yaml"));
    assert!(
        errors[0].reason.contains("needs an [identity_token] section"),
        "{}",
        errors[0]
    );
}

#[test]
fn identity_token_on_a_deny_rule_or_with_a_bad_audience_is_a_load_error() {
    let cases = [
        (
            "policy: deny\n  identity_token: {}",
            "only applies to `policy: authenticated` or `allow`",
        ),
        ("policy: allow\n  identity_token: {audience: \"\"}", "audience is empty"),
        ("policy: allow\n  identity_token: {aud: x}", "unknown field `aud`"),
        ("policy: allow\n  identity_token: yes", "identity_token:"),
    ];
    for (fields, reason) in cases {
        let errors = with_section(&format!("- id: r\n  {fields}\n")).expect_err(fields);
        assert!(
            errors.iter().any(|e| e.reason.contains(reason)),
            "{fields}: {errors:#?}"
        );
    }
}
