//! Headless mode: one JSON object per callback on stdout, nothing else there.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::hub::Hub;
use crate::relay::{Relay, RelayRecord};
use crate::store::LogEntry;

/// The NDJSON line for one event (without the newline).
pub fn line(entry: &LogEntry) -> String {
    let event = &entry.event;
    let line = json!({
        "seq": event.seq,
        "received_at": rfc3339(event.received_at_ms),
        "command": event.command,
        "room_id": event.room_id,
        "verdict": event.verdict,
        "error": event.error.as_ref().map(ToString::to_string),
        "effect": entry.effect,
        "event_time": event.callback.as_ref().and_then(|c| c.event_time_ms).map(rfc3339),
        "operator": event.operator(),
        "auth": event.auth,
        "path": event.path,
        "query": event.query.redacted(),
        "remote": event.remote,
        "status": event.reply.status,
        "reply": event.reply.body,
        "body": event.body,
    });
    // The same JSON, with DEL, C1 and bidi controls (which JSON allows raw) as \u escapes.
    crate::escape::escape_json(&line.to_string()).into_owned()
}

/// The NDJSON line for one event with its relay outcome so far (`"relay":{...}`).
pub fn line_with_relay(entry: &LogEntry, relay: Option<&RelayRecord>) -> String {
    let Some(record) = relay else {
        return line(entry);
    };
    let mut value: serde_json::Value = match serde_json::from_str(&line(entry)) {
        Ok(value) => value,
        Err(_) => return line(entry),
    };
    value["relay"] = record.summary();
    value.to_string()
}

/// A relay outcome that came after its event's line was printed.
pub fn relay_line(record: &RelayRecord) -> String {
    json!({ "kind": "relay", "seq": record.seq, "relay": record.summary() }).to_string()
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

/// Prints every event from `rx` to `out` until the channel closes or `out` breaks.
/// After a lag it replays what it missed from the hub's log, and says on stderr if the log
/// no longer held some of it. Blocking: run it on its own thread. `hub` is weak so that
/// dropping the hub closes the channel and ends the printer.
pub fn print_events(
    hub: &Weak<Hub>,
    rx: broadcast::Receiver<LogEntry>,
    out: impl Write,
) -> io::Result<()> {
    print_events_with_relay(hub, rx, out, None)
}

/// [`print_events`], with each event's relay outcome when a relay runs.
pub fn print_events_with_relay(
    hub: &Weak<Hub>,
    mut rx: broadcast::Receiver<LogEntry>,
    mut out: impl Write,
    relay: Option<&RelayLines>,
) -> io::Result<()> {
    let mut last_printed = 0u64;
    loop {
        match rx.blocking_recv() {
            Ok(entry) => {
                if entry.event.seq > last_printed {
                    let printed = relay.map(RelayLines::printed);
                    let record = relay.and_then(|r| r.relay.record(entry.event.seq));
                    writeln!(out, "{}", line_with_relay(&entry, record.as_ref()))?;
                    out.flush()?;
                    last_printed = entry.event.seq;
                    if let Some(mut printed) = printed {
                        *printed = last_printed;
                    }
                }
            }
            Err(RecvError::Lagged(_)) => {
                // The hub holds the sender: if it is gone, nothing more can be missed.
                let missed: Vec<LogEntry> = hub.upgrade().map_or_else(Vec::new, |hub| {
                    hub.read(|store| store.log_after(last_printed).cloned().collect())
                });
                if let Some(first) = missed.first()
                    && first.event.seq > last_printed + 1
                {
                    eprintln!(
                        "roomwatch: output fell behind; events {}..{} left the in-memory log before they could be printed",
                        last_printed + 1,
                        first.event.seq - 1
                    );
                }
                for entry in &missed {
                    let printed = relay.map(RelayLines::printed);
                    let record = relay.and_then(|r| r.relay.record(entry.event.seq));
                    writeln!(out, "{}", line_with_relay(entry, record.as_ref()))?;
                    last_printed = entry.event.seq;
                    if let Some(mut printed) = printed {
                        *printed = last_printed;
                    }
                }
                out.flush()?;
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}
