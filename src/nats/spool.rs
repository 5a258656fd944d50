//! The local spool: where a receiver keeps callbacks that JetStream did not acknowledge in
//! time (NATS down, partitioned, or slow), so that it can still answer Tencent, whose "after"
//! callbacks are not retried by default. A small SQLite file, committed before the answer
//! (WAL, synchronous=FULL: survives kill -9 and a power loss; it is written only while
//! JetStream is away, so the fsync per callback costs nothing in normal running); a drainer publishes its rows to the stream in
//! order once NATS is back, then deletes them. While the spool holds anything, new callbacks
//! join its end, so the stream receives a receiver's callbacks in the order it answered them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::header::HeaderValue;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::watch;

use super::StreamLog;
use super::record::{Outgoing, RECORD_HEADER};
use crate::eventlog::lock::JournalLock;

/// Why the spool could not take a callback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full ({0} callbacks, --nats-spool-max)")]
    Full(u64),
    #[error("the spool cannot be written: {0}")]
    Write(String),
}

/// A spooled message as stored.
struct Row {
    id: i64,
    subject: String,
    record: Option<String>,
    payload: Vec<u8>,
    message_id: Option<String>,
}

/// The spool file and its counters.
pub struct Spool {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Rows waiting; read without the lock on every callback.
    pending: AtomicU64,
    max: u64,
    /// The receiver's name, for the message ids of spooled refusals.
    receiver: String,
    changed: watch::Sender<u64>,
    _lock: JournalLock,
}

impl Spool {
    /// Opens (or creates) the spool at `path`, keeping at most `max` callbacks.
    pub fn open(path: &Path, max: u64, receiver: &str) -> Result<Arc<Self>, String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let lock = JournalLock::acquire(
            path,
            &crate::outputs::headless::rfc3339(crate::ingest::receiver::now_ms()),
        )
        .map_err(|e| format!("spool {}: {e}", path.display()))?;
        let conn = Connection::open(path).map_err(|e| format!("spool {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS spool (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 subject TEXT NOT NULL,
                 record TEXT,
                 payload BLOB NOT NULL,
                 message_id TEXT
             );
             CREATE TABLE IF NOT EXISTS spool_failed (
                 id INTEGER PRIMARY KEY,
                 subject TEXT NOT NULL,
                 record TEXT,
                 payload BLOB NOT NULL,
                 message_id TEXT,
                 reason TEXT NOT NULL
             );",
        )
        .map_err(|e| format!("spool {}: {e}", path.display()))?;
        let pending: i64 = conn
            .query_row("SELECT count(*) FROM spool", [], |r| r.get(0))
            .map_err(|e| format!("spool {}: {e}", path.display()))?;
        let pending = u64::try_from(pending).unwrap_or(0);
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            pending: AtomicU64::new(pending),
            max,
            receiver: receiver.to_string(),
            changed: watch::channel(pending).0,
            _lock: lock,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Callbacks the spool holds at most (`--nats-spool-max`).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Callbacks waiting to reach the stream.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Appends one message, committed when this returns. Blocking: call from a blocking task.
    pub fn push(&self, out: &Outgoing) -> Result<(), SpoolError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = self.pending();
        if pending >= self.max {
            return Err(SpoolError::Full(pending));
        }
        let record = out
            .headers
            .get(RECORD_HEADER)
            .map(|v| v.as_str().to_string());
        conn.execute(
            "INSERT INTO spool (subject, record, payload, message_id) VALUES (?1, ?2, ?3, ?4)",
            params![out.subject, record, &out.payload[..], out.message_id],
        )
        .map_err(|e| SpoolError::Write(e.to_string()))?;
        let now = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        self.changed.send_replace(now);
        Ok(())
    }

    fn oldest(&self) -> Result<Option<Row>, rusqlite::Error> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row(
            "SELECT id, subject, record, payload, message_id FROM spool ORDER BY id LIMIT 1",
            [],
            |r| {
                Ok(Row {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    record: r.get(2)?,
                    payload: r.get(3)?,
                    message_id: r.get(4)?,
                })
            },
        )
        .optional()
    }

    /// Moves a row NATS will never take (too large) aside, so it does not hold up the rest;
    /// it stays in the file, in `spool_failed`, with the reason.
    fn set_aside(&self, id: i64, reason: &str) -> Result<(), rusqlite::Error> {
        {
            let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.execute(
                "INSERT OR REPLACE INTO spool_failed (id, subject, record, payload, message_id, reason)
                 SELECT id, subject, record, payload, message_id, ?2 FROM spool WHERE id = ?1",
                params![id, reason],
            )?;
        }
        self.remove(id)
    }

    fn remove(&self, id: i64) -> Result<(), rusqlite::Error> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let removed = conn.execute("DELETE FROM spool WHERE id = ?1", [id])?;
        if removed > 0 {
            let now = self
                .pending
                .fetch_sub(1, Ordering::AcqRel)
                .saturating_sub(1);
            self.changed.send_replace(now);
        }
        Ok(())
    }

    /// Follows the number of callbacks waiting.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The message a row stands for. A spooled refusal gets an id of its own (receiver and
    /// row), so that publishing it again after a crash mid-drain stores it once too.
    fn outgoing(&self, row: Row) -> Outgoing {
        let mut headers = HeaderMap::new();
        if let Some(value) = row.record.and_then(|r| r.parse::<HeaderValue>().ok()) {
            headers.insert(RECORD_HEADER, value);
        }
        Outgoing {
            subject: row.subject,
            headers,
            payload: Bytes::from(row.payload),
            message_id: Some(
                row.message_id
                    .unwrap_or_else(|| format!("rws-{}-{}", self.receiver, row.id)),
            ),
        }
    }

    /// Publishes the spool to the stream, oldest first, one at a time (each acknowledged
    /// before the next, which keeps the order), until `stop`. Waits and retries while NATS
    /// is away, and, with the shared relay, until its consumers exist.
    pub async fn drain(
        self: Arc<Self>,
        stream: StreamLog,
        relay_ready: Option<watch::Receiver<bool>>,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        if let Some(mut ready) = relay_ready {
            tokio::select! {
                () = &mut stop => return,
                _ = ready.wait_for(|ready| *ready) => {}
            }
        }
        let mut changed = self.watch();
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.pending() == 0 {
                tokio::select! {
                    () = &mut stop => return,
                    result = changed.changed() => if result.is_err() { return },
                }
                continue;
            }
            let spool = Arc::clone(&self);
            let row = match tokio::task::spawn_blocking(move || spool.oldest()).await {
                Ok(Ok(Some(row))) => row,
                Ok(Ok(None)) => {
                    // The counter ran ahead of the table (a failed insert): trust the table.
                    self.pending.store(0, Ordering::Release);
                    continue;
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "reading the spool failed");
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
                Err(_) => return,
            };
            let id = row.id;
            let out = self.outgoing(row);
            let published = tokio::select! {
                () = &mut stop => return,
                result = stream.publish_outgoing(out) => result,
            };
            match published {
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    let spool = Arc::clone(&self);
                    if let Ok(Err(error)) =
                        tokio::task::spawn_blocking(move || spool.remove(id)).await
                    {
                        // It is in the stream; publishing it again is harmless (same id) but
                        // must not spin.
                        tracing::error!(%error, "removing a drained callback from the spool failed");
                        tokio::select! {
                            () = &mut stop => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                    if self.pending() == 0 {
                        tracing::info!("spool drained to the stream");
                    }
                }
                Err(error @ super::publish::PublishError::TooLarge(_)) => {
                    tracing::error!(%error, id, path = %self.path.display(), "a spooled callback is too large for NATS; set aside in the spool's spool_failed table");
                    let (spool, reason) = (Arc::clone(&self), error.to_string());
                    let _ = tokio::task::spawn_blocking(move || spool.set_aside(id, &reason)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, waiting = self.pending(), "spool drain paused: JetStream did not take the oldest callback");
                    // NATS was away at start: the stream may not exist yet.
                    if stream.connected() {
                        let _ = stream.ensure_stream().await;
                    }
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
