//! The log pane's lines: the stored events that pass the filter and scope, with the app's
//! own notices merged in, kept as a cache rebuilt only when the view changes.

use super::App;
use crate::event::Event;
use crate::store::{LogEntry, RoomKey};

/// A line the app itself adds to the log, e.g. after a lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Shown after the event with this sequence number.
    pub after_seq: u64,
    pub text: String,
}

/// One line of the (filtered) log: an event by its sequence number, or a notice.
/// Ordered as shown: by sequence, a notice after the event it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogRow {
    pub seq: u64,
    pub notice: Option<usize>,
}

impl App {
    /// Log lines shown, oldest first.
    pub fn log_rows(&self) -> &[LogRow] {
        &self.log_rows
    }

    /// The index in [`Self::log_rows`] of the cursor line (the last line when following).
    pub fn log_cursor_index(&self) -> Option<usize> {
        if self.log_rows.is_empty() {
            return None;
        }
        Some(match self.log_cursor {
            None => self.log_rows.len() - 1,
            Some(row) => self
                .log_rows
                .partition_point(|r| *r <= row)
                .saturating_sub(1),
        })
    }

    /// (log lines indexed, room ids, command names, accounts held) by the index the filter
    /// scans: lets tests check that it follows the log and holds no more than the log names.
    pub fn log_index_size(&self) -> (usize, usize, usize, usize) {
        self.log_index.size()
    }

    pub(super) fn entry_matches(&self, entry: &LogEntry) -> bool {
        if self.scope_room.is_none() && self.query.is_empty() {
            // Every line shows: listing its rooms would be the cost of every callback.
            return true;
        }
        let rooms = entry_rooms(&entry.event);
        if let Some(scope) = &self.scope_room
            && !rooms.contains(scope)
        {
            return false;
        }
        self.query.is_empty()
            || self.query.matches_entry(
                entry,
                &rooms,
                |key| self.store.room(key),
                self.relay.record(entry.event.seq).map(|r| &r.state),
                self.now_ms,
            )
    }

    /// Filters the whole stored log again (through its index), puts the lines read back from
    /// the journal above it, and merges the notices in.
    pub(super) fn rebuild_log_rows(&mut self) {
        self.log_index.sync(self.store.log());
        let mut rows = self.history_rows();
        let relay = &self.relay;
        rows.extend(self.log_index.matching(
            &self.store,
            &self.query,
            self.scope_room.as_ref(),
            |seq| relay.record(seq).map(|r| &r.state),
            self.now_ms,
        ));
        for (i, notice) in self.notices.iter().enumerate() {
            let row = LogRow {
                seq: notice.after_seq,
                notice: Some(i),
            };
            let at = rows.partition_point(|r| *r < row);
            rows.insert(at, row);
        }
        self.log_rows = rows;
    }

    /// Drops lines whose events left the store's capped log (and notices among them); lines
    /// read back from the journal stay.
    pub(super) fn drop_expired_log_rows(&mut self) {
        let first = self.store.log().front().map_or(u64::MAX, |e| e.event.seq);
        let kept = self.history.last_seq().map_or(0, |seq| {
            self.log_rows
                .partition_point(|r| r.seq < seq || (r.seq == seq && r.notice.is_none()))
        });
        let gone = self.log_rows.partition_point(|r| r.seq < first);
        if gone > kept {
            self.log_rows.drain(kept..gone);
        }
    }

    /// Appends an event just taken in, if it is shown, instead of filtering the log again.
    pub(super) fn append_log_row(&mut self, seq: u64) {
        if self.log_stale {
            return;
        }
        // The stored copy carries the effect the store gave it. A line already gone from
        // the capped log (many events since the last frame) is not shown.
        let log = self.store.log();
        let at = log.partition_point(|e| e.event.seq < seq);
        if let Some(entry) = log.get(at).filter(|e| e.event.seq == seq).cloned() {
            self.append_held_log_row(&entry);
        }
    }

    /// [`Self::append_log_row`] for an entry known to be the one the store's log holds under
    /// its number: no search through the log (a cold event per step) for it.
    pub(super) fn append_held_log_row(&mut self, entry: &LogEntry) {
        if self.log_stale || !self.entry_matches(entry) {
            return;
        }
        self.log_rows.push(LogRow {
            seq: entry.event.seq,
            notice: None,
        });
        if self.log_cursor.is_some() {
            self.new_while_paused += 1;
        }
    }
}

/// Every room an event concerns, under the event's app: the typed callback's rooms, else the
/// id the receiver guessed.
pub fn entry_rooms(event: &Event) -> Vec<RoomKey> {
    entry_rooms_in(event, event.sdkappid())
}

/// [`entry_rooms`], with the event's app already read (`event.sdkappid()`).
pub(super) fn entry_rooms_in(event: &Event, app: &str) -> Vec<RoomKey> {
    let mut rooms: Vec<RoomKey> = event
        .callback
        .as_ref()
        .map(|c| {
            c.room_ids()
                .into_iter()
                .map(|id| RoomKey::new(app, id))
                .collect()
        })
        .unwrap_or_default();
    if rooms.is_empty() {
        rooms.extend(event.room_id.as_deref().map(|id| RoomKey::new(app, id)));
    }
    rooms
}
