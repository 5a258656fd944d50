//! Selecting records for export and replay: filters turned into one SQL query, read through a
//! read-only connection (no lock, so it works while roomwatch runs).

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::record::{COLUMNS, StoredRow};
use super::schema::{ROOM_BLOCK_SHIFT, ROOM_BLOCKS, has_room_blocks};
use crate::store::LogEntry;

/// Which records to select; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub room: Option<String>,
    /// The app (`SdkAppid` in the recorded query string, trimmed).
    pub sdkappid: Option<String>,
    /// A full command name or its short form (`AfterCreateRoom` matches
    /// `Live.CallbackAfterCreateRoom`), ignoring case.
    pub command: Option<String>,
    pub verdict: Option<String>,
    /// Unix ms, inclusive.
    pub since_ms: Option<i64>,
    /// Unix ms, exclusive.
    pub until_ms: Option<i64>,
}

impl Filter {
    /// Whether `event` matches, by the same rules as the SQL selection.
    pub fn matches(&self, event: &crate::event::Event) -> bool {
        let command_matches = |wanted: &str| {
            event.command.as_deref().is_some_and(|command| {
                let (command, wanted) = (command.to_ascii_lowercase(), wanted.to_ascii_lowercase());
                command == wanted
                    || command.ends_with(&format!(".{wanted}"))
                    || command.ends_with(&format!(".callback{wanted}"))
            })
        };
        self.room
            .as_ref()
            .is_none_or(|room| event.room_id.as_deref() == Some(room.as_str()))
            && self
                .sdkappid
                .as_deref()
                .is_none_or(|app| event.sdkappid() == app)
            && self.command.as_deref().is_none_or(command_matches)
            && self.verdict.as_ref().is_none_or(|verdict| {
                crate::eventlog::record::verdict_name(event.verdict).eq_ignore_ascii_case(verdict)
            })
            && self
                .since_ms
                .is_none_or(|since| event.received_at_ms >= since)
            && self
                .until_ms
                .is_none_or(|until| event.received_at_ms < until)
    }

    /// The query, and its values. With a room and the blocked room index, the room's
    /// records are read through it block by block; otherwise the room is one more condition.
    fn query(&self, room_blocks: bool) -> (String, Vec<SqlValue>) {
        let mut values = Vec::new();
        let mut room_join = String::new();
        let mut room_condition = None;
        if let Some(room) = &self.room {
            values.push(SqlValue::Text(room.clone()));
            if room_blocks {
                room_join = format!(
                    "WITH RECURSIVE {ROOM_BLOCKS} SELECT {COLUMNS} FROM blocks JOIN callbacks \
                     ON (callbacks.seq >> {ROOM_BLOCK_SHIFT}) = blocks.n AND callbacks.room_id = ?1"
                );
            } else {
                room_condition = Some("room_id = ?1".to_string());
            }
        }
        let (clause, values) = self.clause(values, room_condition);
        let select = if room_join.is_empty() {
            format!("SELECT {COLUMNS} FROM callbacks")
        } else {
            room_join
        };
        (format!("{select} {clause} ORDER BY seq"), values)
    }

    fn clause(
        &self,
        mut values: Vec<SqlValue>,
        room_condition: Option<String>,
    ) -> (String, Vec<SqlValue>) {
        let mut parts: Vec<String> = room_condition.into_iter().collect();
        if let Some(command) = &self.command {
            values.push(SqlValue::Text(command.to_ascii_lowercase()));
            let n = values.len();
            parts.push(format!(
                "(lower(command) = ?{n} OR lower(command) LIKE '%.' || ?{n} OR lower(command) LIKE '%.callback' || ?{n})"
            ));
        }
        if let Some(verdict) = &self.verdict {
            values.push(SqlValue::Text(verdict.to_ascii_lowercase()));
            parts.push(format!("verdict = ?{}", values.len()));
        }
        if let Some(since) = self.since_ms {
            values.push(SqlValue::Integer(since));
            parts.push(format!("received_at_ms >= ?{}", values.len()));
        }
        if let Some(until) = self.until_ms {
            values.push(SqlValue::Integer(until));
            parts.push(format!("received_at_ms < ?{}", values.len()));
        }
        let clause = if parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", parts.join(" AND "))
        };
        (clause, values)
    }
}

/// Calls `each` for every matching record in seq order; returns how many rows were
/// unreadable (skipped). Stops early when `each` returns an error.
pub fn select<E>(
    conn: &Connection,
    filter: &Filter,
    mut each: impl FnMut(LogEntry) -> Result<(), E>,
) -> Result<u64, SelectError<E>> {
    let room_blocks = filter.room.is_some() && has_room_blocks(conn)?;
    let (sql, values) = filter.query(room_blocks);
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    let mut skipped = 0;
    while let Some(row) = rows.next()? {
        match StoredRow::from_row(row).and_then(StoredRow::into_entry) {
            // The app sits inside the raw query string, which SQL cannot match exactly: every
            // row is checked once more against the whole filter here.
            Ok(entry) if !filter.matches(&entry.event) => {}
            Ok(entry) => each(entry).map_err(SelectError::Sink)?,
            Err(_) => skipped += 1,
        }
    }
    Ok(skipped)
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError<E> {
    #[error("journal read failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Sink(E),
}
