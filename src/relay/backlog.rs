//! The callbacks waiting for delivery: one FIFO per room of an app (rooms drain in parallel,
//! each in arrival order; the same RoomId under two apps is two lines), bounded by count and bytes. Space is reserved before a callback is
//! acknowledged, so an acknowledged callback always has its place.
//!
//! [`PendingLog`] is the seam for durability: a journal that records pending relays and
//! replays them after a restart implements it; the default keeps them in memory only.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::event::Event;
use crate::relay::outcome::RelayRecord;
use crate::store::RoomKey;

/// Told about every callback that enters and leaves the backlog, in order. `pending` runs
/// under the hub's lock (that is what keeps it in seq order), so an implementation must only
/// hand the record on (e.g. to its writer thread's queue), never wait on a disk there. At
/// start, a durable implementation hands what it still holds to
/// [`Relay::requeue`](super::Relay::requeue).
pub trait PendingLog: Send + Sync {
    /// `event` now waits for delivery (called in seq order).
    fn pending(&self, event: &Event);
    /// `seq` left the backlog: delivered, failed for good or given up.
    fn settled(&self, seq: u64);
    /// A relayed callback reached its final outcome (also "before" callbacks, refusals and
    /// resends), so that it can be shown again after a restart. Called from the relay's tasks
    /// and under the hub's lock: hand it on, never wait.
    fn finished(&self, _record: &RelayRecord) {}
}

/// Memory only: pending relays do not survive a restart.
#[derive(Debug, Default)]
pub struct InMemory;

impl PendingLog for InMemory {
    fn pending(&self, _event: &Event) {}
    fn settled(&self, _seq: u64) {}
}

/// Why a callback could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("relay backlog full: {count} callbacks waiting (limit {limit})")]
    Count { count: usize, limit: usize },
    #[error("relay backlog full: {bytes} bytes waiting (limit {limit})")]
    Bytes { bytes: usize, limit: usize },
}

/// The per-room queues and their totals.
#[derive(Debug)]
pub struct Backlog {
    rooms: HashMap<RoomKey, VecDeque<Arc<Event>>>,
    /// Callbacks queued or reserved.
    count: usize,
    bytes: usize,
    count_limit: usize,
    bytes_limit: usize,
}

/// What a caller must do after a push.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The room was idle: start a drainer for it.
    StartDrainer,
    /// A drainer for the room is already running and will get to it.
    Queued,
}

impl Backlog {
    pub fn new(count_limit: usize, bytes_limit: usize) -> Self {
        Self {
            rooms: HashMap::new(),
            count: 0,
            bytes: 0,
            count_limit: count_limit.max(1),
            bytes_limit: bytes_limit.max(1),
        }
    }

    /// Holds a place for a callback of `bytes`, or says why there is none. One callback is
    /// always admitted into an empty backlog, whatever its size.
    pub fn reserve(&mut self, bytes: usize) -> Result<(), Full> {
        if self.count >= self.count_limit {
            return Err(Full::Count {
                count: self.count,
                limit: self.count_limit,
            });
        }
        if self.count > 0 && self.bytes.saturating_add(bytes) > self.bytes_limit {
            return Err(Full::Bytes {
                bytes: self.bytes,
                limit: self.bytes_limit,
            });
        }
        self.count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        Ok(())
    }

    /// Takes a place whatever the bounds: for callbacks acknowledged before a restart, which
    /// must never be refused.
    pub fn force_reserve(&mut self, bytes: usize) {
        self.count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// Gives back a place reserved for a callback that will not be queued.
    pub fn release(&mut self, bytes: usize) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    /// Queues a reserved callback at the end of its room's line.
    pub fn push(&mut self, room: &RoomKey, event: Arc<Event>) -> Pushed {
        if let Some(line) = self.rooms.get_mut(room) {
            line.push_back(event);
            Pushed::Queued
        } else {
            self.rooms.insert(room.clone(), VecDeque::from([event]));
            Pushed::StartDrainer
        }
    }

    /// The room's next callback. When the room has none left, it is forgotten (so the next
    /// push starts a new drainer) and `None` tells the drainer to stop.
    pub fn front(&mut self, room: &RoomKey) -> Option<Arc<Event>> {
        let next = self.rooms.get(room).and_then(|line| line.front().cloned());
        if next.is_none() {
            self.rooms.remove(room);
        }
        next
    }

    /// Removes the room's first callback once it is settled.
    pub fn pop(&mut self, room: &RoomKey) -> Option<Arc<Event>> {
        let event = self.rooms.get_mut(room)?.pop_front()?;
        self.release(event.raw_body.len());
        Some(event)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_full(&self) -> bool {
        self.count >= self.count_limit || self.bytes >= self.bytes_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::auth::AuthConfig;
    use crate::ingest::intake::{Arrival, BodyRead, judge};

    fn event(body: &str) -> Arc<Event> {
        let arrival = Arrival {
            method: "POST".into(),
            path: "/".into(),
            raw_query: String::new(),
            content_type: None,
            remote: None,
            received_at_ms: 0,
        };
        Arc::new(judge(
            arrival,
            BodyRead::Complete(body.as_bytes().to_vec()),
            &AuthConfig::default(),
        ))
    }

    #[test]
    fn bounded_by_count_and_bytes_with_one_always_admitted() {
        let mut backlog = Backlog::new(2, 10);
        assert_eq!(backlog.reserve(50), Ok(()));
        assert!(matches!(backlog.reserve(1), Err(Full::Bytes { .. })));
        backlog.release(50);
        assert_eq!(backlog.reserve(1), Ok(()));
        assert_eq!(backlog.reserve(1), Ok(()));
        assert!(matches!(backlog.reserve(1), Err(Full::Count { .. })));
    }

    #[test]
    fn rooms_are_fifo_and_a_drained_room_restarts() {
        let mut backlog = Backlog::new(10, 1000);
        let (a, b) = (event(r#"{"n":1}"#), event(r#"{"n":2}"#));
        for e in [&a, &b] {
            backlog.reserve(e.raw_body.len()).expect("room");
        }
        let r = RoomKey::new("1400000001", "r");
        assert_eq!(backlog.push(&r, Arc::clone(&a)), Pushed::StartDrainer);
        assert_eq!(backlog.push(&r, Arc::clone(&b)), Pushed::Queued);
        assert!(Arc::ptr_eq(&backlog.front(&r).expect("a"), &a));
        backlog.pop(&r);
        assert!(Arc::ptr_eq(&backlog.front(&r).expect("b"), &b));
        backlog.pop(&r);
        assert!(backlog.front(&r).is_none());
        assert!(backlog.is_empty());
        assert_eq!(backlog.bytes(), 0);
        backlog.reserve(1).expect("room");
        assert_eq!(backlog.push(&r, a), Pushed::StartDrainer);
    }

    #[test]
    fn the_same_room_id_under_two_apps_is_two_lines() {
        let mut backlog = Backlog::new(10, 1000);
        let (a, b) = (event(r#"{"n":1}"#), event(r#"{"n":2}"#));
        for e in [&a, &b] {
            backlog.reserve(e.raw_body.len()).expect("room");
        }
        let first = RoomKey::new("1400000001", "r");
        let second = RoomKey::new("1400000002", "r");
        assert_eq!(backlog.push(&first, Arc::clone(&a)), Pushed::StartDrainer);
        // Its own drainer: a slow backend for one app's room never holds up the other's.
        assert_eq!(backlog.push(&second, Arc::clone(&b)), Pushed::StartDrainer);
        assert!(Arc::ptr_eq(&backlog.front(&second).expect("b"), &b));
        assert!(Arc::ptr_eq(&backlog.front(&first).expect("a"), &a));
    }
}
