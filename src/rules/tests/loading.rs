use std::fs;
use std::path::{Path, PathBuf};

use super::{errors, matched, rules};
use crate::rules::{Known, OnUnauthenticated, Policy, RuleError, RuleSet};

/// The one error whose reason contains `needle`.
fn find<'e>(errors: &'e [RuleError], needle: &str) -> &'e RuleError {
    errors
        .iter()
        .find(|e| e.reason.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` in {errors:#?}"))
}

#[test]
fn every_field_of_the_contract_example_loads() {
    let known = Known {
        issuers: vec!["main".into()],
        ..Known::default()
    };
    let set = RuleSet::from_yaml_with(
        r#"
- id: admin
  hosts: ["app.example.com"]
  methods: [GET]
  paths: ["/admin/**"]
  policy: authenticated
  require:
    groups_any: [admins, ops]
    issuers: [main]
    claims: { email_verified: true }
  on_unauthenticated: redirect
  headers:
    X-Tenant: "{claims.tenant}"
"#,
        Path::new("rules.yaml"),
        &known,
    )
    .unwrap_or_else(|errors| panic!("{errors:#?}"));
    let rule = set.rules().next().expect("one rule");
    assert_eq!(rule.policy, Policy::Authenticated);
    assert_eq!(rule.on_unauthenticated, Some(OnUnauthenticated::Redirect));
    assert_eq!(rule.require.groups_any, ["admins", "ops"]);
    assert_eq!(rule.require.claims["email_verified"], serde_json::Value::Bool(true));
    assert_eq!(rule.headers[0].name.as_str(), "x-tenant");
    assert_eq!(rule.source, Path::new("rules.yaml"));
}

#[test]
fn an_empty_file_has_no_rules() {
    assert!(rules("").is_empty());
    assert!(rules("# only a comment\n").is_empty());
}

#[test]
fn yaml_syntax_errors_carry_the_parser_line() {
    let errors = errors("- id: a\n  policy: allow\n- id: [unclosed\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].file, Path::new("rules.yaml"));
    assert!(errors[0].reason.starts_with("YAML syntax"), "{}", errors[0]);
    assert!(errors[0].line.is_some_and(|l| l >= 3), "{:?}", errors[0].line);
}

#[test]
fn all_errors_are_reported_with_file_line_and_rule() {
    let yaml = "\
- id: bad-glob
  paths: ['/a/[z']
  policy: allow
- id: bad-regex
  path_regex: '/a/(x'
  policy: allow
- id: bad-header
  headers: { 'X Bad': 'v' }
  policy: allow
- id: bad-template
  headers: { X-Who: '{nobody}' }
  policy: allow
- id: ''
  policy: allow
- id: no-policy
  hosts: [a.com]
- id: both
  paths: ['/a']
  path_regex: '/b'
  policy: allow
- id: relative
  paths: ['static/**']
  policy: allow
- id: unknown
  policy: allow
  colour: blue
- id: bad-host
  hosts: ['a/b.com']
  policy: allow
- hosts: [nobody.com]
  policy: allow
";
    let errors = errors(yaml);
    let expect = [
        ("bad path glob `/a/[z`", "bad-glob", 1),
        ("bad path_regex `/a/(x`", "bad-regex", 4),
        ("invalid header name `X Bad`", "bad-header", 7),
        ("unknown placeholder `{nobody}`", "bad-template", 10),
        ("id is empty", "", 13),
        ("missing policy", "no-policy", 15),
        ("mutually exclusive", "both", 17),
        ("path `static/**` must start with /", "relative", 21),
        ("unknown field `colour`", "unknown", 24),
        ("bad host glob `a/b.com`", "bad-host", 27),
    ];
    for (needle, rule, line) in expect {
        let error = find(&errors, needle);
        assert_eq!(error.rule.as_deref(), Some(rule), "{error}");
        assert_eq!(error.line, Some(line), "{error}");
        assert_eq!(error.file, Path::new("rules.yaml"));
    }
    let anonymous = find(&errors, "missing id");
    assert_eq!((anonymous.rule.as_deref(), anonymous.line), (None, Some(30)));
    assert_eq!(errors.len(), expect.len() + 1, "{errors:#?}");
}

#[test]
fn unknown_requirement_fields_are_errors() {
    let errors = errors("- id: r\n  policy: allow\n  require: { group_any: [a] }\n");
    assert!(find(&errors, "require: unknown field `group_any`").rule.as_deref() == Some("r"));
}

#[test]
fn bad_policy_and_wrong_types_name_the_field() {
    let errors = errors("- id: r\n  policy: maybe\n  hosts: a.com\n");
    find(&errors, "policy: unknown variant `maybe`");
    find(&errors, "hosts: invalid type");
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn a_document_that_is_not_a_list_is_an_error() {
    find(&errors("id: a\npolicy: allow\n"), "expected a list of rules");
}

#[test]
fn duplicate_ids_name_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), "- id: same\n  policy: allow\n").expect("write");
    fs::write(
        dir.path().join("b.yml"),
        "- id: other\n  policy: deny\n- id: same\n  policy: deny\n",
    )
    .expect("write");
    let errors = RuleSet::load(&[dir.path().to_path_buf()], &Known::default()).expect_err("duplicate");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = &errors[0];
    assert_eq!(error.file, dir.path().join("b.yml"));
    assert_eq!((error.rule.as_deref(), error.line), (Some("same"), Some(3)));
    assert!(
        error
            .reason
            .contains(&format!("{}:1", dir.path().join("a.yaml").display())),
        "{error}"
    );
}

#[test]
fn duplicate_ids_in_one_file_point_at_the_second() {
    let errors = errors("- id: same\n  policy: allow\n- id: same\n  policy: deny\n");
    assert_eq!((errors[0].line, errors[0].rule.as_deref()), (Some(3), Some("same")));
    assert!(errors[0].reason.contains("rules.yaml:1"), "{}", errors[0]);
}

#[test]
fn folders_are_read_in_lexical_order_skipping_dot_and_other_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| fs::write(dir.path().join(name), text).expect("write");
    write("20-late.yaml", "- { id: late, policy: deny }\n");
    write("10-early.yml", "- { id: early, paths: ['/e/**'], policy: allow }\n");
    write(".hidden.yaml", "- { id: hidden, policy: allow }\n");
    write("notes.txt", "not yaml: [");
    fs::create_dir(dir.path().join("sub.yaml")).expect("mkdir");
    let set = RuleSet::load(&[dir.path().to_path_buf()], &Known::default()).expect("loads");
    let ids: Vec<&str> = set.rules().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["early", "late"]);
    assert_eq!(matched(&set, "GET", "h", "/e"), Some("early".into()));
}

#[test]
fn files_given_directly_and_symlinks_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("real.yaml");
    fs::write(&target, "- { id: linked, policy: allow }\n").expect("write");
    let folder = dir.path().join("rules");
    fs::create_dir(&folder).expect("mkdir");
    std::os::unix::fs::symlink(&target, folder.join("link.yaml")).expect("symlink");
    let set = RuleSet::load(&[folder, target.clone()], &Known::default()).expect_err("same id twice");
    assert!(set[0].reason.contains("duplicate id `linked`"), "{:?}", set);
    assert_eq!(RuleSet::load(&[target], &Known::default()).expect("loads").len(), 1);
}

#[test]
fn errors_of_several_files_are_all_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), "- { id: a }\n").expect("write");
    fs::write(dir.path().join("b.yaml"), "- { id: b, policy: nope }\n").expect("write");
    let errors = RuleSet::load(
        &[dir.path().to_path_buf(), PathBuf::from("/nonexistent/rules")],
        &Known::default(),
    )
    .expect_err("bad");
    assert_eq!(
        errors.len(),
        1,
        "an unreadable path stops before compiling: {errors:#?}"
    );
    let errors = RuleSet::load(&[dir.path().to_path_buf()], &Known::default()).expect_err("bad");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0].file, dir.path().join("a.yaml"));
    assert_eq!(errors[1].file, dir.path().join("b.yaml"));
}

#[test]
fn a_non_string_id_is_one_error_at_the_rule_line() {
    let errors = errors("- id: [1]\n  policy: allow\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].reason.starts_with("id: invalid type"), "{}", errors[0]);
    assert_eq!(errors[0].line, Some(1));
}

#[test]
fn require_on_a_rule_that_is_not_authenticated_is_an_error() {
    let errors = errors("- id: open-for-admins\n  policy: allow\n  require: { groups_any: [admins] }\n");
    let error = find(&errors, "`require` only applies");
    assert_eq!(error.rule.as_deref(), Some("open-for-admins"));
}

#[test]
fn an_issuer_the_config_does_not_define_is_a_load_error_with_line_and_rule() {
    let yaml = "- id: ok\n  policy: allow\n- id: wrong-issuer\n  policy: authenticated\n  require:\n    issuers: [main, nope]\n";
    let known = Known {
        issuers: vec!["main".into()],
        session_checks: vec!["kratos".into()],
        ..Known::default()
    };
    let errors = RuleSet::from_yaml_with(yaml, Path::new("r.yaml"), &known).expect_err("unknown issuer");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = find(&errors, "`nope`");
    assert_eq!(error.rule.as_deref(), Some("wrong-issuer"));
    assert_eq!(error.line, Some(3));
    assert!(error.reason.contains("`main`, `kratos`"), "{}", error.reason);
    // A session check's name is an issuer of its identities.
    let yaml = yaml.replace("nope", "kratos");
    assert!(RuleSet::from_yaml_with(&yaml, Path::new("r.yaml"), &known).is_ok());
}
