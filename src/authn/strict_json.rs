//! JSON objects read strictly: a member name that appears twice in one object, at any depth,
//! is refused. serde_json keeps the last of two, while other readers keep the first, so a
//! token with `"tenant":"acme","tenant":"evil"` could mean one thing to a requirement and
//! another to a header template or the upstream.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `bytes` as a JSON object, refusing repeated member names anywhere in it.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut deserializer).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err("not a JSON object".into()),
    }
}

/// A `serde_json::Value` that refuses duplicate member names.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom(format_args!("member `{name}` appears twice")));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_reads_like_serde_json() {
        let text = br#"{"a":1,"b":[true,null,-2,1.5,"x"],"c":{"d":"e"},"f":18446744073709551615}"#;
        let strict = parse_object(text).expect("valid");
        let plain: Value = serde_json::from_slice(text).expect("valid");
        assert_eq!(Value::Object(strict), plain);
    }

    #[test]
    fn a_repeated_name_is_refused_at_any_depth() {
        let top = parse_object(br#"{"tenant":"acme","tenant":"evil"}"#).expect_err("duplicate");
        assert!(top.contains("`tenant` appears twice"), "{top}");
        let nested = parse_object(br#"{"realm_access":{"roles":["a"],"roles":["admin"]}}"#).expect_err("duplicate");
        assert!(nested.contains("`roles` appears twice"), "{nested}");
        let in_list = parse_object(br#"{"l":[{"x":1,"x":2}]}"#).expect_err("duplicate");
        assert!(in_list.contains("`x` appears twice"), "{in_list}");
    }

    #[test]
    fn an_escaped_spelling_of_the_same_name_is_the_same_name() {
        assert!(parse_object(br#"{"tenant":"acme","t\u0065nant":"evil"}"#).is_err());
    }

    #[test]
    fn the_same_name_in_two_objects_is_fine() {
        let object = parse_object(br#"{"a":{"x":1},"b":{"x":2}}"#).expect("valid");
        assert_eq!(object.get("b"), Some(&json!({"x": 2})));
    }

    #[test]
    fn anything_but_one_object_is_refused() {
        for text in [&b"[1]"[..], b"1", b"", b"{", b"{} {}", b"{\"a\":1}x", b"\xff"] {
            assert!(parse_object(text).is_err(), "{text:?}");
        }
    }
}
