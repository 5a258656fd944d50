//! The room table's order, kept incrementally: most recent activity first, rooms never
//! timed last, ties by id. A burst of events falls back to one full sort.

use super::App;
use crate::event::{Event, Verdict};

/// Events between two frames whose rooms are moved in the order one by one; after a bigger
/// burst one full sort at the next frame is cheaper.
const PLACE_LIMIT: usize = 256;

impl App {
    /// Sorts every room that passes the filter and recounts live and ended rooms.
    pub(super) fn rebuild_room_order(&mut self) {
        let mut order: Vec<(&String, Option<i64>)> = self
            .store
            .rooms()
            .iter()
            .filter(|(id, _)| self.room_matches(id))
            .map(|(id, room)| (id, room.last_event_ms))
            .collect();
        // Most recent activity first; rooms never timed last; ties by id.
        order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        self.room_order = order.into_iter().map(|(id, _)| id.clone()).collect();
        let ended = self.store.rooms().values().filter(|r| r.is_ended()).count();
        self.ended_rooms = ended;
        self.live_rooms = self.store.rooms().len() - ended;
    }

    /// The rooms to move one by one for this event; none when a full sort is due anyway
    /// (already stale, or too many events since the last frame, which makes it due).
    pub(super) fn rooms_to_place(&mut self, event: &Event) -> Vec<String> {
        if self.rooms_stale {
            Vec::new()
        } else if self.placed == PLACE_LIMIT {
            self.rooms_stale = true;
            Vec::new()
        } else {
            self.placed += 1;
            touched_rooms(event)
        }
    }

    /// Where a room is in [`Self::room_order`], found by its sort key: most recent activity
    /// first, rooms never timed last, ties by id. `None` when it is not shown.
    pub(super) fn order_index(&self, id: &str) -> Option<usize> {
        let last = self.store.room(id)?.last_event_ms;
        self.order_search(id, last).ok()
    }

    /// Binary search of [`Self::room_order`] for a room with this last activity.
    fn order_search(&self, id: &str, last: Option<i64>) -> Result<usize, usize> {
        self.room_order.binary_search_by(|probe| {
            let probe_last = self.store.room(probe).and_then(|r| r.last_event_ms);
            last.cmp(&probe_last).then_with(|| probe.as_str().cmp(id))
        })
    }

    /// Takes a room out of the order and the counts before an event may change it.
    pub(super) fn unlist(&mut self, id: &str) {
        let Some(room) = self.store.room(id) else {
            return;
        };
        let ended = room.is_ended();
        if let Some(i) = self.order_index(id) {
            self.room_order.remove(i);
        }
        if ended {
            self.ended_rooms -= 1;
        } else {
            self.live_rooms -= 1;
        }
    }

    /// Puts a room back after an event, where it now sorts, if it passes the filter.
    pub(super) fn relist(&mut self, id: &str) {
        let Some(room) = self.store.room(id) else {
            return;
        };
        if room.is_ended() {
            self.ended_rooms += 1;
        } else {
            self.live_rooms += 1;
        }
        if !self.room_matches(id) {
            return;
        }
        let at = self
            .order_search(id, room.last_event_ms)
            .unwrap_or_else(|at| at);
        self.room_order.insert(at, id.to_string());
    }
}

/// The rooms applying an event to the store may create or change, each once.
fn touched_rooms(event: &Event) -> Vec<String> {
    let mut rooms: Vec<String> = Vec::new();
    if let (Verdict::Accepted, Some(callback)) = (event.verdict, &event.callback) {
        for id in callback.room_ids() {
            if !rooms.iter().any(|r| r == id) {
                rooms.push(id.to_string());
            }
        }
    }
    rooms
}
