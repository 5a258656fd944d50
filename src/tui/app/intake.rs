//! The hub's events on their way to the dashboard: queued as they come off the bus (a push
//! each), then handed to the app in one go at frame time together with the hub's state as of
//! the last of them. The dashboard never folds an event into a store of its own: the hub
//! already did, and its persistent state is shared, not copied.

use tokio::sync::broadcast::{self, error::TryRecvError};

use super::{App, Msg, update};
use crate::hub::Hub;
use crate::store::{Checkpoint, LogEntry, RoomStore};

/// Events taken off the bus and not yet handed to the app, oldest first.
#[derive(Default)]
pub struct Intake {
    pending: Vec<LogEntry>,
}

/// The bus dropped this many events for this subscriber: the app must resynchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl Intake {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn push(&mut self, entry: LogEntry) {
        self.pending.push(entry);
    }

    /// Takes up to `limit` events already queued on the bus, without waiting.
    pub fn drain(
        &mut self,
        bus: &mut broadcast::Receiver<LogEntry>,
        limit: usize,
    ) -> Result<(), Lagged> {
        for _ in 0..limit {
            match bus.try_recv() {
                Ok(entry) => self.pending.push(entry),
                Err(TryRecvError::Lagged(skipped)) => return Err(Lagged(skipped)),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        Ok(())
    }

    /// Reads the hub's state, takes every event it includes off the bus, and hands them and
    /// the state to `app`. Events taken that the state does not include yet wait for the next
    /// sync.
    pub fn sync(
        &mut self,
        app: &mut App,
        hub: &Hub,
        bus: &mut broadcast::Receiver<LogEntry>,
    ) -> Result<(), Lagged> {
        let state = hub.read(RoomStore::checkpoint);
        let upto = state.last_seq();
        // The hub sends each event under the lock it applies it under, so every event the
        // state includes is on the bus already: no wait.
        while self.pending.last().is_none_or(|e| e.event.seq < upto) {
            match bus.try_recv() {
                Ok(entry) => self.pending.push(entry),
                Err(TryRecvError::Lagged(skipped)) => return Err(Lagged(skipped)),
                // Closed: events published after the hub closed never come; the app sees
                // that the state is ahead of its log.
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.hand_over(app, state);
        Ok(())
    }

    /// After the bus dropped events for this subscriber: takes them from the hub's in-memory
    /// log instead (as far as it still holds them) with the hub's state, and hands everything
    /// over. Nothing the app already holds or indexed is built again, so a dashboard that fell
    /// behind once does not fall further behind rebuilding. The log says it happened.
    pub fn catch_up(&mut self, app: &mut App, hub: &Hub, skipped: u64) {
        let after = self
            .pending
            .last()
            .map_or_else(|| app.store.last_seq(), |e| e.event.seq);
        let (missed, state) = hub.read(|store| {
            let missed: Vec<LogEntry> = store.log_after(after).cloned().collect();
            (missed, store.checkpoint())
        });
        self.pending.extend(missed);
        self.hand_over(app, state);
        update(app, Msg::Skipped(skipped));
    }

    /// Hands the events `state` includes to the app with it; later ones wait.
    fn hand_over(&mut self, app: &mut App, state: Checkpoint) {
        let upto = state.last_seq();
        let included = self.pending.partition_point(|e| e.event.seq <= upto);
        let later = self.pending.split_off(included);
        let entries = std::mem::replace(&mut self.pending, later);
        update(
            app,
            Msg::Synced {
                entries,
                state: Box::new(state),
            },
        );
    }
}
