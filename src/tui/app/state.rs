//! The [`App`] struct: the store replica, the view settings, and the caches `prepare` keeps
//! in step with them.

use std::collections::VecDeque;

use super::event_view::EventView;
use super::log_rows::{LogRow, Notice};
use super::relay_view::RelayView;
use crate::runner::RunInfo;
use crate::store::{LogEntry, RoomStore};

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
    Help,
    Event(EventView),
}

/// The dashboard state.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent view toggles and cache flags
pub struct App {
    pub info: RunInfo,
    /// A replica of the hub's store, kept current from the bus.
    pub store: RoomStore,
    /// Now, for ages and uptime (Unix ms); set from outside so drawing stays pure.
    pub now_ms: i64,
    pub started_ms: i64,
    /// Terminal size, for paging and mouse hit tests.
    pub size: (u16, u16),
    pub focus: Pane,
    /// The selected room, by id, so it stays put when rows reorder.
    pub selected: Option<String>,
    /// The selection follows the first row (the most recently active room) until the user
    /// picks another row; going back to the top follows again.
    pub follow_top: bool,
    /// First line shown in the detail pane.
    pub detail_scroll: usize,
    pub filter: String,
    pub editing_filter: bool,
    pub last_filter: String,
    /// The log shows only the selected room.
    pub scope_room: bool,
    /// The log line under the cursor while paused; `None` follows the tail.
    pub log_cursor: Option<LogRow>,
    /// Log lines that arrived while paused.
    pub new_while_paused: usize,
    pub overlay: Overlay,
    pub notices: Vec<Notice>,
    /// Relay outcomes and status, when a relay runs.
    pub relay: RelayView,
    /// Callbacks per second over the last few seconds.
    pub rate: f64,
    pub quit: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
    // Private to the `app` module: the sibling files that keep these up to date.
    pub(super) arrivals: VecDeque<i64>,
    // Caches, rebuilt by `prepare` only when data, filter or scope changed.
    pub(super) room_order: Vec<String>,
    pub(super) selected_index: Option<usize>,
    pub(super) live_rooms: usize,
    pub(super) ended_rooms: usize,
    pub(super) log_rows: Vec<LogRow>,
    pub(super) rooms_stale: bool,
    pub(super) log_stale: bool,
    /// Events placed in the room order one by one since the last `prepare`.
    pub(super) placed: usize,
}

impl App {
    pub fn new(info: RunInfo, store: RoomStore, now_ms: i64, size: (u16, u16)) -> Self {
        let mut app = Self {
            info,
            store,
            now_ms,
            started_ms: now_ms,
            size,
            focus: Pane::Rooms,
            selected: None,
            follow_top: true,
            detail_scroll: 0,
            filter: String::new(),
            editing_filter: false,
            last_filter: String::new(),
            scope_room: false,
            log_cursor: None,
            new_while_paused: 0,
            overlay: Overlay::None,
            notices: Vec::new(),
            relay: RelayView::default(),
            rate: 0.0,
            quit: false,
            dirty: true,
            arrivals: VecDeque::new(),
            room_order: Vec::new(),
            selected_index: None,
            live_rooms: 0,
            ended_rooms: 0,
            log_rows: Vec::new(),
            rooms_stale: true,
            log_stale: true,
            placed: 0,
        };
        app.prepare();
        app
    }

    /// Rooms shown, in order (filtered, most recent activity first).
    pub fn room_order(&self) -> &[String] {
        &self.room_order
    }

    pub fn selected_index(&self) -> Option<usize> {
        self.selected_index
    }

    /// (live, ended) rooms in the whole store.
    pub fn room_counts(&self) -> (usize, usize) {
        (self.live_rooms, self.ended_rooms)
    }

    pub fn paused(&self) -> bool {
        self.log_cursor.is_some()
    }

    /// The stored log entry with this sequence number, if still held.
    pub fn entry(&self, seq: u64) -> Option<&LogEntry> {
        let log = self.store.log();
        let at = log.partition_point(|e| e.event.seq < seq);
        log.get(at).filter(|e| e.event.seq == seq)
    }

    /// Whether a room passes the filter (id or name contains it, ignoring case).
    pub fn room_matches(&self, id: &str) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let wanted = self.filter.to_lowercase();
        id.to_lowercase().contains(&wanted)
            || self
                .store
                .room(id)
                .and_then(|r| r.name.as_ref())
                .is_some_and(|n| n.value.to_lowercase().contains(&wanted))
    }

    /// Rebuilds what changed since last time: room order, counts, selection and log lines.
    /// Cheap when nothing changed; call it before drawing.
    pub fn prepare(&mut self) {
        self.placed = 0;
        if self.rooms_stale {
            self.rooms_stale = false;
            self.rebuild_room_order();
        }
        self.sync_selection();
        if self.log_stale {
            self.log_stale = false;
            self.rebuild_log_rows();
        } else {
            self.drop_expired_log_rows();
        }
    }

    /// Points the selection at its room's current row, or at the first row when following
    /// the top or when the selected room is no longer shown.
    fn sync_selection(&mut self) {
        let index = if self.follow_top {
            None
        } else {
            self.selected.as_deref().and_then(|id| self.order_index(id))
        };
        let before = self.selected.clone();
        if let Some(i) = index {
            self.selected_index = Some(i);
        } else {
            self.selected_index = (!self.room_order.is_empty()).then_some(0);
            self.selected = self.room_order.first().cloned();
        }
        if before != self.selected {
            self.detail_scroll = 0;
            if self.scope_room {
                self.log_stale = true;
            }
        }
    }

    /// Marks every cache stale, e.g. after the filter or the whole store changed.
    pub(super) fn view_changed(&mut self) {
        self.rooms_stale = true;
        self.log_stale = true;
        self.dirty = true;
    }

    pub(super) fn set_filter(&mut self, filter: String) {
        if filter != self.filter {
            self.filter = filter;
            // The selection jumps to the first match.
            self.selected = None;
            self.follow_top = true;
            self.view_changed();
        }
    }
}
