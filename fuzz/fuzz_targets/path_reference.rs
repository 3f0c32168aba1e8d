//! Differential: `normalise_path` against a slow, obviously-written model of the contract's
//! normalisation rules (decode unreserved escapes, cut each segment's `;parameters`, merge empty
//! segments, resolve `.` and `..`, refuse every ambiguous spelling). Both must accept the same
//! paths and give the same output; on top, re-spelling an accepted path in ways the contract
//! calls equivalent (an unreserved character percent-encoded, lowercase hex, an added `/./`, a
//! doubled slash, a `;parameter`) must not change what it normalises to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::origin::normalise_path;

fuzz_target!(|raw: &str| {
    let got = normalise_path(raw).ok();
    let model = reference(raw);
    assert_eq!(got, model, "implementation and model disagree on {raw:?}");
    let Some(once) = got else { return };
    for bad in ["//", "/./", "/../", ";", "#", "\\", "%2F", "%5C", "%20/", "%00"] {
        assert!(!once.contains(bad), "{raw:?} -> {once:?} holds {bad}");
    }
    for variant in respellings(raw) {
        assert_eq!(
            normalise_path(&variant).as_deref(),
            Ok(once.as_str()),
            "{variant:?} is a respelling of {raw:?}"
        );
    }
});

/// Spellings the contract says mean the same path as `raw` (an accepted path).
fn respellings(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    // The first literal unreserved character (not a `.`, whose escape is the same dot)
    // percent-encoded, in lowercase and in uppercase hex.
    let bytes = raw.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => i += 3,
            b if b.is_ascii_alphanumeric() || b"-_~".contains(&b) => {
                out.push(format!("{}%{b:02x}{}", &raw[..i], &raw[i + 1..]));
                out.push(format!("{}%{b:02X}{}", &raw[..i], &raw[i + 1..]));
                break;
            }
            _ => i += 1,
        }
    }
    let (path, tail) = raw.split_at(raw.rfind('/').unwrap_or(0));
    // A `/.` or a doubled slash before the last segment, a parameter on the first segment.
    out.push(format!("{path}/.{tail}"));
    out.push(format!("{path}/{tail}"));
    if let Some(end) = raw[1..].find('/').map(|i| i + 1) {
        let first = &raw[1..end];
        if segment(first).is_some_and(|name| !matches!(name.as_str(), "" | "." | "..")) && !first.contains(';') {
            out.push(format!("{};p=1{}", &raw[..end], &raw[end..]));
        }
    }
    out
}

/// The model: whole segments at a time, no shared state between the steps.
fn reference(raw: &str) -> Option<String> {
    let rest = raw.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let mut stack: Vec<String> = Vec::new();
    let mut ends_in_slash = false;
    for part in parts {
        let segment = segment(part)?;
        ends_in_slash = matches!(segment.as_str(), "" | "." | "..");
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                stack.pop()?;
            }
            text if text.ends_with('.') || text.ends_with("%20") => return None,
            text => stack.push(text.to_owned()),
        }
    }
    let mut out = format!("/{}", stack.join("/"));
    if ends_in_slash && !stack.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// One segment between literal slashes, decoded, cut at its first literal `;`, and spelled
/// canonically; `None` for anything the contract refuses.
fn segment(part: &str) -> Option<String> {
    // (byte, was it percent-encoded)
    let mut bytes: Vec<(u8, bool)> = Vec::new();
    let raw = part.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if byte == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let decoded = u8::from_str_radix(hex, 16).ok()?;
            if matches!(decoded, b'/' | b'\\') || decoded < 0x20 || decoded == 0x7f {
                return None;
            }
            bytes.push((decoded, true));
            i += 3;
        } else {
            if matches!(byte, b'\\' | b'#') || byte < 0x20 || byte == 0x7f {
                return None;
            }
            bytes.push((byte, false));
            i += 1;
        }
    }
    let decoded: Vec<u8> = bytes.iter().map(|(b, _)| *b).collect();
    std::str::from_utf8(&decoded).ok()?;
    if let Some(cut) = bytes.iter().position(|&(b, escaped)| b == b';' && !escaped) {
        bytes.truncate(cut);
        let name: Vec<u8> = bytes.iter().map(|(b, _)| *b).collect();
        if name == b"." || name == b".." {
            return None;
        }
    }
    let mut text = String::new();
    for (byte, escaped) in bytes {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        let literal_ok = unreserved || b"!$&'()*+,;=:@".contains(&byte);
        if (escaped && unreserved) || (!escaped && literal_ok) {
            text.push(char::from(byte));
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(text)
}
