//! Headless mode: one JSON object per callback on stdout, nothing else there.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::eventlog::{EventLog, Journaled};
use crate::hub::Hub;
use crate::relay::{Relay, RelayRecord};
use crate::store::LogEntry;

mod ndjson;
#[doc(hidden)]
pub mod reference;

pub use ndjson::LineWriter;

/// Events written to stdout in one go, at most; a batch is whatever is queued when the
/// printer wakes, so under light load every event is written (and flushed) on its own.
const BATCH: usize = 1024;
/// Events read from the journal and written in one go when catching up after a lag.
const JOURNAL_CHUNK: usize = 1024;
/// A wake this soon after the previous one waits out the rest of this time before taking the
/// batch: under load, waking per event costs a futex wake on the receiving thread and a
/// context switch each time; at light load (events further apart) nothing waits.
const LINGER: Duration = Duration::from_millis(1);
/// Longest wait, when catching up, for the journal to commit what left the in-memory log: a
/// healthy journal is milliseconds behind, one blocked by another writer's lock (SQLite's
/// busy timeout is 5 s) a little longer. A failing journal is not waited for.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// The NDJSON line for one event (without the newline).
pub fn line(entry: &LogEntry) -> String {
    line_with_relay(entry, None)
}

/// The NDJSON line for one event with its relay outcome so far (`"relay":{...}` last).
pub fn line_with_relay(entry: &LogEntry, relay: Option<&RelayRecord>) -> String {
    let mut out = Vec::new();
    LineWriter::default().write(&mut out, entry, relay);
    out.pop();
    // The writer emits JSON text only.
    String::from_utf8(out).unwrap_or_default()
}

/// A relay outcome that came after its event's line was printed (the printer writes the same
/// text with [`LineWriter::write_relay`]).
pub fn relay_line(record: &RelayRecord) -> String {
    let mut text = String::with_capacity(160);
    text.push_str("{\"kind\":\"relay\",\"seq\":");
    text.push_str(&record.seq.to_string());
    text.push_str(",\"relay\":");
    // Serializing to a String cannot fail (the writer is infallible, the summary plain data).
    if let Ok(summary) = serde_json::to_string(&record.summary_fields()) {
        text.push_str(&summary);
    }
    text.push('}');
    crate::escape::escape_json(&text).into_owned()
}

/// Relay outcomes for headless output: the event printer adds each event's outcome so far,
/// and [`print_relay_updates`] prints later ones. Both hold `printed` while writing, so an
/// outcome is either in its event's line or on a line printed after it.
#[derive(Clone)]
pub struct RelayLines {
    pub relay: Arc<Relay>,
    pub printed: Arc<Mutex<u64>>,
}

impl RelayLines {
    pub fn new(relay: Arc<Relay>) -> Self {
        Self {
            relay,
            printed: Arc::new(Mutex::new(0)),
        }
    }

    fn printed(&self) -> MutexGuard<'_, u64> {
        self.printed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Prints a `{"kind":"relay",...}` line for every relay update of an event already printed,
/// until the channel closes or `out` breaks. Blocking: run it on its own thread.
///
/// Like the event printer it takes whatever updates are queued when it wakes (lingering up to
/// [`LINGER`] when wakes come close together) and writes them in one go: one wake and one
/// write per batch instead of per update, which under load is most of what a relay line costs.
pub fn print_relay_updates(
    lines: &RelayLines,
    mut rx: broadcast::Receiver<RelayRecord>,
    mut out: impl Write,
) -> io::Result<()> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut buffer = Vec::new();
    let mut last_wake: Option<Instant> = None;
    loop {
        match rx.blocking_recv() {
            Ok(record) => batch.push(record),
            Err(RecvError::Lagged(skipped)) => {
                report_lag(skipped);
                continue;
            }
            Err(RecvError::Closed) => return Ok(()),
        }
        if let Some(wait) = last_wake.and_then(|at| LINGER.checked_sub(at.elapsed())) {
            std::thread::sleep(wait);
        }
        last_wake = Some(Instant::now());
        let mut closed = false;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(record) => batch.push(record),
                Err(TryRecvError::Lagged(skipped)) => report_lag(skipped),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    closed = true;
                    break;
                }
            }
        }
        {
            let printed = lines.printed();
            buffer.clear();
            for record in batch.drain(..) {
                // "pending" is where every relay starts: its event's line already says it.
                let news = record.state != crate::relay::outcome::RelayState::Pending;
                if news && record.seq <= *printed {
                    LineWriter::write_relay(&mut buffer, &record);
                }
            }
            if !buffer.is_empty() {
                out.write_all(&buffer)?;
                out.flush()?;
            }
        }
        if closed {
            return Ok(());
        }
    }
}

fn report_lag(skipped: u64) {
    eprintln!("roomwatch: output fell behind; {skipped} relay updates were not printed");
}

/// Standard output without std's line buffer in between, for the event printer: a line counts
/// as printed once a write handed all of it to the OS, and a buffer would take bytes the OS never
/// got (a pipe nobody reads). Falls back to the buffered handle if the descriptor cannot be
/// duplicated.
pub fn unbuffered_stdout() -> Box<dyn Write + Send> {
    use std::os::fd::AsFd;
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(io::stdout()),
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// What the printer got through, readable from another thread while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Lines written to the output.
    pub printed: AtomicU64,
    /// Events that left the in-memory log before they could be printed.
    pub lost: AtomicU64,
}

impl Progress {
    pub fn printed(&self) -> u64 {
        self.printed.load(Ordering::Acquire)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Acquire)
    }
}

/// Prints every event from `rx` to `out` until the channel closes ([`Hub::close`]) or `out`
/// breaks. After a lag it replays what it missed from the hub's log, and says on stderr
/// exactly which events the log no longer held. Blocking: run it on its own thread.
pub fn print_events(
    hub: &Hub,
    rx: broadcast::Receiver<LogEntry>,
    out: impl Write,
    progress: &Progress,
) -> io::Result<()> {
    print_events_with_relay(hub, rx, out, progress, None)
}

/// [`print_events`], with each event's relay outcome when a relay runs.
///
/// Wakes when an event arrives (under load at most once per [`LINGER`]), takes everything else
/// already queued (up to [`BATCH`]), formats the batch into one buffer and writes it in
/// writes of whole lines up to `PIPE_BUF` bytes each, counting each write's lines once it
/// returned, so that the count of lines printed stays exact even when stdout blocks mid-batch.
/// `out` should not buffer (see [`unbuffered_stdout`]): a line is counted once `out` took it.
pub fn print_events_with_relay(
    hub: &Hub,
    mut rx: broadcast::Receiver<LogEntry>,
    mut out: impl Write,
    progress: &Progress,
    relay: Option<&RelayLines>,
) -> io::Result<()> {
    let mut batch = Batch::default();
    let mut last_wake: Option<Instant> = None;
    loop {
        match rx.blocking_recv() {
            Ok(entry) => batch.take(entry),
            Err(RecvError::Lagged(_)) => batch.catch_up(hub, progress, &mut out, relay)?,
            Err(RecvError::Closed) => return Ok(()),
        }
        if let Some(rest) = last_wake.and_then(|last| LINGER.checked_sub(last.elapsed())) {
            std::thread::sleep(rest);
        }
        last_wake = Some(Instant::now());
        while batch.entries.len() < BATCH {
            match rx.try_recv() {
                Ok(entry) => batch.take(entry),
                Err(TryRecvError::Lagged(_)) => batch.catch_up(hub, progress, &mut out, relay)?,
                // Closed: the next `blocking_recv` says so, once this batch is out.
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        batch.write(&mut out, progress, relay, hub.journal().map(AsRef::as_ref))?;
    }
}

/// Waits until the journal committed `seq`, while it is healthy, for at most [`COMMIT_WAIT`].
fn wait_for_commit(journal: &dyn crate::eventlog::EventLog, seq: u64) {
    let deadline = Instant::now() + COMMIT_WAIT;
    loop {
        let health = journal.health();
        if health.committed >= seq || health.failing.is_some() || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Events taken from the bus and not yet written, and the buffer they are written through.
#[derive(Default)]
struct Batch {
    entries: Vec<LogEntry>,
    /// The highest seq taken so far (written or in `entries`).
    last_taken: u64,
    buffer: Vec<u8>,
    /// Where each line of `buffer` ends.
    line_ends: Vec<usize>,
    writer: LineWriter,
}

impl Batch {
    fn take(&mut self, entry: LogEntry) {
        // After a catch-up from the log, the bus still delivers what was already taken there.
        if entry.event.seq > self.last_taken {
            self.last_taken = entry.event.seq;
            self.entries.push(entry);
        }
    }

    /// After the bus dropped events for this printer: takes them from the journal (when there
    /// is one) as far as they left the hub's in-memory log, then from that log, and says on
    /// stderr exactly which ones neither held.
    fn catch_up(
        &mut self,
        hub: &Hub,
        progress: &Progress,
        out: &mut impl Write,
        relay: Option<&RelayLines>,
    ) -> io::Result<()> {
        if let Some(journal) = hub.journal() {
            self.catch_up_from_journal(journal.as_ref(), hub, progress, out, relay)?;
        }
        let last = self.last_taken;
        let missed: Vec<LogEntry> = hub.read(|store| store.log_after(last).cloned().collect());
        if let Some(first) = missed.first() {
            Self::count_lost(progress, hub.journal().is_some(), last + 1, first.event.seq);
        }
        for entry in missed {
            self.take(entry);
        }
        Ok(())
    }

    /// Reads what already left the in-memory log from the journal, a chunk at a time, and
    /// writes each chunk before reading the next, so that a long gap never sits in memory.
    /// Stops where the in-memory log begins, or where the journal holds nothing further
    /// (not committed yet, removed by retention, or unreadable: those count as not printed).
    fn catch_up_from_journal(
        &mut self,
        journal: &dyn crate::eventlog::EventLog,
        hub: &Hub,
        progress: &Progress,
        out: &mut impl Write,
        relay: Option<&RelayLines>,
    ) -> io::Result<()> {
        loop {
            let first_held = hub.read(|store| store.log().front().map(|e| e.event.seq));
            let Some(first_held) = first_held.filter(|first| *first > self.last_taken + 1) else {
                return Ok(());
            };
            // Events can leave memory before their commit: read them once it is there.
            wait_for_commit(journal, first_held - 1);
            let from = crate::eventlog::page::PageFrom::After(self.last_taken);
            let chunk = match journal.read_page(from, JOURNAL_CHUNK) {
                Ok(chunk) => chunk,
                Err(e) => {
                    eprintln!(
                        "roomwatch: output fell behind and the journal could not be read: {e}"
                    );
                    return Ok(());
                }
            };
            let before = self.last_taken;
            for entry in chunk.entries {
                // Records the journal lost (retention, an unreadable one) leave a gap.
                Self::count_lost(progress, true, self.last_taken + 1, entry.event.seq);
                self.take(entry);
            }
            // Unreadable rows at the chunk's end are counted and stepped over, so that a long
            // run of them never ends the catch-up.
            // (Not past the in-memory log, which holds those events readable.)
            let stepped = chunk.highest.map(|h| h.min(first_held - 1));
            if let Some(highest) = stepped.filter(|h| *h > self.last_taken) {
                Self::count_lost(progress, true, self.last_taken + 1, highest + 1);
                self.last_taken = highest;
            }
            if self.last_taken == before {
                return Ok(());
            }
            // Read back from the journal: journaled, as its health says; the batch may also
            // hold events taken from the bus before the lag, which the health marks if need be.
            self.write(out, progress, relay, Some(journal))?;
        }
    }

    /// Counts the events from `from` up to (not including) `to` as never printed, and says so
    /// on stderr; nothing when the range is empty.
    fn count_lost(progress: &Progress, journaled: bool, from: u64, to: u64) {
        if to <= from {
            return;
        }
        let gone = to - from;
        progress.lost.fetch_add(gone, Ordering::AcqRel);
        eprintln!(
            "roomwatch: output fell behind; {gone} events ({from}..{}) left the in-memory log (--history, --history-bytes) before they could be printed{}",
            to - 1,
            if journaled {
                " and the journal did not hold them"
            } else {
                ""
            }
        );
    }

    /// Writes and flushes every taken event, counting each as printed once written: the count
    /// is exactly what a reader can get. Lines whose callback `journal` does not hold (it is
    /// failing) say so.
    fn write(
        &mut self,
        out: &mut impl Write,
        progress: &Progress,
        relay: Option<&RelayLines>,
        journal: Option<&dyn EventLog>,
    ) -> io::Result<()> {
        let Some(last) = self.entries.last().map(|entry| entry.event.seq) else {
            return Ok(());
        };
        // Asked once per batch; only a failing journal (or one that lost some) marks lines.
        let health = journal.map(EventLog::health).filter(|h| {
            h.failing.is_some() || h.waiting_from.is_some() || !h.lost_ranges.is_empty()
        });
        // Held from reading the outcomes to marking them printed, so that the relay printer
        // prints every later outcome on a line of its own.
        let mut printed = relay.map(RelayLines::printed);
        self.buffer.clear();
        self.line_ends.clear();
        for entry in &self.entries {
            let record = relay.and_then(|r| r.relay.record(entry.event.seq));
            let journaled = health
                .as_ref()
                .map_or(Journaled::Yes, |h| h.journaled(entry.event.seq));
            self.writer
                .write_marked(&mut self.buffer, entry, record.as_ref(), journaled);
            self.line_ends.push(self.buffer.len());
        }
        // Whole lines, at most PIPE_BUF bytes per write (a longer line goes alone): a pipe
        // takes such a write whole or blocks before taking any of it, so each write's lines are
        // counted once it returned and a write blocked for good on a full pipe has passed no
        // line the count misses; the count at exit matches what the reader got.
        let mut start = 0;
        let mut counted = 0;
        for (i, &end) in self.line_ends.iter().enumerate() {
            let next_fits = self
                .line_ends
                .get(i + 1)
                .is_some_and(|&next| next - start <= PIPE_BUF);
            if next_fits {
                continue;
            }
            // An output that takes part of a write (not a pipe) gets the rest in more writes,
            // each counted for the lines it completed.
            while start < end {
                match out.write(&self.buffer[start..end]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => start += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
                let complete = self.line_ends[counted..]
                    .iter()
                    .take_while(|&&line_end| line_end <= start)
                    .count();
                counted += complete;
                progress
                    .printed
                    .fetch_add(complete as u64, Ordering::AcqRel);
            }
        }
        out.flush()?;
        if let Some(printed) = printed.as_mut() {
            **printed = last;
        }
        self.entries.clear();
        // A burst of huge bodies must not pin a huge buffer for the rest of the run.
        if self.buffer.capacity() > MAX_KEPT_BUFFER {
            self.buffer = Vec::new();
        }
        Ok(())
    }
}

/// The size up to which a pipe takes a write whole or not at all (POSIX: at least 512; 4096
/// on Linux).
const PIPE_BUF: usize = 4096;

/// The output buffer's capacity kept between batches.
const MAX_KEPT_BUFFER: usize = 4 << 20;
