//! The body of a gRPC `Check` call, from arbitrary bytes: unframing, protobuf decoding of the
//! `CheckRequest` subset and reading the original request and headers from it never panic; an
//! accepted request has a normalised path and a URL that parses, and every header read is valid
//! HTTP without pseudo-headers. The input is also tried as a bare message (no gRPC prefix), so
//! the fuzzer reaches the protobuf reader without having to find a matching length first.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portcullis::origin::normalise_path;
use portcullis::server::grpc::{read, wire};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let framed = wire::unframe(body.clone()).ok();
    for message in framed.into_iter().chain([body]) {
        let Ok(check) = wire::CheckRequest::decode(message) else { continue };
        for trusted in [true, false] {
            let (original, headers) = read(&check, trusted);
            assert!(headers.keys().all(|name| !name.as_str().starts_with(':')));
            let Ok(original) = original else { continue };
            let url = original.url();
            assert!(url::Url::parse(&url).is_ok(), "{url}");
            assert_eq!(normalise_path(&original.path).as_deref(), Ok(original.path.as_str()), "{url}");
            if !trusted {
                assert!(url.starts_with("http://"), "{url}");
            }
        }
    }
});
