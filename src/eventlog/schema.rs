//! The journal's tables. A file is a roomwatch journal when its `application_id` says so; its
//! `user_version` is the schema version, and a newer one than this build knows is refused
//! rather than misread.

use rusqlite::Connection;

/// `PRAGMA application_id`: "rmwt".
pub const APPLICATION_ID: i32 = 0x726d_7774;

/// The schema version this build writes and reads. Additions that older builds can live with
/// (an index, nullable columns) keep it, and are made when a journal is opened for writing
/// ([`upgrade_room_index`], [`upgrade_relay_outcomes`]).
pub const SCHEMA_VERSION: i32 = 1;

/// Every table, created together on a fresh file.
pub const CREATE: &str = r"
CREATE TABLE callbacks (
    seq            INTEGER PRIMARY KEY,  -- arrival order, unique and increasing across restarts
    received_at_ms INTEGER NOT NULL,     -- Unix ms
    remote         TEXT,                 -- peer address, ip:port
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    raw_query      TEXT NOT NULL,        -- exactly as received, Sign included (relay and replay need it)
    content_type   TEXT,
    body           BLOB NOT NULL,        -- bytes as received (first 4 KiB of an oversized body)
    body_len       INTEGER NOT NULL,     -- size as received
    command        TEXT,                 -- e.g. Live.CallbackAfterCreateRoom
    room_id        TEXT,
    verdict        TEXT NOT NULL,        -- accepted | rejected | unrecognized
    error_code     INTEGER,              -- ErrorCode sent, when rejected
    error          TEXT,                 -- the reason, when rejected
    error_detail   TEXT,                 -- the reason as JSON, to rebuild it exactly
    auth           TEXT,                 -- signed | unchecked | NULL (not reached)
    effect         TEXT NOT NULL,        -- applied | stale | duplicate | no_state
    status         INTEGER NOT NULL,     -- HTTP status answered
    reply          TEXT NOT NULL,        -- body answered
    checksum       INTEGER NOT NULL,     -- CRC-32 of the fields: corrupt rows are skipped
    clock_skew     INTEGER NOT NULL      -- 1: EventTime too far ahead, ordered by arrival instead
);
-- A room's records, found block by block (see ROOM_BLOCK_SHIFT).
CREATE INDEX callbacks_by_room_block ON callbacks(seq >> 8, room_id);
CREATE INDEX callbacks_by_time ON callbacks(received_at_ms);

-- The reducer's state after `seq`: restore loads the newest and replays the records after it.
CREATE TABLE checkpoints (
    seq         INTEGER PRIMARY KEY,
    taken_at_ms INTEGER NOT NULL,
    state       BLOB NOT NULL            -- the room store (rooms, battles, counters), postcard-encoded
);

-- Relays to the backend not yet finished, so they resume after a restart.
CREATE TABLE relay_pending (
    seq             INTEGER PRIMARY KEY, -- the callback (callbacks.seq)
    target          TEXT NOT NULL,       -- forward URL
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    give_up_at_ms   INTEGER NOT NULL
);

-- Each relayed callback's final outcome (a resend adds a newer row; the newest counts).
CREATE TABLE relay_outcomes (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,        -- the callback (callbacks.seq)
    attempt     INTEGER NOT NULL,        -- attempts made (0: given up at a restart, never tried)
    at_ms       INTEGER NOT NULL,        -- when the outcome was reached, Unix ms
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL,           -- delivered | failed | fallback | refused
    status      INTEGER,                 -- backend HTTP status, when it answered
    latency_ms  INTEGER,
    error       TEXT,                    -- the reason, when failed, fallback or refused
    reply       BLOB,                    -- backend answer body, first 4 KiB
    mode        TEXT,                    -- before | after (added later: NULL in older rows)
    decision    TEXT,                    -- allow | deny, when the fallback answered
    note        TEXT,                    -- a note for the operator
    attempt_log TEXT                     -- the last attempts as a JSON array
);
CREATE INDEX relay_outcomes_by_seq ON relay_outcomes(seq);
";

/// The room index groups records into blocks of 256 consecutive seqs (`seq >> 8`), rooms
/// sorted within each block. A plain `(room_id, seq)` index puts each room's newest entry on
/// a page of its own, so a commit rewrote about one index page per record (most of the
/// commit's cost on a large journal); blocked, every commit touches only the newest block's
/// one or two pages. Finding a room reads one index entry range per block
/// ([`ROOM_BLOCKS`]). Changing the shift changes the index: keep it in step with
/// [`CREATE`] and [`ROOM_BLOCKS`].
pub const ROOM_BLOCK_SHIFT: u32 = 8;

/// The blocks of seqs a journal holds, as rows `blocks(n)`: join
/// `callbacks ON (callbacks.seq >> 8) = blocks.n AND callbacks.room_id = ?` to read a room
/// through the index.
pub const ROOM_BLOCKS: &str = "blocks(n) AS (SELECT (SELECT min(seq) FROM callbacks) >> 8 \
     UNION ALL SELECT n + 1 FROM blocks WHERE n < (SELECT max(seq) FROM callbacks) >> 8)";

/// The room index of journals written before it was blocked.
const OLD_ROOM_INDEX: &str = "callbacks_by_room";

/// Whether the blocked room index is there (a journal written by an older roomwatch that
/// no newer one has opened for writing has the old one).
pub fn has_room_blocks(conn: &Connection) -> rusqlite::Result<bool> {
    has_index(conn, "callbacks_by_room_block")
}

fn has_index(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Replaces the old room index with the blocked one, in one transaction. Reads every record
/// once, so a large journal takes a few seconds, once. The schema version stays: an older
/// roomwatch still reads and writes the file (its room queries just read every record).
pub fn upgrade_room_index(conn: &mut Connection) -> rusqlite::Result<bool> {
    if !has_index(conn, OLD_ROOM_INDEX)? {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS callbacks_by_room_block ON callbacks(seq >> 8, room_id);
         DROP INDEX callbacks_by_room;",
    )?;
    tx.commit()?;
    Ok(true)
}

/// What a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No tables yet: a new journal.
    Empty,
    /// A roomwatch journal of this version.
    Current,
    /// A roomwatch journal from a newer roomwatch.
    Newer(i32),
    /// Some other SQLite database.
    Foreign,
}

/// Reads `application_id`, `user_version` and whether any table exists.
pub fn inspect(conn: &Connection) -> rusqlite::Result<Kind> {
    let app: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    Ok(match (app, tables) {
        (0, 0) => Kind::Empty,
        (APPLICATION_ID, _) if version > SCHEMA_VERSION => Kind::Newer(version),
        (APPLICATION_ID, _) => Kind::Current,
        _ => Kind::Foreign,
    })
}

/// Creates the tables and stamps the file, in one transaction.
pub fn create(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(CREATE)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Columns `relay_outcomes` gained after its first version: the callback's mode, the
/// fallback's decision, the operator's note and the attempt log, so a restart shows each relay
/// as it ended. Nullable: older rows (give-ups at a restart) read as "after" relays, and an
/// older roomwatch still writes its rows.
const OUTCOME_COLUMNS: &str = r"
ALTER TABLE relay_outcomes ADD COLUMN mode TEXT;
ALTER TABLE relay_outcomes ADD COLUMN decision TEXT;
ALTER TABLE relay_outcomes ADD COLUMN note TEXT;
ALTER TABLE relay_outcomes ADD COLUMN attempt_log TEXT;
";

/// Whether `relay_outcomes` has the columns of [`OUTCOME_COLUMNS`] (a journal written by an
/// older roomwatch that no newer one has opened for writing lacks them).
pub fn has_outcome_columns(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('relay_outcomes') WHERE name = 'attempt_log'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Adds the columns of [`OUTCOME_COLUMNS`] when they are missing, in one transaction (a failed
/// upgrade leaves the file as it was). Instant: SQLite adds a nullable column without
/// rewriting rows.
pub fn upgrade_relay_outcomes(conn: &mut Connection) -> rusqlite::Result<bool> {
    if has_outcome_columns(conn)? {
        return Ok(false);
    }
    let tx = conn.transaction()?;
    tx.execute_batch(OUTCOME_COLUMNS)?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `relay_outcomes` as roomwatch first created it.
    const OLD_OUTCOMES: &str = r"
CREATE TABLE relay_outcomes (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, at_ms INTEGER NOT NULL,
    target TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER, latency_ms INTEGER, error TEXT,
    reply BLOB
);
";

    fn columns(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('relay_outcomes') ORDER BY cid")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn an_upgraded_old_journal_has_the_outcome_columns_of_a_new_one() {
        let mut fresh = Connection::open_in_memory().expect("open");
        create(&mut fresh).expect("create");
        assert!(!upgrade_relay_outcomes(&mut fresh).expect("no-op"));
        let mut old = Connection::open_in_memory().expect("open");
        old.execute_batch(OLD_OUTCOMES).expect("old table");
        old.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("id");
        old.pragma_update(None, "user_version", 1).expect("version");
        assert_eq!(inspect(&old).expect("inspect"), Kind::Current);
        assert!(!has_outcome_columns(&old).expect("columns"));
        assert!(upgrade_relay_outcomes(&mut old).expect("upgrade"));
        assert_eq!(columns(&old), columns(&fresh));
        assert!(!upgrade_relay_outcomes(&mut old).expect("once only"));
    }
}
