//! Where events meet state: the hub numbers each event, applies it to the authoritative store
//! and broadcasts it, all under one lock so that sequence, state and broadcast agree.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::broadcast;

use crate::event::Event;
use crate::eventlog::{Commit, Health, SharedLog};
use crate::store::{LogEntry, RoomStore, StoreLimits};

/// How far ahead of arrival an `EventTime` is trusted by default (5 minutes).
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// Shared by the receiver (writer) and every subscriber (UI, headless printer, tests).
pub struct Hub {
    /// Where every event is appended durably, when journaling is on. Declared (so dropped)
    /// before the store: a journal stopping with the hub takes its last checkpoint from it.
    journal: Option<SharedLog>,
    /// Shared with the journal's checkpoints (weakly: the hub owns it).
    inner: Arc<Mutex<Inner>>,
    max_clock_skew_ms: i64,
}

struct Inner {
    store: RoomStore,
    /// `None` once closed: subscribers then see the end of the stream.
    tx: Option<broadcast::Sender<LogEntry>>,
}

impl Hub {
    /// `channel_capacity` bounds how far a subscriber may fall behind before it lags.
    pub fn new(log_capacity: usize, channel_capacity: usize) -> Self {
        Self::with_limits(
            StoreLimits {
                history: log_capacity,
                ..StoreLimits::default()
            },
            channel_capacity,
            DEFAULT_MAX_CLOCK_SKEW_MS,
        )
    }

    /// A hub whose store keeps to `limits`, and that trusts `EventTime` up to
    /// `max_clock_skew_ms` ahead of arrival.
    pub fn with_limits(
        limits: StoreLimits,
        channel_capacity: usize,
        max_clock_skew_ms: i64,
    ) -> Self {
        let (tx, _) = broadcast::channel(channel_capacity.max(1));
        Self {
            inner: Arc::new(Mutex::new(Inner {
                store: RoomStore::with_limits(limits),
                tx: Some(tx),
            })),
            max_clock_skew_ms,
            journal: None,
        }
    }

    /// A hub that starts from a restored store (e.g. a stream's checkpoint), with no journal.
    pub fn with_store(store: RoomStore, channel_capacity: usize, max_clock_skew_ms: i64) -> Self {
        let (tx, _) = broadcast::channel(channel_capacity.max(1));
        Self {
            inner: Arc::new(Mutex::new(Inner {
                store,
                tx: Some(tx),
            })),
            max_clock_skew_ms,
            journal: None,
        }
    }

    /// A hub that starts from a restored store and appends every event to `journal`. The
    /// journal's checkpoints are taken from this hub's store, so the journal never keeps (or
    /// updates) a copy of the state of its own.
    pub fn with_journal(store: RoomStore, channel_capacity: usize, journal: SharedLog) -> Self {
        let (tx, _) = broadcast::channel(channel_capacity.max(1));
        let inner = Arc::new(Mutex::new(Inner {
            store,
            tx: Some(tx),
        }));
        let state: Weak<Mutex<Inner>> = Arc::downgrade(&inner);
        journal.checkpoints_from(Box::new(move || {
            let inner = state.upgrade()?;
            let inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
            Some(inner.store.checkpoint())
        }));
        Self {
            inner,
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            journal: Some(journal),
        }
    }

    /// Trusts `EventTime` up to `max_clock_skew_ms` ahead of arrival.
    #[must_use]
    pub fn clock_skew(mut self, max_clock_skew_ms: i64) -> Self {
        self.max_clock_skew_ms = max_clock_skew_ms;
        self
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

    /// Applies and broadcasts an event numbered and judged elsewhere (a stream record: its
    /// sequence, and the receiver's clock-skew judgement), keeping both. Numbers must grow:
    /// one at or below the last applied was applied already and is skipped (`None`).
    pub fn publish_numbered(&self, event: Event) -> Option<Arc<Event>> {
        let mut inner = self.lock();
        if event.seq <= inner.store.last_seq() {
            return None;
        }
        let event = Arc::new(event);
        let (effect, evicted) = inner.store.apply_evicting(Arc::clone(&event))?;
        if let Some(tx) = &inner.tx {
            let _ = tx.send(LogEntry {
                event: Arc::clone(&event),
                effect,
            });
        }
        drop(inner);
        drop(evicted);
        Some(event)
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
        // A clock far ahead would pin the room: any later genuine update would look stale.
        event.clock_skew = event
            .claimed_time_ms()
            .is_some_and(|t| t > event.received_at_ms.saturating_add(self.max_clock_skew_ms));
        // Allocated before the lock is taken: the lock covers numbering and applying only.
        let mut event = Arc::new(event);
        let mut inner = self.lock();
        if let Some(unnumbered) = Arc::get_mut(&mut event) {
            unnumbered.seq = inner.store.last_seq() + 1;
        }
        numbered(&event);
        let mut commit = None;
        let mut evicted = None;
        if let Some((effect, pushed_out)) = inner.store.apply_evicting(Arc::clone(&event)) {
            evicted = Some(pushed_out);
            let entry = LogEntry {
                event: Arc::clone(&event),
                effect,
            };
            commit = self.journal.as_ref().map(|journal| journal.append(&entry));
            // Having no subscriber yet is not an error.
            if let Some(tx) = &inner.tx {
                let _ = tx.send(entry);
            }
        }
        // Old events are freed after the lock is let go (see `RoomStore::apply_evicting`).
        drop(inner);
        drop(evicted);
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

    /// A receiver of every event published from now on. After [`close`](Self::close) it
    /// reports the end at once.
    pub fn subscribe(&self) -> broadcast::Receiver<LogEntry> {
        let inner = self.lock();
        match &inner.tx {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).0.subscribe(),
        }
    }

    /// Ends every subscriber's stream once it has taken what is queued. Events published
    /// later still reach the store, not the subscribers.
    pub fn close(&self) {
        self.lock().tx = None;
    }

    /// A copy of the whole state, for a subscriber that lagged and must resynchronise.
    /// Cheap whatever the store's size: rooms are shared, not copied (see [`RoomStore`]).
    pub fn snapshot(&self) -> RoomStore {
        self.lock().store.clone()
    }

    /// Runs `f` with the store locked; keep it short, the receiver waits on this lock.
    pub fn read<T>(&self, f: impl FnOnce(&RoomStore) -> T) -> T {
        f(&self.lock().store)
    }

    pub fn max_clock_skew_ms(&self) -> i64 {
        self.max_clock_skew_ms
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The store is plain data; a panic elsewhere cannot leave it half-written in a way
        // that matters more than losing the receiver, so keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
