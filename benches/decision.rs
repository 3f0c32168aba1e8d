//! Rule matching cost at 10, 1,000 and 10,000 generated rules: `first_match` must not grow
//! with the number of rules (within 1.5x of 10 rules, under 5 us). And the pure core after it:
//! `decision::decide` plus `answer::plan` for an allowed identity with a templated header, and
//! what a typical `require.expression` adds to `decide`.
//!
//! Rules are generated as a real deployment might have them: many hosts with several path
//! patterns each (subtrees, literals, one-segment globs, a path regex), a tenth of wildcard
//! hosts (`*.tenantN.example.net`), and a few any-host rules per thousand.

use std::hint::black_box;
use std::path::PathBuf;

use axum::http::Method;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use portcullis::origin::OriginalRequest;
use portcullis::rules::load::Source;
use portcullis::rules::{Known, RuleSet};

/// Rules per host; the last one of a host is what the "late match" request hits.
const PER_HOST: usize = 8;

/// The path patterns of one host, in file order.
fn host_rules(host: &str, id: usize) -> String {
    let patterns = [
        "paths: ['/static/**', '/favicon.ico']\n  methods: [GET, HEAD]",
        "paths: ['/api/v1/*/users', '/api/v1/*/groups']",
        "path_regex: '/v[0-9]+/items/[0-9]+'",
        "paths: ['/admin/**']\n  methods: [GET]",
        "paths: ['/healthz', '/readyz']",
        "paths: ['/docs/**/*.html']",
        "paths: ['/upload']\n  methods: [POST, PUT]",
        "paths: ['/app/**']",
    ];
    let pattern = patterns[id % PER_HOST];
    format!("- id: r{id}\n  hosts: ['{host}']\n  {pattern}\n  policy: authenticated\n")
}

/// `count` rules spread over several files, as `RuleSet::load` would read them.
fn generate(count: usize) -> Vec<Source> {
    let mut files = vec![String::new(); 4];
    for id in 0..count {
        let text = if id % 500 == 499 {
            format!("- id: r{id}\n  paths: ['/.well-known/k{id}/**']\n  policy: allow\n")
        } else if id % 10 == 9 {
            let tenant = id / 10;
            format!(
                "- id: r{id}\n  hosts: ['*.tenant{tenant}.example.net']\n  paths: ['/app/**']\n  policy: authenticated\n"
            )
        } else {
            host_rules(&format!("svc{}.example.com", id / PER_HOST), id)
        };
        files[id * 4 / count.max(1)].push_str(&text);
    }
    let name = |n: usize| PathBuf::from(format!("rules/{n:02}.yaml"));
    files
        .into_iter()
        .enumerate()
        .map(|(n, text)| Source { path: name(n), text })
        .collect()
}

fn request(method: Method, host: &str, path: &str) -> OriginalRequest {
    let (host, path) = (host.to_string(), path.to_string());
    OriginalRequest {
        method,
        scheme: "https",
        authority: host.clone(),
        host,
        uri: path.clone(),
        path,
    }
}

/// The last rule id below `count` that `keep` accepts.
fn last_id(count: usize, keep: impl Fn(usize) -> bool) -> usize {
    (0..count).rev().find(|&id| keep(id)).unwrap_or_default()
}

/// The last host rule on `/app/**`: a match late in global order, after the host's other rules.
fn late_match(count: usize) -> OriginalRequest {
    let id = last_id(count, |id| {
        id % PER_HOST == PER_HOST - 1 && id % 10 != 9 && id % 500 != 499
    });
    request(
        Method::GET,
        &format!("svc{}.example.com", id / PER_HOST),
        "/app/settings/profile",
    )
}

/// The last wildcard-host rule.
fn wildcard_match(count: usize) -> OriginalRequest {
    let id = last_id(count, |id| id % 10 == 9 && id % 500 != 499);
    request(Method::GET, &format!("a.tenant{}.example.net", id / 10), "/app/x")
}

fn bench_first_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_match");
    for count in [10, 1_000, 10_000] {
        let set = RuleSet::from_sources(&generate(count), &Known::default()).expect("generated rules compile");
        assert_eq!(set.len(), count);
        let late = late_match(count);
        assert!(set.first_match(&late).is_some(), "the late request matches");
        let no_rule_on_host = request(Method::POST, &late.host, "/nothing/here");
        assert!(set.first_match(&no_rule_on_host).is_none());
        let unknown_host = request(Method::GET, "unknown.example.org", "/app/x");
        assert!(set.first_match(&unknown_host).is_none());
        let wildcard = wildcard_match(count);
        assert!(set.first_match(&wildcard).is_some(), "the wildcard request matches");
        for (name, req) in [
            ("late_match", &late),
            ("no_match", &no_rule_on_host),
            ("unknown_host", &unknown_host),
            ("wildcard", &wildcard),
        ] {
            group.bench_with_input(BenchmarkId::new(name, count), req, |b, req| {
                b.iter(|| set.first_match(black_box(req)))
            });
        }
    }
    group.finish();
}

fn bench_decide_and_plan(c: &mut Criterion) {
    use portcullis::answer::{Context, Endpoint, IdentityHeaders, plan};
    use portcullis::authn::{Authenticated, Claims, Identity, Outcome};
    use portcullis::config::{DefaultPolicy, HeadersConfig};
    use portcullis::decision::decide;
    use portcullis::origin::ClientKind;
    use std::sync::Arc;

    let yaml = "- id: admin\n  paths: ['/admin/**']\n  policy: authenticated\n  require: { groups_any: [admins] }\n  headers: { X-Auth-Request-Tenant: '{claims.tenant}' }\n";
    let set = RuleSet::from_yaml(yaml, std::path::Path::new("bench.yaml")).expect("rules");
    let request = OriginalRequest {
        method: Method::GET,
        scheme: "https",
        host: "app.example.com".into(),
        authority: "app.example.com".into(),
        path: "/admin/users".into(),
        uri: "/admin/users".into(),
    };
    let identity = Arc::new(Identity {
        issuer: "main".into(),
        user: "alice".into(),
        email: Some("alice@example.com".into()),
        groups: vec!["admins".into(), "dev".into()],
        preferred_username: Some("ali".into()),
        scopes: Vec::new(),
        claims: Claims::from_json(r#"{"sub":"alice","tenant":"acme"}"#),
        expires_at: u64::MAX,
        digest: Default::default(),
    });
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let context = Context {
        endpoint: Endpoint::Auth,
        client: ClientKind::Api,
        request: &request,
        login_start: None,
        identity_headers: &names,
        rule: set.first_match(&request),
        identity_token: Default::default(),
        template_headers: set.template_headers(),
    };
    c.bench_function("decide_and_plan_allow", |b| {
        b.iter(|| {
            let rule = set.first_match(black_box(&request));
            let checked = Authenticated::from(Outcome::Valid(identity.clone()));
            plan(decide(rule, DefaultPolicy::Deny, checked, false, &request), &context)
        })
    });
}

/// The same allowed decision on a rule with `identity_token:`, the token reused from the cache
/// (the state after a client's first request), against the same rule without it.
fn bench_identity_token(c: &mut Criterion) {
    use portcullis::answer::identity_token::{IdentityTokens, TokenContext};
    use portcullis::answer::{Context, Endpoint, IdentityHeaders, plan};
    use portcullis::authn::jws::Signer;
    use portcullis::authn::{Authenticated, Claims, Identity, Outcome};
    use portcullis::config::{DefaultPolicy, HeadersConfig, IdentityTokenConfig};
    use portcullis::decision::decide;
    use portcullis::origin::ClientKind;
    use std::sync::Arc;

    let yaml =
        "- id: orders\n  paths: ['/orders/**']\n  policy: authenticated\n  identity_token: { audience: orders-api }\n";
    let known = Known {
        identity_token: true,
        ..Known::default()
    };
    let set = RuleSet::from_yaml_with(yaml, std::path::Path::new("bench.yaml"), &known).expect("rules");
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/ec1.pem");
    let signer = Arc::new(Signer::from_pem(&std::fs::read(key).expect("key")).expect("signer"));
    let tokens = IdentityTokens::new(&IdentityTokenConfig {
        signer: signer.clone(),
        previous: Vec::new(),
        issuer: "https://auth.example.com/".into(),
        ttl: std::time::Duration::from_secs(300),
        header: axum::http::header::AUTHORIZATION,
    });
    let request = OriginalRequest {
        method: Method::GET,
        scheme: "https",
        host: "app.example.com".into(),
        authority: "app.example.com".into(),
        path: "/orders/1".into(),
        uri: "/orders/1".into(),
    };
    let identity = Arc::new(Identity {
        issuer: "main".into(),
        user: "alice".into(),
        email: Some("alice@example.com".into()),
        groups: vec!["admins".into(), "dev".into()],
        preferred_username: Some("ali".into()),
        scopes: Vec::new(),
        claims: Claims::from_json(r#"{"sub":"alice","tenant":"acme"}"#),
        expires_at: u64::MAX,
        digest: Default::default(),
    });
    let names = IdentityHeaders::new(&HeadersConfig::default());
    let mut group = c.benchmark_group("decide_and_plan_identity_token");
    for (label, tokens) in [("without", None), ("reused", Some(&tokens))] {
        let rule = set.first_match(&request).expect("rule");
        let context = Context {
            endpoint: Endpoint::Auth,
            client: ClientKind::Api,
            request: &request,
            login_start: None,
            identity_headers: &names,
            rule: Some(rule),
            template_headers: set.template_headers(),
            identity_token: TokenContext {
                tokens,
                rule: rule.identity_token.as_ref(),
            },
        };
        group.bench_function(label, |b| {
            b.iter(|| {
                let rule = set.first_match(black_box(&request));
                let checked = Authenticated::from(Outcome::Valid(identity.clone()));
                plan(decide(rule, DefaultPolicy::Deny, checked, false, &request), &context)
            })
        });
    }
    // What reuse saves: the claims and an ES256 signature, on every request.
    group.bench_function("sign_each_time", |b| {
        b.iter(|| signer.sign(&tokens.claims(black_box(&identity), Some("orders-api"), 1_800_000_000)))
    });
    group.finish();
}

fn bench_load(c: &mut Criterion) {
    let sources = generate(1_000);
    c.bench_function("compile_1000_rules", |b| {
        b.iter(|| RuleSet::from_sources(black_box(&sources), &Known::default()))
    });
}

/// `decide` for one rule with and without a typical `require.expression`: the difference is
/// what the expression costs on a cached decision (target: under 1 us). Three identities: an
/// admin (the `in` short-circuits, the claims are never read), a verified non-admin on GET (the
/// claims are parsed, one member), and a non-admin refused.
fn bench_expression(c: &mut Criterion) {
    use portcullis::authn::{Authenticated, Claims, Identity, Outcome};
    use portcullis::config::DefaultPolicy;
    use portcullis::decision::decide;
    use std::sync::Arc;

    let rule = |require: &str| {
        format!(
            "- id: orders\n  paths: ['/orders/**']\n  policy: authenticated\n  require: {{ groups_any: [dev]{require} }}\n"
        )
    };
    let plain = RuleSet::from_yaml(&rule(""), std::path::Path::new("bench.yaml")).expect("rules");
    let expression = "'admins' in groups || (claims.email_verified && request.method == 'GET')";
    let with = RuleSet::from_yaml(
        &rule(&format!(", expression: \"{expression}\"")),
        std::path::Path::new("bench.yaml"),
    )
    .expect("rules");
    let request = OriginalRequest {
        method: Method::GET,
        scheme: "https",
        host: "app.example.com".into(),
        authority: "app.example.com".into(),
        path: "/orders/42".into(),
        uri: "/orders/42?expand=items".into(),
    };
    // A typical access token's claims, about 600 bytes.
    let claims = r#"{"iss":"https://idp.example.com/realms/main","sub":"6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b","aud":["orders","account"],"exp":4102444800,"iat":1700000000,"auth_time":1700000000,"jti":"0b7c1a2e-9f3d-4e5a-8b6c-7d8e9f0a1b2c","azp":"orders-ui","scope":"openid email profile","email_verified":true,"name":"Alice Example","preferred_username":"alice","given_name":"Alice","family_name":"Example","email":"alice@example.com","realm_access":{"roles":["offline_access","uma_authorization","default-roles-main"]},"groups":["dev"],"tenant":"acme"}"#;
    // Identities made while `with` is in force keep the claims it reads parsed, as the server's
    // token cache does.
    portcullis::authn::keep_claims(with.claim_paths());
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(claims).expect("claims");
    let identity = |groups: &[&str]| {
        Arc::new(Identity {
            issuer: "main".into(),
            user: "alice".into(),
            email: Some("alice@example.com".into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            preferred_username: Some("alice".into()),
            scopes: Vec::new(),
            claims: Claims::new(claims, &parsed),
            expires_at: u64::MAX,
            digest: Default::default(),
        })
    };
    let admin = identity(&["admins", "dev"]);
    let verified = identity(&["dev"]);
    let mut group = c.benchmark_group("expression");
    for (name, set, who) in [
        ("decide_without_expression", &plain, &verified),
        ("decide_expression_admin", &with, &admin),
        ("decide_expression_claims", &with, &verified),
    ] {
        let decided = decide(
            set.first_match(&request),
            DefaultPolicy::Deny,
            Authenticated::from(Outcome::Valid(who.clone())),
            false,
            &request,
        );
        assert_eq!(decided.label(), "allow", "{name}: {decided:?}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let rule = set.first_match(black_box(&request));
                let checked = Authenticated::from(Outcome::Valid(who.clone()));
                decide(rule, DefaultPolicy::Deny, checked, false, &request)
            })
        });
    }
    let mut post = request.clone();
    post.method = Method::POST;
    let refused = decide(
        with.first_match(&post),
        DefaultPolicy::Deny,
        Authenticated::from(Outcome::Valid(verified.clone())),
        false,
        &post,
    );
    assert_eq!(refused.label(), "forbidden", "{refused:?}");
    group.bench_function("decide_expression_refused", |b| {
        b.iter(|| {
            let rule = with.first_match(black_box(&post));
            let checked = Authenticated::from(Outcome::Valid(verified.clone()));
            decide(rule, DefaultPolicy::Deny, checked, false, &post)
        })
    });
    group.finish();
}

/// Reading the original request, per endpoint: the quickstart-like `/auth` request (a path that
/// is already canonical), one whose path needs normalising, and `/forward-auth` and
/// `/ext-authz` with the same request.
fn bench_origin(c: &mut Criterion) {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use portcullis::origin::{from_auth_headers, from_ext_authz, from_forward_auth_headers};

    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for &(name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    };
    let auth = |url: &str| {
        headers(&[
            ("host", "portcullis.internal"),
            ("x-original-url", url),
            ("x-original-method", "GET"),
            ("accept", "text/css,*/*;q=0.1"),
            ("user-agent", "Mozilla/5.0"),
        ])
    };
    let canonical = auth("https://app.example.com/static/app.css");
    let messy = auth("https://App.Example.com:8443/static/./css/../app%2ecss;v=1?x=1");
    let forward = headers(&[
        ("host", "portcullis.internal"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-uri", "/static/app.css"),
    ]);
    let ext = headers(&[("host", "app.example.com"), ("x-forwarded-proto", "https")]);
    let mut group = c.benchmark_group("origin");
    group.bench_function("auth_canonical", |b| {
        b.iter(|| from_auth_headers(black_box(&canonical), true).expect("read"))
    });
    group.bench_function("auth_normalised", |b| {
        b.iter(|| from_auth_headers(black_box(&messy), true).expect("read"))
    });
    group.bench_function("forward_auth", |b| {
        b.iter(|| from_forward_auth_headers(black_box(&forward), true).expect("read"))
    });
    group.bench_function("ext_authz", |b| {
        b.iter(|| from_ext_authz(&Method::GET, black_box(&ext), black_box("/static/app.css"), true).expect("read"))
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_first_match,
    bench_decide_and_plan,
    bench_expression,
    bench_identity_token,
    bench_load,
    bench_origin
);
criterion_main!(benches);
