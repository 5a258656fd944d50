//! Checkpoints of the reducer's state, so a restore replays only the records after the newest
//! one instead of the whole history. The state is the hub's own (an O(1) copy of its persistent
//! maps), encoded on a thread of its own and stored by the journal writer once every record it
//! covers is committed; the two newest are kept, so a damaged newest one falls back to the other.

use rusqlite::{Connection, OptionalExtension};

use crate::ingest::query::QueryParams;
use crate::store::{Checkpoint, LegacyCheckpoint, RoomStore, compact_deliveries};

/// Checkpoints kept; older ones are deleted when a new one lands.
const KEEP: i64 = 2;

/// Starts every checkpoint whose rooms are keyed by (app, room). An older checkpoint can
/// never start this way: a leading 0 (no rooms) there is followed by another 0 (no
/// eviction entries either).
const FORMAT_APPS: &[u8] = b"\0rw2";

/// Starts every checkpoint written now: the layout of [`FORMAT_APPS`] with remembered
/// deliveries in their compact form (see [`compact_deliveries`]), about a quarter of the size
/// on a journal that has seen many callbacks. An older roomwatch does not read it (it skips it
/// as unreadable and replays the whole journal instead).
const FORMAT_COMPACT: &[u8] = b"\0rw3";

/// Where the journal takes the state for its checkpoints: the live store's, as of its last
/// seq; `None` once that store is gone.
pub type StateSource = Box<dyn Fn() -> Option<Checkpoint> + Send>;

/// A checkpoint encoded and ready to store.
pub struct Encoded {
    /// The last seq the state includes.
    pub seq: u64,
    pub state: Vec<u8>,
}

/// Encodes `checkpoint` in a compact binary form: a large state is tens of megabytes, and
/// restore reads it. Slow for a large state, so the writer runs it on another thread.
/// `size_hint` is the expected size (the last checkpoint's, with room to grow): a buffer
/// grown by doubling would briefly hold up to three times the state.
pub fn encode(checkpoint: &Checkpoint, size_hint: usize) -> Result<Encoded, SaveError> {
    let mut buffer = Vec::with_capacity(size_hint.max(FORMAT_COMPACT.len()));
    buffer.extend_from_slice(FORMAT_COMPACT);
    // Shared, not copied: completing the order adds only the order.
    let stored = checkpoint.clone().for_storage();
    Ok(Encoded {
        seq: stored.last_seq(),
        state: compact_deliveries(|| postcard::to_extend(&stored, buffer))?,
    })
}

/// Stores an encoded checkpoint.
pub fn store(conn: &mut Connection, encoded: &Encoded, now_ms: i64) -> Result<(), SaveError> {
    let seq = i64::try_from(encoded.seq).unwrap_or(i64::MAX);
    let state = &encoded.state;
    let len = i64::try_from(state.len()).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    // A zero blob of the right size, then written in place: binding the bytes instead would
    // have SQLite copy them twice (the bound value and the record built from it), which for a
    // state of tens of megabytes is most of a checkpoint's peak memory.
    tx.execute(
        "INSERT OR REPLACE INTO checkpoints (seq, taken_at_ms, state) VALUES (?1, ?2, zeroblob(?3))",
        rusqlite::params![seq, now_ms, len],
    )?;
    {
        let mut blob = tx.blob_open(rusqlite::MAIN_DB, "checkpoints", "state", seq, false)?;
        blob.write_all_at(state, 0)?;
    }
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
        match decode(conn, &state) {
            Ok(checkpoint) => {
                let store = RoomStore::from_checkpoint(checkpoint, log_capacity);
                return Some((u64::try_from(seq).unwrap_or(0), store));
            }
            Err(error) => tracing::warn!(seq, %error, "unreadable checkpoint skipped"),
        }
    }
    None
}

/// A checkpoint of either layout. Rooms of an older one (keyed by RoomId alone) take the app
/// from the query string of their latest accepted callback still in the journal; a room whose
/// callbacks retention already removed keeps no app.
fn decode(conn: &Connection, state: &[u8]) -> Result<Checkpoint, postcard::Error> {
    if let Some(current) = state.strip_prefix(FORMAT_COMPACT) {
        return compact_deliveries(|| postcard::from_bytes(current));
    }
    if let Some(plain) = state.strip_prefix(FORMAT_APPS) {
        return postcard::from_bytes(plain);
    }
    let legacy: LegacyCheckpoint = postcard::from_bytes(state)?;
    let mut stmt = conn
        .prepare(
            "SELECT raw_query FROM callbacks WHERE room_id = ?1 AND verdict = 'accepted' \
             ORDER BY seq DESC LIMIT 1",
        )
        .ok();
    let rooms = legacy.room_ids().count();
    let checkpoint = legacy.upgrade(|room_id| {
        let query: Option<String> = stmt
            .as_mut()
            .and_then(|s| s.query_row([room_id], |r| r.get(0)).optional().ok())
            .flatten();
        query
            .map(|q| QueryParams::parse(Some(&q)))
            .and_then(|q| q.get("SdkAppid").map(|a| a.trim().to_string()))
            .unwrap_or_default()
    });
    tracing::info!(
        rooms,
        "checkpoint from before apps: rooms took their app from the journal"
    );
    Ok(checkpoint)
}
