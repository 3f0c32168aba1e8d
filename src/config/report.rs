//! How a configuration problem is written: the key in one spelling (`issuers[0].leeway`), the
//! line of the config file it is on, the value (masked when it is a secret), and a reason in
//! words. Also the reading of the file that reports every type error at once, not only the
//! first one serde meets.
//!
//! Lines come from `toml_edit` (already compiled for figment's `toml`): its parser keeps the
//! byte span of every key and value, so a key is found exactly, inline tables and dotted keys
//! included, where a search of the text would guess.

use figment::Figment;
use figment::error::Kind;
use figment::value::Value;
use serde::de::DeserializeOwned;

use super::problems::Problems;

/// The key of a figment path in the one spelling of messages: `["issuers", "0", "leeway"]` is
/// `issuers[0].leeway`.
pub(crate) fn key_of(path: &[impl AsRef<str>]) -> String {
    let mut key = String::new();
    for segment in path.iter().map(AsRef::as_ref) {
        if segment.parse::<usize>().is_ok() {
            key.push_str(&format!("[{segment}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(segment);
        }
    }
    key
}

/// The segments of a key (`issuers[0].leeway` is `issuers`, `0`, `leeway`).
pub(crate) fn segments(key: &str) -> Vec<String> {
    key.split(['.', '['])
        .map(|segment| segment.trim_end_matches(']').to_string())
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// Whether the value of `key` is a secret, never to be printed.
pub(crate) fn is_secret(key: &str) -> bool {
    let last = segments(key)
        .into_iter()
        .rev()
        .find(|s| s.parse::<usize>().is_err())
        .unwrap_or_default();
    last.ends_with("secret")
        || last.ends_with("secrets")
        || last.ends_with("password")
        || last == "token"
        || (last.starts_with("redis_") && last.contains("url"))
}

/// The 1-based line of `key` in the TOML `document`, or of the nearest enclosing table that is
/// there (a missing key is reported where its table starts).
pub(crate) fn line_of(document: &toml_edit::ImDocument<String>, key: &str) -> Option<usize> {
    let mut item = document.as_item();
    let mut span = None;
    for segment in segments(key) {
        let next = match segment.parse::<usize>() {
            Ok(index) => item.get(index),
            Err(_) => {
                let pair = item.as_table_like().and_then(|table| table.get_key_value(&segment));
                if let Some(key_span) = pair.and_then(|(key, _)| key.span()) {
                    span = Some(key_span);
                }
                pair.map(|(_, item)| item)
            }
        };
        let Some(next) = next else { break };
        item = next;
        span = item.span().or(span);
    }
    let start = span?.start;
    Some(document.raw()[..start].matches('\n').count() + 1)
}

/// The value at `key` in figment's merged `value`, for the message: scalars and short lists, a
/// mask for secrets, nothing for tables.
pub(crate) fn shown_value(value: &Value, key: &str) -> Option<String> {
    let mut value = value;
    for segment in segments(key) {
        value = match (value, segment.parse::<usize>()) {
            (Value::Array(_, items), Ok(index)) => items.get(index)?,
            (Value::Dict(_, dict), _) => dict.get(&segment)?,
            _ => return None,
        };
    }
    if is_secret(key) {
        return Some("***".into());
    }
    let text = scalar_text(value).or_else(|| match value {
        Value::Array(_, items) => {
            let items: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        _ => None,
    })?;
    (text.chars().count() <= 120).then_some(text)
}

fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(_, text) => format!("{text:?}"),
        Value::Char(_, c) => format!("{c:?}"),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match (n.to_i128(), n.to_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => f.to_string(),
            _ => return None,
        },
        _ => return None,
    })
}

/// One figment error as a key and a reason in words: backticks that pair up, the key of an
/// unknown or missing field being that field's own.
pub(crate) fn describe(error: &figment::Error) -> (String, String) {
    let mut path = error.path.clone();
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let reason = match &error.kind {
        Kind::UnknownField(name, expected) => {
            if path.last() != Some(name) {
                path.push(name.clone());
            }
            match expected.len() {
                0 => "unknown key".to_string(),
                _ => format!("unknown key; expected one of {}", list(expected)),
            }
        }
        Kind::UnknownVariant(found, expected) => {
            format!("unknown value `{found}`; expected one of {}", list(expected))
        }
        Kind::MissingField(name) => {
            path.push(name.to_string());
            "missing: this key is required".into()
        }
        // What was found would show the secret.
        Kind::InvalidType(_, expected) if is_secret(&key_of(&path)) => format!("expected {expected}"),
        Kind::InvalidType(found, expected) => format!("expected {expected}, found {found}"),
        other => other.to_string(),
    };
    (key_of(&path), reason)
}

/// Reads `T` from `figment`, reporting every value that does not fit into `problems` (not only
/// the first one serde meets): each bad value is recorded, taken out, and the rest read again,
/// so that `T` still holds the good values for the validation pass. `None` when a required
/// key is missing or a value cannot be taken out.
pub(crate) fn extract_reporting<T: DeserializeOwned>(figment: &Figment, problems: &mut Problems) -> Option<T> {
    let mut error = match figment.extract::<T>() {
        Ok(value) => return Some(value),
        Err(error) => error,
    };
    let mut merged = figment.find_value("").ok();
    // Each round takes one value out; a file has far fewer bad values than this.
    for _ in 0..64 {
        let mut taken_out = true;
        for one in error {
            let (key, reason) = describe(&one);
            let missing = matches!(one.kind, Kind::MissingField(_));
            if missing && problems.was_taken_out(&key) {
                // Missing because its bad value was taken out: already reported.
                return None;
            }
            problems.add_from_file(&key, &one, reason);
            taken_out &= !missing && merged.as_mut().is_some_and(|value| take_out(value, &segments(&key)));
        }
        let value = merged.as_ref()?;
        if !taken_out {
            return None;
        }
        error = match value.deserialize::<T>() {
            Ok(value) => return Some(value),
            Err(error) => error,
        };
    }
    None
}

/// Removes the value at `path` (the whole list for a bad list item); false when it is not there.
fn take_out(value: &mut Value, path: &[String]) -> bool {
    let mut path = path.to_vec();
    while path.last().is_some_and(|last| last.parse::<usize>().is_ok()) {
        path.pop();
    }
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        node = match (node, segment.parse::<usize>()) {
            (Value::Array(_, items), Ok(index)) => match items.get_mut(index) {
                Some(item) => item,
                None => return false,
            },
            (Value::Dict(_, dict), _) => match dict.get_mut(segment) {
                Some(item) => item,
                None => return false,
            },
            _ => return false,
        };
    }
    match node {
        Value::Dict(_, dict) => dict.remove(last).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_one_spelling() {
        assert_eq!(key_of(&["issuers", "0", "leeway"]), "issuers[0].leeway");
        assert_eq!(key_of(&["session", "secrets", "1"]), "session.secrets[1]");
        assert_eq!(segments("issuers[0].leeway"), ["issuers", "0", "leeway"]);
    }

    #[test]
    fn secrets_are_recognised_by_their_key() {
        assert!(is_secret("login.client_secret"));
        assert!(is_secret("session.secrets[0]"));
        assert!(is_secret("session.redis_url"));
        assert!(!is_secret("login.client_secret_file"));
        assert!(!is_secret("issuers[0].leeway"));
        assert!(!is_secret("server.token_cache_memory"));
    }

    #[test]
    fn lines_are_found_for_tables_arrays_of_tables_and_inline_tables() {
        let text = "[server]\nlisten = 1\n\n[[issuers]]\nname = \"a\"\n\n[[issuers]]\nname = \"b\"\nleeway = \"x\"\n\
                    [headers]\nuser = { a = 1 }\n";
        let document = toml_edit::ImDocument::parse(text.to_string()).expect("toml");
        assert_eq!(line_of(&document, "server.listen"), Some(2));
        assert_eq!(line_of(&document, "issuers[1].leeway"), Some(9));
        assert_eq!(line_of(&document, "issuers[0].leeway"), Some(4), "its table");
        assert_eq!(line_of(&document, "headers.user"), Some(11));
        assert_eq!(line_of(&document, "nonsense"), None);
    }
}
