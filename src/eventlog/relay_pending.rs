//! The relay's pending list in the journal: every "after" callback waiting for delivery is
//! marked in `relay_pending` (through the writer, in the same transaction as the records
//! queued with it) and unmarked when it leaves the backlog, so that a restart resumes exactly
//! the acknowledged callbacks that never reached the backend.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

use super::ReadError;
use super::record::{COLUMNS, StoredRow};
use super::writer::{Msg, RelayOp};
use crate::event::Event;
use crate::relay::RelayRecord;
use crate::relay::backlog::PendingLog;

/// A [`PendingLog`] that hands every change to the journal's writer thread. Never waits on the
/// disk: the relay calls it under the hub's lock.
pub struct JournalPending {
    tx: mpsc::Sender<Msg>,
    target: String,
    max_age_ms: i64,
}

impl JournalPending {
    pub(crate) fn new(tx: mpsc::Sender<Msg>, target: String, max_age: Duration) -> Self {
        Self {
            tx,
            target,
            max_age_ms: i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl PendingLog for JournalPending {
    fn pending(&self, event: &Event) {
        // A stopped writer answers the record's own append as not journaled; nothing to add.
        let _ = self.tx.send(Msg::Relay(RelayOp::Pending {
            seq: event.seq,
            target: self.target.clone(),
            received_at_ms: event.received_at_ms,
            give_up_at_ms: event.received_at_ms.saturating_add(self.max_age_ms),
        }));
    }

    fn settled(&self, seq: u64) {
        let _ = self.tx.send(Msg::Relay(RelayOp::Settled { seq }));
    }

    fn finished(&self, record: &RelayRecord) {
        let _ = self.tx.send(Msg::Relay(RelayOp::Outcome {
            at_ms: crate::ingest::receiver::now_ms(),
            target: self.target.clone(),
            record: Box::new(record.clone()),
        }));
    }
}

/// What a restart found still pending.
#[derive(Debug, Default)]
pub struct Resumed {
    /// Callbacks to hand to the relay again, in seq order.
    pub events: Vec<Arc<Event>>,
    /// Pending callbacks given up: older than the relay's maximum age, or whose record is
    /// gone or damaged.
    pub gave_up: usize,
}

/// Reads the pending callbacks in seq order. Those received more than `max_age` before
/// `now_ms`, and those whose record cannot be read, are given up through `tx` (recorded in
/// `relay_outcomes` and unmarked).
pub(crate) fn resume(
    conn: &Connection,
    tx: &mpsc::Sender<Msg>,
    target: &str,
    max_age: Duration,
    now_ms: i64,
) -> Result<Resumed, ReadError> {
    let max_age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    let mut resumed = Resumed::default();
    let mut give_up = |seq: i64, reason: String| {
        let _ = tx.send(Msg::Relay(RelayOp::GaveUp {
            seq: u64::try_from(seq).unwrap_or(0),
            at_ms: now_ms,
            target: target.to_string(),
            reason,
        }));
        resumed.gave_up += 1;
    };
    let mut events = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT seq FROM relay_pending WHERE seq NOT IN (SELECT seq FROM callbacks) ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            give_up(row.get(0)?, "its record is no longer in the journal".into());
        }
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM callbacks WHERE seq IN (SELECT seq FROM relay_pending) ORDER BY seq"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let entry = match StoredRow::from_row(row).and_then(StoredRow::into_entry) {
            Ok(entry) => entry,
            Err(error) => {
                give_up(seq, format!("its record is damaged: {error}"));
                continue;
            }
        };
        if now_ms.saturating_sub(entry.event.received_at_ms) > max_age_ms {
            give_up(
                seq,
                format!(
                    "older than --relay-max-age ({} s) when roomwatch restarted",
                    max_age.as_secs()
                ),
            );
            continue;
        }
        events.push(entry.event);
    }
    resumed.events = events;
    Ok(resumed)
}
