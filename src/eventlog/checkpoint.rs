//! Checkpoints of the reducer's state, so a restore replays only the records after the newest
//! one instead of the whole history. Written by the journal writer after a commit, off the
//! receive path; the two newest are kept, so a damaged newest one falls back to the other.

use rusqlite::Connection;

use crate::store::{Checkpoint, RoomStore};

/// Checkpoints kept; older ones are deleted when a new one lands.
const KEEP: i64 = 2;

/// Stores `store`'s state as of its last seq.
pub fn save(conn: &mut Connection, store: &RoomStore, now_ms: i64) -> Result<(), SaveError> {
    // A compact binary encoding: a large state is tens of megabytes, and restore reads it.
    let state = postcard::to_stdvec(&store.checkpoint())?;
    let seq = i64::try_from(store.last_seq()).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT OR REPLACE INTO checkpoints (seq, taken_at_ms, state) VALUES (?1, ?2, ?3)",
        rusqlite::params![seq, now_ms, state],
    )?;
    tx.execute(
        "DELETE FROM checkpoints WHERE seq NOT IN (SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT ?1)",
        [KEEP],
    )?;
    tx.commit()?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cannot encode the state: {0}")]
    Encode(#[from] postcard::Error),
    #[error("cannot store the checkpoint: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The newest checkpoint that reads back, as a store with an empty log.
pub fn load_newest(conn: &Connection, log_capacity: usize) -> Option<(u64, RoomStore)> {
    let mut stmt = conn
        .prepare("SELECT seq, state FROM checkpoints ORDER BY seq DESC")
        .ok()?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .ok()?;
    for row in rows {
        let Ok((seq, state)) = row else { continue };
        match postcard::from_bytes::<Checkpoint>(&state) {
            Ok(checkpoint) => {
                let store = RoomStore::from_checkpoint(checkpoint, log_capacity);
                return Some((u64::try_from(seq).unwrap_or(0), store));
            }
            Err(error) => tracing::warn!(seq, %error, "unreadable checkpoint skipped"),
        }
    }
    None
}
