//! Headless mode: one JSON object per callback on stdout, nothing else there.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::event::Verdict;
use crate::hub::Hub;
use crate::ingest::auth::AuthVerdict;
use crate::rawbody;
use crate::relay::{Relay, RelayRecord};
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
    let text = serde_json::to_string(&line).unwrap_or_default();
    // The same JSON, with DEL, C1 and bidi controls (which JSON allows raw) as \u escapes.
    crate::escape::escape_json(&text).into_owned()
}

/// The NDJSON line for one event with its relay outcome so far (`"relay":{...}`).
pub fn line_with_relay(entry: &LogEntry, relay: Option<&RelayRecord>) -> String {
    let Some(record) = relay else {
        return line(entry);
    };
    // Spliced in before the closing brace rather than parsing the whole line (body and all)
    // back into a value: this runs for every relayed callback.
    let mut text = line(entry);
    if text.ends_with('}') {
        text.pop();
        text.push_str(",\"relay\":");
        text.push_str(&crate::escape::escape_json(&record.summary().to_string()));
        text.push('}');
    }
    text
}

/// A relay outcome that came after its event's line was printed.
pub fn relay_line(record: &RelayRecord) -> String {
    let text = json!({ "kind": "relay", "seq": record.seq, "relay": record.summary() }).to_string();
    crate::escape::escape_json(&text).into_owned()
}

/// Relay outcomes for headless output: the event printer adds each event's outcome so far,
/// and [`print_relay_updates`] prints later ones. Both hold `printed` while writing, so an
/// outcome is either in its event's line or on a line printed after it.
#[derive(Clone)]
pub struct RelayLines {
    pub relay: Arc<Relay>,
    pub printed: Arc<Mutex<u64>>,
}

impl RelayLines {
    pub fn new(relay: Arc<Relay>) -> Self {
        Self {
            relay,
            printed: Arc::new(Mutex::new(0)),
        }
    }

    fn printed(&self) -> MutexGuard<'_, u64> {
        self.printed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Prints a `{"kind":"relay",...}` line for every relay update of an event already printed,
/// until the channel closes or `out` breaks. Blocking: run it on its own thread.
pub fn print_relay_updates(
    lines: &RelayLines,
    mut rx: broadcast::Receiver<RelayRecord>,
    mut out: impl Write,
) -> io::Result<()> {
    loop {
        match rx.blocking_recv() {
            Ok(record) => {
                let printed = lines.printed();
                // "pending" is where every relay starts: its event's line already says it.
                let news = record.state != crate::relay::outcome::RelayState::Pending;
                if news && record.seq <= *printed {
                    writeln!(out, "{}", relay_line(&record))?;
                    out.flush()?;
                }
            }
            Err(RecvError::Lagged(skipped)) => {
                eprintln!(
                    "roomwatch: output fell behind; {skipped} relay updates were not printed"
                );
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
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
    rx: broadcast::Receiver<LogEntry>,
    out: impl Write,
    progress: &Progress,
) -> io::Result<()> {
    print_events_with_relay(hub, rx, out, progress, None)
}

/// [`print_events`], with each event's relay outcome when a relay runs.
pub fn print_events_with_relay(
    hub: &Hub,
    mut rx: broadcast::Receiver<LogEntry>,
    mut out: impl Write,
    progress: &Progress,
    relay: Option<&RelayLines>,
) -> io::Result<()> {
    let mut last_printed = 0u64;
    // Counted once flushed, so that the count is exactly what the reader can get.
    let print = |out: &mut dyn Write, entry: &LogEntry, last: &mut u64| -> io::Result<()> {
        let printed = relay.map(RelayLines::printed);
        let record = relay.and_then(|r| r.relay.record(entry.event.seq));
        writeln!(out, "{}", line_with_relay(entry, record.as_ref()))?;
        out.flush()?;
        *last = entry.event.seq;
        if let Some(mut printed) = printed {
            *printed = *last;
        }
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
