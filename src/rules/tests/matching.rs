use super::{matched, request, rules};
use crate::rules::RuleTrace;

#[test]
fn star_matches_one_dns_label_only() {
    let set = rules("- { id: wild, hosts: ['*.example.com'], policy: allow }");
    assert_eq!(matched(&set, "GET", "a.example.com", "/"), Some("wild".into()));
    assert_eq!(matched(&set, "GET", "example.com", "/"), None);
    assert_eq!(matched(&set, "GET", "a.b.example.com", "/"), None);
    assert_eq!(matched(&set, "GET", "aexample.com", "/"), None);
}

#[test]
fn hosts_match_case_insensitively() {
    let set = rules("- { id: app, hosts: [App.Example.COM, '*.Other.com', 'x-*.corp'], policy: allow }");
    assert_eq!(matched(&set, "GET", "app.example.com", "/"), Some("app".into()));
    assert_eq!(matched(&set, "GET", "APP.example.com", "/"), Some("app".into()));
    assert_eq!(matched(&set, "GET", "b.other.com", "/"), Some("app".into()));
    assert_eq!(matched(&set, "GET", "x-1.corp", "/"), Some("app".into()));
    assert_eq!(matched(&set, "GET", "y-1.corp", "/"), None);
}

#[test]
fn inner_wildcard_label_matches_exactly_one_label() {
    let set = rules("- { id: mid, hosts: ['a.*.example.com'], policy: allow }");
    assert_eq!(matched(&set, "GET", "a.b.example.com", "/"), Some("mid".into()));
    assert_eq!(matched(&set, "GET", "a.b.c.example.com", "/"), None);
    assert_eq!(matched(&set, "GET", "a..example.com", "/"), None);
}

#[test]
fn single_star_is_one_segment_and_double_star_any_depth() {
    let set =
        rules("- { id: one, paths: ['/a/*/c'], policy: allow }\n- { id: deep, paths: ['/b/**/z'], policy: allow }\n");
    assert_eq!(matched(&set, "GET", "h", "/a/b/c"), Some("one".into()));
    assert_eq!(matched(&set, "GET", "h", "/a/b/x/c"), None);
    assert_eq!(matched(&set, "GET", "h", "/b/z"), Some("deep".into()));
    assert_eq!(matched(&set, "GET", "h", "/b/1/2/3/z"), Some("deep".into()));
    assert_eq!(matched(&set, "GET", "h", "/b/1/2/3/y"), None);
}

#[test]
fn subtree_glob_also_covers_its_base() {
    let set = rules("- { id: admin, paths: ['/admin/**'], policy: deny }");
    for path in ["/admin", "/admin/", "/admin/users", "/admin/a/b/c"] {
        assert_eq!(matched(&set, "GET", "h", path), Some("admin".into()), "{path}");
    }
    assert_eq!(matched(&set, "GET", "h", "/administrator"), None);
    assert_eq!(matched(&set, "GET", "h", "/"), None);
}

#[test]
fn subtree_glob_with_a_wildcard_base_also_covers_its_base() {
    let set = rules("- { id: tenant, paths: ['/t/*/admin/**'], policy: deny }");
    for path in ["/t/x/admin", "/t/x/admin/", "/t/x/admin/y/z"] {
        assert_eq!(matched(&set, "GET", "h", path), Some("tenant".into()), "{path}");
    }
    assert_eq!(matched(&set, "GET", "h", "/t/x/administrator"), None);
}

#[test]
fn root_double_star_matches_every_path() {
    let set = rules("- { id: all, paths: ['/**'], policy: allow }");
    for path in ["/", "/a", "/a/b/", "/.well-known/x"] {
        assert_eq!(matched(&set, "GET", "h", path), Some("all".into()), "{path}");
    }
}

#[test]
fn path_regex_is_anchored_at_both_ends() {
    let set = rules("- { id: api, path_regex: '/api/.*', policy: allow }");
    assert_eq!(matched(&set, "GET", "h", "/api/y"), Some("api".into()));
    assert_eq!(matched(&set, "GET", "h", "/x/api/y"), None);
    let set = rules("- { id: v, path_regex: '/api/v[0-9]+', policy: allow }");
    assert_eq!(matched(&set, "GET", "h", "/api/v2"), Some("v".into()));
    assert_eq!(matched(&set, "GET", "h", "/api/v2/more"), None);
}

#[test]
fn alternation_in_path_regex_stays_anchored() {
    let set = rules("- { id: alt, path_regex: '/a|/b', policy: allow }");
    assert_eq!(matched(&set, "GET", "h", "/a"), Some("alt".into()));
    assert_eq!(matched(&set, "GET", "h", "/x/b"), None);
    assert_eq!(matched(&set, "GET", "h", "/a/x"), None);
}

#[test]
fn methods_match_case_insensitively_and_omitted_means_any() {
    let set = rules("- { id: read, methods: [get, HEAD], policy: allow }\n- { id: rest, policy: deny }\n");
    assert_eq!(matched(&set, "GET", "h", "/"), Some("read".into()));
    assert_eq!(matched(&set, "HEAD", "h", "/"), Some("read".into()));
    assert_eq!(matched(&set, "POST", "h", "/"), Some("rest".into()));
}

#[test]
fn first_match_wins_in_file_order() {
    let set = rules(
        "- { id: first, hosts: [a.com], paths: ['/x/**'], policy: deny }\n\
         - { id: second, paths: ['/x/y'], policy: allow }\n\
         - { id: third, policy: allow }\n",
    );
    assert_eq!(matched(&set, "GET", "a.com", "/x/y"), Some("first".into()));
    assert_eq!(matched(&set, "GET", "b.com", "/x/y"), Some("second".into()));
    assert_eq!(matched(&set, "GET", "b.com", "/z"), Some("third".into()));
}

#[test]
fn an_any_host_rule_before_a_host_rule_wins() {
    let set = rules(
        "- { id: early-any, paths: ['/health'], policy: allow }\n\
         - { id: host, hosts: [a.com], policy: deny }\n",
    );
    assert_eq!(matched(&set, "GET", "a.com", "/health"), Some("early-any".into()));
    assert_eq!(matched(&set, "GET", "a.com", "/other"), Some("host".into()));
}

#[test]
fn a_rule_in_several_buckets_is_still_found_once_in_order() {
    let set = rules(
        "- { id: multi, hosts: [a.example.com, '*.example.com'], paths: ['/x', '/y/**', '/*/z'], policy: allow }\n\
         - { id: after, policy: deny }\n",
    );
    assert_eq!(matched(&set, "GET", "a.example.com", "/y/1"), Some("multi".into()));
    assert_eq!(matched(&set, "GET", "b.example.com", "/q/z"), Some("multi".into()));
    assert_eq!(matched(&set, "GET", "b.example.com", "/q"), Some("after".into()));
}

#[test]
fn indexed_matching_agrees_with_a_linear_scan() {
    let mut yaml = String::new();
    let hosts = ["a.com", "b.com", "*.c.com", "x*.d.com"];
    let paths = ["/", "/a/**", "/a/b", "/*/b", "/**", "/b/*", "/c"];
    for n in 0..120 {
        let host = if n % 7 == 0 {
            String::new()
        } else {
            format!("hosts: ['{}'], ", hosts[n % hosts.len()])
        };
        let method = if n % 5 == 0 { "methods: [POST], " } else { "" };
        let path = if n % 11 == 0 {
            "path_regex: '/a/.*'".to_string()
        } else {
            format!("paths: ['{}']", paths[n % 7])
        };
        yaml.push_str(&format!("- {{ id: r{n}, {host}{method}{path}, policy: allow }}\n"));
    }
    let set = rules(&yaml);
    for host in ["a.com", "b.com", "q.c.com", "xy.d.com", "other.org"] {
        for path in ["/", "/a", "/a/b", "/q/b", "/c", "/b/x", "/zz/top"] {
            for method in ["GET", "POST"] {
                let trace = set.explain(&request(method, host, path));
                let linear = trace.last().filter(|t| t.mismatch.is_none()).map(|t| t.id.clone());
                assert_eq!(matched(&set, method, host, path), linear, "{method} {host}{path}");
            }
        }
    }
}

#[test]
fn explain_gives_the_reason_for_each_earlier_rule() {
    let set = rules(
        "- { id: other-host, hosts: [x.example.com], policy: deny }\n\
         - { id: reads, methods: [GET, HEAD], policy: deny }\n\
         - { id: static, paths: ['/static/**'], policy: allow }\n\
         - { id: regex, path_regex: '/b.*', policy: allow }\n\
         - { id: hit, policy: authenticated }\n\
         - { id: never, policy: allow }\n",
    );
    let trace = set.explain(&request("POST", "app.example.com", "/a"));
    let reason = |id: &str, why: &str| RuleTrace {
        id: id.into(),
        mismatch: Some(why.into()),
    };
    assert_eq!(
        trace,
        vec![
            reason("other-host", "host app.example.com not in [x.example.com]"),
            reason("reads", "method POST not in [GET, HEAD]"),
            reason("static", "path /a matches none of [/static/**]"),
            reason("regex", "path /a does not match regex /b.*"),
            RuleTrace {
                id: "hit".into(),
                mismatch: None
            },
        ]
    );
}

#[test]
fn no_rules_match_nothing() {
    let set = crate::rules::RuleSet::empty();
    assert!(set.is_empty());
    assert_eq!(matched(&set, "GET", "h", "/"), None);
    assert!(set.explain(&request("GET", "h", "/")).is_empty());
}

#[test]
fn other_wildcards_are_found_under_every_host_suffix_even_past_the_list_limit() {
    let labels = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let mut yaml = String::new();
    for level in (1..labels.len()).rev() {
        let suffix = labels[level..].join(".");
        yaml.push_str(&format!(
            "- {{ id: seg{level}, hosts: ['z*.{suffix}'], paths: ['/p'], policy: deny }}\n"
        ));
        yaml.push_str(&format!(
            "- {{ id: any{level}, hosts: ['z*.{suffix}'], policy: deny }}\n"
        ));
    }
    yaml.push_str("- { id: hit, hosts: ['q*.b.c.d.e.f.g.h.i.j'], policy: allow }\n");
    let set = rules(&yaml);
    assert_eq!(matched(&set, "GET", "q.a.b.c.d.e.f.g.h.i.j", "/p"), None);
    assert_eq!(matched(&set, "GET", "qq.b.c.d.e.f.g.h.i.j", "/p"), Some("hit".into()));
    assert_eq!(matched(&set, "GET", "z.j", "/p"), Some("seg9".into()));
    assert_eq!(matched(&set, "GET", "z1.c.d.e.f.g.h.i.j", "/x"), Some("any2".into()));
}

#[test]
fn protecting_rules_match_paths_in_any_letter_case() {
    let set = rules(
        "- { id: admin, paths: ['/admin/**'], policy: authenticated }\n\
         - { id: internal, paths: ['/internal/metrics', '/internal/*/x'], policy: deny }\n\
         - { id: api, path_regex: '/api/v[0-9]+/private/.*', policy: deny }\n\
         - { id: rest, paths: ['/**'], policy: allow }\n",
    );
    for (path, id) in [
        ("/admin/users", "admin"),
        ("/ADMIN/", "admin"),
        ("/Admin/users", "admin"),
        ("/aDmIn", "admin"),
        ("/INTERNAL/metrics", "internal"),
        ("/Internal/Metrics", "internal"),
        ("/internal/A/X", "internal"),
        ("/API/V2/Private/keys", "api"),
        ("/administrator", "rest"),
    ] {
        assert_eq!(matched(&set, "GET", "h", path), Some(id.into()), "{path}");
    }
}

#[test]
fn allow_rules_match_paths_in_their_exact_case() {
    let set = rules(
        "- { id: static, paths: ['/static/**', '/favicon.ico', '/s/*/x'], policy: allow }\n\
         - { id: health, path_regex: '/health[a-z]*', policy: allow }\n",
    );
    assert_eq!(matched(&set, "GET", "h", "/static/app.css"), Some("static".into()));
    assert_eq!(matched(&set, "GET", "h", "/s/a/x"), Some("static".into()));
    assert_eq!(matched(&set, "GET", "h", "/healthz"), Some("health".into()));
    for path in [
        "/STATIC/app.css",
        "/Static/app.css",
        "/FAVICON.ICO",
        "/s/a/X",
        "/HEALTHZ",
        "/healthZ",
    ] {
        assert_eq!(matched(&set, "GET", "h", path), None, "{path}");
    }
}

#[test]
fn the_index_finds_case_folding_rules_under_any_spelling_of_their_first_segment() {
    // Many rules with distinct first segments, so the index (not a linear scan) decides.
    let mut yaml: String = (0..50)
        .map(|n| format!("- {{ id: r{n}, paths: ['/seg{n}/**'], policy: allow }}\n"))
        .collect();
    yaml.push_str("- { id: closed, hosts: [h], paths: ['/Seg7/x', '/admin/**'], policy: deny }\n");
    let set = rules(&yaml);
    assert_eq!(matched(&set, "GET", "h", "/seg7/x"), Some("r7".into()));
    assert_eq!(matched(&set, "GET", "h", "/SEG7/x"), Some("closed".into()));
    assert_eq!(matched(&set, "GET", "h", "/sEg7/X"), Some("closed".into()));
    assert_eq!(matched(&set, "GET", "h", "/ADMIN/a"), Some("closed".into()));
    assert_eq!(matched(&set, "GET", "other", "/ADMIN/a"), None);
}
