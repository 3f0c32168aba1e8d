//! `docs/configuration.md` read as data: one [`Section`] per `## `[section]`` heading, one
//! [`Row`] per line of its table, and the TOML a test writes from them.
//!
//! The page's conventions, which these functions hold it to: a section heading names the
//! section in backticks (`[server]`, `[[issuers]]`, `[issuers.introspection]`); each table row
//! is `| key | type | default | what it does | example |`; the default starts with a backticked
//! TOML value, `required` or `none` (`instead of `other`` marks a key that replaces `other`);
//! the example is one or more backticked `key = value` assignments, the row's own first (the
//! others are what it needs beside it).

use crate::common::root;

/// What a key is when it is absent.
#[derive(Debug, Clone, PartialEq)]
pub enum Absent {
    /// This TOML value.
    Value(String),
    /// Loading fails, naming the key.
    Required,
    /// The key is optional and has no value.
    Nothing,
}

/// One row of a section's table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The key within its section (`listen`).
    pub key: String,
    /// What the page says it is when absent.
    pub absent: Absent,
    /// Keys this one is written instead of (taken out when its example is written).
    pub replaces: Vec<String>,
    /// The example: `(key, TOML value)` assignments, this row's key first.
    pub example: Vec<(String, String)>,
    /// The row as written, for messages.
    pub line: String,
}

/// One `## `[section]`` of the page.
#[derive(Debug, Clone)]
pub struct Section {
    /// `server`, `issuers`, `issuers.introspection`.
    pub name: String,
    /// Written `[[name]]`: a list of blocks.
    pub array: bool,
    /// Its table.
    pub rows: Vec<Row>,
}

/// The sections of `docs/configuration.md`.
pub fn read() -> Vec<Section> {
    let text = std::fs::read_to_string(root().join("docs/configuration.md")).expect("docs/configuration.md");
    parse(&text)
}

/// The sections of the page `text`.
pub fn parse(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut current = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = false;
            let Some(name) = spans(heading).into_iter().find(|span| span.starts_with('[')) else {
                continue;
            };
            let array = name.starts_with("[[");
            let name = name.trim_matches(['[', ']']).to_string();
            sections.push(Section {
                name,
                array,
                rows: Vec::new(),
            });
            current = true;
        } else if current && line.starts_with("| `") {
            let section = sections.last_mut().expect("a section");
            section.rows.push(row(line));
        }
    }
    sections
}

/// The text between each pair of backticks in `text`.
fn spans(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn row(line: &str) -> Row {
    let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!(cells.len(), 5, "a row needs key, type, default, what, example: {line}");
    let key = cells[0].trim_matches('`').to_string();
    let default = cells[2];
    let absent = if default.starts_with('`') {
        Absent::Value(spans(default).remove(0))
    } else if default.starts_with("required") {
        Absent::Required
    } else if default.starts_with("none") {
        Absent::Nothing
    } else {
        panic!("a default starts with a `value`, `required` or `none`: {line}");
    };
    let replaces = default
        .split("instead of ")
        .skip(1)
        .filter_map(|rest| spans(rest).into_iter().next())
        .collect();
    let example: Vec<(String, String)> = spans(cells[4])
        .iter()
        .map(|assignment| {
            let (name, value) = assignment
                .split_once(" = ")
                .unwrap_or_else(|| panic!("an example is `key = value`: {line}"));
            (name.to_string(), value.to_string())
        })
        .collect();
    assert!(
        example.first().is_some_and(|(name, _)| *name == key),
        "the example starts with `{key} = ...`: {line}"
    );
    Row {
        key,
        absent,
        replaces,
        example,
        line: line.to_string(),
    }
}

impl Section {
    /// The assignments of a minimal block: each required key with its example.
    pub fn base(&self) -> Vec<(String, String)> {
        self.rows
            .iter()
            .filter(|row| row.absent == Absent::Required)
            .map(|row| row.example[0].clone())
            .collect()
    }

    /// The key as the config's messages spell it (`server.listen`, `issuers[0].name`,
    /// `issuers[0].introspection.client_id`).
    pub fn full_key(&self, key: &str, sections: &[Section]) -> String {
        match self.name.split_once('.') {
            Some((parent, child)) => {
                let parent = find(sections, parent);
                parent.full_key(&format!("{child}.{key}"), sections)
            }
            None if self.array => format!("{}[0].{key}", self.name),
            None => format!("{}.{key}", self.name),
        }
    }
}

/// The section `name` of `sections`.
pub fn find<'a>(sections: &'a [Section], name: &str) -> &'a Section {
    sections
        .iter()
        .find(|section| section.name == name)
        .unwrap_or_else(|| panic!("docs/configuration.md has no section `{name}`"))
}

/// `base` with `row`'s example written in: the keys it replaces or sets taken out first.
pub fn with_example(base: &[(String, String)], row: &Row) -> Vec<(String, String)> {
    let mut assignments: Vec<(String, String)> = base
        .iter()
        .filter(|(name, _)| !row.replaces.contains(name) && !row.example.iter().any(|(set, _)| set == name))
        .cloned()
        .collect();
    assignments.extend(row.example.iter().cloned());
    assignments
}

/// A whole config file: what section `name` needs around it (its parent block; for `[login]`
/// an issuer and a session secret), then the section with `assignments`.
pub fn render(sections: &[Section], name: &str, assignments: &[(String, String)]) -> String {
    let section = find(sections, name);
    let mut text = match name.split_once('.') {
        Some((parent, _)) => render(sections, parent, &find(sections, parent).base()),
        None if name == "login" => {
            let issuers = render(sections, "issuers", &find(sections, "issuers").base());
            format!("{issuers}[session]\nsecret = \"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=\"\n")
        }
        None => String::new(),
    };
    match section.array {
        true => text.push_str(&format!("[[{name}]]\n")),
        false => text.push_str(&format!("[{name}]\n")),
    }
    for (key, value) in assignments {
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

#[test]
fn the_page_is_read_as_its_conventions_say() {
    let page = "## `[a]`\n\n| key | type | default | what | example |\n| --- | --- | --- | --- | --- |\n\
        | `x` | t | `\"1s\"` | w | `x = \"2s\"` |\n| `y` | t | required | w | `y = 1`, `x = \"3s\"` |\n\
        | `z` | t | none; use instead of `y` | w | `z = true` |\n## Other\n| `not` | a | row |\n\
        ## `[[b]]`\n| `n` | t | required | w | `n = \"m\"` |\n## `[b.c]`\n| `k` | t | none | w | `k = 2` |\n";
    let sections = parse(page);
    let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "b.c"]);
    let a = &sections[0];
    assert_eq!(a.rows.len(), 3);
    assert_eq!(a.rows[0].absent, Absent::Value("\"1s\"".into()));
    assert_eq!(a.base(), [("y".to_string(), "1".to_string())]);
    assert_eq!(a.rows[2].replaces, ["y"]);
    assert_eq!(
        with_example(&a.base(), &a.rows[2]),
        [("z".to_string(), "true".to_string())]
    );
    assert_eq!(with_example(&a.base(), &a.rows[1]).len(), 2);
    assert_eq!(sections[2].full_key("k", &sections), "b[0].c.k");
    assert_eq!(render(&sections, "b.c", &[]), "[[b]]\nn = \"m\"\n[b.c]\n");
}
