//! Paging back past the log held in memory: when the cursor goes above the oldest line held,
//! older pages are read from the journal, the lines that pass the filter and scope are kept in
//! a bounded window above the held ones, and scrolling on moves the window.
//!
//! Reading is I/O, so the app only asks ([`App::take_history_request`]); the run loop reads a
//! page off the dashboard's thread and hands it back as [`super::Msg::History`].

use std::collections::VecDeque;

use super::App;
use crate::eventlog::page::{Page, PageFrom};
use crate::store::{LogEntry, RoomKey};
use crate::tui::query::Query;

/// Journal rows read per request.
pub const HISTORY_PAGE: usize = 1_000;
/// Lines from the journal held at once; beyond it the far end of the window is let go, and read
/// again when scrolled back to.
pub const HISTORY_WINDOW: usize = 5_000;

/// A page asked for, and how far the cursor still has to move once it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRequest {
    pub from: PageFrom,
    /// Rows to read.
    pub limit: usize,
    /// The window the page is for: a page asked for before the filter changed is let go.
    generation: u64,
    /// Lines the cursor moves (negative: up) once the page's lines are shown.
    pub(super) then_move: isize,
}

/// The answer to a [`HistoryRequest`].
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub request: HistoryRequest,
    pub result: Result<Page, String>,
}

/// Lines read back from the journal, older than every line the log holds in memory.
#[derive(Debug, Clone)]
pub struct History {
    /// Whether there is a journal to read from.
    pub(super) available: bool,
    /// The lines that pass the filter and scope, oldest first.
    entries: VecDeque<LogEntry>,
    /// The positions scanned so far (lowest, highest), matching or not.
    scanned: Option<(u64, u64)>,
    /// The scan going back found the journal's first row.
    start_reached: bool,
    /// The filter and scope the lines were picked by.
    picked_by: Option<(Query, Option<RoomKey>)>,
    /// A page the run loop should read.
    wanted: Option<HistoryRequest>,
    /// A page being read.
    in_flight: bool,
    /// Counts the windows started, so that a page read for an earlier one is let go.
    generation: u64,
    /// The user is paging: a page with no line to show asks for the next one.
    scanning: bool,
    /// Lines the cursor is to move once the page being read is in, asked for by keys pressed
    /// meanwhile (held keys and the mouse wheel send many).
    queued_move: isize,
    /// Rows read per page and lines held at most ([`HISTORY_PAGE`], [`HISTORY_WINDOW`]).
    page: usize,
    window: usize,
}

impl Default for History {
    fn default() -> Self {
        Self {
            available: false,
            entries: VecDeque::new(),
            scanned: None,
            start_reached: false,
            picked_by: None,
            wanted: None,
            in_flight: false,
            generation: 0,
            scanning: false,
            queued_move: 0,
            page: HISTORY_PAGE,
            window: HISTORY_WINDOW,
        }
    }
}

impl History {
    /// Lines held from the journal.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn entry(&self, seq: u64) -> Option<&LogEntry> {
        let at = self.entries.partition_point(|e| e.event.seq < seq);
        self.entries.get(at).filter(|e| e.event.seq == seq)
    }

    pub(super) fn last_seq(&self) -> Option<u64> {
        self.entries.back().map(|e| e.event.seq)
    }

    pub(super) fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().map(|e| e.event.seq)
    }

    /// The highest position the window reaches.
    fn highest_scanned(&self) -> Option<u64> {
        self.scanned.map(|(_, high)| high)
    }

    /// Whether a page is being read or waits to be.
    pub fn busy(&self) -> bool {
        self.in_flight || self.wanted.is_some()
    }

    pub fn start_reached(&self) -> bool {
        self.start_reached
    }

    /// Lets every line go, e.g. when the filter changed: the next page back starts a new
    /// window just above the lines held in memory.
    fn clear(&mut self) {
        *self = Self {
            available: self.available,
            in_flight: self.in_flight,
            generation: self.generation + 1,
            page: self.page,
            window: self.window,
            ..Self::default()
        };
    }
}

impl App {
    /// A page for the run loop to read, taken once.
    pub fn take_history_request(&mut self) -> Option<HistoryRequest> {
        let request = self.history.wanted.take();
        self.history.in_flight |= request.is_some();
        request
    }

    /// Back to the tail: a page not yet asked for is not wanted any more.
    pub(super) fn stop_paging(&mut self) {
        self.history.wanted = None;
        self.history.scanning = false;
        self.history.queued_move = 0;
        // Back at the tail, the window would soon be cut off from the held lines by the ones
        // leaving memory: scrolling up again starts a new one right above them.
        if self.history.picked_by.is_some() {
            self.history.clear();
            self.log_stale = true;
        }
    }

    /// Rows read per page and lines from the journal held at most (tests page through small
    /// journals with small numbers).
    pub fn set_history_limits(&mut self, page: usize, window: usize) {
        self.history.page = page.max(1);
        self.history.window = window.max(page.max(1));
    }

    /// Tells the app whether a journal is there to page back into.
    pub fn set_history_available(&mut self, available: bool) {
        self.history.available = available;
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// The position of the oldest line the log holds in memory (`u64::MAX` when it holds none).
    fn held_from(&self) -> u64 {
        self.store.log().front().map_or(u64::MAX, |e| e.event.seq)
    }

    /// The cursor wants to go `delta` lines above the first line shown: asks for the page
    /// before it. Says why not when there is nothing to read.
    pub(super) fn page_back(&mut self, delta: isize) {
        if self.history.busy() {
            self.history.queued_move = self.history.queued_move.saturating_add(delta);
            return;
        }
        if !self.history.available {
            self.say(
                "the log holds no older lines in memory; scrolling further back needs the journal"
                    .into(),
            );
            return;
        }
        if self.history.start_reached {
            self.say("start of the journal".into());
            return;
        }
        let before = if let Some((low, _)) = self.history.scanned {
            low
        } else {
            self.history.picked_by = Some((self.query.clone(), self.scope_room.clone()));
            self.held_from()
        };
        if before == u64::MAX {
            return;
        }
        self.history.scanning = true;
        self.history.wanted = Some(HistoryRequest {
            from: PageFrom::Before(before),
            limit: self.history.page,
            generation: self.history.generation,
            then_move: delta,
        });
        self.dirty = true;
    }

    /// The cursor wants to go `delta` lines below the last line read from the journal, and
    /// lines between it and those held in memory are not read (the window let them go, or
    /// the held log moved on): asks for them.
    pub(super) fn page_forward(&mut self, delta: isize) -> bool {
        let Some(high) = self.history.highest_scanned() else {
            return false;
        };
        if high.saturating_add(1) >= self.held_from() {
            return false;
        }
        if self.history.busy() {
            self.history.queued_move = self.history.queued_move.saturating_add(delta);
        } else {
            self.history.scanning = true;
            self.history.wanted = Some(HistoryRequest {
                from: PageFrom::After(high),
                limit: self.history.page,
                generation: self.history.generation,
                then_move: delta,
            });
            self.dirty = true;
        }
        true
    }

    /// Lines left memory between the window and the held lines while the cursor is not in
    /// the window: scrolling up from the held lines would jump over them, so the window is
    /// let go and the next page back starts right above the held lines.
    pub(super) fn forget_cut_off_window(&mut self) {
        let Some(high) = self.history.highest_scanned() else {
            return;
        };
        let cut_off = high.saturating_add(1) < self.held_from();
        let cursor_in_window = self
            .log_cursor
            .is_some_and(|row| row.seq < self.held_from());
        if cut_off && !cursor_in_window && !self.history.busy() {
            self.history.clear();
            self.log_stale = true;
        }
    }

    /// Whether the journal, as of the last tick, has not committed every position before
    /// `held_from` (the first line held in memory) and is committing: one whose appends fail
    /// (disk full) is not waited for, as the headless output does not wait for it either; the
    /// lines it holds back are counted in the header as not journaled.
    fn journal_behind(&self, held_from: u64) -> bool {
        self.journal_health.as_ref().is_some_and(|health| {
            health.failing.is_none() && health.committed.saturating_add(1) < held_from
        })
    }

    /// Rows shown above the lines held in memory: those read from the journal.
    pub(super) fn rows_from_journal(&self) -> usize {
        let held_from = self.held_from();
        self.log_rows.partition_point(|r| r.seq < held_from)
    }

    /// Takes a page read from the journal: keeps its lines that pass the filter and scope,
    /// moves the window, and moves the cursor as asked. A page with no such line going back
    /// asks for the next one, so a rare line is found however far back it is.
    pub(super) fn on_history(&mut self, page: HistoryPage) {
        self.history.in_flight = false;
        self.dirty = true;
        if page.request.generation != self.history.generation {
            self.history.queued_move = 0;
            return;
        }
        let then_move = page
            .request
            .then_move
            .saturating_add(std::mem::take(&mut self.history.queued_move));
        let page_result = match page.result {
            Ok(found) => found,
            Err(error) => {
                self.say(format!("reading the journal failed: {error}"));
                return;
            }
        };
        let held_from = self.held_from();
        let picked: Vec<LogEntry> = page_result
            .entries
            .into_iter()
            .filter(|e| e.event.seq < held_from && self.entry_matches(e))
            .collect();
        let added = picked.len();
        match page.request.from {
            PageFrom::Before(before) => {
                if page_result.rows < page.request.limit {
                    self.history.start_reached = true;
                }
                if let Some(low) = page_result.lowest {
                    // The first page starts where the held lines started when it was asked
                    // for: lines that left memory since are not scanned yet.
                    let high = self
                        .history
                        .scanned
                        .map_or(before.saturating_sub(1), |s| s.1);
                    self.history.scanned = Some((low, high));
                }
                for entry in picked.into_iter().rev() {
                    self.history.entries.push_front(entry);
                }
                while self.history.entries.len() > self.history.window {
                    self.history.entries.pop_back();
                }
                if self.history.entries.len() == self.history.window
                    && let (Some(last), Some(scanned)) =
                        (self.history.entries.back(), self.history.scanned.as_mut())
                {
                    scanned.1 = scanned.1.min(last.event.seq);
                }
            }
            PageFrom::After(after) => {
                // A short page reaches the held lines only when the journal holds everything
                // before them: one still behind them (commits lag, or wait while appends
                // fail) has positions left to read later, never to mark as read.
                let short = page_result.rows < page.request.limit;
                let behind = self.journal_behind(held_from);
                let reached_held =
                    (short && !behind) || page_result.highest.is_some_and(|h| h >= held_from);
                let high = if reached_held {
                    held_from.saturating_sub(1)
                } else {
                    page_result.highest.unwrap_or(after)
                };
                let low = self.history.scanned.map_or(after, |s| s.0);
                self.history.scanned = Some((low, high));
                self.history.entries.extend(picked);
                while self.history.entries.len() > self.history.window {
                    self.history.entries.pop_front();
                    self.history.start_reached = false;
                }
                if self.history.entries.len() == self.history.window
                    && let (Some(first), Some(scanned)) =
                        (self.history.entries.front(), self.history.scanned.as_mut())
                {
                    scanned.0 = scanned.0.max(first.event.seq);
                }
            }
        }
        // The cursor stays on its line while lines are added around it.
        self.log_stale = true;
        self.prepare();
        if !self.history.scanning {
            // The scan was stopped meanwhile.
            return;
        }
        self.history.scanning = false;
        if added == 0 {
            match page.request.from {
                PageFrom::Before(_) if !self.history.start_reached => {
                    self.page_back(then_move);
                }
                PageFrom::Before(_) => self.say("start of the journal".into()),
                PageFrom::After(after) => {
                    let stuck = self.history.highest_scanned() == Some(after);
                    if stuck && self.journal_behind(self.held_from()) {
                        // Asking again now would read the same: the next key asks again.
                        self.say("the journal has not caught up with these lines yet".into());
                    } else if !self.page_forward(then_move) {
                        self.move_log(then_move);
                    }
                }
            }
            return;
        }
        if self.paused() {
            self.move_log(then_move);
        } else if let Some(last_read) = self.rows_from_journal().checked_sub(1) {
            // Nothing was shown to move from: the newest line found takes the cursor.
            self.pause_at(last_read);
        }
    }

    /// The journal's lines kept, as rows, when they were picked by the filter and scope in
    /// force; otherwise they are let go (a new filter starts a new scan back).
    pub(super) fn history_rows(&mut self) -> Vec<super::LogRow> {
        let current = (self.query.clone(), self.scope_room.clone());
        if self.history.picked_by.as_ref() != Some(&current) {
            if self.history.picked_by.is_some() {
                self.history.clear();
            }
            return Vec::new();
        }
        // A filter that looks at the clock (`since:`) lets lines go as time passes.
        if self.query.uses_clock() {
            let entries = std::mem::take(&mut self.history.entries);
            self.history.entries = entries
                .into_iter()
                .filter(|e| self.entry_matches(e))
                .collect();
        }
        self.history
            .seqs()
            .map(|seq| super::LogRow { seq, notice: None })
            .collect()
    }
}
