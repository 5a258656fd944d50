//! The event log: every callback, appended durably before it is answered, readable from any
//! position and followable. One small interface ([`EventLog`]) with the embedded SQLite journal
//! behind it, so that another log can take its place without touching the receiver, the store
//! or the dashboard.

pub mod checkpoint;
pub mod location;
pub mod lock;
pub mod page;
pub mod query;
pub mod record;
pub mod relay_outcome;
pub mod relay_pending;
pub mod restore;
pub mod schema;
pub mod sqlite;
mod writer;

use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::store::LogEntry;

pub use sqlite::{JournalOptions, SqliteJournal, SyncMode};

/// Why a record could not be made durable. The callback is still answered and kept in memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("not journaled: {0}")]
    NotJournaled(String),
    #[error("the journal writer has stopped")]
    Stopped,
}

/// Reading the log failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("journal read failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Resolves once the record is committed (its position) or could not be.
pub struct Commit(oneshot::Receiver<Result<u64, AppendError>>);

impl Commit {
    pub(crate) fn new(rx: oneshot::Receiver<Result<u64, AppendError>>) -> Self {
        Self(rx)
    }

    /// Waits for the commit. Dropping the `Commit` instead does not cancel the append.
    pub async fn wait(self) -> Result<u64, AppendError> {
        self.0.await.unwrap_or(Err(AppendError::Stopped))
    }

    /// Blocking variant, for threads outside the runtime.
    pub fn wait_blocking(self) -> Result<u64, AppendError> {
        self.0.blocking_recv().unwrap_or(Err(AppendError::Stopped))
    }
}

/// How the journal is doing, for the header and `/healthz`-style checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Set while appends fail (e.g. disk full): the reason and since when (Unix ms).
    pub failing: Option<(String, i64)>,
    /// Callbacks answered but not (yet) in the journal: waiting for a retry.
    pub backlog: u64,
    /// Callbacks that never reached the journal because the retry backlog was full.
    pub lost: u64,
    /// The highest committed position.
    pub committed: u64,
    /// The oldest callback waiting in the backlog: it and every later one are answered but
    /// not (yet) journaled.
    pub waiting_from: Option<u64>,
    /// Callbacks that left the backlog unjournaled, as inclusive ranges of positions, oldest
    /// first; at most [`LOST_RANGES_KEPT`] (older ones are only counted in `lost`).
    pub lost_ranges: Vec<(u64, u64)>,
}

/// Ranges of never-journaled positions kept for marking lines.
pub const LOST_RANGES_KEPT: usize = 64;

/// Whether a callback made it into the journal, as far as the log can tell now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaled {
    /// Journaled, or on its way (committed within milliseconds).
    Yes,
    /// Answered and held in the backlog while appends fail; written when they work again.
    Waiting,
    /// Answered, never journaled: the backlog was full.
    Lost,
}

impl Health {
    /// What became of the callback at `seq`.
    pub fn journaled(&self, seq: u64) -> Journaled {
        if self.waiting_from.is_some_and(|from| seq >= from) {
            return Journaled::Waiting;
        }
        if self
            .lost_ranges
            .iter()
            .any(|&(low, high)| (low..=high).contains(&seq))
        {
            return Journaled::Lost;
        }
        Journaled::Yes
    }

    /// Adds `seq` to the lost ranges, extending the newest when it follows on.
    pub(crate) fn mark_lost(&mut self, seq: u64) {
        match self.lost_ranges.last_mut() {
            Some((_, high)) if seq == high.saturating_add(1) => *high = seq,
            _ => {
                self.lost_ranges.push((seq, seq));
                if self.lost_ranges.len() > LOST_RANGES_KEPT {
                    self.lost_ranges.remove(0);
                }
            }
        }
    }
}

/// An append-only log of callbacks, ordered by position (the hub's `seq`).
pub trait EventLog: Send + Sync {
    /// Queues `entry` for a durable append; the caller answers after [`Commit::wait`]. Entries
    /// must be appended in position order (the hub calls this under its lock).
    fn append(&self, entry: &LogEntry) -> Commit;
    /// Up to `limit` entries with a position above `after`, oldest first.
    fn read_from(&self, after: u64, limit: usize) -> Result<Vec<LogEntry>, ReadError>;
    /// Up to `limit` rows next to `from`, in either direction, oldest first: paging through
    /// history from anywhere.
    fn read_page(&self, from: page::PageFrom, limit: usize) -> Result<page::Page, ReadError>;
    /// The highest committed position, updated as commits land.
    fn follow(&self) -> watch::Receiver<u64>;
    fn health(&self) -> Health;
    /// Where the log lives, for the header.
    fn describe(&self) -> String;
    /// Where to take the state for checkpoints (the hub's store), for a log that keeps them
    /// so that a restore need not replay the whole history.
    fn checkpoints_from(&self, _source: checkpoint::StateSource) {}
}

/// What the hub holds.
pub type SharedLog = Arc<dyn EventLog>;
