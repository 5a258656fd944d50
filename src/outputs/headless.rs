//! Headless mode: one JSON object per callback on stdout, nothing else there.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::event::Verdict;
use crate::hub::Hub;
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
    /// Only on events whose `EventTime` was too far ahead of arrival to be trusted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    clock_skew: bool,
    /// Only on events whose lists were cut to the per-callback limits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    trimmed: Vec<String>,
    body: Body,
}

/// The body: the JSON as received (whitespace between tokens dropped), else its text.
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
    // Plain data with string keys: serialising it cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// What the printer got through, readable from another thread while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Lines written to the output.
    pub printed: AtomicU64,
    /// Events that left the in-memory log before they could be printed.
    pub lost: AtomicU64,
}

impl Progress {
    pub fn printed(&self) -> u64 {
        self.printed.load(Ordering::Acquire)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Acquire)
    }
}

/// Prints every event from `rx` to `out` until the channel closes ([`Hub::close`]) or `out`
/// breaks. After a lag it replays what it missed from the hub's log, and says on stderr
/// exactly which events the log no longer held. Blocking: run it on its own thread.
pub fn print_events(
    hub: &Hub,
    mut rx: broadcast::Receiver<LogEntry>,
    mut out: impl Write,
    progress: &Progress,
) -> io::Result<()> {
    let mut last_printed = 0u64;
    // Counted once flushed, so that the count is exactly what the reader can get.
    let print = |out: &mut dyn Write, entry: &LogEntry, last: &mut u64| -> io::Result<()> {
        writeln!(out, "{}", line(entry))?;
        out.flush()?;
        *last = entry.event.seq;
        progress.printed.fetch_add(1, Ordering::AcqRel);
        Ok(())
    };
    loop {
        match rx.blocking_recv() {
            Ok(entry) => {
                if entry.event.seq > last_printed {
                    print(&mut out, &entry, &mut last_printed)?;
                }
            }
            Err(RecvError::Lagged(_)) => {
                let missed: Vec<LogEntry> =
                    hub.read(|store| store.log_after(last_printed).cloned().collect());
                if let Some(first) = missed.first()
                    && first.event.seq > last_printed + 1
                {
                    let gone = first.event.seq - last_printed - 1;
                    progress.lost.fetch_add(gone, Ordering::AcqRel);
                    eprintln!(
                        "roomwatch: output fell behind; {gone} events ({}..{}) left the in-memory log (--history, --history-bytes) before they could be printed",
                        last_printed + 1,
                        first.event.seq - 1
                    );
                }
                for entry in &missed {
                    print(&mut out, entry, &mut last_printed)?;
                }
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}
