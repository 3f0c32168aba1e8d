//! Cookie headers and sealed session values: reading never panics, a forged value never opens,
//! and a value sealed with the key comes back whole through split, the `Cookie` header,
//! chunk reassembly and decryption, whatever other cookies the request carries.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use portcullis::session::codec::{Keys, chunk_name, find, join, request_cookies, split};

const NAME: &str = "_portcullis";

fuzz_target!(|data: &[u8]| {
    // `plaintext NUL other-cookies`: the first part is sealed, the rest is a foreign Cookie header.
    let mut parts = data.splitn(2, |&b| b == 0);
    let plaintext = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let garbage = parts.next().unwrap_or(data);
    let keys = Keys::derive(&[vec![7u8; 32]]);

    // Anything the fuzzer writes is read without panicking and never opens.
    if let Ok(value) = HeaderValue::from_bytes(garbage) {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, value);
        let cookies = request_cookies(&headers);
        if let Some(sealed) = join(&cookies, NAME) {
            assert!(keys.open(NAME, &sealed).is_none(), "a forged value opened");
        }
    }

    // A sealed value survives split, the header and join, ahead of any foreign cookies.
    let sealed = keys.seal(NAME, &plaintext).expect("one key seals");
    let Some(chunks) = split(NAME, &sealed) else { return };
    assert_eq!(join(&chunks, NAME).as_deref(), Some(sealed.as_str()));
    let mut header_text: Vec<String> = chunks.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let garbage = String::from_utf8_lossy(garbage);
    if HeaderValue::from_str(&garbage).is_ok() {
        header_text.push(garbage.into_owned());
    }
    let mut headers = HeaderMap::new();
    headers.append(
        header::COOKIE,
        HeaderValue::from_str(&header_text.join("; ")).expect("header"),
    );
    let cookies = request_cookies(&headers);
    // A foreign cookie of our own name (or the next chunk's) legitimately changes what is read.
    let foreign =
        chunks.len() > 1 && find(&cookies, NAME).is_some() || find(&cookies, &chunk_name(NAME, chunks.len())).is_some();
    if !foreign {
        let joined = join(&cookies, NAME).expect("our cookies are found");
        assert_eq!(keys.open(NAME, &joined).as_deref(), Some(plaintext.as_str()));
    }
    // A value sealed for another cookie name never opens as this one.
    assert!(keys.open("_other", &sealed).is_none());
});
