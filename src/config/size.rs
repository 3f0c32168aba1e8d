//! Sizes written like `64MiB`: a whole number and an optional unit, decimal (`KB`, `MB`, `GB`:
//! powers of 1000) or binary (`KiB`, `MiB`, `GiB`: powers of 1024), as Kubernetes and the IEC
//! write them. A bare number (or one with `B`) is bytes.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// The units understood, by their (ASCII case-insensitive) name, with their size in bytes.
const UNITS: [(&str, u64); 7] = [
    ("b", 1),
    ("kb", 1000),
    ("kib", 1 << 10),
    ("mb", 1000 * 1000),
    ("mib", 1 << 20),
    ("gb", 1000 * 1000 * 1000),
    ("gib", 1 << 30),
];

/// Parses a size like `64MiB`, `512 KB` or `1048576` into bytes.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let unit = unit.trim_start();
    let usage = || format!("`{text}` is not a size like 64MiB, 512KB or 1GiB");
    if number.is_empty() {
        return Err(usage());
    }
    let multiplier = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| unit.eq_ignore_ascii_case(name))
            .map(|(_, bytes)| *bytes)
            .ok_or_else(usage)?
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Deserializes a size: a string like `"64MiB"` (see [`parse_byte_size`]) or a number of bytes.
pub fn byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(ByteSize)
}

struct ByteSize;

impl Visitor<'_> for ByteSize {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size like \"64MiB\" or a number of bytes")
    }

    fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<u64, E> {
        Ok(bytes)
    }

    fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<u64, E> {
        u64::try_from(bytes).map_err(|_| E::custom(format!("`{bytes}` is not a size: it is negative")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        parse_byte_size(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_byte_size;

    #[test]
    fn binary_and_decimal_units_are_understood() {
        assert_eq!(parse_byte_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_byte_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_byte_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_byte_size("2kb"), Ok(2000));
        assert_eq!(parse_byte_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_byte_size("3GB"), Ok(3_000_000_000));
        assert_eq!(parse_byte_size("100B"), Ok(100));
        assert_eq!(parse_byte_size(" 4096 "), Ok(4096));
    }

    #[test]
    fn garbage_is_refused_with_the_value_named() {
        for text in ["", "MiB", "lots", "64 MiBs", "1.5GiB", "-1MiB", "64TiB", "64 M"] {
            let error = parse_byte_size(text).expect_err(text);
            assert!(error.contains(text.trim()), "{error}");
        }
        let error = parse_byte_size("99999999999999999999GiB").expect_err("overflow");
        assert!(error.contains("too large"), "{error}");
        assert!(parse_byte_size("17179869184GiB").is_err(), "2^64 bytes overflows");
    }
}
