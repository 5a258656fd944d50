//! The NDJSON line written straight from the event's fields into a reused buffer: no value
//! tree, no per-field strings. Byte for byte the same as [`super::reference::line`].

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::rawbody;
use crate::relay::RelayRecord;
use crate::store::LogEntry;

/// Scratch space kept between lines, so that a steady stream allocates nothing per line.
#[derive(Default)]
pub struct LineWriter {
    text: String,
}

impl LineWriter {
    /// Appends the line for `entry` (with its relay outcome so far, when given) and a newline.
    pub fn write(&mut self, out: &mut Vec<u8>, entry: &LogEntry, relay: Option<&RelayRecord>) {
        let start = out.len();
        self.fields(out, entry);
        if let Some(record) = relay {
            out.extend_from_slice(b",\"relay\":");
            value(out, &record.summary_fields());
        }
        out.push(b'}');
        escape_unsafe(out, start);
        out.push(b'\n');
    }

    fn fields(&mut self, out: &mut Vec<u8>, entry: &LogEntry) {
        let event = &entry.event;
        out.extend_from_slice(b"{\"seq\":");
        value(out, &event.seq);
        out.extend_from_slice(b",\"received_at\":");
        timestamp(out, event.received_at_ms);
        out.extend_from_slice(b",\"command\":");
        value(out, &event.command);
        out.extend_from_slice(b",\"room_id\":");
        value(out, &event.room_id);
        out.extend_from_slice(b",\"sdkappid\":");
        value(out, &Some(event.sdkappid()).filter(|a| !a.is_empty()));
        out.extend_from_slice(b",\"verdict\":");
        value(out, &event.verdict);
        out.extend_from_slice(b",\"error\":");
        match &event.error {
            Some(error) => self.display(out, error),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"effect\":");
        value(out, &entry.effect);
        out.extend_from_slice(b",\"event_time\":");
        match event.claimed_time_ms() {
            Some(ms) => timestamp(out, ms),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"operator\":");
        value(out, &event.operator());
        out.extend_from_slice(b",\"auth\":");
        value(out, &event.auth);
        out.extend_from_slice(b",\"path\":");
        value(out, &event.path);
        out.extend_from_slice(b",\"query\":[");
        for (i, (name, val)) in event.query.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            value(out, name);
            out.push(b',');
            // The signature is a credential: never printed.
            if name.eq_ignore_ascii_case("Sign") {
                value(out, "…");
            } else {
                value(out, val);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"],\"remote\":");
        value(out, &event.remote);
        out.extend_from_slice(b",\"status\":");
        value(out, &event.reply.status);
        out.extend_from_slice(b",\"reply\":");
        value(out, &event.reply.body);
        if event.clock_skew {
            out.extend_from_slice(b",\"clock_skew\":true");
        }
        if !event.trimmed.is_empty() {
            out.extend_from_slice(b",\"trimmed\":[");
            for (i, trim) in event.trimmed.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self.display(out, trim);
            }
            out.push(b']');
        }
        out.extend_from_slice(b",\"body\":");
        if !rawbody::compact_json_into(&event.raw_body, out) {
            value(out, &rawbody::escaped_text(&event.raw_body));
        }
    }

    /// `item`'s `Display` text as a JSON string, formatted in the scratch string.
    fn display(&mut self, out: &mut Vec<u8>, item: &impl std::fmt::Display) {
        self.text.clear();
        let _ = write!(self.text, "{item}");
        value(out, self.text.as_str());
    }
}

/// `item` as compact JSON. Writing plain data with string keys to a `Vec` cannot fail.
fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, item: &T) {
    let _ = serde_json::to_writer(out, item);
}

/// Unix milliseconds as a JSON string in RFC 3339 UTC, as [`super::rfc3339`] spells it.
fn timestamp(out: &mut Vec<u8>, ms: i64) {
    out.push(b'"');
    let start = out.len();
    let formatted = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .is_some_and(|t| t.format_into(out, &Rfc3339).is_ok());
    if !formatted {
        out.truncate(start);
        let _ = write!(StrOut(out), "{ms}");
    }
    out.push(b'"');
}

/// Rewrites `out[start..]` with the characters that JSON allows raw but a terminal must not
/// get (DEL, C1, bidi) as `\u` escapes. Pure ASCII without DEL (the usual line) is left as is.
fn escape_unsafe(out: &mut Vec<u8>, start: usize) {
    if !out[start..].iter().any(|&b| b == 0x7f || b >= 0x80) {
        return;
    }
    // Everything written is serde_json output or validated JSON: UTF-8.
    let Ok(text) = std::str::from_utf8(&out[start..]) else {
        return;
    };
    if let std::borrow::Cow::Owned(escaped) = crate::escape::escape_json(text) {
        out.truncate(start);
        out.extend_from_slice(escaped.as_bytes());
    }
}

/// `fmt::Write` into a byte buffer.
struct StrOut<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for StrOut<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
