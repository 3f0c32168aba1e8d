//! The configuration reference (`docs/configuration.md`) against the config code, so the two
//! cannot drift: the keys the code accepts are read from its own "unknown key; expected one of"
//! message (every section refuses unknown keys), each documented default is written explicitly
//! and must load to the same configuration as leaving the key out, each `required` key must be
//! named when it is left out, each example must load and change the configuration, and each key
//! of a table section must work through its `PORTCULLIS_<SECTION>__<KEY>` variable in `check`.

mod reference;

use std::collections::BTreeSet;
use std::path::Path;

use portcullis::config::Config;
use reference::{Absent, Row, Section, render, with_example};

use crate::common::{fixture, pki::Pki, run_with_env};

/// A folder holding every file the page's examples name, and the config written into it.
struct Folder {
    dir: tempfile::TempDir,
    _pki: Pki,
}

impl Folder {
    fn new() -> Folder {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new();
        let copy = |from: &Path, to: &str| {
            std::fs::copy(from, dir.path().join(to)).unwrap_or_else(|e| panic!("{to}: {e}"));
        };
        for folder in ["keys", "secrets", "certs", "pages", "rules", "more-rules"] {
            std::fs::create_dir(dir.path().join(folder)).expect("mkdir");
        }
        copy(&fixture("keys/rsa1.jwks.json"), "keys/jwks.json");
        copy(&fixture("keys/ec1.pem"), "keys/identity.pem");
        copy(&fixture("keys/rsa1.pem"), "keys/identity-old.pem");
        copy(&pki.ca(), "certs/ca.crt");
        let session = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
        let older = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        for (file, content) in [
            ("secrets/client-secret", "s3cret\n".to_string()),
            ("secrets/introspection-secret", "s3cret\n".to_string()),
            ("secrets/session-secret", format!("{session}\n")),
            ("secrets/session-secrets", format!("{session}\n{older}\n")),
            ("secrets/redis-url", "redis://127.0.0.1:6379/0\n".to_string()),
            (
                "secrets/redis-nodes",
                "redis://10.0.0.1:6379\nredis://10.0.0.2:6379\n".to_string(),
            ),
            ("secrets/sentinels", "redis://10.0.0.1:26379\n".to_string()),
            ("secrets/authorizer-token", "a-service-account-token\n".to_string()),
            ("rules/app.yaml", "- id: app\n  policy: allow\n".to_string()),
        ] {
            std::fs::write(dir.path().join(file), content).expect("write fixture");
        }
        Folder { dir, _pki: pki }
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("portcullis.toml")
    }

    /// Loads `text` as the config; the error's text when it does not load.
    fn load(&self, text: &str) -> Result<Config, String> {
        std::fs::write(self.file(), text).expect("write config");
        Config::load(&self.file()).map_err(|e| e.0)
    }

    /// Loads `text`, which must load, as its debug form (secrets masked, files resolved).
    fn loaded(&self, text: &str, what: &str) -> String {
        match self.load(text) {
            Ok(config) => format!("{config:?}"),
            Err(error) => panic!("{what} does not load:\n{text}\n{error}"),
        }
    }
}

/// The names in the config's "unknown key; expected one of `a`, `b`" message for `text`.
fn accepted_keys(folder: &Folder, text: &str) -> BTreeSet<String> {
    let error = folder.load(text).expect_err("an unknown key is refused");
    let line = error
        .lines()
        .find(|line| line.contains("zz_not_a_key"))
        .unwrap_or_else(|| panic!("the unknown key is not named:\n{error}"));
    let list = line
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("no list of keys: {line}"))
        .1;
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn every_key_the_config_accepts_is_in_the_reference_and_it_lists_no_other() {
    let sections = reference::read();
    let folder = Folder::new();
    let top: BTreeSet<String> = sections
        .iter()
        .filter(|section| !section.name.contains('.'))
        .map(|section| section.name.clone())
        .collect();
    compare("the top level", &accepted_keys(&folder, "zz_not_a_key = 1\n"), &top);
    for section in &sections {
        let mut assignments = section.base();
        assignments.push(("zz_not_a_key".into(), "1".into()));
        let accepted = accepted_keys(&folder, &render(&sections, &section.name, &assignments));
        let mut documented: BTreeSet<String> = section.rows.iter().map(|row| row.key.clone()).collect();
        // A key holding a table is documented as its own section (`[issuers.introspection]`).
        let nested = format!("{}.", section.name);
        documented.extend(
            sections
                .iter()
                .filter_map(|s| s.name.strip_prefix(&nested).map(str::to_string)),
        );
        compare(&format!("[{}]", section.name), &accepted, &documented);
    }
}

fn compare(what: &str, accepted: &BTreeSet<String>, documented: &BTreeSet<String>) {
    let missing: Vec<&String> = accepted.difference(documented).collect();
    let refused: Vec<&String> = documented.difference(accepted).collect();
    assert!(
        missing.is_empty() && refused.is_empty(),
        "{what}: keys the config accepts but docs/configuration.md does not list: {missing:?}; \
         keys it lists that the config refuses: {refused:?}"
    );
}

#[test]
fn every_required_key_is_named_when_left_out_and_the_others_may_be() {
    let sections = reference::read();
    let folder = Folder::new();
    for section in &sections {
        let base = section.base();
        folder.loaded(
            &render(&sections, &section.name, &base),
            &format!("[{}] with its required keys only", section.name),
        );
        for row in section.rows.iter().filter(|row| row.absent == Absent::Required) {
            let without: Vec<_> = base.iter().filter(|(key, _)| *key != row.key).cloned().collect();
            let text = render(&sections, &section.name, &without);
            let error = folder
                .load(&text)
                .err()
                .unwrap_or_else(|| panic!("documented as required, but loads without it: {}", row.line));
            let key = format!("key `{}`", section.full_key(&row.key, &sections));
            assert!(
                error.contains(&key),
                "left out, {key} is not named:\n{error}\n(row: {})",
                row.line
            );
        }
    }
}

#[test]
fn every_documented_default_is_what_the_config_yields_without_the_key() {
    let sections = reference::read();
    let folder = Folder::new();
    for section in &sections {
        let base = section.base();
        let without = folder.loaded(&render(&sections, &section.name, &base), "the base");
        for row in &section.rows {
            let Absent::Value(default) = &row.absent else { continue };
            let mut explicit = base.clone();
            explicit.push((row.key.clone(), default.clone()));
            let with = folder.loaded(&render(&sections, &section.name, &explicit), &row.line);
            assert_eq!(
                with, without,
                "[{}] {} = {default} (the documented default) loads differently from leaving it out: \
                 the code's default differs (row: {})",
                section.name, row.key, row.line
            );
        }
    }
}

#[test]
fn every_example_loads_and_changes_the_configuration() {
    let sections = reference::read();
    let folder = Folder::new();
    for section in &sections {
        let base = section.base();
        let plain = folder.loaded(&render(&sections, &section.name, &base), "the base");
        for row in &section.rows {
            let text = render(&sections, &section.name, &with_example(&base, row));
            let loaded = folder.loaded(&text, &format!("the example of {}", row.line));
            // A key written instead of another may hold the same value (a secret inline or in
            // a file); a required key's example is the base itself.
            if row.replaces.is_empty() && row.absent != Absent::Required {
                assert_ne!(
                    loaded, plain,
                    "the example changes nothing, is the key read? {}",
                    row.line
                );
            }
        }
    }
}

#[test]
fn every_key_of_a_table_section_works_through_its_environment_variable() {
    let sections = reference::read();
    let folder = Folder::new();
    let tables = sections
        .iter()
        .filter(|section| !section.array && !section.name.contains('.'));
    for section in tables {
        for row in &section.rows {
            let (file, env) = environment_form(&sections, section, row);
            std::fs::write(folder.file(), &file).expect("write config");
            let config = folder.file().display().to_string();
            let (code, stdout, stderr) = run_with_env(&["check", "--config", &config], folder.dir.path(), &env);
            assert!(
                code == 0 && stdout.contains("ok:"),
                "{env:?} over\n{file}\nis refused ({code}): {stdout}{stderr}\n(row: {})",
                row.line
            );
        }
    }
}

/// The file without `row`'s example and the variables that set it instead.
fn environment_form(sections: &[Section], section: &Section, row: &Row) -> (String, Vec<(String, String)>) {
    let assignments = with_example(&section.base(), row);
    let (by_env, in_file): (Vec<_>, Vec<_>) = assignments
        .into_iter()
        .partition(|(key, _)| row.example.iter().any(|(set, _)| set == key));
    let env = by_env
        .into_iter()
        .map(|(key, value)| {
            let name = format!("PORTCULLIS_{}__{}", section.name, key).to_uppercase();
            (name, value)
        })
        .collect();
    (render(sections, &section.name, &in_file), env)
}
