//! `require.expression` in rule files: compiled at load, errors with file, line and rule id.

use std::path::Path;

use super::{errors, rules};

const FILE: &str = r#"
- id: open
  paths: ["/open/**"]
  policy: allow

- id: broken
  paths: ["/a/**"]
  policy: authenticated
  require:
    groups_any: [dev]
    expression: "'admins' in groups ||"

- id: typo
  paths: ["/b/**"]
  policy: authenticated
  require:
    expression: "'admins' in group"
"#;

#[test]
fn a_syntax_error_is_a_load_error_with_file_line_and_rule() {
    let errors = errors(FILE);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    let broken = &errors[0];
    assert_eq!(
        (broken.file.as_path(), broken.line, broken.rule.as_deref()),
        (Path::new("rules.yaml"), Some(6), Some("broken"))
    );
    assert!(
        broken
            .reason
            .contains("expression `'admins' in groups ||` does not parse"),
        "{broken}"
    );
    assert!(
        broken.to_string().starts_with("rules.yaml:6: rule `broken`: "),
        "{broken}"
    );
}

#[test]
fn an_unknown_variable_is_a_load_error_naming_it() {
    let errors = errors(FILE);
    let typo = &errors[1];
    assert_eq!((typo.line, typo.rule.as_deref()), (Some(13), Some("typo")));
    assert!(typo.reason.contains("unknown variable(s) group "), "{typo}");
}

#[test]
fn a_valid_expression_loads_beside_the_static_requirements() {
    let set = rules(
        "- id: r\n  policy: authenticated\n  require:\n    groups_any: [dev]\n    expression: \"'admins' in groups || request.method == 'GET'\"\n",
    );
    let rule = set.first_match(&super::request("GET", "a.com", "/x")).expect("matches");
    let expression = rule.require.expression.as_ref().expect("expression kept");
    assert_eq!(expression.source(), "'admins' in groups || request.method == 'GET'");
    assert_eq!(rule.require.groups_any, ["dev"]);
}

#[test]
fn the_claims_rules_read_per_request_are_listed_once_each() {
    let set = rules(concat!(
        "- id: a\n  paths: ['/a']\n  policy: authenticated\n  require:\n",
        "    claims: { tenant: acme, realm_access.roles: admin }\n",
        "    expression: \"claims.email_verified && claims.tenant == 'acme'\"\n",
        "- id: b\n  paths: ['/b']\n  policy: authenticated\n",
        "  headers: { X-Org: '{claims.org}-{user}' }\n",
        "- id: c\n  paths: ['/c']\n  policy: authenticated\n  require:\n",
        "    expression: \"claims['whole'] == 1\"\n",
    ));
    // `claims['whole']` reads the claims whole: no member of it is listed.
    assert_eq!(
        set.claim_paths(),
        ["email_verified", "org", "realm_access.roles", "tenant"]
    );
}
