//! Rebuilding the state on start: the newest checkpoint of the room store, then every record
//! after it replayed through the same reducer, and the recent log read back for the screen.
//! Unreadable rows are skipped and counted, never fatal: roomwatch always starts.

use rusqlite::{Connection, OptionalExtension};

use super::checkpoint;
use super::record::{COLUMNS, StoredRow};
use super::sqlite::read_after;
use crate::store::{LogEntry, RoomStore};

/// Records read per query while replaying.
const CHUNK: usize = 10_000;

/// What the journal gave back.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The room store as it was, recent log included.
    pub store: RoomStore,
    /// Callbacks in the journal.
    pub callbacks: u64,
    /// Arrival time of the oldest one (Unix ms).
    pub since_ms: Option<i64>,
    /// Rows that could not be read (damaged), skipped.
    pub skipped: u64,
    /// The checkpoint the state started from (0: none, replayed from the start).
    pub checkpoint_seq: u64,
}

impl Restored {
    pub fn empty(log_capacity: usize) -> Self {
        Self {
            store: RoomStore::new(log_capacity),
            callbacks: 0,
            since_ms: None,
            skipped: 0,
            checkpoint_seq: 0,
        }
    }
}

pub fn restore(conn: &Connection, log_capacity: usize) -> rusqlite::Result<Restored> {
    let (callbacks, since_ms, max_seq): (i64, Option<i64>, Option<i64>) = conn.query_row(
        "SELECT count(*), min(received_at_ms), max(seq) FROM callbacks",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let max_seq = max_seq.map_or(0, |s| u64::try_from(s).unwrap_or(0));
    let mut skipped = 0;
    let (checkpoint_seq, mut store) = checkpoint::load_newest(conn, log_capacity)
        .unwrap_or_else(|| (0, RoomStore::new(log_capacity)));
    if checkpoint_seq > 0 {
        // The records replayed after the checkpoint enter the log too: only the rest of it is
        // read from before the checkpoint (after a crash the tail alone can fill the log, and
        // reading entries only to drop them again was a third of the restore).
        let tail = records_after(conn, checkpoint_seq)?;
        let wanted = log_capacity.saturating_sub(usize::try_from(tail).unwrap_or(usize::MAX));
        let (recent, bad) = recent_before(conn, checkpoint_seq, wanted);
        skipped += bad;
        for entry in recent {
            store.push_restored(entry);
        }
    }
    let mut after = checkpoint_seq;
    while after < max_seq {
        let (entries, bad, next) = read_tolerant(conn, after, CHUNK);
        skipped += bad;
        for entry in entries {
            store.apply(entry.event);
        }
        after = next;
    }
    // A damaged last row must not have its number given out again.
    store.advance_seq(max_seq);
    Ok(Restored {
        store,
        callbacks: u64::try_from(callbacks).unwrap_or(0),
        since_ms,
        skipped,
        checkpoint_seq,
    })
}

/// How many records follow `seq`.
fn records_after(conn: &Connection, seq: u64) -> rusqlite::Result<u64> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM callbacks WHERE seq > ?1",
        [seq],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The last `limit` entries at or before `seq`, oldest first, and how many were unreadable.
fn recent_before(conn: &Connection, seq: u64, limit: usize) -> (Vec<LogEntry>, u64) {
    let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
    let limit_i = i64::try_from(limit).unwrap_or(i64::MAX);
    let first: Option<i64> = conn
        .query_row(
            "SELECT min(seq) FROM (SELECT seq FROM callbacks WHERE seq <= ?1 ORDER BY seq DESC LIMIT ?2)",
            rusqlite::params![seq_i, limit_i],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten()
        .flatten();
    let Some(first) = first else {
        return (Vec::new(), 0);
    };
    let mut after = u64::try_from(first).unwrap_or(1).saturating_sub(1);
    let mut out = Vec::new();
    let mut skipped = 0;
    while after < seq {
        let want = usize::try_from(seq - after)
            .unwrap_or(usize::MAX)
            .min(CHUNK);
        let (entries, bad, next) = read_tolerant(conn, after, want);
        skipped += bad;
        out.extend(entries.into_iter().filter(|e| e.event.seq <= seq));
        after = next;
    }
    (out, skipped)
}

/// Reads up to `limit` entries after `after`. When the range cannot be read as a whole (a
/// damaged page), reads it row by row and skips what fails. Returns the entries, the count
/// skipped, and where to continue.
pub fn read_tolerant(conn: &Connection, after: u64, limit: usize) -> (Vec<LogEntry>, u64, u64) {
    if let Ok(chunk) = read_after(conn, after, limit) {
        // No row above `after`: nothing more to read.
        let next = chunk.last_seen.unwrap_or(u64::MAX);
        return (chunk.entries, chunk.skipped, next);
    }
    let mut entries = Vec::new();
    let mut skipped = 0;
    let Ok(mut stmt) =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM callbacks WHERE seq = ?1"))
    else {
        return (entries, limit as u64, after + limit as u64);
    };
    for seq in after + 1..=after + limit as u64 {
        let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
        match stmt.query_row([seq_i], |row| Ok(StoredRow::from_row(row))) {
            Ok(Ok(row)) => match row.into_entry() {
                Ok(entry) => entries.push(entry),
                Err(_) => skipped += 1,
            },
            // A gap (retention, a failed append) is not damage.
            Err(rusqlite::Error::QueryReturnedNoRows) => {}
            Ok(Err(_)) | Err(_) => skipped += 1,
        }
    }
    (entries, skipped, after + limit as u64)
}
