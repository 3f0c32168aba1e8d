//! Loading a whole file: every problem at once, and what the file only names resolved once.

use axum::http::HeaderName;

use super::{Config, ConfigError};

const ONE: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const TWO: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Writes `files` (name, content) into a fresh folder and loads its `portcullis.toml`.
fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    let loaded = Config::load(&dir.path().join("portcullis.toml"));
    (dir, loaded)
}

#[test]
fn every_problem_of_every_section_is_reported_at_once() {
    let text = "[server]\nmax_connections = 0\n[rules]\npaths = []\n[session]\nttl = \"0s\"\ncookie_name = \"a b\"\n";
    let (dir, loaded) = load(&[("portcullis.toml", text)]);
    let message = loaded.expect_err("refused").0;
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 4, "{message}");
    let keys = [
        ("server.max_connections", 2),
        ("rules.paths", 4),
        ("session.ttl", 6),
        ("session.cookie_name", 7),
    ];
    for (line, (key, number)) in lines.iter().zip(keys) {
        let prefix = format!(
            "{}:{number}: key `{key}`: ",
            dir.path().join("portcullis.toml").display()
        );
        assert!(line.starts_with(&prefix), "{line}");
    }
}

#[test]
fn login_issuer_client_secret_and_session_keys_are_resolved_at_load() {
    let text = "[[issuers]]\nname = \"main\"\nissuer = \"https://idp.test/\"\n\
        [login]\nissuer = \"main\"\nclient_id = \"c\"\nclient_secret_file = \"client-secret\"\n\
        redirect_url = \"https://auth.test/oauth2/callback\"\n\
        [session]\nsecrets_file = \"secrets\"\n";
    let secrets = format!("{ONE}\n\n{TWO}\n");
    let files = [
        ("portcullis.toml", text),
        ("client-secret", "s3cret\n"),
        ("secrets", &secrets),
    ];
    let (_dir, loaded) = load(&files);
    let config = loaded.expect("valid");
    let login = config.login.as_ref().expect("[login]");
    assert_eq!(login.issuer.name, "main");
    assert_eq!(login.issuer.issuer, "https://idp.test/");
    assert_eq!(login.client_secret.0, "s3cret");
    let keys = config.session.keys.secrets();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0][..4], [0xab, 0xcd, 0xef, 0x12]);
    assert_eq!(keys[1][..4], [0, 1, 2, 3]);
    let printed = format!("{config:?}");
    assert!(
        !printed.contains("s3cret") && printed.contains("SessionKeys(2 × ***)"),
        "{printed}"
    );
}

#[test]
fn header_names_are_parsed_at_load_and_a_bad_one_is_named() {
    let (_dir, loaded) = load(&[("portcullis.toml", "[headers]\nuser = \"X-Remote-User\"\n")]);
    let headers = loaded.expect("valid").headers;
    assert_eq!(headers.user, HeaderName::from_static("x-remote-user"));
    assert_eq!(headers.email, HeaderName::from_static("x-auth-request-email"));
    let (_dir, loaded) = load(&[("portcullis.toml", "[headers]\ngroups = \"a:b\"\n")]);
    let message = loaded.expect_err("refused").0;
    assert!(
        message.contains("key `headers.groups`: `a:b` is not a valid header name"),
        "{message}"
    );
}

#[test]
fn a_redis_store_takes_its_url_from_the_file_it_names() {
    let text = "[session]\nstore = \"redis\"\nredis_url_file = \"url\"\n";
    let (_dir, loaded) = load(&[("portcullis.toml", text), ("url", "redis://:pw@127.0.0.1:6379/0\n")]);
    let session = loaded.expect("valid").session;
    assert_eq!(session.redis_url(), Some("redis://:pw@127.0.0.1:6379/0"));
    assert!(!format!("{session:?}").contains("pw@"));
}

#[test]
fn values_of_the_wrong_type_are_all_reported_with_line_value_and_one_key_spelling() {
    let text = "[server]\nlisten = \"nowhere\"\nmax_connections = 0\n\n[[issuers]]\nname = \"a\"\n\
        issuer = \"https://i.test/\"\nleeway = \"soon\"\nlisen = 1\n[rules]\ndefault = \"maybe\"\n";
    let (dir, loaded) = load(&[("portcullis.toml", text)]);
    let message = loaded.expect_err("refused").0;
    let file = dir.path().join("portcullis.toml").display().to_string();
    let expected = [
        format!("{file}:2: key `server.listen`: "),
        format!("{file}:8: key `issuers[0].leeway`: `soon` is not a duration"),
        format!("{file}:9: key `issuers[0].lisen`: unknown key; expected one of `name`, `issuer`"),
        format!(
            "{file}:11: key `rules.default`: unknown value `maybe`; expected one of `deny`, `authenticated`, `allow`"
        ),
        // Validation runs on what did fit, in the same report.
        format!("{file}:3: key `server.max_connections`: must be at least 1 (value: 0)"),
    ];
    for line in &expected {
        assert!(message.contains(line.as_str()), "`{line}` missing from:\n{message}");
    }
    assert!(message.contains("(value: \"nowhere\")"), "{message}");
    assert_eq!(message.lines().count(), expected.len(), "{message}");
    assert!(
        !message.contains("issuers.0") && !message.contains("`one of"),
        "{message}"
    );
}

#[test]
fn a_secret_of_the_wrong_type_is_named_but_never_shown() {
    let text = "[session]\nsecret = 123456789\n";
    let (_dir, loaded) = load(&[("portcullis.toml", text)]);
    let message = loaded.expect_err("refused").0;
    assert!(message.contains(":2: key `session.secret`: expected"), "{message}");
    assert!(!message.contains("123456789"), "{message}");
}

#[test]
fn a_jwks_file_that_is_no_usable_key_set_is_refused_naming_the_key_and_the_file() {
    for (content, reason) in [
        ("{\"keys\": [", "not a JWKS document"),
        ("not json", "not a JWKS document"),
        ("{\"keys\": []}", "no usable signing key"),
    ] {
        let text = "[[issuers]]\nname = \"a\"\nissuer = \"https://i.test/\"\njwks_file = \"keys.json\"\n";
        let (dir, loaded) = load(&[("portcullis.toml", text), ("keys.json", content)]);
        let message = loaded.expect_err("refused").0;
        let keys = dir.path().join("keys.json").display().to_string();
        assert!(
            message.contains(":4: key `issuers[0].jwks_file`: ") && message.contains(&keys) && message.contains(reason),
            "{content}: {message}"
        );
    }
}

#[test]
fn cluster_and_sentinel_stores_are_resolved_with_their_urls() {
    use super::{Secret, SessionStore};
    let cluster = "[session]\nstore = \"redis\"\nredis_cluster_urls = [\"redis://:pw@10.0.0.1:6379\", \"redis://:pw@10.0.0.2:6379\"]\n";
    let (_dir, loaded) = load(&[("portcullis.toml", cluster)]);
    let session = loaded.expect("valid").session;
    let urls = vec![
        Secret("redis://:pw@10.0.0.1:6379".into()),
        Secret("redis://:pw@10.0.0.2:6379".into()),
    ];
    assert_eq!(session.store, SessionStore::RedisCluster { urls });
    assert_eq!(session.redis_url(), None);
    assert!(!format!("{session:?}").contains("pw@"));

    let sentinel = "[session]\nstore = \"redis\"\nredis_sentinel_urls = [\"redis://10.0.0.1:26379\"]\nredis_sentinel_master = \" mymaster \"\n";
    let (_dir, loaded) = load(&[("portcullis.toml", sentinel)]);
    let store = loaded.expect("valid").session.store;
    let urls = vec![Secret("redis://10.0.0.1:26379".into())];
    assert_eq!(
        store,
        SessionStore::RedisSentinel {
            urls,
            master: "mymaster".into()
        }
    );

    let cookie = "[session]\nredis_cluster_urls = [\"redis://10.0.0.1:6379\"]\n";
    let (_dir, loaded) = load(&[("portcullis.toml", cookie)]);
    assert_eq!(
        loaded.expect("valid").session.store,
        SessionStore::Cookie,
        "store = \"cookie\" (the default) wins"
    );
}

#[test]
fn cluster_and_sentinel_urls_come_from_the_files_they_name() {
    use super::{Secret, SessionStore};
    let text = "[session]\nstore = \"redis\"\nredis_cluster_urls_file = \"nodes\"\n";
    let nodes = "redis://:pw@10.0.0.1:6379\n\n  redis://:pw@10.0.0.2:6379  \n";
    let (_dir, loaded) = load(&[("portcullis.toml", text), ("nodes", nodes)]);
    let urls = vec![
        Secret("redis://:pw@10.0.0.1:6379".into()),
        Secret("redis://:pw@10.0.0.2:6379".into()),
    ];
    assert_eq!(
        loaded.expect("valid").session.store,
        SessionStore::RedisCluster { urls }
    );

    let text =
        "[session]\nstore = \"redis\"\nredis_sentinel_urls_file = \"sentinels\"\nredis_sentinel_master = \"m\"\n";
    let (_dir, loaded) = load(&[("portcullis.toml", text), ("sentinels", "redis://:pw@10.0.0.1:26379\n")]);
    let urls = vec![Secret("redis://:pw@10.0.0.1:26379".into())];
    let master = "m".into();
    assert_eq!(
        loaded.expect("valid").session.store,
        SessionStore::RedisSentinel { urls, master }
    );

    let both = "[session]\nstore = \"redis\"\nredis_cluster_urls = [\"redis://10.0.0.1:6379\"]\nredis_cluster_urls_file = \"nodes\"\n";
    let (_dir, loaded) = load(&[("portcullis.toml", both), ("nodes", "redis://10.0.0.2:6379\n")]);
    let error = loaded.expect_err("refused").to_string();
    assert!(error.contains("session.redis_cluster_urls_file"), "{error}");
    let missing =
        "[session]\nstore = \"redis\"\nredis_sentinel_urls_file = \"nowhere\"\nredis_sentinel_master = \"m\"\n";
    let (_dir, loaded) = load(&[("portcullis.toml", missing)]);
    let error = loaded.expect_err("refused").to_string();
    assert!(error.contains("session.redis_sentinel_urls_file"), "{error}");
}

#[test]
fn two_cluster_nodes_with_different_passwords_are_refused() {
    let text = "[session]\nstore = \"redis\"\nredis_cluster_urls = [\"redis://:a@10.0.0.1:6379\", \"redis://:b@10.0.0.2:6379\"]\n";
    let (_dir, loaded) = load(&[("portcullis.toml", text)]);
    let error = loaded.expect_err("refused").to_string();
    assert!(error.contains("session.redis_cluster_urls"), "{error}");
    assert!(!error.contains(":a@") && !error.contains(":b@"), "{error}");
}
