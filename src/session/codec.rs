//! The cookie codec: AES-256-GCM sealing with the `cookie` crate's private jar (one key per
//! configured secret, the first seals, all open), and the split of a long sealed value into
//! numbered chunk cookies and back.

use cookie::{Cookie, CookieJar, Key};

/// A sealed value longer than this is split into `<name>_0`, `<name>_1`, ... so that every cookie
/// with its attributes stays under the 4096-byte limit of browsers.
pub const CHUNK_BYTES: usize = 3800;
/// No more chunks than this are read or written (a 11 KiB session; nginx refuses far less).
pub const MAX_CHUNKS: usize = 8;

/// The keys derived from the configured secrets: the first seals, all open.
pub struct Keys(Vec<Key>);

impl Keys {
    /// One key per secret (each at least 32 random bytes, checked at config load).
    pub fn derive(secrets: &[Vec<u8>]) -> Keys {
        Keys(secrets.iter().map(|secret| Key::derive_from(secret)).collect())
    }

    /// Encrypts `plaintext` with the first key; the cookie `name` is the associated data, so a
    /// value sealed for one cookie does not open as another. `None` when there is no key.
    pub fn seal(&self, name: &str, plaintext: &str) -> Option<String> {
        let key = self.0.first()?;
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(name.to_string(), plaintext.to_string()));
        jar.get(name).map(|cookie| cookie.value().to_string())
    }

    /// Decrypts a value sealed for the cookie `name` with any of the keys. `None` for anything
    /// tampered, truncated or sealed with a key we do not hold.
    pub fn open(&self, name: &str, sealed: &str) -> Option<String> {
        self.0.iter().find_map(|key| {
            let jar = CookieJar::new();
            jar.private(key)
                .decrypt(Cookie::new(name.to_string(), sealed.to_string()))
                .map(|cookie| cookie.value().to_string())
        })
    }
}

/// How many cookies of a request are looked at: more than any browser keeps for one site, and a
/// bound on the work a crafted `Cookie` header can cause before authentication.
pub const MAX_REQUEST_COOKIES: usize = 256;

/// The cookies of a request, by name (the first of each name wins, as servers usually do); only
/// the first [`MAX_REQUEST_COOKIES`] are read.
pub fn request_cookies(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    let mut cookies: Vec<(String, String)> = Vec::new();
    // Read as (lossy) UTF-8, not `to_str`: one foreign cookie with a non-ASCII byte in its
    // value must not hide every other cookie of the header (found by fuzzing).
    let texts = headers
        .get_all(axum::http::header::COOKIE)
        .into_iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    for text in texts {
        for cookie in Cookie::split_parse(text.as_ref()).flatten().take(MAX_REQUEST_COOKIES) {
            if cookies.len() >= MAX_REQUEST_COOKIES {
                return cookies;
            }
            if !cookies.iter().any(|(name, _)| name == cookie.name()) {
                cookies.push((cookie.name().to_string(), cookie.value().to_string()));
            }
        }
    }
    cookies
}

/// The value of cookie `name` among `cookies`.
pub fn find<'a>(cookies: &'a [(String, String)], name: &str) -> Option<&'a str> {
    cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The name of chunk `index` of cookie `name`.
pub fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}_{index}")
}

/// Splits a sealed value into the cookies to set: `[(name, value)]` when it is short, else
/// `[(name_0, part), (name_1, part), ...]`. `None` when it needs more than [`MAX_CHUNKS`].
pub fn split(name: &str, sealed: &str) -> Option<Vec<(String, String)>> {
    if sealed.len() <= CHUNK_BYTES {
        return Some(vec![(name.to_string(), sealed.to_string())]);
    }
    // The sealed value is base64, so byte boundaries are character boundaries.
    let parts: Vec<(String, String)> = sealed
        .as_bytes()
        .chunks(CHUNK_BYTES)
        .enumerate()
        .map(|(index, part)| (chunk_name(name, index), String::from_utf8_lossy(part).into_owned()))
        .collect();
    (parts.len() <= MAX_CHUNKS).then_some(parts)
}

/// Reassembles the sealed value of cookie `name` from a request: the single cookie, else the
/// consecutive chunks from `_0`.
pub fn join(cookies: &[(String, String)], name: &str) -> Option<String> {
    if let Some(value) = find(cookies, name) {
        return Some(value.to_string());
    }
    let mut sealed = String::new();
    for index in 0..MAX_CHUNKS {
        match find(cookies, &chunk_name(name, index)) {
            Some(part) => sealed.push_str(part),
            None => break,
        }
    }
    (!sealed.is_empty()).then_some(sealed)
}

/// Every cookie of the request that belongs to `name` (the single one and any chunk).
pub fn present_names(cookies: &[(String, String)], name: &str) -> Vec<String> {
    cookies
        .iter()
        .map(|(n, _)| n)
        .filter(|n| {
            *n == name
                || n.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seeds: &[u8]) -> Keys {
        Keys::derive(&seeds.iter().map(|seed| vec![*seed; 32]).collect::<Vec<_>>())
    }

    #[test]
    fn sealed_value_opens_under_the_same_name_only() {
        let keys = keys(&[1]);
        let sealed = keys.seal("_p", "hello").expect("sealed");
        assert!(!sealed.contains("hello"));
        assert_eq!(keys.open("_p", &sealed).as_deref(), Some("hello"));
        assert_eq!(keys.open("_q", &sealed), None);
    }

    #[test]
    fn tampered_truncated_and_foreign_values_do_not_open() {
        let keys = keys(&[1]);
        let sealed = keys.seal("_p", "hello").expect("sealed");
        let mut bytes = sealed.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(keys.open("_p", &String::from_utf8(bytes).expect("ascii")), None);
        assert_eq!(keys.open("_p", &sealed[..sealed.len() - 4]), None);
        assert_eq!(keys.open("_p", ""), None);
        assert_eq!(keys.open("_p", "not base64 at all!"), None);
        let other = self::keys(&[2]).seal("_p", "hello").expect("sealed");
        assert_eq!(keys.open("_p", &other), None);
    }

    #[test]
    fn rotation_opens_with_every_key_and_seals_with_the_first() {
        let old = keys(&[1]).seal("_p", "old").expect("sealed");
        let rotated = keys(&[2, 1]);
        assert_eq!(rotated.open("_p", &old).as_deref(), Some("old"));
        let new = rotated.seal("_p", "new").expect("sealed");
        assert_eq!(keys(&[2]).open("_p", &new).as_deref(), Some("new"));
        assert_eq!(keys(&[1]).open("_p", &new), None);
    }

    #[test]
    fn long_values_split_into_chunks_and_join_back() {
        let value = "A".repeat(CHUNK_BYTES * 2 + 10);
        let parts = split("_p", &value).expect("fits");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].0, "_p_0");
        assert_eq!(join(&parts, "_p").as_deref(), Some(value.as_str()));
        let short = split("_p", "abc").expect("fits");
        assert_eq!(short, vec![("_p".to_string(), "abc".to_string())]);
        assert!(split("_p", &"A".repeat(CHUNK_BYTES * MAX_CHUNKS + 1)).is_none());
    }

    #[test]
    fn present_names_finds_the_cookie_and_its_chunks_only() {
        let cookies: Vec<(String, String)> = ["_p", "_p_0", "_p_12", "_p_csrf", "_px", "other"]
            .iter()
            .map(|n| (n.to_string(), "v".to_string()))
            .collect();
        assert_eq!(present_names(&cookies, "_p"), vec!["_p", "_p_0", "_p_12"]);
    }

    #[test]
    fn request_cookies_are_parsed_from_every_cookie_header() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", "a=1; b=2".parse().expect("value"));
        headers.append("cookie", "c=3; a=9".parse().expect("value"));
        let cookies = request_cookies(&headers);
        assert_eq!(find(&cookies, "a"), Some("1"));
        assert_eq!(find(&cookies, "c"), Some("3"));
    }

    #[test]
    fn a_foreign_cookie_with_non_ascii_bytes_does_not_hide_the_others() {
        // The input of fuzz/corpus/cookies/non-ascii-foreign-cookie.
        let mut headers = axum::http::HeaderMap::new();
        let value =
            axum::http::HeaderValue::from_bytes(b"_p=sealed; other=1; x=forge\x95\xc4\xdf\x9e=v").expect("value");
        headers.append("cookie", value);
        let cookies = request_cookies(&headers);
        assert_eq!(find(&cookies, "_p"), Some("sealed"));
        assert_eq!(find(&cookies, "other"), Some("1"));
    }

    #[test]
    fn a_flood_of_cookies_is_read_only_up_to_the_cap() {
        let flood: Vec<String> = (0..60_000).map(|i| format!("c{i}=v")).collect();
        let mut headers = axum::http::HeaderMap::new();
        headers.append("cookie", flood.join("; ").parse().expect("value"));
        let cookies = request_cookies(&headers);
        assert_eq!(cookies.len(), MAX_REQUEST_COOKIES);
        assert_eq!(find(&cookies, "c0"), Some("v"));
        assert_eq!(find(&cookies, "c59999"), None);
    }
}
