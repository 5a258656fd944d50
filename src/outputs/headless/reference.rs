//! The NDJSON line built the straightforward way, as a serde struct with a parsed body.
//! The printer's hand-written serialiser must produce exactly these bytes; tests and the
//! `printer_cost` benchmark compare the two.

use serde::Serialize;
use serde_json::value::RawValue;

use super::rfc3339;
use crate::event::Verdict;
use crate::ingest::auth::AuthVerdict;
use crate::rawbody;
use crate::store::{Effect, LogEntry};

/// One NDJSON line, field by field, in the order printed.
#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    received_at: String,
    command: Option<&'a str>,
    room_id: Option<&'a str>,
    /// The app the callback names (`SdkAppid`, trimmed), `null` when none.
    sdkappid: Option<&'a str>,
    verdict: Verdict,
    error: Option<String>,
    effect: Effect,
    event_time: Option<String>,
    operator: Option<&'a str>,
    auth: Option<AuthVerdict>,
    path: &'a str,
    query: Vec<(String, String)>,
    remote: Option<&'a str>,
    status: u16,
    reply: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    clock_skew: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    trimmed: Vec<String>,
    body: Body,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body {
    Json(Box<RawValue>),
    Text(String),
}

/// The NDJSON line for one event (without the newline).
pub fn line(entry: &LogEntry) -> String {
    let event = &entry.event;
    let body = rawbody::compact_json(&event.raw_body).map_or_else(
        || Body::Text(rawbody::escaped_text(&event.raw_body)),
        Body::Json,
    );
    let line = Line {
        seq: event.seq,
        received_at: rfc3339(event.received_at_ms),
        command: event.command.as_deref(),
        room_id: event.room_id.as_deref(),
        sdkappid: Some(event.sdkappid()).filter(|a| !a.is_empty()),
        verdict: event.verdict,
        error: event.error.as_ref().map(ToString::to_string),
        effect: entry.effect,
        event_time: event.claimed_time_ms().map(rfc3339),
        operator: event.operator(),
        auth: event.auth,
        path: &event.path,
        query: event.query.redacted(),
        remote: event.remote.as_deref(),
        status: event.reply.status,
        reply: &event.reply.body,
        clock_skew: event.clock_skew,
        trimmed: event.trimmed.iter().map(ToString::to_string).collect(),
        body,
    };
    let text = serde_json::to_string(&line).unwrap_or_default();
    crate::escape::escape_json(&text).into_owned()
}
