//! `docs/troubleshooting.md` against the source: every message a heading quotes must still be
//! printed by `src/` (a renamed message fails here), every warning and error that `serve` logs
//! must have a heading, and every such log line must name the config key, the issuer, check or
//! authorizer, or the rule it is about.

use crate::common::root;

/// The source of every file under `src/` without its test module, string continuations joined
/// and escapes read, so a message spread over lines reads as it is printed.
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut folders = vec![root().join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read src") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if path.is_dir() && name != "tests" {
                folders.push(path);
            } else if name.ends_with(".rs") && !name.ends_with("tests.rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                // An inline test module closes a file; one declared elsewhere is its own file.
                let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or_default();
                files.push((path.display().to_string(), code.to_string()));
            }
        }
    }
    files
}

/// `code` as its string literals print: `\` line continuations joined, `\"` and `{{` read.
fn printed(code: &str) -> String {
    let mut text = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("\\\n") {
        text.push_str(&rest[..at]);
        rest = rest[at + 2..].trim_start();
    }
    text.push_str(rest);
    text.replace("\\\"", "\"").replace("{{", "{").replace("}}", "}")
}

/// The messages the page quotes: each `### ` heading in a code span.
fn quoted_messages() -> Vec<String> {
    let page = std::fs::read_to_string(root().join("docs/troubleshooting.md")).expect("docs/troubleshooting.md");
    page.lines()
        .filter_map(|line| line.strip_prefix("### "))
        .filter_map(|heading| {
            heading
                .strip_prefix("`` ")
                .and_then(|h| h.strip_suffix(" ``"))
                .or_else(|| heading.strip_prefix('`').and_then(|h| h.strip_suffix('`')))
        })
        .map(str::to_string)
        .collect()
}

/// Whether the pieces of `message` between its `…` all occur in `text`, in order, within a few
/// hundred characters (one format string, not words scattered over a file).
fn occurs(message: &str, text: &str) -> bool {
    let pieces: Vec<&str> = message.split('…').filter(|piece| !piece.is_empty()).collect();
    let Some(first) = pieces.first() else { return false };
    text.match_indices(first).any(|(start, _)| {
        let mut at = start + first.len();
        for piece in &pieces[1..] {
            match text[at..].find(piece) {
                Some(found) if found < 300 => at += found + piece.len(),
                _ => return false,
            }
        }
        at - start < 600
    })
}

#[test]
fn every_message_the_page_quotes_is_printed_by_the_source() {
    let messages = quoted_messages();
    assert!(messages.len() > 100, "the page's headings were not read: {messages:?}");
    let texts: Vec<String> = sources().iter().map(|(_, code)| printed(code)).collect();
    let missing: Vec<&String> = messages
        .iter()
        .filter(|message| !texts.iter().any(|text| occurs(message, text)))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md quotes messages no longer in src/ (renamed? update the page): {missing:#?}"
    );
}

/// One `tracing::warn!` or `tracing::error!` call: its file, its text and its message.
struct LogCall {
    file: String,
    call: String,
    message: String,
}

/// Every warning and error logged in `src/`.
fn log_calls() -> Vec<LogCall> {
    let mut calls = Vec::new();
    for (file, code) in sources() {
        for macro_name in ["tracing::warn!(", "tracing::error!("] {
            for (start, _) in code.match_indices(macro_name) {
                let call = call_text(&code[start + macro_name.len()..]);
                let message = literals(&call)
                    .into_iter()
                    .find(|(after_equals, _)| !after_equals)
                    .map(|(_, literal)| literal)
                    .unwrap_or_default();
                calls.push(LogCall {
                    file: file.clone(),
                    call,
                    message,
                });
            }
        }
    }
    calls
}

/// The arguments of a macro call starting right after its `(`, up to the matching `)`.
fn call_text(code: &str) -> String {
    let (mut depth, mut in_string, mut escaped) = (1, false, false);
    for (index, c) in code.char_indices() {
        match (in_string, c) {
            (true, '\\') if !escaped => escaped = true,
            (true, '"') if !escaped => in_string = false,
            (true, _) => escaped = false,
            (false, '"') => in_string = true,
            (false, '(') => depth += 1,
            (false, ')') => {
                depth -= 1;
                if depth == 0 {
                    return code[..index].to_string();
                }
            }
            _ => {}
        }
    }
    code.to_string()
}

/// The string literals of `call`, each with whether it is a field's value (`key = "..."`).
fn literals(call: &str) -> Vec<(bool, String)> {
    let mut found = Vec::new();
    let mut rest = call;
    while let Some(open) = rest.find('"') {
        let after_equals = rest[..open].trim_end().ends_with('=');
        let body = &rest[open + 1..];
        let mut end = 0;
        let mut escaped = false;
        for (index, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = index;
                    break;
                }
                _ => escaped = false,
            }
        }
        found.push((after_equals, printed(&body[..end])));
        rest = &body[end + 1..];
    }
    found
}

#[test]
fn every_warning_and_error_that_serve_logs_has_an_entry_on_the_page() {
    let calls = log_calls();
    assert!(calls.len() > 25, "the log calls were not found");
    let headings = quoted_messages().join("\n");
    let missing: Vec<String> = calls
        .iter()
        .filter(|call| call.message != "{}")
        .filter(|call| {
            // The page writes a format string's `{placeholder}` as `…`.
            let pattern: String = call.message.split(['{', '}']).step_by(2).collect::<Vec<_>>().join("…");
            !pattern
                .split('…')
                .filter(|p| !p.is_empty())
                .all(|piece| headings.contains(piece))
        })
        .map(|call| format!("{}: {:?}", call.file, call.message))
        .collect();
    assert!(
        missing.is_empty(),
        "log lines without an entry in docs/troubleshooting.md: {missing:#?}"
    );
}

#[test]
fn every_warning_and_error_names_the_key_or_rule_it_is_about() {
    // The lines about no setting: the process cannot install its signal handler; a bug.
    const ABOUT_NO_SETTING: [&str; 2] = ["cannot listen for SIGTERM", "request handler panicked"];
    let names = [
        "key =",
        "rule",
        "issuer =",
        "check =",
        "authorizer =",
        "credential =",
        "file =",
    ];
    let unnamed: Vec<String> = log_calls()
        .iter()
        .filter(|call| !ABOUT_NO_SETTING.iter().any(|known| call.message.contains(known)))
        .filter(|call| !names.iter().any(|name| call.call.contains(name)))
        .map(|call| format!("{}: {}", call.file, call.call.trim()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "log lines that name no config key (`key = \"section.key\"`), issuer, check, authorizer or rule: {unnamed:#?}"
    );
}
