//! The [`App`] struct: the store copy, the view settings, and the caches `prepare` keeps
//! in step with them.

use std::cell::Cell;
use std::collections::VecDeque;

use super::event_view::EventView;
use super::history::History;
use super::log_index::LogIndex;
use super::log_rows::{LogRow, Notice};
use super::relay_view::RelayView;
use super::room_users::RoomUsers;

use super::order::SortKey;
use super::series::{RoomSeries, Throughput};
use crate::runner::RunInfo;
use crate::store::{LogEntry, Room, RoomKey, RoomStore};
use crate::tui::query::Query;

/// Which pane keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Rooms,
    Detail,
    Log,
}

impl Pane {
    /// The pane Tab goes to: rooms, detail, log, and round again.
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Rooms => Self::Detail,
            Self::Detail => Self::Log,
            Self::Log => Self::Rooms,
        }
    }
}

/// What covers the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    /// Help, scrolled down this many lines.
    Help(usize),
    Event(EventView),
}

/// The dashboard state.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent view toggles and cache flags
pub struct App {
    pub info: RunInfo,
    /// The journal's health as of the last tick (disk full shows in the header).
    pub journal_health: Option<crate::eventlog::Health>,
    /// A copy of the hub's store: its log kept from the bus, its rooms read from the hub at
    /// frame time (see [`Msg::Synced`](super::Msg::Synced)).
    pub store: RoomStore,
    /// Now, for ages and uptime (Unix ms); set from outside so drawing stays pure.
    pub now_ms: i64,
    pub started_ms: i64,
    /// Terminal size, for paging and mouse hit tests.
    pub size: (u16, u16),
    pub focus: Pane,
    /// The room highlighted in the table, by id, so it stays put when rows reorder.
    pub selected: Option<RoomKey>,
    /// The room the user picked. It stays picked while a filter hides it (the first match is
    /// highlighted meanwhile) and is highlighted again once it shows.
    pub pinned: Option<RoomKey>,
    /// The selection follows the first row until the user first moves it.
    pub follow_top: bool,
    /// What the rooms table is sorted by, and whether that order is reversed.
    pub sort_key: SortKey,
    pub sort_reversed: bool,
    /// Ended rooms are left out of the table (they sink below live ones when shown).
    pub hide_ended: bool,
    /// First line shown in the detail pane.
    pub detail_scroll: usize,
    /// The query text as typed after `/`.
    pub filter: String,
    /// The valid terms of [`Self::filter`]: what rooms and log lines are matched by.
    pub query: Query,
    /// Why the text typed is not a valid query, shown in the prompt.
    pub query_error: Option<String>,
    pub editing_filter: bool,
    /// The prompt's text was recalled and is selected: typing replaces it.
    pub filter_selected: bool,
    pub last_filter: String,
    /// The log shows only this room: the one selected when the scope was turned on. It never
    /// changes by itself.
    pub scope_room: Option<RoomKey>,
    /// The log line under the cursor while paused; `None` follows the tail.
    pub log_cursor: Option<LogRow>,
    /// Log lines that arrived while paused.
    pub new_while_paused: usize,
    pub overlay: Overlay,
    pub notices: Vec<Notice>,
    /// Relay outcomes and status, when a relay runs.
    pub relay: RelayView,
    /// Older lines read back from the journal, above those held in memory.
    pub(super) history: History,
    /// Callbacks per second over the last few seconds.
    pub rate: f64,
    /// Callbacks (and rejections) per second, for the header sparkline.
    pub throughput: Throughput,
    /// Each room's callbacks per minute and members online, for its chart.
    pub room_series: RoomSeries,
    /// Draw the header sparkline and the room chart.
    pub show_plots: bool,
    /// Text to put on the clipboard; the run loop sends it to the terminal and clears it.
    pub copy_request: Option<String>,
    /// Where `w` writes the log as shown (the directory roomwatch was started in).
    pub save_dir: std::path::PathBuf,
    /// A short message in the hint bar, until this time (Unix ms).
    pub status: Option<(String, i64)>,
    pub quit: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
    // Private to the `app` module: the sibling files that keep these up to date.
    pub(super) arrivals: VecDeque<i64>,
    // Caches, rebuilt by `prepare` only when data, filter or scope changed.
    pub(super) room_order: Vec<RoomKey>,
    pub(super) selected_index: Option<usize>,
    pub(super) live_rooms: usize,
    pub(super) ended_rooms: usize,
    pub(super) log_rows: Vec<LogRow>,
    /// A record per stored log line, kept in step with the log, for filtering it fast.
    pub(super) log_index: LogIndex,
    /// Each room's accounts in one buffer, for `user:` over the whole table.
    pub(super) room_users: RoomUsers,
    pub(super) rooms_stale: bool,
    pub(super) log_stale: bool,
    /// Events placed in the room order one by one since the last `prepare`.
    pub(super) placed: usize,
    /// Comparisons and row moves spent on the room order (see `order_work`).
    pub(super) order_work: Cell<u64>,
    /// Events taken in since the last `prepare`.
    pub(super) taken_since_frame: usize,
    /// The last frame took in more events than the room order places one by one: the table
    /// was sorted afresh, and most likely will be again.
    pub(super) flooded: bool,
    /// The store let go of the hub's rooms after the last frame (see
    /// [`Self::release_rooms`]); the next sync brings them back and sorts the table afresh.
    pub(super) rooms_released: bool,
}

impl App {
    pub fn new(info: RunInfo, store: RoomStore, now_ms: i64, size: (u16, u16)) -> Self {
        let mut app = Self {
            info,
            journal_health: None,
            store,
            now_ms,
            started_ms: now_ms,
            size,
            focus: Pane::Rooms,
            selected: None,
            pinned: None,
            follow_top: true,
            sort_key: SortKey::Recent,
            sort_reversed: false,
            hide_ended: false,
            detail_scroll: 0,
            filter: String::new(),
            query: Query::default(),
            query_error: None,
            editing_filter: false,
            filter_selected: false,
            last_filter: String::new(),
            scope_room: None,
            log_cursor: None,
            new_while_paused: 0,
            overlay: Overlay::None,
            notices: Vec::new(),
            relay: RelayView::default(),
            history: History::default(),
            rate: 0.0,
            throughput: Throughput::default(),
            room_series: RoomSeries::default(),
            show_plots: true,
            copy_request: None,
            save_dir: std::path::PathBuf::from("."),
            status: None,
            quit: false,
            dirty: true,
            arrivals: VecDeque::new(),
            room_order: Vec::new(),
            selected_index: None,
            live_rooms: 0,
            ended_rooms: 0,
            log_rows: Vec::new(),
            log_index: LogIndex::default(),
            room_users: RoomUsers::default(),
            rooms_stale: true,
            log_stale: true,
            placed: 0,
            order_work: Cell::new(0),
            taken_since_frame: 0,
            flooded: false,
            rooms_released: false,
        };
        app.prepare();
        app
    }

    /// Rooms shown, in order (filtered, most recent activity first).
    pub fn room_order(&self) -> &[RoomKey] {
        &self.room_order
    }

    pub fn selected_index(&self) -> Option<usize> {
        self.selected_index
    }

    /// Ended rooms left out of the table by the hide toggle.
    pub fn hidden_ended(&self) -> usize {
        if self.hide_ended { self.ended_rooms } else { 0 }
    }

    /// (live, ended) rooms in the whole store.
    pub fn room_counts(&self) -> (usize, usize) {
        (self.live_rooms, self.ended_rooms)
    }

    pub fn paused(&self) -> bool {
        self.log_cursor.is_some()
    }

    /// The log entry with this sequence number, if still held in memory or read back from
    /// the journal.
    pub fn entry(&self, seq: u64) -> Option<&LogEntry> {
        let log = self.store.log();
        let at = log.partition_point(|e| e.event.seq < seq);
        log.get(at)
            .filter(|e| e.event.seq == seq)
            .or_else(|| self.history.entry(seq))
    }

    /// Whether a room passes the query.
    pub fn room_matches(&self, room: &Room) -> bool {
        self.query.is_empty() || self.query.matches_room(room, self.now_ms)
    }

    /// The room selected in the table, if any.
    pub fn selected_room(&self) -> Option<&Room> {
        self.selected.as_ref().and_then(|key| self.store.room(key))
    }

    /// Whether rooms of more than one app can show, so the app must be shown with them:
    /// several apps configured, or none ("any").
    pub fn shows_apps(&self) -> bool {
        self.info.sdkappids.len() != 1
    }

    /// Rebuilds what changed since last time: room order, counts, selection and log lines.
    /// Cheap when nothing changed; call it before drawing.
    pub fn prepare(&mut self) {
        debug_assert!(
            !self.rooms_released,
            "the rooms are read back from the hub before anything looks at them"
        );
        self.placed = 0;
        self.flooded = std::mem::take(&mut self.taken_since_frame) > super::order::PLACE_LIMIT;
        if self.rooms_stale {
            self.rooms_stale = false;
            self.rebuild_room_order();
        }
        self.sync_selection();
        // Every frame, so that a new query never waits for the lines of many frames.
        self.log_index.sync(self.store.log());
        self.forget_cut_off_window();
        if self.log_stale {
            self.log_stale = false;
            self.rebuild_log_rows();
        } else {
            self.drop_expired_log_rows();
        }
    }

    /// After a frame drawn under a flood: lets go of the hub's rooms until the next sync. The
    /// hub copies a room it writes while this store shares it, and the table is sorted
    /// afresh at the next frame anyway, so holding them between frames buys nothing. Returns
    /// whether they were let go; until the next sync, nothing may read the rooms.
    pub fn release_rooms(&mut self) -> bool {
        if !self.flooded || self.rooms_released {
            return false;
        }
        self.store.release_rooms();
        self.rooms_released = true;
        true
    }

    /// Whether the rooms were let go after the last frame and must be read from the hub
    /// before anything looks at them.
    pub fn rooms_released(&self) -> bool {
        self.rooms_released
    }

    /// Points the selection at the picked room's current row; at the first row while
    /// following the top, or while the picked room is not shown.
    fn sync_selection(&mut self) {
        let index = if self.follow_top {
            None
        } else {
            self.pinned.as_ref().and_then(|key| self.order_index(key))
        };
        let before = self.selected.clone();
        if let Some(i) = index {
            self.selected_index = Some(i);
            self.selected.clone_from(&self.pinned);
        } else {
            self.selected_index = (!self.room_order.is_empty()).then_some(0);
            self.selected = self.room_order.first().cloned();
        }
        if before != self.selected {
            self.detail_scroll = 0;
        }
    }

    /// Marks every cache stale, e.g. after the filter or the whole store changed.
    pub(super) fn view_changed(&mut self) {
        self.rooms_stale = true;
        self.log_stale = true;
        self.dirty = true;
    }

    /// Takes new query text: its valid terms apply at once; a bad term is left out and the
    /// prompt says why.
    pub(super) fn set_filter(&mut self, filter: String) {
        if filter == self.filter {
            return;
        }
        self.dirty = true;
        let (query, error) = Query::parse_lenient(&filter);
        self.query_error = error.map(|e| e.to_string());
        if query != self.query {
            self.query = query;
            // The picked room stays picked: highlighted if it matches, else the first match
            // is, until the query lets it show again.
            self.view_changed();
        }
        self.filter = filter;
    }
}
