//! What reaches the app from outside the terminal: hub events, lag resyncs, clock ticks.

use std::collections::HashSet;

use super::App;
use super::log_rows::Notice;
use crate::event::{Event, Verdict};
use crate::store::{Checkpoint, LogEntry, RoomKey, RoomStore};

/// Notices kept in the log (lag resyncs); older ones are dropped.
const MAX_NOTICES: usize = 100;
/// Window over which callbacks per second are averaged, in ms.
const RATE_WINDOW_MS: i64 = 5_000;
/// Room charts kept beyond the rooms the store holds before the extra ones are dropped.
const SERIES_SLACK: usize = 1024;

impl App {
    pub(super) fn on_bus(&mut self, entry: &LogEntry) {
        // Only the rooms the event names can change: take them out of the order, apply,
        // and put them back where they now belong, instead of sorting every room again.
        let touched = self.rooms_to_place(&entry.event);
        for id in &touched {
            self.unlist(id);
        }
        let applied = self.store.apply(std::sync::Arc::clone(&entry.event));
        for id in &touched {
            self.relist(id);
        }
        if applied.is_none() {
            // Already part of the replica (taken from a snapshot).
            return;
        }
        self.took(&entry.event);
        self.append_log_row(entry.event.seq);
    }

    /// Events from the hub with the hub's state once they were applied: the log takes the
    /// entries as they are and the rooms are read from `state`, so no event is folded a
    /// second time here. Entries the store already holds (from a snapshot) are skipped.
    pub(super) fn on_synced(&mut self, entries: &[LogEntry], state: Checkpoint) {
        let held = self.store.last_seq();
        let fresh = &entries[entries.partition_point(|e| e.event.seq <= held)..];
        self.taken_since_frame += fresh.len();
        if std::mem::take(&mut self.rooms_released) {
            // The rooms as they were are gone, so none can be moved one by one.
            self.rooms_stale = true;
        }
        let upto = fresh.last().map_or(held, |e| e.event.seq);
        if state.last_seq() > upto {
            // The state holds events that never came through here (published after the bus
            // closed): the rooms they changed are unknown, so the order is rebuilt.
            self.view_changed();
        }
        let mut touched: Vec<RoomKey> = Vec::new();
        let mut seen: HashSet<RoomKey> = HashSet::new();
        for entry in fresh {
            for key in self.rooms_to_place(&entry.event) {
                if seen.insert(key.clone()) {
                    touched.push(key);
                }
            }
        }
        if self.rooms_stale {
            // A full sort is due at the next frame anyway.
            touched.clear();
        }
        for key in &touched {
            self.unlist(key);
        }
        for entry in fresh {
            self.store.push_applied(entry.clone());
        }
        self.store.adopt_state(state);
        for key in &touched {
            self.relist(key);
        }
        // The log keeps the entries as given, in order, and lets go of the oldest first: those
        // from here on are held (a batch bigger than the log loses its first ones).
        let held_from = self.store.log().front().map_or(u64::MAX, |e| e.event.seq);
        for entry in fresh {
            self.took(&entry.event);
            if entry.event.seq >= held_from {
                self.append_held_log_row(entry);
            }
        }
    }

    /// What every event new to the store changes besides the rooms and the log's lines: the
    /// caches it makes stale, the rate and plots.
    fn took(&mut self, event: &Event) {
        let at = event.received_at_ms;
        self.throughput
            .record(at, event.verdict == Verdict::Rejected);
        if let (Verdict::Accepted, Some(callback)) = (event.verdict, &event.callback) {
            let app = event.sdkappid();
            for id in callback.room_ids() {
                let key = RoomKey::new(app, id);
                self.room_users.forget(&key);
                self.log_index.room_changed(&key);
                let online = self
                    .store
                    .room(&key)
                    .map_or(0, |r| if r.is_ended() { 0 } else { r.online_count() });
                self.room_series.record(key, at, online as u64);
            }
            // Rooms the store let go of leave the charts too; checked in batches so an
            // event costs O(1) amortized.
            let held = self.store.rooms().len();
            if self.room_series.len() > held + SERIES_SLACK {
                let rooms = self.store.rooms();
                self.room_series.retain(|id| rooms.contains_key(id));
            }
        }
        self.arrivals.push_back(at);
        self.dirty = true;
    }

    pub(super) fn on_lagged(&mut self, skipped: u64, snapshot: RoomStore) {
        self.store = snapshot;
        self.rooms_released = false;
        // The snapshot's lines may carry other effects under sequence numbers already seen.
        self.log_index.reset();
        self.room_users.clear();
        self.on_skipped(skipped);
    }

    /// Says in the log, after the last line held, that the bus dropped `skipped` events and the
    /// app caught up from the hub.
    pub(super) fn on_skipped(&mut self, skipped: u64) {
        if self.notices.len() == MAX_NOTICES {
            self.notices.remove(0);
        }
        self.notices.push(Notice {
            after_seq: self.store.last_seq(),
            text: format!("fell behind: skipped {skipped} events, resynced"),
        });
        self.view_changed();
    }

    pub(super) fn on_tick(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        self.throughput.trim(now_ms.div_euclid(1000));
        while self
            .arrivals
            .front()
            .is_some_and(|t| *t <= now_ms.saturating_sub(RATE_WINDOW_MS))
        {
            self.arrivals.pop_front();
        }
        self.rate = self.arrivals.len() as f64 * 1000.0 / RATE_WINDOW_MS as f64;
        self.dirty = true;
        if self.query.uses_clock() {
            // `since:` windows move with the clock.
            self.view_changed();
        }
    }
}
