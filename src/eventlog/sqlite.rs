//! The embedded journal: a SQLite file in WAL mode, one writer thread committing appends in
//! groups, any number of readers (export, other processes) alongside.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, watch};

use super::checkpoint::StateSource;
use super::lock::{JournalLock, LockError};
use super::record::{COLUMNS, StoredRow};
use super::relay_pending::{self, JournalPending, Resumed};
use super::restore::{self, Restored};
use super::schema::{self, Kind};
use super::writer::{Msg, Pending, Writer, WriterConfig};
use super::{AppendError, Commit, EventLog, Health, ReadError};
use crate::store::LogEntry;

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    /// `synchronous=NORMAL` in WAL: survives a process crash or `kill -9`; a power loss or OS
    /// crash may lose the last commits (never corrupts the file).
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on stable storage before the answer is sent.
    Full,
}

/// How to open and run a journal.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    pub path: PathBuf,
    pub sync: SyncMode,
    /// Entries kept in memory for the log after a restore.
    pub log_capacity: usize,
    /// Delete records received longer ago than this (ms); `None` keeps them.
    pub retain_ms: Option<i64>,
    /// Delete the oldest records while the journal's data is larger than this (bytes).
    pub retain_bytes: Option<u64>,
    /// Take a checkpoint of the room state after this many records.
    pub checkpoint_every: u64,
    /// Callbacks held in memory for a retry while appends fail (e.g. disk full).
    pub backlog_cap: usize,
    /// A hard size cap in database pages (SQLite `max_page_count`); reaching it behaves
    /// exactly like a full disk.
    pub max_pages: Option<u64>,
    /// Shown to a second process that finds the journal locked.
    pub started: String,
    /// The WAL is copied back into the database file (a checkpoint, in SQLite's words) once it
    /// holds this many pages; it is also the WAL file's size kept after a checkpoint.
    pub wal_pages: u32,
}

/// The default of [`JournalOptions::wal_pages`]: a WAL of about 40 MiB.
pub const WAL_PAGES: u32 = 10_000;

impl JournalOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            sync: SyncMode::Normal,
            log_capacity: 10_000,
            retain_ms: None,
            retain_bytes: None,
            checkpoint_every: 20_000,
            backlog_cap: 100_000,
            max_pages: None,
            started: String::new(),
            wal_pages: WAL_PAGES,
        }
    }
}

/// Why a journal could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("cannot create the journal's folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a roomwatch journal (another SQLite database); choose another --journal path"
    )]
    Foreign { path: String },
    #[error(
        "{path} is not a roomwatch journal (not an SQLite database, or damaged beyond reading): {source}"
    )]
    NotSqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "{path} was written by a newer roomwatch (schema {found}, this one reads up to {known}); upgrade roomwatch or choose another --journal path"
    )]
    Newer {
        path: String,
        found: i32,
        known: i32,
    },
    #[error("cannot open journal {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
}

/// The SQLite journal. Dropping it stops the writer after it committed what was queued.
pub struct SqliteJournal {
    tx: mpsc::Sender<Msg>,
    reader: Mutex<Connection>,
    committed: watch::Receiver<u64>,
    health: Arc<Mutex<Health>>,
    path: PathBuf,
    writer: Option<JoinHandle<()>>,
    _lock: JournalLock,
}

impl SqliteJournal {
    /// Locks, opens (creating it if new), restores the state it holds, and starts the writer.
    pub fn open(options: &JournalOptions) -> Result<(Self, Restored), OpenError> {
        let path = &options.path;
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| OpenError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let lock = JournalLock::acquire(path, &options.started)?;
        let sqlite = |source| OpenError::Sqlite {
            path: shown.clone(),
            source,
        };
        let mut conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
        match schema::inspect(&conn) {
            Ok(Kind::Empty) => schema::create(&mut conn).map_err(sqlite)?,
            // Outcome rows are written in the same commits as callbacks: without the columns
            // those commits would fail, so a journal that cannot take them is not opened.
            Ok(Kind::Current) => {
                if schema::upgrade_relay_outcomes(&mut conn).map_err(sqlite)? {
                    tracing::info!("journal's relay outcomes gained their newer columns");
                }
            }
            Ok(Kind::Newer(found)) => {
                return Err(OpenError::Newer {
                    path: shown,
                    found,
                    known: schema::SCHEMA_VERSION,
                });
            }
            Ok(Kind::Foreign) => return Err(OpenError::Foreign { path: shown }),
            Err(source) => {
                return Err(OpenError::NotSqlite {
                    path: shown,
                    source,
                });
            }
        }
        configure(&conn, options.sync, options.wal_pages).map_err(sqlite)?;
        if let Some(pages) = options.max_pages {
            set_max_pages(&conn, pages).map_err(sqlite)?;
        }
        let restored = restore::restore(&conn, options.log_capacity).map_err(sqlite)?;
        // After the restore: an old checkpoint's rooms look up their app by room id.
        match schema::upgrade_room_index(&mut conn) {
            Ok(true) => tracing::info!("journal's room index rebuilt in blocks"),
            Ok(false) => {}
            // The old index still works, only commits cost more: never a reason not to start.
            Err(error) => tracing::warn!(%error, "journal's room index not rebuilt"),
        }
        let reader = open_reader(path).map_err(sqlite)?;
        let last_seq = restored.store.last_seq();
        let (committed_tx, committed) = watch::channel(last_seq);
        let health = Arc::new(Mutex::new(Health {
            committed: last_seq,
            ..Health::default()
        }));
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(
            conn,
            WriterConfig {
                retain_ms: options.retain_ms,
                retain_bytes: options.retain_bytes,
                backlog_cap: options.backlog_cap.max(1),
                checkpoint_every: options.checkpoint_every.max(1),
                timed_wal_sync: options.sync == SyncMode::Normal,
            },
            last_seq,
            restored.checkpoint_seq,
            committed_tx,
            Arc::clone(&health),
        );
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| OpenError::Folder {
                path: shown.clone(),
                source: e,
            })?;
        Ok((
            Self {
                tx,
                reader: Mutex::new(reader),
                committed,
                health,
                path: path.clone(),
                writer: Some(handle),
                _lock: lock,
            },
            restored,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes the hard page cap while running (SQLite `max_page_count`). Raising it is what
    /// "space came back" looks like to the writer.
    pub fn set_max_pages(&self, pages: u64) {
        let _ = self.tx.send(Msg::MaxPages(pages));
    }

    /// Records the relay's pending callbacks in this journal (for `--forward-to target`).
    pub fn relay_pending_log(&self, target: &str, max_age: Duration) -> JournalPending {
        JournalPending::new(self.tx.clone(), target.to_string(), max_age)
    }

    /// The callbacks still pending from before this start, in seq order, to hand to
    /// [`Relay::requeue`](crate::relay::Relay::requeue); those older than `max_age` (or whose
    /// record is unreadable) are given up, recorded in `relay_outcomes`.
    pub fn resume_relays(
        &self,
        target: &str,
        max_age: Duration,
        now_ms: i64,
    ) -> Result<Resumed, ReadError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        relay_pending::resume(&conn, &self.tx, target, max_age, now_ms)
    }

    /// The newest relay outcome of each of the last `recent` callbacks in the journal (those
    /// a restore brings back into the log), in seq order, for
    /// [`Relay::restore`](crate::relay::Relay::restore).
    pub fn relay_outcomes(
        &self,
        recent: usize,
    ) -> Result<Vec<crate::relay::RelayRecord>, ReadError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let first: i64 = conn.query_row(
            "SELECT coalesce(min(seq), 0) FROM (SELECT seq FROM callbacks ORDER BY seq DESC LIMIT ?1)",
            [i64::try_from(recent).unwrap_or(i64::MAX)],
            |r| r.get(0),
        )?;
        let reader = super::relay_outcome::OutcomeReader::new(&conn)?;
        Ok(reader.since(&conn, u64::try_from(first).unwrap_or(0))?)
    }

    /// Asks the writer to delete what retention allows now, instead of at its next round.
    pub fn run_retention(&self) {
        let _ = self.tx.send(Msg::Retain);
    }
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl EventLog for SqliteJournal {
    fn append(&self, entry: &LogEntry) -> Commit {
        let (done, wait) = oneshot::channel();
        let msg = Msg::Append(Box::new(Pending {
            entry: entry.clone(),
            done,
        }));
        if let Err(mpsc::SendError(Msg::Append(pending))) = self.tx.send(msg) {
            let _ = pending.done.send(Err(AppendError::Stopped));
        }
        Commit::new(wait)
    }

    fn read_from(&self, after: u64, limit: usize) -> Result<Vec<LogEntry>, ReadError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(read_after(&conn, after, limit)?.entries)
    }

    fn read_page(
        &self,
        from: super::page::PageFrom,
        limit: usize,
    ) -> Result<super::page::Page, ReadError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(super::page::read_page(&conn, from, limit)?)
    }

    fn follow(&self) -> watch::Receiver<u64> {
        self.committed.clone()
    }

    fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn checkpoints_from(&self, source: StateSource) {
        let _ = self.tx.send(Msg::StateSource(source));
    }
}

/// What one WAL page takes on disk at most: a 4 KiB page and its 24-byte frame header.
const WAL_BYTES_PER_PAGE: i64 = 4096 + 24;

/// WAL, the sync level, and how often the WAL is copied back into the database file.
fn configure(conn: &Connection, sync: SyncMode, wal_pages: u32) -> rusqlite::Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    let level = match sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", level)?;
    // Each checkpoint copies the newest version of every page the WAL holds and syncs the
    // file: rarer checkpoints copy a page rewritten by many commits once, and sync less often.
    let _: i64 =
        conn.pragma_update_and_check(None, "wal_autocheckpoint", wal_pages, |r| r.get(0))?;
    // The WAL file is reused from its start after a checkpoint, never shrunk by SQLite
    // itself; cut back to its usual size, a WAL a stuck reader let grow gives the space back.
    let wal_bytes = i64::from(wal_pages).saturating_mul(WAL_BYTES_PER_PAGE);
    let _: i64 =
        conn.pragma_update_and_check(None, "journal_size_limit", wal_bytes, |r| r.get(0))?;
    Ok(())
}

pub(crate) fn set_max_pages(conn: &Connection, pages: u64) -> rusqlite::Result<()> {
    let _: i64 = conn.pragma_update_and_check(
        None,
        "max_page_count",
        i64::try_from(pages).unwrap_or(i64::MAX),
        |r| r.get(0),
    )?;
    Ok(())
}

/// A read-only connection: never takes the writer's lock, so it works while roomwatch runs.
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// A range of the journal as read.
pub struct Chunk {
    pub entries: Vec<LogEntry>,
    /// Rows present but unreadable (checksum or decoding failed).
    pub skipped: u64,
    /// The highest position among the rows read, readable or not.
    pub last_seen: Option<u64>,
}

/// Up to `limit` rows after `after`, oldest first.
pub fn read_after(conn: &Connection, after: u64, limit: usize) -> rusqlite::Result<Chunk> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM callbacks WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(rusqlite::params![after, limit])?;
    let mut chunk = Chunk {
        entries: Vec::new(),
        skipped: 0,
        last_seen: None,
    };
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        chunk.last_seen = Some(u64::try_from(seq).unwrap_or(0));
        match StoredRow::from_row(row).and_then(StoredRow::into_entry) {
            Ok(entry) => chunk.entries.push(entry),
            Err(_) => chunk.skipped += 1,
        }
    }
    Ok(chunk)
}
