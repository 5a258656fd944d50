//! Where events meet state: the hub numbers each event, applies it to the authoritative store
//! and broadcasts it, all under one lock so that sequence, state and broadcast agree.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::event::Event;
use crate::eventlog::{Commit, Health, SharedLog};
use crate::store::{LogEntry, RoomStore};

/// Shared by the receiver (writer) and every subscriber (UI, headless printer, tests).
pub struct Hub {
    store: Mutex<RoomStore>,
    tx: broadcast::Sender<LogEntry>,
    /// Where every event is appended durably, when journaling is on.
    journal: Option<SharedLog>,
}

impl Hub {
    /// `channel_capacity` bounds how far a subscriber may fall behind before it lags.
    pub fn new(log_capacity: usize, channel_capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(channel_capacity.max(1));
        Self {
            store: Mutex::new(RoomStore::new(log_capacity)),
            tx,
            journal: None,
        }
    }

    /// A hub that starts from a restored store and appends every event to `journal`.
    pub fn with_journal(store: RoomStore, channel_capacity: usize, journal: SharedLog) -> Self {
        let (tx, _) = broadcast::channel(channel_capacity.max(1));
        Self {
            store: Mutex::new(store),
            tx,
            journal: Some(journal),
        }
    }

    /// Numbers, applies and broadcasts one event. Never waits on subscribers.
    pub fn publish(&self, event: Event) -> Arc<Event> {
        self.publish_with(event, |_| {})
    }

    /// Like [`publish`](Self::publish), and runs `numbered` with the numbered event under the
    /// same lock, so that whatever it feeds (e.g. the relay's per-room queues) sees events in
    /// seq order. `numbered` must be quick and must not touch the hub.
    pub fn publish_with(&self, event: Event, numbered: impl FnOnce(&Arc<Event>)) -> Arc<Event> {
        self.publish_durably_with(event, numbered).0
    }

    /// Like [`Hub::publish`], and also queues the event for the journal; the caller answers
    /// the sender after the returned commit resolves.
    pub fn publish_durably(&self, event: Event) -> (Arc<Event>, Option<Commit>) {
        self.publish_durably_with(event, |_| {})
    }

    /// [`Hub::publish_with`] and [`Hub::publish_durably`] in one. Queuing for the journal under
    /// the lock keeps the journal in seq order.
    pub fn publish_durably_with(
        &self,
        mut event: Event,
        numbered: impl FnOnce(&Arc<Event>),
    ) -> (Arc<Event>, Option<Commit>) {
        let mut store = self.lock();
        event.seq = store.last_seq() + 1;
        let event = Arc::new(event);
        numbered(&event);
        let mut commit = None;
        if let Some(effect) = store.apply(Arc::clone(&event)) {
            let entry = LogEntry {
                event: Arc::clone(&event),
                effect,
            };
            commit = self.journal.as_ref().map(|journal| journal.append(&entry));
            // Having no subscriber yet is not an error.
            let _ = self.tx.send(entry);
        }
        (event, commit)
    }

    /// The journal, when journaling is on.
    pub fn journal(&self) -> Option<&SharedLog> {
        self.journal.as_ref()
    }

    /// How the journal is doing, when journaling is on.
    pub fn journal_health(&self) -> Option<Health> {
        self.journal.as_ref().map(|journal| journal.health())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogEntry> {
        self.tx.subscribe()
    }

    /// A copy of the whole state, for a subscriber that lagged and must resynchronise.
    pub fn snapshot(&self) -> RoomStore {
        self.lock().clone()
    }

    /// Runs `f` with the store locked; keep it short, the receiver waits on this lock.
    pub fn read<T>(&self, f: impl FnOnce(&RoomStore) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, RoomStore> {
        // The store is plain data; a panic elsewhere cannot leave it half-written in a way
        // that matters more than losing the receiver, so keep going.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
