//! The NDJSON line written straight from the event's fields into a reused buffer: no value
//! tree, no per-field strings. Byte for byte the same as [`super::reference::line`].

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::event::Verdict;
use crate::eventlog::Journaled;
use crate::ingest::auth::AuthVerdict;
use crate::rawbody;
use crate::relay::RelayRecord;
use crate::store::{Effect, LogEntry};

/// Scratch space kept between lines, so that a steady stream allocates nothing per line.
#[derive(Default)]
pub struct LineWriter {
    text: String,
}

impl LineWriter {
    /// Appends the line for `entry` (with its relay outcome so far, when given) and a newline.
    pub fn write(&mut self, out: &mut Vec<u8>, entry: &LogEntry, relay: Option<&RelayRecord>) {
        self.write_marked(out, entry, relay, Journaled::Yes);
    }

    /// [`write`](Self::write), with `"journal":"waiting"` or `"journal":"lost"` on a line
    /// whose callback was not in the journal when printed (appends failing, e.g. disk full).
    pub fn write_marked(
        &mut self,
        out: &mut Vec<u8>,
        entry: &LogEntry,
        relay: Option<&RelayRecord>,
        journaled: Journaled,
    ) {
        let start = out.len();
        self.fields(out, entry);
        match journaled {
            Journaled::Yes => {}
            Journaled::Waiting => out.extend_from_slice(b",\"journal\":\"waiting\""),
            Journaled::Lost => out.extend_from_slice(b",\"journal\":\"lost\""),
        }
        if let Some(record) = relay {
            out.extend_from_slice(b",\"relay\":");
            value(out, &record.summary_fields());
        }
        out.push(b'}');
        escape_unsafe(out, start);
        out.push(b'\n');
    }

    /// Appends the line of a relay outcome that came after its event's line was printed
    /// (`{"kind":"relay","seq":..,"relay":{..}}`) and a newline: the same text as
    /// [`super::relay_line`], without a string per line.
    pub fn write_relay(out: &mut Vec<u8>, record: &RelayRecord) {
        let start = out.len();
        out.extend_from_slice(b"{\"kind\":\"relay\",\"seq\":");
        value(out, &record.seq);
        out.extend_from_slice(b",\"relay\":");
        value(out, &record.summary_fields());
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
        opt_string(out, event.command.as_deref());
        out.extend_from_slice(b",\"room_id\":");
        opt_string(out, event.room_id.as_deref());
        out.extend_from_slice(b",\"sdkappid\":");
        opt_string(out, Some(event.sdkappid()).filter(|a| !a.is_empty()));
        out.extend_from_slice(b",\"verdict\":");
        out.extend_from_slice(verdict_json(event.verdict));
        out.extend_from_slice(b",\"error\":");
        match &event.error {
            Some(error) => self.display(out, error),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"effect\":");
        out.extend_from_slice(effect_json(entry.effect));
        out.extend_from_slice(b",\"event_time\":");
        match event.claimed_time_ms() {
            Some(ms) => timestamp(out, ms),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"operator\":");
        opt_string(out, event.operator());
        out.extend_from_slice(b",\"auth\":");
        out.extend_from_slice(auth_json(event.auth));
        out.extend_from_slice(b",\"path\":");
        string(out, &event.path);
        out.extend_from_slice(b",\"query\":[");
        for (i, (name, val)) in event.query.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'[');
            string(out, name);
            out.push(b',');
            // The signature is a credential: never printed.
            if name.eq_ignore_ascii_case("Sign") {
                string(out, "…");
            } else {
                string(out, val);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"],\"remote\":");
        opt_string(out, event.remote.as_deref());
        out.extend_from_slice(b",\"status\":");
        value(out, &event.reply.status);
        out.extend_from_slice(b",\"reply\":");
        string(out, &event.reply.body);
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
        if event.body_parsed {
            rawbody::compact_known_json_into(&event.raw_body, out);
        } else if !rawbody::compact_json_into(&event.raw_body, out) {
            value(out, &rawbody::escaped_text(&event.raw_body));
        }
    }

    /// `item`'s `Display` text as a JSON string, formatted in the scratch string.
    fn display(&mut self, out: &mut Vec<u8>, item: &impl std::fmt::Display) {
        self.text.clear();
        let _ = write!(self.text, "{item}");
        string(out, &self.text);
    }
}

/// `text` as a JSON string. Most strings need no escape: checked first, then copied whole;
/// anything else is escaped exactly as serde_json escapes it.
// Bitwise, not lazy: a branch-free fold over each block is what the compiler vectorises.
#[allow(clippy::needless_bitwise_bool)]
fn string(out: &mut Vec<u8>, text: &str) {
    let plain = text.as_bytes().chunks(32).all(|chunk| {
        chunk.iter().fold(true, |plain, &b| {
            plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
        })
    });
    if plain {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        value(out, text);
    }
}

fn opt_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// The verdict as serde writes it, without a serialiser pass per line.
fn verdict_json(verdict: Verdict) -> &'static [u8] {
    match verdict {
        Verdict::Accepted => b"\"accepted\"",
        Verdict::Rejected => b"\"rejected\"",
        Verdict::Unrecognized => b"\"unrecognized\"",
    }
}

/// The effect as serde writes it.
fn effect_json(effect: Effect) -> &'static [u8] {
    match effect {
        Effect::Applied => b"\"applied\"",
        Effect::Stale => b"\"stale\"",
        Effect::Duplicate => b"\"duplicate\"",
        Effect::NoState => b"\"no_state\"",
    }
}

/// The authentication verdict as serde writes it.
fn auth_json(auth: Option<AuthVerdict>) -> &'static [u8] {
    match auth {
        Some(AuthVerdict::Signed) => b"\"signed\"",
        Some(AuthVerdict::Unchecked) => b"\"unchecked\"",
        None => b"null",
    }
}

/// `item` as compact JSON. Writing plain data with string keys to a `Vec` cannot fail.
fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, item: &T) {
    let _ = serde_json::to_writer(out, item);
}

/// Unix milliseconds as a JSON string in RFC 3339 UTC, as [`super::rfc3339`] spells it.
fn timestamp(out: &mut Vec<u8>, ms: i64) {
    out.push(b'"');
    if push_rfc3339(out, ms) {
        out.push(b'"');
        return;
    }
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
#[allow(clippy::needless_bitwise_bool)]
fn escape_unsafe(out: &mut Vec<u8>, start: usize) {
    // DEL and every byte above it, checked a block at a time (the fold vectorises).
    let unsafe_byte = out[start..]
        .chunks(64)
        .any(|chunk| chunk.iter().fold(false, |seen, &b| seen | (b >= 0x7f)));
    if !unsafe_byte {
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

/// Milliseconds from 1970 up to the end of year 9999: the range written by hand.
const HAND_WRITTEN_MS: std::ops::Range<i64> = 0..253_402_300_800_000;

/// `ms` in RFC 3339 UTC as the `time` crate writes it (the fraction only when not zero,
/// without trailing zeros), written without its formatting machinery, which costs several
/// times more per line; `false` (nothing written) outside [`HAND_WRITTEN_MS`].
fn push_rfc3339(out: &mut Vec<u8>, ms: i64) -> bool {
    if !HAND_WRITTEN_MS.contains(&ms) {
        return false;
    }
    let days = ms.div_euclid(86_400_000);
    let of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let mut text = [0u8; 24];
    let mut put = |at: usize, value: i64, width: usize| {
        let mut value = value;
        for i in (at..at + width).rev() {
            // A digit: `value % 10` is below 10.
            text[i] = b'0' + u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, of_day / 3_600_000, 2);
    put(14, of_day / 60_000 % 60, 2);
    put(17, of_day / 1000 % 60, 2);
    put(20, of_day % 1000, 3);
    text[4] = b'-';
    text[7] = b'-';
    text[10] = b'T';
    text[13] = b':';
    text[16] = b':';
    text[19] = b'.';
    let mut end = 23;
    while end > 20 && text[end - 1] == b'0' {
        end -= 1;
    }
    if end == 20 {
        end = 19;
    }
    out.extend_from_slice(&text[..end]);
    out.push(b'Z');
    true
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `fmt::Write` into a byte buffer.
struct StrOut<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for StrOut<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_labels_are_what_serde_writes() {
        fn json(item: &impl Serialize) -> Vec<u8> {
            serde_json::to_vec(item).expect("plain enums serialise")
        }
        for verdict in [Verdict::Accepted, Verdict::Rejected, Verdict::Unrecognized] {
            assert_eq!(verdict_json(verdict), json(&verdict));
        }
        for effect in [
            Effect::Applied,
            Effect::Stale,
            Effect::Duplicate,
            Effect::NoState,
        ] {
            assert_eq!(effect_json(effect), json(&effect));
        }
        for auth in [
            Some(AuthVerdict::Signed),
            Some(AuthVerdict::Unchecked),
            None,
        ] {
            assert_eq!(auth_json(auth), json(&auth));
        }
    }

    fn by_time(ms: i64) -> String {
        super::super::rfc3339(ms)
    }

    fn by_hand(ms: i64) -> String {
        let mut out = Vec::new();
        assert!(push_rfc3339(&mut out, ms), "{ms}");
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn hand_written_timestamps_match_the_time_crate() {
        let mut samples = vec![
            0,
            1,
            10,
            100,
            120,
            999,
            1000,
            59_999,
            86_399_999,
            86_400_000,
            951_782_400_000, // 2000-02-29
            1_735_690_200_000,
            4_107_542_399_999, // 2100-02-28T23:59:59.999
            4_107_542_400_000,
            HAND_WRITTEN_MS.end - 1,
        ];
        // A spread over the whole range, with every fraction shape.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(i64::try_from(x % 253_402_300_800_000).expect("in range"));
        }
        for ms in samples {
            assert_eq!(by_hand(ms), by_time(ms), "{ms}");
        }
        let mut out = Vec::new();
        assert!(!push_rfc3339(&mut out, -1));
        assert!(!push_rfc3339(&mut out, HAND_WRITTEN_MS.end));
        assert!(out.is_empty());
    }

    #[test]
    fn streamed_relay_lines_match_the_string_ones() {
        use crate::relay::outcome::{Attempt, Mode, RelayState};
        let mut records = vec![RelayRecord::new(7, Mode::After)];
        let mut delivered = RelayRecord::new(8, Mode::After);
        delivered.state = RelayState::Delivered {
            status: 200,
            latency_ms: 3,
        };
        delivered.attempts.push(Attempt {
            at_ms: 1_735_690_200_000,
            latency_ms: 3,
            status: Some(200),
            result: "200".into(),
            resigned: false,
            resend: false,
        });
        records.push(delivered);
        let mut failed = RelayRecord::new(9, Mode::Before);
        // Text from the backend: quotes, a terminal escape, DEL and non-ASCII.
        failed.state = RelayState::Failed {
            reason: "bad \"gateway\" \u{1b}[31m\u{7f} 网关".into(),
        };
        failed.note = Some("sent unsigned \u{9b}".into());
        records.push(failed);
        for record in &records {
            let mut out = Vec::new();
            LineWriter::write_relay(&mut out, record);
            let expected = super::super::relay_line(record) + "\n";
            assert_eq!(String::from_utf8(out).expect("UTF-8"), expected);
        }
    }
}
