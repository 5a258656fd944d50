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
    compact_known_json_into(bytes, out);
    true
}

/// Appends `bytes`, known to be one JSON value, to `out` without whitespace outside strings.
/// Runs without whitespace are copied whole: a body as Tencent sends it (already compact)
/// is one copy.
pub fn compact_known_json_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len());
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string: to its closing quote, stepping over escaped characters.
                i += 1;
                loop {
                    let rest = bytes.get(i..).unwrap_or_default();
                    match memchr::memchr2(b'"', b'\\', rest) {
                        Some(at) if rest[at] == b'"' => {
                            i += at + 1;
                            break;
                        }
                        Some(at) => i += at + 2,
                        // Unterminated (never, for JSON): the rest is the string's.
                        None => {
                            i = bytes.len();
                            break;
                        }
                    }
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&bytes[run_start..i]);
                i += 1;
                run_start = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&bytes[run_start.min(bytes.len())..]);
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
    fn compaction_steps_over_escapes_and_keeps_every_string_byte() {
        let cases: [&[u8]; 6] = [
            b"{}",
            b" [ 1 ,\t2 ]\r\n",
            br#"{"a\"b" : "c\\" , "d":"\\\" x" }"#,
            br#"{"k": "tab\there", "n": -1.5e3 ,"u":"\u0041 "}"#,
            b"\"just a string\"",
            b"{\"a\":{\"b\":[true, false, null]}}  ",
        ];
        for case in cases {
            let mut fast = Vec::new();
            assert!(compact_json_into(case, &mut fast));
            let value: serde_json::Value = serde_json::from_slice(case).expect("JSON");
            let again: serde_json::Value = serde_json::from_slice(&fast).expect("still JSON");
            assert_eq!(value, again, "{}", String::from_utf8_lossy(case));
            assert!(!fast.contains(&b'\n'), "{}", String::from_utf8_lossy(&fast));
        }
        let mut out = Vec::new();
        compact_known_json_into(br#"{ "s" : "a  b" }"#, &mut out);
        assert_eq!(out, br#"{"s":"a  b"}"#);
    }

    #[test]
    fn invalid_utf8_is_escaped_not_lost() {
        assert_eq!(escaped_text(b"ok \xff\xfe end"), "ok \\xff\\xfe end");
    }
}
