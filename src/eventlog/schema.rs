//! The journal's tables. A file is a roomwatch journal when its `application_id` says so; its
//! `user_version` is the schema version, and a newer one than this build knows is refused
//! rather than misread.

use rusqlite::Connection;

/// `PRAGMA application_id`: "rmwt".
pub const APPLICATION_ID: i32 = 0x726d_7774;

/// The schema version this build writes and reads.
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
CREATE INDEX callbacks_by_room ON callbacks(room_id, seq);
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

-- Every relay attempt and its outcome.
CREATE TABLE relay_outcomes (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,        -- the callback (callbacks.seq)
    attempt     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL,           -- delivered | retrying | failed | fallback
    status      INTEGER,                 -- backend HTTP status, when it answered
    latency_ms  INTEGER,
    error       TEXT,
    reply       BLOB                     -- backend answer body
);
CREATE INDEX relay_outcomes_by_seq ON relay_outcomes(seq);
";

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
