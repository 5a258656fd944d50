//! The journal's only writer: takes every queued append, commits them together in one
//! transaction (group commit), then wakes the handlers waiting to answer. While commits fail
//! (disk full), appends are answered as not journaled and kept in a bounded backlog that is
//! retried until it lands, so journaling resumes by itself.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use super::checkpoint::{self, Encoded, SaveError, StateSource};
use super::record::{INSERT, StoredRow};
use super::sqlite::set_max_pages;
use super::{AppendError, Health};
use crate::ingest::receiver::now_ms;
use crate::store::LogEntry;

/// Largest group committed in one transaction; more waits for the next one.
const MAX_GROUP: usize = 8192;
/// How often a failing journal is retried when nothing new arrives.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How often retention looks for old records.
const RETAIN_EVERY: Duration = Duration::from_secs(10);
/// Records deleted per retention round.
const RETAIN_BATCH: usize = 5_000;
/// The oldest records a retention round looks at: covered by a checkpoint (`?1`), not
/// waiting for the relay, at most one batch, read in seq order from the start of the table.
fn oldest() -> String {
    format!(
        "SELECT seq, received_at_ms FROM callbacks WHERE seq <= ?1 \
         AND seq NOT IN (SELECT seq FROM relay_pending) ORDER BY seq LIMIT {RETAIN_BATCH}"
    )
}
/// The next round, when a round found more to delete than one batch.
const RETAIN_AGAIN: Duration = Duration::from_millis(200);
/// A checkpoint is also taken this long after the last one when anything new came in.
const CHECKPOINT_AFTER: Duration = Duration::from_mins(1);
/// A checkpoint larger than this is taken again only once the records committed since hold
/// half as many bytes: the state (the delivery memory above all) grows with a journal's
/// history, and at a fixed interval a large one would write many times what the records do.
const SIZED_CHECKPOINT_FROM: u64 = 4 << 20;
/// Under `synchronous=NORMAL` the WAL reaches the disk only at a WAL checkpoint: one at least
/// this soon after the first commit it has not synced bounds what a power loss can roll back,
/// however rarely the WAL fills up (`--journal-wal-pages`).
const WAL_SYNC_EVERY: Duration = Duration::from_secs(1);
/// How often the writer looks for a finished checkpoint encoding while nothing else wakes it.
const ENCODING_POLL: Duration = Duration::from_millis(5);

/// Answers a waiting handler.
pub(crate) type Done = oneshot::Sender<Result<u64, AppendError>>;

/// One queued append.
pub(crate) struct Pending {
    pub entry: LogEntry,
    pub done: Done,
}

pub(crate) enum Msg {
    Append(Box<Pending>),
    Relay(RelayOp),
    MaxPages(u64),
    Retain,
    /// Where checkpoints take the state from from now on.
    StateSource(StateSource),
    Stop,
}

/// A change to the relay's pending list. Committed in the same transaction as the appends
/// queued around it: the relay marks a callback pending before the hub queues its record, on
/// the same channel, so a committed (and so acknowledged) callback always has its mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RelayOp {
    /// `seq` waits for delivery to `target`.
    Pending {
        seq: u64,
        target: String,
        received_at_ms: i64,
        give_up_at_ms: i64,
    },
    /// `seq` left the backlog (delivered, failed for good or given up).
    Settled { seq: u64 },
    /// `seq` was given up without an attempt (e.g. too old at a restart): recorded as an
    /// outcome, and no longer pending.
    GaveUp {
        seq: u64,
        at_ms: i64,
        target: String,
        reason: String,
    },
    /// A relayed callback's final outcome, as a `relay_outcomes` row.
    Outcome {
        at_ms: i64,
        target: String,
        record: Box<crate::relay::RelayRecord>,
    },
}

pub(crate) struct WriterConfig {
    pub retain_ms: Option<i64>,
    pub retain_bytes: Option<u64>,
    pub backlog_cap: usize,
    pub checkpoint_every: u64,
    /// Commits are not synced one by one: the WAL is synced by a timed WAL checkpoint.
    pub timed_wal_sync: bool,
}

pub(crate) struct Writer {
    conn: Connection,
    config: WriterConfig,
    /// The live state, for checkpoints; none until the hub registers, so no checkpoints.
    source: Option<StateSource>,
    /// A checkpoint being encoded on its own thread.
    encoding: Option<Receiver<Result<Encoded, SaveError>>>,
    /// An encoded checkpoint waiting until every record it covers is committed.
    ready: Option<Encoded>,
    /// The highest seq committed.
    newest: u64,
    last_checkpoint: u64,
    last_checkpoint_at: Instant,
    /// The size the next checkpoint's buffer starts at: the last one's, and an eighth more.
    checkpoint_size_hint: usize,
    /// The last checkpoint's size and the bytes of the records committed since it.
    last_checkpoint_bytes: u64,
    bytes_since_checkpoint: u64,
    /// Answered but not yet committed, oldest first.
    backlog: VecDeque<(StoredRow, LogEntry)>,
    /// Relay changes not yet committed (kept across failed commits, in order).
    relay_ops: Vec<RelayOp>,
    committed: watch::Sender<u64>,
    health: Arc<Mutex<Health>>,
    next_retention: Instant,
    /// The first commit the WAL has not synced yet, when timed syncs are on.
    unsynced_since: Option<Instant>,
}

impl Writer {
    pub fn new(
        conn: Connection,
        config: WriterConfig,
        newest: u64,
        last_checkpoint: u64,
        committed: watch::Sender<u64>,
        health: Arc<Mutex<Health>>,
    ) -> Self {
        Self {
            conn,
            config,
            source: None,
            encoding: None,
            ready: None,
            newest,
            last_checkpoint,
            last_checkpoint_at: Instant::now(),
            checkpoint_size_hint: 0,
            last_checkpoint_bytes: 0,
            bytes_since_checkpoint: 0,
            backlog: VecDeque::new(),
            relay_ops: Vec::new(),
            committed,
            health,
            next_retention: Instant::now() + RETAIN_EVERY,
            unsynced_since: None,
        }
    }

    pub fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            // Wake for a retry while appends fail, and for the next retention round.
            let mut wait = self
                .next_retention
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            if !self.backlog.is_empty() || !self.relay_ops.is_empty() {
                wait = wait.min(RETRY_EVERY);
            }
            if self.encoding.is_some() {
                wait = wait.min(ENCODING_POLL);
            }
            if let Some(since) = self.unsynced_since {
                wait = wait.min(
                    WAL_SYNC_EVERY
                        .saturating_sub(since.elapsed())
                        .max(Duration::from_millis(1)),
                );
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
                    Msg::Relay(op) => self.relay_ops.push(op),
                    Msg::MaxPages(pages) => {
                        if let Err(e) = set_max_pages(&self.conn, pages) {
                            tracing::warn!(error = %e, "cannot change the journal's page cap");
                        }
                    }
                    Msg::Retain => retain_now = true,
                    Msg::StateSource(source) => self.source = Some(source),
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
            if stop {
                return self.finish();
            }
            self.sync_wal_when_due();
            self.collect_checkpoint();
            self.maybe_checkpoint();
            if retain_now || Instant::now() >= self.next_retention {
                self.next_retention = Instant::now() + RETAIN_EVERY;
                self.retain();
            }
        }
    }

    /// Commits the backlog and `group` in one transaction, then answers every waiter.
    fn commit(&mut self, group: Vec<(StoredRow, Pending)>) {
        if group.is_empty() && self.backlog.is_empty() && self.relay_ops.is_empty() {
            return;
        }
        let result = {
            let rows = self
                .backlog
                .iter()
                .map(|(row, _)| row)
                .chain(group.iter().map(|(row, _)| row));
            insert_all(&mut self.conn, rows, &self.relay_ops)
        };
        match result {
            Ok(()) => {
                if self.config.timed_wal_sync {
                    self.unsynced_since.get_or_insert_with(Instant::now);
                }
                self.relay_ops.clear();
                let mut newest = self.newest;
                let mut bytes = 0;
                for (row, entry) in std::mem::take(&mut self.backlog) {
                    newest = newest.max(entry.event.seq);
                    bytes += row.stored_bytes();
                }
                for (row, Pending { entry, .. }) in &group {
                    newest = newest.max(entry.event.seq);
                    bytes += row.stored_bytes();
                }
                self.bytes_since_checkpoint += bytes;
                self.newest = newest;
                let recovered = {
                    let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
                    health.committed = health.committed.max(newest);
                    health.backlog = 0;
                    health.waiting_from = None;
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
                // Answered last: whoever gets an answer finds the health and the committed
                // position already saying so.
                for (_, Pending { entry, done }) in group {
                    let _ = done.send(Ok(entry.event.seq));
                }
            }
            Err(error) => {
                let reason = describe(&error);
                let mut lost = Vec::new();
                // Bounded like the record backlog: the relay's own backlog bounds the marks,
                // settles are at most one per mark.
                let ops_cap = self.config.backlog_cap.saturating_mul(2);
                if self.relay_ops.len() > ops_cap {
                    let excess = self.relay_ops.len() - ops_cap;
                    self.relay_ops.drain(..excess);
                }
                let mut waiting = Vec::with_capacity(group.len());
                for (row, Pending { entry, done }) in group {
                    waiting.push(done);
                    self.backlog.push_back((row, entry));
                    if self.backlog.len() > self.config.backlog_cap
                        && let Some((_, gone)) = self.backlog.pop_front()
                    {
                        lost.push(gone.event.seq);
                    }
                }
                let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
                if health.failing.is_none() {
                    tracing::error!(%reason, "journal writes fail; answering from memory, retrying");
                    health.failing = Some((reason.clone(), now_ms()));
                }
                health.backlog = self.backlog.len() as u64;
                health.lost += lost.len() as u64;
                health.waiting_from = self.backlog.front().map(|(_, entry)| entry.event.seq);
                for seq in lost {
                    health.mark_lost(seq);
                }
                drop(health);
                for done in waiting {
                    let _ = done.send(Err(AppendError::NotJournaled(reason.clone())));
                }
            }
        }
    }

    /// Copies the WAL into the database file, syncing both, once the oldest unsynced commit is
    /// [`WAL_SYNC_EVERY`] old. Passive: never waits for readers (a reader still on older pages
    /// only keeps those in the WAL).
    fn sync_wal_when_due(&mut self) {
        if self
            .unsynced_since
            .is_none_or(|since| since.elapsed() < WAL_SYNC_EVERY)
        {
            return;
        }
        self.unsynced_since = None;
        if let Err(error) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(%error, "journal's WAL not synced; the next commits try again");
        }
    }

    /// Starts a checkpoint every `checkpoint_every` records and after a quiet minute with
    /// news: the hub's state is taken (an O(1) copy) and encoded on a thread of its own, so
    /// commits never wait for the encoding; one checkpoint at a time.
    fn maybe_checkpoint(&mut self) {
        if self.encoding.is_some() || self.ready.is_some() || !self.checkpoint_due() {
            return;
        }
        let Some(state) = self.source.as_ref().and_then(|source| source()) else {
            return;
        };
        let (done, encoding) = mpsc::channel();
        let size_hint = self.checkpoint_size_hint;
        let spawned = std::thread::Builder::new()
            .name("journal-checkpoint".into())
            .spawn(move || {
                let _ = done.send(checkpoint::encode(&state, size_hint));
            });
        match spawned {
            Ok(_) => self.encoding = Some(encoding),
            Err(error) => {
                tracing::warn!(%error, "checkpoint not taken");
                self.last_checkpoint_at = Instant::now();
            }
        }
    }

    fn checkpoint_due(&self) -> bool {
        checkpoint_due(
            &Since {
                records: self.newest.saturating_sub(self.last_checkpoint),
                bytes: self.bytes_since_checkpoint,
                last_checkpoint_bytes: self.last_checkpoint_bytes,
                elapsed: self.last_checkpoint_at.elapsed(),
            },
            self.config.checkpoint_every,
        )
    }

    /// Takes a finished encoding, and stores the encoded checkpoint once every record it
    /// covers is committed: the hub's state runs ahead of the journal by the appends still
    /// queued, and a checkpoint must never hold a callback the journal could still lose.
    /// Never while appends are failing.
    fn collect_checkpoint(&mut self) {
        if let Some(encoding) = &self.encoding {
            match encoding.try_recv() {
                Ok(Ok(encoded)) => {
                    self.encoding = None;
                    self.ready = Some(encoded);
                }
                Ok(Err(error)) => {
                    self.encoding = None;
                    self.checkpoint_failed(&error);
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.encoding = None;
                    tracing::warn!("checkpoint not taken: its encoding stopped");
                    self.last_checkpoint_at = Instant::now();
                }
            }
        }
        let storable = self
            .ready
            .as_ref()
            .is_some_and(|ready| ready.seq <= self.newest && self.backlog.is_empty());
        if !storable {
            return;
        }
        if let Some(ready) = self.ready.take() {
            self.store_checkpoint(&ready);
        }
    }

    fn store_checkpoint(&mut self, encoded: &Encoded) {
        if encoded.seq <= self.last_checkpoint {
            return;
        }
        match checkpoint::store(&mut self.conn, encoded, now_ms()) {
            Ok(()) => {
                self.last_checkpoint = encoded.seq;
                self.last_checkpoint_at = Instant::now();
                self.checkpoint_size_hint = encoded.state.len() + encoded.state.len() / 8;
                self.last_checkpoint_bytes = encoded.state.len() as u64;
                self.bytes_since_checkpoint = 0;
                // What the checkpoint covers may now be deleted.
                self.next_retention = Instant::now();
            }
            Err(error) => self.checkpoint_failed(&error),
        }
    }

    fn checkpoint_failed(&mut self, error: &SaveError) {
        // Restore then replays more; nothing is lost.
        tracing::warn!(%error, "checkpoint not taken");
        self.last_checkpoint_at = Instant::now();
    }

    /// The checkpoint at a clean stop, encoded here: nothing waits on commits any more. The
    /// hub's state may be ahead of the journal only by appends that could not be committed;
    /// then no checkpoint is taken and restore replays from the last one.
    fn final_checkpoint(&mut self) {
        if let Some(encoding) = self.encoding.take()
            && let Ok(Ok(encoded)) = encoding.recv()
        {
            self.ready = Some(encoded);
        }
        self.collect_checkpoint();
        if !self.backlog.is_empty() || self.newest <= self.last_checkpoint {
            return;
        }
        let Some(state) = self.source.as_ref().and_then(|source| source()) else {
            return;
        };
        if state.last_seq() > self.newest {
            return;
        }
        match checkpoint::encode(&state, self.checkpoint_size_hint) {
            Ok(encoded) => self.store_checkpoint(&encoded),
            Err(error) => self.checkpoint_failed(&error),
        }
    }

    /// Deletes one batch of the oldest records that are past `--retain` or over
    /// `--retain-size`. Only records a checkpoint covers go: the state they built lives on in
    /// it. One batch per round keeps each pause short; a full batch brings the next round
    /// forward. Each round reads only the oldest batch of records (in seq order, which is
    /// arrival order), never the whole journal: the age is checked within that batch, so a
    /// round costs the same on a journal of any size.
    fn retain(&mut self) {
        if !self.backlog.is_empty() || self.last_checkpoint == 0 {
            return;
        }
        let covered = i64::try_from(self.last_checkpoint).unwrap_or(i64::MAX);
        let mut deleted = 0;
        if let Some(age) = self.config.retain_ms {
            let cutoff = now_ms().saturating_sub(age);
            if self
                .oldest_received_ms()
                .is_some_and(|oldest| oldest < cutoff)
            {
                deleted += self.delete_batch(
                    &format!("SELECT seq FROM ({}) WHERE received_at_ms < ?2", oldest()),
                    rusqlite::params![covered, cutoff],
                );
            }
        }
        if let Some(limit) = self.config.retain_bytes
            && deleted == 0
            && self.used_bytes().is_some_and(|used| used > limit)
        {
            deleted += self.delete_batch(
                &format!("SELECT seq FROM ({})", oldest()),
                rusqlite::params![covered],
            );
        }
        if deleted >= RETAIN_BATCH {
            self.next_retention = Instant::now() + RETAIN_AGAIN;
        }
        if deleted > 0 {
            tracing::debug!(deleted, "old journal records deleted");
        }
    }

    /// Deletes the records whose seqs `select` lists (it binds `?1` to the newest seq a
    /// checkpoint covers).
    fn delete_batch(&mut self, select: &str, params: &[&dyn rusqlite::ToSql]) -> usize {
        let sql = format!("DELETE FROM callbacks WHERE seq IN ({select})");
        match self.conn.execute(&sql, params) {
            Ok(n) => {
                // Relay outcomes go with their callbacks (those before the oldest one kept).
                if n > 0
                    && let Err(error) = self.conn.execute(
                        "DELETE FROM relay_outcomes WHERE seq < (SELECT min(seq) FROM callbacks)",
                        [],
                    )
                {
                    tracing::warn!(%error, "retention could not delete old relay outcomes");
                }
                n
            }
            Err(error) => {
                tracing::warn!(%error, "retention could not delete old records");
                0
            }
        }
    }

    /// The earliest arrival in the journal, from the time index (a few pages). While it is
    /// within `--retain` nothing is old enough, and the round reads no records: the batch of
    /// oldest records it would read (about 5,000 rows, cold, read in full) also pushed the
    /// writer's hot pages out of SQLite's cache, and rounds follow every checkpoint.
    fn oldest_received_ms(&self) -> Option<i64> {
        self.conn
            .query_row("SELECT min(received_at_ms) FROM callbacks", [], |r| {
                r.get(0)
            })
            .unwrap_or(None)
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
        self.final_checkpoint();
        if !self.backlog.is_empty() {
            tracing::error!(
                count = self.backlog.len(),
                "callbacks answered but never journaled (the journal kept failing)"
            );
        }
    }
}

/// What came in since the last checkpoint.
struct Since {
    records: u64,
    /// Bytes of those records as stored.
    bytes: u64,
    last_checkpoint_bytes: u64,
    elapsed: Duration,
}

/// A checkpoint is due every `every` records, and a minute after the last one when anything
/// new came since. After a checkpoint over [`SIZED_CHECKPOINT_FROM`], the records since must
/// also hold half its bytes, for the timed checkpoint too: checkpoints never write more than
/// twice what the records do, and a restore after a crash replays about half a checkpoint's
/// size of records (or `every`, if more).
fn checkpoint_due(since: &Since, every: u64) -> bool {
    if since.records == 0 {
        return false;
    }
    let sized = since.last_checkpoint_bytes <= SIZED_CHECKPOINT_FROM
        || since.bytes.saturating_mul(2) >= since.last_checkpoint_bytes;
    sized && (since.records >= every || since.elapsed >= CHECKPOINT_AFTER)
}

fn insert_all<'a>(
    conn: &mut Connection,
    rows: impl Iterator<Item = &'a StoredRow>,
    relay_ops: &[RelayOp],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for row in rows {
            row.insert(&mut stmt)?;
        }
        for op in relay_ops {
            apply_relay_op(&tx, op)?;
        }
    }
    tx.commit()
}

fn apply_relay_op(tx: &rusqlite::Transaction<'_>, op: &RelayOp) -> rusqlite::Result<()> {
    let seq_of = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
    match op {
        RelayOp::Pending {
            seq,
            target,
            received_at_ms,
            give_up_at_ms,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO relay_pending (seq, target, attempts, next_attempt_ms, give_up_at_ms) VALUES (?1, ?2, 0, ?3, ?4)",
            )?
            .execute(rusqlite::params![seq_of(*seq), target, received_at_ms, give_up_at_ms])?;
        }
        RelayOp::Settled { seq } => {
            tx.prepare_cached("DELETE FROM relay_pending WHERE seq = ?1")?
                .execute([seq_of(*seq)])?;
        }
        RelayOp::GaveUp {
            seq,
            at_ms,
            target,
            reason,
        } => {
            tx.prepare_cached(
                "INSERT INTO relay_outcomes (seq, attempt, at_ms, target, outcome, error) VALUES (?1, 0, ?2, ?3, 'failed', ?4)",
            )?
            .execute(rusqlite::params![seq_of(*seq), at_ms, target, reason])?;
            tx.prepare_cached("DELETE FROM relay_pending WHERE seq = ?1")?
                .execute([seq_of(*seq)])?;
        }
        RelayOp::Outcome {
            at_ms,
            target,
            record,
        } => super::relay_outcome::insert(tx, *at_ms, target, record)?,
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn since(records: u64, bytes: u64, last_checkpoint_bytes: u64) -> Since {
        Since {
            records,
            bytes,
            last_checkpoint_bytes,
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn small_checkpoints_come_every_so_many_records() {
        assert!(!checkpoint_due(&since(0, 0, 0), 1));
        assert!(!checkpoint_due(&since(19_999, 10 << 20, 1 << 20), 20_000));
        assert!(checkpoint_due(&since(20_000, 1, 1 << 20), 20_000));
        assert!(checkpoint_due(
            &since(20_000, 1, SIZED_CHECKPOINT_FROM),
            20_000
        ));
    }

    #[test]
    fn a_large_checkpoint_waits_until_the_records_since_hold_half_as_many_bytes() {
        let last = 37 << 20;
        assert!(!checkpoint_due(&since(20_000, 14 << 20, last), 20_000));
        assert!(!checkpoint_due(&since(26_000, last / 2 - 1, last), 20_000));
        assert!(checkpoint_due(&since(27_000, last / 2, last), 20_000));
        // Never sooner than every so many records.
        assert!(!checkpoint_due(&since(100, 100 << 20, last), 20_000));
    }

    #[test]
    fn a_minute_with_news_brings_a_checkpoint_within_the_size_rule() {
        let small = Since {
            records: 1,
            bytes: 700,
            last_checkpoint_bytes: 1 << 20,
            elapsed: CHECKPOINT_AFTER,
        };
        assert!(checkpoint_due(&small, 20_000));
        // A large state is not written again every minute for a trickle of records: that
        // would write far more than the records do.
        let large = Since {
            last_checkpoint_bytes: 37 << 20,
            ..small
        };
        assert!(!checkpoint_due(&large, 20_000));
        let enough = Since {
            bytes: 37 << 19,
            ..large
        };
        assert!(checkpoint_due(&enough, 20_000));
    }
}
