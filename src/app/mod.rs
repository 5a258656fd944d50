//! The dashboard's state and its reducer: [`App`] holds a replica of the room store plus
//! everything about the view (selection, filter, follow/pause, overlays); [`update`] applies
//! one [`Msg`] to it and does no I/O. The loop that feeds it lives in [`run`].

mod run;

use std::collections::VecDeque;
use std::fmt::Write as _;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

pub use run::{run, run_dashboard};

use crate::event::{Body, Event, Verdict};
use crate::keymap::{Action, action_for};
use crate::runner::RunInfo;
use crate::store::{LogEntry, RoomStore};

/// Notices kept in the log (lag resyncs); older ones are dropped.
const MAX_NOTICES: usize = 100;
/// Lines the mouse wheel scrolls.
const WHEEL_STEP: usize = 3;
/// Window over which callbacks per second are averaged, in ms.
const RATE_WINDOW_MS: i64 = 5_000;
/// Events between two frames whose rooms are moved in the order one by one; after a bigger
/// burst one full sort at the next frame is cheaper.
const PLACE_LIMIT: usize = 256;

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

/// A line the app itself adds to the log, e.g. after a lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Shown after the event with this sequence number.
    pub after_seq: u64,
    pub text: String,
}

/// One line of the (filtered) log: an event by its sequence number, or a notice.
/// Ordered as shown: by sequence, a notice after the event it follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogRow {
    pub seq: u64,
    pub notice: Option<usize>,
}

/// The whole callback of one log line, laid out once when opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    pub seq: u64,
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: usize,
}

/// What covers the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Event(EventView),
}

/// Everything that can happen to the dashboard.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// The clock, once a second (Unix ms).
    Tick(i64),
    /// An event from the hub.
    Bus(LogEntry),
    /// The subscriber fell behind by `skipped` events; `snapshot` is the hub's state now.
    Lagged {
        skipped: u64,
        snapshot: Box<RoomStore>,
    },
    Quit,
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
    /// Callbacks per second over the last few seconds.
    pub rate: f64,
    pub quit: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
    arrivals: VecDeque<i64>,
    // Caches, rebuilt by `prepare` only when data, filter or scope changed.
    room_order: Vec<String>,
    selected_index: Option<usize>,
    live_rooms: usize,
    ended_rooms: usize,
    log_rows: Vec<LogRow>,
    rooms_stale: bool,
    log_stale: bool,
    /// Events placed in the room order one by one since the last `prepare`.
    placed: usize,
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

    /// Log lines shown, oldest first.
    pub fn log_rows(&self) -> &[LogRow] {
        &self.log_rows
    }

    pub fn paused(&self) -> bool {
        self.log_cursor.is_some()
    }

    /// The index in [`Self::log_rows`] of the cursor line (the last line when following).
    pub fn log_cursor_index(&self) -> Option<usize> {
        if self.log_rows.is_empty() {
            return None;
        }
        Some(match self.log_cursor {
            None => self.log_rows.len() - 1,
            Some(row) => self
                .log_rows
                .partition_point(|r| *r <= row)
                .saturating_sub(1),
        })
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

    fn entry_matches(&self, entry: &LogEntry) -> bool {
        let rooms = entry_rooms(&entry.event);
        if self.scope_room {
            let Some(selected) = &self.selected else {
                return false;
            };
            if !rooms.iter().any(|r| r == selected) {
                return false;
            }
        }
        self.filter.is_empty() || rooms.iter().any(|r| self.room_matches(r))
    }

    /// Rebuilds what changed since last time: room order, counts, selection and log lines.
    /// Cheap when nothing changed; call it before drawing.
    pub fn prepare(&mut self) {
        self.placed = 0;
        if self.rooms_stale {
            self.rooms_stale = false;
            let mut order: Vec<(&String, Option<i64>)> = self
                .store
                .rooms()
                .iter()
                .filter(|(id, _)| self.room_matches(id))
                .map(|(id, room)| (id, room.last_event_ms))
                .collect();
            // Most recent activity first; rooms never timed last; ties by id.
            order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            self.room_order = order.into_iter().map(|(id, _)| id.clone()).collect();
            let ended = self.store.rooms().values().filter(|r| r.is_ended()).count();
            self.ended_rooms = ended;
            self.live_rooms = self.store.rooms().len() - ended;
        }
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
        if self.log_stale {
            self.log_stale = false;
            let mut rows: Vec<LogRow> = self
                .store
                .log()
                .iter()
                .filter(|e| self.entry_matches(e))
                .map(|e| LogRow {
                    seq: e.event.seq,
                    notice: None,
                })
                .collect();
            for (i, notice) in self.notices.iter().enumerate() {
                let row = LogRow {
                    seq: notice.after_seq,
                    notice: Some(i),
                };
                let at = rows.partition_point(|r| *r < row);
                rows.insert(at, row);
            }
            self.log_rows = rows;
        } else {
            // Drop lines whose events left the store's capped log (and notices among them).
            let first = self.store.log().front().map_or(u64::MAX, |e| e.event.seq);
            let gone = self.log_rows.partition_point(|r| r.seq < first);
            if gone > 0 {
                self.log_rows.drain(..gone);
            }
        }
    }

    /// Where a room is in [`Self::room_order`], found by its sort key: most recent activity
    /// first, rooms never timed last, ties by id. `None` when it is not shown.
    fn order_index(&self, id: &str) -> Option<usize> {
        let last = self.store.room(id)?.last_event_ms;
        self.order_search(id, last).ok()
    }

    /// Binary search of [`Self::room_order`] for a room with this last activity.
    fn order_search(&self, id: &str, last: Option<i64>) -> Result<usize, usize> {
        self.room_order.binary_search_by(|probe| {
            let probe_last = self.store.room(probe).and_then(|r| r.last_event_ms);
            last.cmp(&probe_last).then_with(|| probe.as_str().cmp(id))
        })
    }

    /// Takes a room out of the order and the counts before an event may change it.
    fn unlist(&mut self, id: &str) {
        let Some(room) = self.store.room(id) else {
            return;
        };
        let ended = room.is_ended();
        if let Some(i) = self.order_index(id) {
            self.room_order.remove(i);
        }
        if ended {
            self.ended_rooms -= 1;
        } else {
            self.live_rooms -= 1;
        }
    }

    /// Puts a room back after an event, where it now sorts, if it passes the filter.
    fn relist(&mut self, id: &str) {
        let Some(room) = self.store.room(id) else {
            return;
        };
        if room.is_ended() {
            self.ended_rooms += 1;
        } else {
            self.live_rooms += 1;
        }
        if !self.room_matches(id) {
            return;
        }
        let at = self
            .order_search(id, room.last_event_ms)
            .unwrap_or_else(|at| at);
        self.room_order.insert(at, id.to_string());
    }

    fn view_changed(&mut self) {
        self.rooms_stale = true;
        self.log_stale = true;
        self.dirty = true;
    }

    fn set_filter(&mut self, filter: String) {
        if filter != self.filter {
            self.filter = filter;
            // The selection jumps to the first match.
            self.selected = None;
            self.follow_top = true;
            self.view_changed();
        }
    }

    fn select_index(&mut self, index: usize) {
        self.follow_top = index == 0;
        if let Some(id) = self.room_order.get(index)
            && self.selected.as_ref() != Some(id)
        {
            self.selected = Some(id.clone());
            self.selected_index = Some(index);
            self.detail_scroll = 0;
            if self.scope_room {
                self.log_stale = true;
            }
        }
        self.dirty = true;
    }

    fn move_rooms(&mut self, delta: isize) {
        if self.room_order.is_empty() {
            return;
        }
        let last = self.room_order.len() - 1;
        let current = self.selected_index.unwrap_or(0);
        let next = current.saturating_add_signed(delta).min(last);
        self.select_index(next);
    }

    fn move_log(&mut self, delta: isize) {
        let Some(current) = self.log_cursor_index() else {
            return;
        };
        if delta > 0 && self.log_cursor.is_none() {
            return;
        }
        let last = self.log_rows.len() - 1;
        let next = current.saturating_add_signed(delta).min(last);
        self.pause_at(next);
    }

    fn pause_at(&mut self, index: usize) {
        if self.log_cursor.is_none() {
            self.new_while_paused = 0;
        }
        self.log_cursor = self.log_rows.get(index).copied();
        self.dirty = true;
    }

    fn follow(&mut self) {
        self.log_cursor = None;
        self.new_while_paused = 0;
        self.dirty = true;
    }

    /// Rows the focused list pages by.
    fn page(&self, pane: Pane) -> usize {
        let areas = crate::ui::layout(Rect::new(0, 0, self.size.0, self.size.1));
        let area = match pane {
            Pane::Rooms => areas.rooms,
            Pane::Detail => areas.detail,
            Pane::Log => areas.log,
        };
        usize::from(area.height.saturating_sub(3)).max(1)
    }

    fn open_event(&mut self) {
        let Some(index) = self.log_cursor_index() else {
            return;
        };
        let row = self.log_rows[index];
        if row.notice.is_some() {
            return;
        }
        if let Some(entry) = self.entry(row.seq) {
            self.overlay = Overlay::Event(event_view(entry));
            self.dirty = true;
        }
    }

    fn on_bus(&mut self, entry: &LogEntry) {
        // Only the rooms the event names can change: take them out of the order, apply,
        // and put them back where they now belong, instead of sorting every room again.
        let touched = if self.rooms_stale {
            Vec::new()
        } else if self.placed == PLACE_LIMIT {
            self.rooms_stale = true;
            Vec::new()
        } else {
            self.placed += 1;
            touched_rooms(&entry.event)
        };
        for id in &touched {
            self.unlist(id);
        }
        let applied = self.store.apply(std::sync::Arc::clone(&entry.event));
        for id in &touched {
            self.relist(id);
        }
        if applied.is_none() {
            // Already part of the replica (taken from a snapshot).
            return;
        }
        self.arrivals.push_back(entry.event.received_at_ms);
        self.dirty = true;
        if !self.log_stale {
            // The stored copy carries the replica's own effect.
            let matches = self
                .store
                .log()
                .back()
                .is_some_and(|e| self.entry_matches(e));
            if matches {
                self.log_rows.push(LogRow {
                    seq: entry.event.seq,
                    notice: None,
                });
                if self.log_cursor.is_some() {
                    self.new_while_paused += 1;
                }
            }
        }
    }

    fn on_lagged(&mut self, skipped: u64, snapshot: RoomStore) {
        self.store = snapshot;
        if self.notices.len() == MAX_NOTICES {
            self.notices.remove(0);
        }
        self.notices.push(Notice {
            after_seq: self.store.last_seq(),
            text: format!("fell behind: skipped {skipped} events, resynced"),
        });
        self.view_changed();
    }

    fn on_tick(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        while self
            .arrivals
            .front()
            .is_some_and(|t| *t <= now_ms.saturating_sub(RATE_WINDOW_MS))
        {
            self.arrivals.pop_front();
        }
        self.rate = self.arrivals.len() as f64 * 1000.0 / RATE_WINDOW_MS as f64;
        self.dirty = true;
    }

    fn on_filter_key(&mut self, key: &KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if key.modifiers.contains(KeyModifiers::ALT)
            && let KeyCode::Char(c) = key.code
        {
            // Esc and a key in quick succession arrive as Alt+key: close the prompt, then
            // take the key as a key.
            self.editing_filter = false;
            self.set_filter(String::new());
            self.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            return;
        }
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('u') if ctrl => self.set_filter(String::new()),
            KeyCode::Char(c) if !ctrl => {
                let mut filter = self.filter.clone();
                filter.push(c);
                self.set_filter(filter);
            }
            KeyCode::Backspace => {
                let mut filter = self.filter.clone();
                filter.pop();
                self.set_filter(filter);
            }
            KeyCode::Enter => {
                self.editing_filter = false;
                if !self.filter.is_empty() {
                    self.last_filter.clone_from(&self.filter);
                }
            }
            KeyCode::Esc => {
                self.editing_filter = false;
                self.set_filter(String::new());
            }
            _ => {}
        }
        self.dirty = true;
    }

    fn on_key(&mut self, key: &KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        if self.editing_filter {
            self.on_filter_key(key);
            return;
        }
        let Some(action) = action_for(key) else {
            return;
        };
        match &mut self.overlay {
            Overlay::None => {}
            Overlay::Help => {
                if action == Action::Quit {
                    self.quit = true;
                }
                self.overlay = Overlay::None;
                self.dirty = true;
                return;
            }
            Overlay::Event(view) => {
                let page = usize::from(self.size.1.saturating_sub(8)).max(1);
                let last = view.lines.len().saturating_sub(1);
                match action {
                    Action::Quit => self.quit = true,
                    Action::Back | Action::Open | Action::Help => self.overlay = Overlay::None,
                    Action::Up => view.scroll = view.scroll.saturating_sub(1),
                    Action::Down => view.scroll = (view.scroll + 1).min(last),
                    Action::PageUp => view.scroll = view.scroll.saturating_sub(page),
                    Action::PageDown => view.scroll = (view.scroll + page).min(last),
                    Action::Top => view.scroll = 0,
                    Action::Tail => view.scroll = last.saturating_sub(page),
                    _ => {}
                }
                self.dirty = true;
                return;
            }
        }
        self.on_action(action);
    }

    fn on_action(&mut self, action: Action) {
        self.dirty = true;
        match (action, self.focus) {
            (Action::Quit, _) => self.quit = true,
            (Action::Help, _) => self.overlay = Overlay::Help,
            (Action::Filter, _) => {
                self.editing_filter = true;
                if self.filter.is_empty() {
                    let last = self.last_filter.clone();
                    self.set_filter(last);
                }
            }
            (Action::Back, _) => {
                if !self.filter.is_empty() {
                    self.set_filter(String::new());
                } else if self.scope_room {
                    self.scope_room = false;
                    self.log_stale = true;
                }
            }
            (Action::NextPane, pane) => self.focus = pane.next(),
            (Action::PrevPane, pane) => self.focus = pane.next().next(),
            (Action::ToggleScope, _) => {
                self.scope_room = !self.scope_room;
                self.log_stale = true;
            }
            (Action::TogglePause, _) => {
                if self.paused() {
                    self.follow();
                } else if let Some(last) = self.log_rows.len().checked_sub(1) {
                    self.pause_at(last);
                }
            }
            // The PAUSED badge promises that End/G resumes, whichever pane has focus.
            (Action::Tail, _) if self.paused() => self.follow(),
            (Action::Up, Pane::Detail) => self.scroll_detail(-1),
            (Action::Down, Pane::Detail) => self.scroll_detail(1),
            (Action::PageUp, Pane::Detail) => {
                self.scroll_detail(-(self.page(Pane::Detail) as isize));
            }
            (Action::PageDown, Pane::Detail) => {
                self.scroll_detail(self.page(Pane::Detail) as isize);
            }
            (Action::Top, Pane::Detail) => self.detail_scroll = 0,
            (Action::Tail, Pane::Detail) => self.scroll_detail(isize::MAX),
            (Action::Open, Pane::Rooms | Pane::Detail) => {
                if self.selected.is_some() {
                    self.scope_room = true;
                    self.log_stale = true;
                    self.focus = Pane::Log;
                }
            }
            (Action::Open, Pane::Log) => self.open_event(),
            (Action::Up, Pane::Rooms) => self.move_rooms(-1),
            (Action::Down, Pane::Rooms) => self.move_rooms(1),
            (Action::PageUp, Pane::Rooms) => self.move_rooms(-(self.page(Pane::Rooms) as isize)),
            (Action::PageDown, Pane::Rooms) => self.move_rooms(self.page(Pane::Rooms) as isize),
            (Action::Top, Pane::Rooms) => self.select_index(0),
            (Action::Tail, Pane::Rooms) => {
                self.select_index(self.room_order.len().saturating_sub(1));
            }
            (Action::Up, Pane::Log) => self.move_log(-1),
            (Action::Down, Pane::Log) => self.move_log(1),
            (Action::PageUp, Pane::Log) => self.move_log(-(self.page(Pane::Log) as isize)),
            (Action::PageDown, Pane::Log) => self.move_log(self.page(Pane::Log) as isize),
            (Action::Top, Pane::Log) => {
                if !self.log_rows.is_empty() {
                    self.pause_at(0);
                }
            }
            (Action::Tail, Pane::Log) => self.follow(),
        }
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        let delta: isize = match mouse.kind {
            MouseEventKind::ScrollUp => -(WHEEL_STEP as isize),
            MouseEventKind::ScrollDown => WHEEL_STEP as isize,
            MouseEventKind::Down(MouseButton::Left) => {
                self.on_click(mouse.column, mouse.row);
                return;
            }
            _ => return,
        };
        if let Overlay::Event(view) = &mut self.overlay {
            let last = view.lines.len().saturating_sub(1);
            view.scroll = view.scroll.saturating_add_signed(delta).min(last);
            self.dirty = true;
            return;
        }
        let areas = crate::ui::layout(Rect::new(0, 0, self.size.0, self.size.1));
        let at = Position::new(mouse.column, mouse.row);
        if areas.rooms.contains(at) {
            self.move_rooms(delta.signum());
        } else if areas.detail.contains(at) {
            self.scroll_detail(delta);
        } else if areas.log.contains(at) {
            self.move_log(delta);
        }
    }
}

impl App {
    /// A click focuses the pane under it; on a table row it selects that room.
    fn on_click(&mut self, column: u16, row: u16) {
        if !matches!(self.overlay, Overlay::None) {
            return;
        }
        let areas = crate::ui::layout(Rect::new(0, 0, self.size.0, self.size.1));
        let at = Position::new(column, row);
        if areas.rooms.contains(at) {
            self.focus = Pane::Rooms;
            self.dirty = true;
            // Same window as the view: title, column header, then rows ending at the selection.
            let rows_h = usize::from(areas.rooms.height.saturating_sub(2));
            let start = (self.selected_index.unwrap_or(0) + 1).saturating_sub(rows_h);
            if let Some(offset) = row.checked_sub(areas.rooms.y + 2) {
                let index = start + usize::from(offset);
                if index < self.room_order.len() {
                    self.select_index(index);
                }
            }
        } else if areas.detail.contains(at) {
            self.focus = Pane::Detail;
            self.dirty = true;
        } else if areas.log.contains(at) {
            self.focus = Pane::Log;
            self.dirty = true;
        }
    }

    fn scroll_detail(&mut self, delta: isize) {
        let max = crate::ui::detail_max_scroll(self);
        self.detail_scroll = self.detail_scroll.saturating_add_signed(delta).min(max);
        self.dirty = true;
    }
}

/// Applies one message. Pure: no I/O, no clock.
pub fn update(app: &mut App, msg: Msg) {
    match msg {
        Msg::Key(key) => {
            app.prepare();
            app.on_key(&key);
            app.prepare();
        }
        Msg::Mouse(mouse) => {
            app.prepare();
            app.on_mouse(mouse);
            app.prepare();
        }
        Msg::Resize(width, height) => {
            app.size = (width, height);
            app.dirty = true;
        }
        Msg::Tick(now_ms) => app.on_tick(now_ms),
        Msg::Bus(entry) => app.on_bus(&entry),
        Msg::Lagged { skipped, snapshot } => app.on_lagged(skipped, *snapshot),
        Msg::Quit => app.quit = true,
    }
}

/// The rooms applying an event to the store may create or change, each once.
fn touched_rooms(event: &Event) -> Vec<String> {
    let mut rooms: Vec<String> = Vec::new();
    if let (Verdict::Accepted, Some(callback)) = (event.verdict, &event.callback) {
        for id in callback.room_ids() {
            if !rooms.iter().any(|r| r == id) {
                rooms.push(id.to_string());
            }
        }
    }
    rooms
}

/// Every room an event concerns: the typed callback's rooms, else the id the receiver guessed.
pub fn entry_rooms(event: &Event) -> Vec<String> {
    let mut rooms: Vec<String> = event
        .callback
        .as_ref()
        .map(|c| c.room_ids().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    if rooms.is_empty() {
        rooms.extend(event.room_id.clone());
    }
    rooms
}

/// Lays out the JSON view of one event.
pub fn event_view(entry: &LogEntry) -> EventView {
    let event = &entry.event;
    let command = event.command.as_deref().unwrap_or("(no command)");
    let mut lines = Vec::new();
    let mut verdict = format!("{:?}", event.verdict).to_lowercase();
    if !entry.effect.label().is_empty() {
        let _ = write!(verdict, ", {}", entry.effect.label());
    }
    lines.push(format!("Verdict: {verdict}"));
    if let Some(error) = &event.error {
        lines.push(format!("Reason:  {error}"));
    }
    lines.push(format!(
        "Received: {}  from {}",
        crate::headless::rfc3339(event.received_at_ms),
        event.remote.as_deref().unwrap_or("?")
    ));
    lines.push(format!("Request: {} {}", event.method, event.path));
    let auth = match event.auth {
        Some(crate::auth::AuthVerdict::Signed) => "signed, signature checked",
        Some(crate::auth::AuthVerdict::Unchecked) => "unchecked (no token configured)",
        None => "not reached",
    };
    lines.push(format!("Auth: {auth}"));
    lines.push(String::new());
    lines.push("Query parameters:".into());
    if event.query.0.is_empty() {
        lines.push("  (none)".into());
    }
    for (key, value) in event.query.redacted() {
        lines.push(format!("  {key} = {value}"));
    }
    lines.push(String::new());
    lines.push(format!(
        "Reply: {}  {}",
        event.reply.status, event.reply.body
    ));
    lines.push(String::new());
    lines.push(format!("Body ({} bytes):", event.body_len));
    match &event.body {
        Body::Json(value) => {
            let pretty = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
            lines.extend(pretty.lines().map(str::to_string));
        }
        Body::Text(text) if text.is_empty() => lines.push("(empty)".into()),
        Body::Text(text) => lines.extend(text.lines().map(str::to_string)),
    }
    EventView {
        seq: event.seq,
        title: format!("#{} {command}", event.seq),
        lines,
        scroll: 0,
    }
}
