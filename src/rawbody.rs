//! A callback body kept as the bytes that arrived, and the views built from them on demand:
//! compact JSON for NDJSON, pretty JSON for the event view, escaped text for anything else.
//! Keeping bytes instead of a parsed tree is what bounds the log's memory: a tree costs tens
//! of times the body's size.

use std::fmt::Write as _;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Bytes of a refused body kept for the log; the rest is counted, not stored.
pub const REFUSED_BODY_KEPT: usize = 4096;

/// Whether `bytes` is one complete JSON value (checked without building a tree).
pub fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
}

/// The JSON value in `bytes` with whitespace outside strings removed, so it fits on one line;
/// `None` when `bytes` is not JSON. Everything else (escapes, number spelling, key order)
/// stays exactly as received.
pub fn compact_json(bytes: &[u8]) -> Option<Box<RawValue>> {
    let mut out = Vec::with_capacity(bytes.len());
    if !compact_json_into(bytes, &mut out) {
        return None;
    }
    // Valid JSON stays valid UTF-8 and valid JSON once whitespace between tokens is gone.
    let text = String::from_utf8(out).ok()?;
    RawValue::from_string(text).ok()
}

/// [`compact_json`] appended to `out`, without a second parse; returns whether `bytes` was
/// JSON (when not, `out` is left as it was).
pub fn compact_json_into(bytes: &[u8], out: &mut Vec<u8>) -> bool {
    if !is_json(bytes) {
        return false;
    }
    out.reserve(bytes.len());
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = byte == b'"';
            out.push(byte);
        }
    }
    true
}

/// The bytes as text: valid UTF-8 as is, every other byte as `\xNN`.
pub fn escaped_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}

/// Lines for the event view: pretty JSON when the bytes parse, else the escaped text.
pub fn pretty_lines(bytes: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => serde_json::to_string_pretty(&value)
            .unwrap_or_else(|_| value.to_string())
            .lines()
            .map(str::to_string)
            .collect(),
        Err(_) => escaped_text(bytes).lines().map(str::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings_and_drops_layout() {
        let raw = compact_json(b"{ \"a\" : [1, 2],\n \"b\": \"x y \\\" z\" }")
            .map(|r| r.get().to_string());
        assert_eq!(raw.as_deref(), Some(r#"{"a":[1,2],"b":"x y \" z"}"#));
        assert!(compact_json(b"{\"a\":").is_none());
    }

    #[test]
    fn invalid_utf8_is_escaped_not_lost() {
        assert_eq!(escaped_text(b"ok \xff\xfe end"), "ok \\xff\\xfe end");
    }
}
