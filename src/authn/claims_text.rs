//! The claims of an identity: the JSON text, and beside it the members the rules in force read
//! per request (`require.claims`, an expression's `claims.<name>`, a `{claims.<path>}`
//! template), parsed once when the identity is made instead of on every request.
//!
//! Which members to keep is a speed hint and nothing more: a member that is not kept is read from
//! the text, with the same answer. Kept members are weighed in the token cache's budget
//! ([`Claims::heap_bytes`]), so keeping them never lets the cache outgrow it.

use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use super::lookup;

/// The claim paths to keep parsed in identities made from now on (set with [`keep_claims`]).
static KEPT_PATHS: LazyLock<ArcSwap<Box<[Box<str>]>>> = LazyLock::new(|| ArcSwap::from_pointee(Box::default()));

/// Keeps `paths` parsed in every identity made from now on (the rule set in force reads them per
/// request). Identities already cached keep what they kept; they read other members from the text.
pub fn keep_claims(paths: Vec<String>) {
    let mut paths: Vec<Box<str>> = paths.into_iter().map(String::into_boxed_str).collect();
    paths.sort();
    paths.dedup();
    KEPT_PATHS.store(Arc::new(paths.into_boxed_slice()));
}

/// The claims of a credential: the JSON text, and the kept members (see the module docs).
/// Not kept parsed whole: a cached identity then costs about twice the memory (measured with
/// 100,000 cached tokens in benches/load.sh).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims {
    text: Box<str>,
    /// Each kept path with its value (`None`: the claims have no such member).
    kept: Box<[(Box<str>, Option<Value>)]>,
}

impl Claims {
    /// Wraps the JSON text of a claims object, keeping nothing parsed.
    pub fn from_json(text: &str) -> Claims {
        Claims {
            text: text.into(),
            kept: Box::default(),
        }
    }

    /// The claims whose text is `text` and parsed form `parsed`, keeping the members the rules
    /// in force read (see [`keep_claims`]).
    pub fn new(text: &str, parsed: &Map<String, Value>) -> Claims {
        Claims::keeping(text, parsed, &KEPT_PATHS.load())
    }

    fn keeping(text: &str, parsed: &Map<String, Value>, paths: &[Box<str>]) -> Claims {
        let kept = paths
            .iter()
            .map(|path| (path.clone(), lookup(parsed, path).cloned()))
            .collect();
        Claims {
            text: text.into(),
            kept,
        }
    }

    /// The JSON text of the claims, as the credential carried it.
    pub fn json_text(&self) -> &str {
        &self.text
    }

    /// The length in bytes of the JSON text.
    pub fn json_len(&self) -> usize {
        self.text.len()
    }

    /// The heap bytes these claims hold (the text and the kept members), counting
    /// `per_allocation` bytes of allocator overhead per heap block.
    pub fn heap_bytes(&self, per_allocation: usize) -> usize {
        let block = |bytes| block(bytes, per_allocation);
        block(self.text.len())
            + block(self.kept.len() * size_of::<(Box<str>, Option<Value>)>())
            + self
                .kept
                .iter()
                .map(|(path, value)| block(path.len()) + value.as_ref().map_or(0, |v| value_heap(v, per_allocation)))
                .sum::<usize>()
    }

    /// Parses the claims object (empty when the text is not an object).
    pub fn parse(&self) -> Map<String, Value> {
        serde_json::from_str(&self.text).unwrap_or_default()
    }

    /// The value of a claim: first the exact name (claim names may contain dots, as Auth0's
    /// namespaced claims do), then a dotted path into nested objects (`realm_access.roles`).
    /// A kept member is answered from its parsed value; otherwise only the top-level members
    /// named by `path` are built and the rest of the text is skipped.
    pub fn get(&self, path: &str) -> Option<Value> {
        if let Some((_, value)) = self.kept.iter().find(|(kept, _)| **kept == *path) {
            return value.clone();
        }
        let first = path.split('.').next().unwrap_or(path);
        let mut deserializer = serde_json::Deserializer::from_str(&self.text);
        let wanted = serde::de::DeserializeSeed::deserialize(Members { names: [path, first] }, &mut deserializer);
        let [exact, parent] = wanted.ok()?;
        if let Some(value) = exact {
            return Some(value);
        }
        let mut value = parent?;
        for part in path.split('.').skip(1) {
            value = value.as_object_mut()?.remove(part)?;
        }
        Some(value)
    }
}

/// The heap bytes of a JSON value (an estimate of the allocator's view: each block plus
/// `per_allocation`; a map entry as a B-tree node's share).
fn value_heap(value: &Value, per_allocation: usize) -> usize {
    let block = |bytes| block(bytes, per_allocation);
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(text) => block(text.capacity()),
        Value::Array(items) => {
            block(items.capacity() * size_of::<Value>())
                + items.iter().map(|item| value_heap(item, per_allocation)).sum::<usize>()
        }
        Value::Object(members) => {
            // A B-tree node holds up to 11 entries; count each entry's key and value slots and
            // one node per 11 entries, rounded up.
            let nodes = members.len().div_ceil(11);
            block(nodes * 11 * (size_of::<String>() + size_of::<Value>()))
                + members
                    .iter()
                    .map(|(name, value)| block(name.capacity()) + value_heap(value, per_allocation))
                    .sum::<usize>()
        }
    }
}

/// A heap block of `bytes` plus the allocator's overhead (nothing when empty: no allocation).
fn block(bytes: usize, per_allocation: usize) -> usize {
    if bytes == 0 { 0 } else { bytes + per_allocation }
}

/// Reads a JSON object keeping only the members `names` (the first of each), skipping the rest.
struct Members<'n> {
    names: [&'n str; 2],
}

impl<'de> serde::de::DeserializeSeed<'de> for Members<'_> {
    type Value = [Option<Value>; 2];

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Members<'_> {
    type Value = [Option<Value>; 2];

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON object of claims")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: [Option<Value>; 2] = [None, None];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.names.iter().position(|name| *name == key) {
                Some(index) if found[index].is_none() => {
                    let value: Value = map.next_value()?;
                    if self.names[0] == self.names[1] {
                        found = [Some(value.clone()), Some(value)];
                    } else {
                        found[index] = Some(value);
                    }
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).expect("object")
    }

    #[test]
    fn kept_members_answer_as_the_text_does() {
        let text = r#"{"tenant":"acme","realm_access":{"roles":["r1"]},"a.b":1,"a":{"b":2},"n":null}"#;
        let paths: Vec<Box<str>> = ["tenant", "realm_access.roles", "a.b", "missing", "n"]
            .into_iter()
            .map(Box::from)
            .collect();
        let kept = Claims::keeping(text, &parsed(text), &paths);
        assert_eq!(kept.kept.len(), 5);
        let plain = Claims::from_json(text);
        for path in [
            "tenant",
            "realm_access.roles",
            "a.b",
            "missing",
            "n",
            "realm_access",
            "a",
        ] {
            assert_eq!(kept.get(path), plain.get(path), "{path}");
        }
        assert_eq!(kept.get("a.b"), Some(json!(1)));
        assert_eq!(kept.get("missing"), None);
    }

    #[test]
    fn kept_members_are_weighed() {
        let text = r#"{"roles":["a","b","c"],"tenant":"acme"}"#;
        let plain = Claims::from_json(text);
        let kept = Claims::keeping(text, &parsed(text), &[Box::from("roles")]);
        let extra = kept.heap_bytes(16) - plain.heap_bytes(16);
        let at_least = size_of::<(Box<str>, Option<Value>)>() + "roles".len() + 3 * size_of::<Value>() + 3;
        assert!(extra >= at_least, "{extra} < {at_least}");
    }
}
