//! The journal's only writer: takes every queued append, commits them together in one
//! transaction (group commit), then wakes the handlers waiting to answer. While commits fail
//! (disk full), appends are answered as not journaled and kept in a bounded backlog that is
//! retried until it lands, so journaling resumes by itself.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use super::checkpoint;
use super::record::{INSERT, StoredRow};
use super::sqlite::set_max_pages;
use super::{AppendError, Health};
use crate::ingest::receiver::now_ms;
use crate::store::{LogEntry, RoomStore};

/// Largest group committed in one transaction; more waits for the next one.
const MAX_GROUP: usize = 8192;
/// How often a failing journal is retried when nothing new arrives.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How often retention looks for old records.
const RETAIN_EVERY: Duration = Duration::from_secs(10);
/// Records deleted per retention round.
const RETAIN_BATCH: usize = 5_000;
/// The next round, when a round found more to delete than one batch.
const RETAIN_AGAIN: Duration = Duration::from_millis(200);
/// A checkpoint is also taken this long after the last one when anything new came in.
const CHECKPOINT_AFTER: Duration = Duration::from_mins(1);

/// Answers a waiting handler.
pub(crate) type Done = oneshot::Sender<Result<u64, AppendError>>;

/// One queued append.
pub(crate) struct Pending {
    pub entry: LogEntry,
    pub done: Done,
}

pub(crate) enum Msg {
    Append(Box<Pending>),
    MaxPages(u64),
    Retain,
    Stop,
}

pub(crate) struct WriterConfig {
    pub retain_ms: Option<i64>,
    pub retain_bytes: Option<u64>,
    pub backlog_cap: usize,
    pub checkpoint_every: u64,
}

pub(crate) struct Writer {
    conn: Connection,
    config: WriterConfig,
    /// The room store as of the last commit, for checkpoints; kept off the receive path.
    replica: RoomStore,
    last_checkpoint: u64,
    last_checkpoint_at: Instant,
    /// Answered but not yet committed, oldest first.
    backlog: VecDeque<(StoredRow, LogEntry)>,
    committed: watch::Sender<u64>,
    health: Arc<Mutex<Health>>,
    next_retention: Instant,
}

impl Writer {
    pub fn new(
        conn: Connection,
        config: WriterConfig,
        replica: RoomStore,
        last_checkpoint: u64,
        committed: watch::Sender<u64>,
        health: Arc<Mutex<Health>>,
    ) -> Self {
        Self {
            conn,
            config,
            replica,
            last_checkpoint,
            last_checkpoint_at: Instant::now(),
            backlog: VecDeque::new(),
            committed,
            health,
            next_retention: Instant::now() + RETAIN_EVERY,
        }
    }

    pub fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            // Wake for a retry while appends fail, and for the next retention round.
            let mut wait = self
                .next_retention
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            if !self.backlog.is_empty() {
                wait = wait.min(RETRY_EVERY);
            }
            let first = match rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return self.finish(),
            };
            let mut group = Vec::new();
            let mut stop = false;
            let mut retain_now = false;
            let mut next = first;
            while let Some(msg) = next {
                match msg {
                    // The row is built here, not by the caller: the hub calls `append` under
                    // its lock, and the receive path should not pay for encoding.
                    Msg::Append(pending) => {
                        group.push((StoredRow::from_entry(&pending.entry), *pending));
                    }
                    Msg::MaxPages(pages) => {
                        if let Err(e) = set_max_pages(&self.conn, pages) {
                            tracing::warn!(error = %e, "cannot change the journal's page cap");
                        }
                    }
                    Msg::Retain => retain_now = true,
                    Msg::Stop => {
                        stop = true;
                        break;
                    }
                }
                next = if group.len() < MAX_GROUP {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.commit(group);
            self.maybe_checkpoint(stop);
            if retain_now || Instant::now() >= self.next_retention {
                self.next_retention = Instant::now() + RETAIN_EVERY;
                self.retain();
            }
            if stop {
                return self.finish();
            }
        }
    }

    /// Commits the backlog and `group` in one transaction, then answers every waiter.
    fn commit(&mut self, group: Vec<(StoredRow, Pending)>) {
        if group.is_empty() && self.backlog.is_empty() {
            return;
        }
        let result = {
            let rows = self
                .backlog
                .iter()
                .map(|(row, _)| row)
                .chain(group.iter().map(|(row, _)| row));
            insert_all(&mut self.conn, rows)
        };
        match result {
            Ok(()) => {
                // Wake the waiting requests first: the replica can catch up after.
                let mut applied = Vec::with_capacity(self.backlog.len() + group.len());
                applied.extend(
                    std::mem::take(&mut self.backlog)
                        .into_iter()
                        .map(|(_, e)| e),
                );
                for (_, Pending { entry, done }) in group {
                    let _ = done.send(Ok(entry.event.seq));
                    applied.push(entry);
                }
                let mut newest = 0;
                for entry in applied {
                    newest = newest.max(entry.event.seq);
                    self.replica.apply(entry.event);
                }
                let recovered = {
                    let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
                    health.committed = health.committed.max(newest);
                    health.backlog = 0;
                    health.failing.take()
                };
                if let Some((reason, _)) = recovered {
                    tracing::info!(%reason, "journal writes work again; backlog committed");
                }
                self.committed.send_if_modified(|c| {
                    let changed = newest > *c;
                    *c = (*c).max(newest);
                    changed
                });
            }
            Err(error) => {
                let reason = describe(&error);
                let mut lost = 0;
                for (row, Pending { entry, done }) in group {
                    let _ = done.send(Err(AppendError::NotJournaled(reason.clone())));
                    self.backlog.push_back((row, entry));
                    if self.backlog.len() > self.config.backlog_cap {
                        self.backlog.pop_front();
                        lost += 1;
                    }
                }
                let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
                if health.failing.is_none() {
                    tracing::error!(%reason, "journal writes fail; answering from memory, retrying");
                    health.failing = Some((reason, now_ms()));
                }
                health.backlog = self.backlog.len() as u64;
                health.lost += lost;
            }
        }
    }

    /// Checkpoints the replica every `checkpoint_every` records, after a quiet minute with
    /// news, and at a clean stop; never while appends are failing (the replica would be ahead
    /// of the journal).
    fn maybe_checkpoint(&mut self, stopping: bool) {
        let newest = self.replica.last_seq();
        if !self.backlog.is_empty() || newest <= self.last_checkpoint {
            return;
        }
        let due = newest - self.last_checkpoint >= self.config.checkpoint_every
            || self.last_checkpoint_at.elapsed() >= CHECKPOINT_AFTER
            || stopping;
        if !due {
            return;
        }
        match checkpoint::save(&mut self.conn, &self.replica, now_ms()) {
            Ok(()) => {
                self.last_checkpoint = newest;
                self.last_checkpoint_at = Instant::now();
                // What the checkpoint covers may now be deleted.
                self.next_retention = Instant::now();
            }
            Err(error) => {
                // Restore then replays more; nothing is lost.
                tracing::warn!(%error, "checkpoint not taken");
                self.last_checkpoint_at = Instant::now();
            }
        }
    }

    /// Deletes one batch of the oldest records that are past `--retain` or over
    /// `--retain-size`. Only records a checkpoint covers go: the state they built lives on in
    /// it. One batch per round keeps each pause short; a full batch brings the next round
    /// forward.
    fn retain(&mut self) {
        if !self.backlog.is_empty() || self.last_checkpoint == 0 {
            return;
        }
        let covered = i64::try_from(self.last_checkpoint).unwrap_or(i64::MAX);
        let mut deleted = 0;
        if let Some(age) = self.config.retain_ms {
            let cutoff = now_ms().saturating_sub(age);
            deleted += self.delete_batch(
                "received_at_ms < ?1 AND seq <= ?2",
                rusqlite::params![cutoff, covered],
            );
        }
        if let Some(limit) = self.config.retain_bytes
            && deleted == 0
            && self.used_bytes().is_some_and(|used| used > limit)
        {
            deleted += self.delete_batch("seq <= ?1", rusqlite::params![covered]);
        }
        if deleted >= RETAIN_BATCH {
            self.next_retention = Instant::now() + RETAIN_AGAIN;
        }
        if deleted > 0 {
            tracing::debug!(deleted, "old journal records deleted");
        }
    }

    fn delete_batch(&mut self, condition: &str, params: &[&dyn rusqlite::ToSql]) -> usize {
        let sql = format!(
            "DELETE FROM callbacks WHERE seq IN (SELECT seq FROM callbacks WHERE {condition} ORDER BY seq LIMIT {RETAIN_BATCH})"
        );
        match self.conn.execute(&sql, params) {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "retention could not delete old records");
                0
            }
        }
    }

    /// Bytes the journal's data takes (pages in use, free pages not counted).
    fn used_bytes(&self) -> Option<u64> {
        let pragma = |name: &str| -> Option<u64> {
            self.conn
                .pragma_query_value(None, name, |r| r.get::<_, i64>(0))
                .ok()
                .and_then(|v| u64::try_from(v).ok())
        };
        let pages = pragma("page_count")?.saturating_sub(pragma("freelist_count")?);
        Some(pages * pragma("page_size")?)
    }

    fn finish(mut self) {
        // A last try for anything still failing; what cannot be written now is reported.
        self.commit(Vec::new());
        self.maybe_checkpoint(true);
        if !self.backlog.is_empty() {
            tracing::error!(
                count = self.backlog.len(),
                "callbacks answered but never journaled (the journal kept failing)"
            );
        }
    }
}

fn insert_all<'a>(
    conn: &mut Connection,
    rows: impl Iterator<Item = &'a StoredRow>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for row in rows {
            row.insert(&mut stmt)?;
        }
    }
    tx.commit()
}

/// A short reason for the header: "disk full" reads better than SQLite's wording.
fn describe(error: &rusqlite::Error) -> String {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => "disk full".to_string(),
        Some(rusqlite::ErrorCode::ReadOnly) => "journal is read-only".to_string(),
        Some(rusqlite::ErrorCode::SystemIoFailure) => format!("I/O error: {error}"),
        _ => error.to_string(),
    }
}
