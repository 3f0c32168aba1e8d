use super::rules;

#[test]
fn a_catch_all_shadows_everything_after_it() {
    let set =
        rules("- { id: all, policy: allow }\n- { id: admin, hosts: [a.com], paths: ['/admin/**'], policy: deny }\n");
    let warnings = set.shadow_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("`admin` (rules.yaml)") && warnings[0].contains("`all` (rules.yaml)"),
        "{warnings:?}"
    );
}

#[test]
fn identical_and_superset_lists_shadow() {
    let set = rules(
        "- { id: wide, hosts: ['*.a.com', b.com], methods: [GET, POST], paths: ['/x/**', '/y'], policy: allow }\n\
         - { id: narrow, hosts: [q.a.com], methods: [get], paths: ['/x/z/**', '/y'], policy: allow }\n\
         - { id: same, hosts: ['*.a.com'], methods: [POST], paths: ['/x/**'], policy: allow }\n",
    );
    let warnings = set.shadow_warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("`narrow`") && warnings[1].contains("`same`"),
        "{warnings:?}"
    );
}

#[test]
fn double_star_paths_shadow_any_path_of_the_same_host() {
    let set = rules(
        "- { id: root, hosts: [a.com], paths: ['/**'], policy: allow }\n\
         - { id: regex, hosts: [a.com], path_regex: '/x.*', policy: deny }\n",
    );
    assert_eq!(set.shadow_warnings().len(), 1);
}

#[test]
fn partial_overlaps_are_not_reported() {
    let set = rules(
        "- { id: get-only, methods: [GET], policy: allow }\n\
         - { id: any-method, hosts: [z.com], policy: deny }\n\
         - { id: one-host, hosts: [a.com], paths: ['/x'], policy: allow }\n\
         - { id: two-hosts, hosts: [a.com, b.com], paths: ['/x'], policy: deny }\n\
         - { id: glob, hosts: [a.com], paths: ['/x/*'], policy: allow }\n\
         - { id: other-glob, hosts: [a.com], paths: ['/x/**'], policy: allow }\n\
         - { id: wildcard-later, hosts: ['*.a.com'], policy: allow }\n",
    );
    assert_eq!(set.shadow_warnings(), Vec::<String>::new());
}

#[test]
fn a_case_exact_allow_does_not_shadow_a_later_protecting_rule() {
    // `/X/y` passes the allow rule by (not matching) it and is caught by the deny rule.
    let set = rules(
        "- { id: open, paths: ['/x/**'], policy: allow }\n\
         - { id: closed, paths: ['/x/**'], policy: deny }\n\
         - { id: closed-again, paths: ['/x/y'], policy: deny }\n",
    );
    let warnings = set.shadow_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`closed-again`"), "{warnings:?}");
}
