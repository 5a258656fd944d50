//! Headless mode: one JSON object per callback on stdout, nothing else there.

use std::io::{self, Write};
use std::sync::Weak;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::hub::Hub;
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
    mut rx: broadcast::Receiver<LogEntry>,
    mut out: impl Write,
) -> io::Result<()> {
    let mut last_printed = 0u64;
    loop {
        match rx.blocking_recv() {
            Ok(entry) => {
                if entry.event.seq > last_printed {
                    writeln!(out, "{}", line(&entry))?;
                    out.flush()?;
                    last_printed = entry.event.seq;
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
                    writeln!(out, "{}", line(entry))?;
                    last_printed = entry.event.seq;
                }
                out.flush()?;
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}
