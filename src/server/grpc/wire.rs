//! The bytes of a unary gRPC call to `envoy.service.auth.v3.Authorization/Check`: the
//! length-prefixed message framing, and the part of `CheckRequest` a decision reads.
//!
//! The messages below are a subset of Envoy's `CheckRequest` (same field numbers and wire
//! types, from `envoy/service/auth/v3/attribute_context.proto` and `external_auth.proto`):
//! protobuf skips the fields it does not name (peers, TLS session, metadata, a buffered body)
//! without copying them, and the strings are read as `Bytes` that point into the received
//! message instead of being copied out. A `map<string, string>` is on the wire a repeated
//! message of `key = 1` and `value = 2`, so `headers` is read as such entries.

use bytes::{Buf, Bytes};

/// gRPC's message prefix: one compression flag byte and a big-endian 4-byte length.
pub const PREFIX: usize = 5;
/// The largest `CheckRequest` read: tonic's default limit (a request with its body buffered
/// by Envoy's `with_request_body` may be large; the headers alone never are).
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// `envoy.service.auth.v3.CheckRequest`, the fields a decision reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    /// `attributes`.
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeContext>,
}

/// `envoy.service.auth.v3.AttributeContext`, the fields a decision reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeContext {
    /// `request`.
    #[prost(message, optional, tag = "4")]
    pub request: Option<Request>,
}

/// `AttributeContext.Request`, the fields a decision reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// `http`.
    #[prost(message, optional, tag = "2")]
    pub http: Option<HttpRequest>,
}

/// `AttributeContext.HttpRequest`, the fields a decision reads (strings as UTF-8 `Bytes`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequest {
    /// `method`.
    #[prost(bytes = "bytes", tag = "2")]
    pub method: Bytes,
    /// `headers` (`map<string, string>`; Envoy joins a repeated header's values with commas).
    #[prost(message, repeated, tag = "3")]
    pub headers: Vec<MapEntry>,
    /// `path`, with the query.
    #[prost(bytes = "bytes", tag = "4")]
    pub path: Bytes,
    /// `host`.
    #[prost(bytes = "bytes", tag = "5")]
    pub host: Bytes,
    /// `scheme`.
    #[prost(bytes = "bytes", tag = "6")]
    pub scheme: Bytes,
    /// `header_map` (sent instead of `headers` with `encode_raw_headers: true`).
    #[prost(message, optional, tag = "13")]
    pub header_map: Option<HeaderMap>,
}

/// One entry of a `map<string, string>`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MapEntry {
    /// The key.
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// The value.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `envoy.config.core.v3.HeaderMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderMap {
    /// `headers`, in the order received, repeated names apart.
    #[prost(message, repeated, tag = "1")]
    pub headers: Vec<HeaderValue>,
}

/// `envoy.config.core.v3.HeaderValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    /// `key`.
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// `value` (a UTF-8 value).
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
    /// `raw_value` (any bytes; Envoy sets this one with `encode_raw_headers`).
    #[prost(bytes = "bytes", tag = "3")]
    pub raw_value: Bytes,
}

/// Why a request body is not one gRPC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than a message prefix, or than the prefix announces.
    #[error("the message is cut short")]
    Short,
    /// Bytes after the one message a unary call carries.
    #[error("more than one message in a unary call")]
    Trailing,
    /// The compressed flag is set; no compression is offered (no `grpc-accept-encoding`).
    #[error("compressed messages are not accepted")]
    Compressed,
    /// The prefix announces more than [`MAX_MESSAGE`].
    #[error("the message is larger than {MAX_MESSAGE} bytes")]
    TooLarge,
}

/// The one message in the body of a unary call, without its prefix (no copy).
pub fn unframe(mut body: Bytes) -> Result<Bytes, FrameError> {
    if body.len() < PREFIX {
        return Err(FrameError::Short);
    }
    let compressed = body.get_u8();
    let length = usize::try_from(body.get_u32()).unwrap_or(usize::MAX);
    match compressed {
        0 => {}
        1 => return Err(FrameError::Compressed),
        _ => return Err(FrameError::Short),
    }
    if length > MAX_MESSAGE {
        return Err(FrameError::TooLarge);
    }
    match body.len().cmp(&length) {
        std::cmp::Ordering::Less => Err(FrameError::Short),
        std::cmp::Ordering::Greater => Err(FrameError::Trailing),
        std::cmp::Ordering::Equal => Ok(body),
    }
}

/// `message` as the body of a unary answer: prefixed, uncompressed.
pub fn frame(message: &impl prost::Message) -> Bytes {
    let length = message.encoded_len();
    let mut out = Vec::with_capacity(PREFIX + length);
    out.push(0);
    // A CheckResponse is headers and a short body: far below 4 GiB.
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    message.encode_raw(&mut out);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(flag: u8, length: u32, message: &[u8]) -> Bytes {
        let mut body = vec![flag];
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(message);
        Bytes::from(body)
    }

    #[test]
    fn one_uncompressed_message_is_unframed_and_anything_else_refused() {
        assert_eq!(unframe(framed(0, 3, b"abc")), Ok(Bytes::from_static(b"abc")));
        assert_eq!(unframe(framed(0, 0, b"")), Ok(Bytes::new()));
        assert_eq!(unframe(framed(0, 4, b"abc")), Err(FrameError::Short));
        assert_eq!(unframe(framed(0, 2, b"abc")), Err(FrameError::Trailing));
        assert_eq!(unframe(framed(1, 3, b"abc")), Err(FrameError::Compressed));
        assert_eq!(unframe(framed(2, 3, b"abc")), Err(FrameError::Short));
        assert_eq!(unframe(Bytes::from_static(&[0, 0, 0])), Err(FrameError::Short));
        let large = u32::try_from(MAX_MESSAGE + 1).expect("fits");
        assert_eq!(unframe(framed(0, large, b"")), Err(FrameError::TooLarge));
    }

    #[test]
    fn a_framed_message_unframes_to_its_encoding() {
        let message = MapEntry {
            key: Bytes::from_static(b"x-user"),
            value: Bytes::from_static(b"alice"),
        };
        let body = frame(&message);
        assert_eq!(body[0], 0);
        let inner = unframe(body).expect("one message");
        assert_eq!(<MapEntry as prost::Message>::decode(inner).expect("decodes"), message);
    }
}
